#include "cli/config_command.h"

#include <fmt/format.h>

#include <toml++/toml.h>
#include <fstream>
#include <sstream>
#include <vector>

#include "cli/exit_codes.h"
#include "common/small_file.h"

namespace pvt::cli {
namespace {

// Without --for, validate for the commands whose sections the file has: a tunnel guest's file
// has only [[tunnel]], the VPS's [vps], a Proxmox host's [pve] (+ [controller]).
std::vector<config::Command> infer_commands(const std::string& path) {
  std::vector<config::Command> commands;
  // A FIFO or a device would hang or never end; the loader says what is wrong with the file.
  auto text = read_small_file(path, 1024 * 1024);
  if (!text) return {config::Command::check};
  toml::table t;
  try {
    t = toml::parse(*text, path);
  } catch (const toml::parse_error&) {
    return {config::Command::check};  // the loader reports the syntax error with its position
  }
  if (t.contains("pve")) {
    commands.push_back(config::Command::check);
    if (t.contains("controller")) commands.push_back(config::Command::controller);
  } else if (t.contains("tunnel")) {
    commands.push_back(config::Command::tunnel);
  }
  if (t.contains("vps")) commands.push_back(config::Command::vps);
  if (commands.empty()) commands.push_back(config::Command::check);
  return commands;
}

}  // namespace

int run_config_validate(const ConfigValidateArgs& args) {
  std::vector<config::Command> commands;
  if (args.for_command) {
    auto c = config::command_from_string(*args.for_command);
    if (!c) {
      fmt::print(stderr, "pvectl-tunnel: --for: unknown command \"{}\"\n", *args.for_command);
      return kBadUsage;
    }
    commands.push_back(*c);
  } else {
    commands = infer_commands(args.config_path);
  }
  for (config::Command c : commands) {
    auto loaded = config::load(args.config_path, c);
    if (!loaded) {
      for (const auto& p : loaded.error()) fmt::print(stderr, "{}\n", p.format());
      return kBadUsage;
    }
    fmt::print("{}: valid for {}\n", args.config_path, config::to_string(c));
  }
  return kSuccess;
}

}  // namespace pvt::cli
