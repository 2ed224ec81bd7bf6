#include <fmt/format.h>

#include "common/config.h"

namespace pvt::config {

std::string_view to_string(GuestType t) { return t == GuestType::qemu ? "qemu" : "lxc"; }

std::string_view to_string(TunnelRole r) { return r == TunnelRole::primary ? "primary" : "backup"; }

std::string_view to_string(Command c) {
  switch (c) {
    case Command::check:
      return "check";
    case Command::controller:
      return "controller";
    case Command::tunnel:
      return "tunnel";
    case Command::backup:
      return "backup";
    case Command::vps:
      return "vps";
  }
  return "?";
}

std::optional<Command> command_from_string(std::string_view s) {
  for (Command c :
       {Command::check, Command::controller, Command::tunnel, Command::backup, Command::vps}) {
    if (to_string(c) == s) return c;
  }
  return std::nullopt;
}

std::string HostPort::str() const {
  if (host.find(':') != std::string::npos) return fmt::format("[{}]:{}", host, port);
  return fmt::format("{}:{}", host, port);
}

bool ControllerSection::enforces(std::string_view action) const {
  for (const auto& a : enforce) {
    if (a == action) return true;
  }
  return false;
}

const Guest* Config::find_guest(std::string_view name) const {
  for (const auto& g : guests) {
    if (g.name == name) return &g;
  }
  return nullptr;
}

const Tunnel* Config::find_tunnel(std::string_view name) const {
  for (const auto& t : tunnels) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

std::string Problem::format() const {
  // A problem with the file itself (missing, unreadable) has no position, and its message
  // names the file.
  if (line == 0) return key.empty() ? message : fmt::format("{}: {}", key, message);
  if (key.empty()) return fmt::format("{}:{}:{}: {}", file, line, column, message);
  return fmt::format("{}:{}:{}: {}: {}", file, line, column, key, message);
}

}  // namespace pvt::config
