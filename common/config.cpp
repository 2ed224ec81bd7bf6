// Loading and validation of the config file (docs/configuration.md). The loader walks the TOML tree
// once, fills the model and collects every problem with the position of the offending key or value,
// so a user fixes the whole file in one pass instead of one error per run.
#include "common/config.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <toml++/toml.h>
#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <tuple>

#include "common/config_keys.h"
#include "common/config_values.h"
#include "common/small_file.h"

namespace pvt::config {
namespace {

using Position = toml::source_position;

constexpr int64_t kIntMax = std::numeric_limits<int>::max();
constexpr int64_t kVmidMin = 100;  // Proxmox reserves 0-99
constexpr int64_t kVmidMax = 999999999;

// Where problems about the file as a whole (a missing section) point: its first line.
constexpr Position kFileStart{1, 1};

// What a command reads (the "read by" column of docs/configuration.md). A section the command
// does not read may be absent; when present it is still checked for unknown keys and bad values,
// because a typo in it is a typo for whichever command reads it next.
struct Reads {
  bool pve = false;              // [pve] and its files
  bool guests = false;           // [[guest]] name, node, vmid, type
  bool tunnel_identity = false;  // tunnel.name, tunnel.guest
  bool tunnel_worker = false;    // the keys the worker in the guest needs, and their files
  bool tunnel_remote = false;    // tunnel.remote
  bool control_client = false;   // control_url and, with it, control_token_file
  bool controller = false;       // [controller] files
  bool at_least_one_tunnel = false;
};

Reads reads_for(Command command) {
  Reads r;
  switch (command) {
    case Command::check:
      r.pve = r.guests = r.tunnel_identity = r.control_client = true;
      break;
    case Command::controller:
      r.pve = r.guests = r.tunnel_identity = r.control_client = r.controller = true;
      break;
    case Command::tunnel:
      r.tunnel_identity = r.tunnel_worker = r.tunnel_remote = r.at_least_one_tunnel = true;
      break;
    case Command::backup:
      r.pve = r.guests = true;
      break;
    case Command::vps:
      r.tunnel_identity = r.tunnel_remote = r.at_least_one_tunnel = true;
      break;
  }
  return r;
}

// The keys of a section (common/config_keys.h); every section the loader reads is listed there.
const std::vector<std::string_view>& keys_of(std::string_view section) {
  return find_known_section(section)->keys;
}

// "startup" is apart from "onboot": changing a VM's startup order needs Sys.Modify on "/".
const std::vector<std::string_view> kEnforceActions = {"start", "onboot", "startup", "backup",
                                                       "reconnect"};

std::string_view describe(toml::node_type type) {
  switch (type) {
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a float";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::date:
      return "a date";
    case toml::node_type::time:
      return "a time";
    case toml::node_type::date_time:
      return "a date-time";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::table:
      return "a table";
    case toml::node_type::none:
      break;
  }
  return "nothing";
}

std::string quoted_list(const std::vector<std::string_view>& words) {
  std::string out;
  for (std::size_t i = 0; i < words.size(); ++i) {
    if (i > 0) out += i + 1 == words.size() ? (words.size() == 2 ? " or " : ", or ") : ", ";
    out += fmt::format("\"{}\"", words[i]);
  }
  return out;
}

// A table of the file and its dotted name in messages ("pve", "tunnel[1]").
struct Section {
  const toml::table& table;
  std::string name;

  std::string key(std::string_view k) const { return fmt::format("{}.{}", name, k); }
  Position header() const { return table.source().begin; }
  Position at(std::string_view k) const {
    const toml::node* n = table.get(k);
    return n ? n->source().begin : header();
  }
};

enum class FileKind {
  plain,        // must exist and be a readable regular file
  secret,       // also: nobody else may write it, only the group may read it (0600 or 0640)
  private_key,  // also: no access for group or others (0600)
  directory,    // must exist and be a directory
};

// Largest files read: known_hosts of a big site, a CA bundle; a secret is a line.
constexpr size_t kPlainFileMax = 4 * 1024 * 1024;
constexpr size_t kSecretFileMax = 64 * 1024;
constexpr size_t kConfigFileMax = 1024 * 1024;

class Loader {
 public:
  Loader(const std::string& path, Command command, const ParseOptions& options)
      : path_(path), options_(options), reads_(reads_for(command)) {
    base_dir_ = std::filesystem::path(path).parent_path();
    config_.path = path;
  }

  Result<Config, Problems> run(std::string_view text) {
    toml::table root;
    try {
      root = toml::parse(text, std::string_view(path_));
    } catch (const toml::parse_error& e) {
      add(e.source().begin, "", fmt::format("invalid TOML: {}", e.description()));
      return tl::unexpected(std::move(problems_));
    }
    check_keys(root, "", known_section_names());
    read_pve(root);
    read_guests(root);
    read_tunnels(root);
    read_backup(root);
    read_controller(root);
    read_vps(root);
    if (!problems_.empty()) {
      // Document order; problems at the same position keep the order in which they were found.
      std::stable_sort(problems_.begin(), problems_.end(), [](const Problem& a, const Problem& b) {
        return std::tie(a.line, a.column) < std::tie(b.line, b.column);
      });
      return tl::unexpected(std::move(problems_));
    }
    return std::move(config_);
  }

 private:
  void add(Position at, std::string key, std::string message) {
    problems_.push_back(Problem{path_, static_cast<int>(at.line), static_cast<int>(at.column),
                                std::move(key), std::move(message)});
  }

  void type_error(const toml::node& node, std::string key, std::string_view expected) {
    add(node.source().begin, std::move(key),
        fmt::format("expected {}, got {}", expected, describe(node.type())));
  }

  void check_keys(const toml::table& table, const std::string& prefix,
                  const std::vector<std::string_view>& known) {
    for (auto&& [k, v] : table) {
      if (std::find(known.begin(), known.end(), k.str()) != known.end()) continue;
      std::string message =
          v.is_table() || v.is_array_of_tables() ? "unknown table" : "unknown key";
      if (auto guess = closest_match(k.str(), known)) {
        message += fmt::format(" (did you mean \"{}\"?)", *guess);
      }
      add(k.source().begin,
          prefix.empty() ? std::string(k.str()) : prefix + "." + std::string(k.str()),
          std::move(message));
    }
  }

  // The node of `key`, or nullptr; a missing required key is reported at the table's header.
  const toml::node* find(const Section& s, std::string_view key, bool required) {
    const toml::node* n = s.table.get(key);
    if (n == nullptr && required) add(s.header(), s.key(key), "required key is missing");
    return n;
  }

  std::optional<std::string> get_string(const Section& s, std::string_view key, bool required) {
    const toml::node* n = find(s, key, required);
    if (n == nullptr) return std::nullopt;
    if (!n->is_string()) {
      type_error(*n, s.key(key), "a string");
      return std::nullopt;
    }
    const std::string& value = n->as_string()->get();
    if (value.empty()) {
      add(n->source().begin, s.key(key), "must not be empty");
      return std::nullopt;
    }
    return value;
  }

  std::optional<int64_t> get_int(const Section& s, std::string_view key, bool required, int64_t min,
                                 int64_t max) {
    const toml::node* n = find(s, key, required);
    if (n == nullptr) return std::nullopt;
    if (!n->is_integer()) {
      type_error(*n, s.key(key), "an integer");
      return std::nullopt;
    }
    int64_t value = n->as_integer()->get();
    if (value < min || value > max) {
      std::string range =
          max == kIntMax ? fmt::format(">= {}", min) : fmt::format("from {} to {}", min, max);
      add(n->source().begin, s.key(key),
          fmt::format("expected an integer {}, got {}", range, value));
      return std::nullopt;
    }
    return value;
  }

  // Reads an int key with a default into `out`; durations and counts are at least `min`.
  void read_int(const Section& s, std::string_view key, int& out, int64_t min,
                int64_t max = kIntMax) {
    if (auto v = get_int(s, key, false, min, max)) out = static_cast<int>(*v);
  }

  std::optional<bool> get_bool(const Section& s, std::string_view key) {
    const toml::node* n = s.table.get(key);
    if (n == nullptr) return std::nullopt;
    if (!n->is_boolean()) {
      type_error(*n, s.key(key), "a boolean (true or false)");
      return std::nullopt;
    }
    return n->as_boolean()->get();
  }

  // Relative paths are resolved against the directory of the config file, not the working
  // directory: a unit, a test and a user in a shell then all mean the same file.
  std::optional<std::string> get_path(const Section& s, std::string_view key, bool required) {
    auto value = get_string(s, key, required);
    if (!value) return std::nullopt;
    std::filesystem::path p(*value);
    if (p.is_relative() && !base_dir_.empty()) p = base_dir_ / p;
    return p.lexically_normal().string();
  }

  std::optional<HostPort> get_address(const Section& s, std::string_view key, bool required,
                                      HostKind kind) {
    auto text = get_string(s, key, required);
    if (!text) return std::nullopt;
    auto parsed = parse_host_port(*text, kind);
    if (!parsed) {
      add(s.at(key), s.key(key), parsed.error());
      return std::nullopt;
    }
    return *parsed;
  }

  // Checks a file named by `key`; for secrets read into the model, `contents` receives the file
  // without trailing whitespace (editors and `echo` add a newline). Messages never show contents.
  void check_file(const Section& s, std::string_view key, const std::string& file, FileKind kind,
                  std::string* contents = nullptr) {
    if (!options_.check_files) return;
    const Position at = s.at(key);
    const std::string dotted = s.key(key);
    struct stat st {};
    if (::stat(file.c_str(), &st) != 0) {
      add(at, dotted, fmt::format("cannot read {}: {}", file, std::strerror(errno)));
      return;
    }
    if (kind == FileKind::directory) {
      if (!S_ISDIR(st.st_mode)) add(at, dotted, fmt::format("{} is not a directory", file));
      return;
    }
    if (S_ISDIR(st.st_mode)) {
      add(at, dotted, fmt::format("{} is a directory, expected a file", file));
      return;
    }
    const unsigned mode = st.st_mode & 0777;
    if (kind == FileKind::private_key && (mode & 077) != 0) {
      add(at, dotted,
          fmt::format("file is {} by group or others (mode {:04o}); a private key is for its "
                      "owner only: run chmod 600 {}",
                      (mode & 044) != 0 ? "readable" : "writable", mode, file));
      return;
    }
    // Secrets may be shared read-only with a group (the monitoring user that runs `check`), never
    // with everyone, and nobody but the owner may change them.
    if (kind == FileKind::secret && (mode & 037) != 0) {
      add(at, dotted,
          fmt::format("file is {} (mode {:04o}); run chmod 600 {}, or to let a monitoring group "
                      "read it: chgrp GROUP {} && chmod 640 {}",
                      (mode & 004) != 0   ? "readable by others"
                      : (mode & 020) != 0 ? "writable by the group"
                                          : "accessible to others",
                      mode, file, file, file));
      return;
    }
    // Reading proves readability for the user we run as (root passes access() for everything);
    // only regular files, and no more than a file of this kind can sensibly hold.
    const size_t limit = kind == FileKind::plain ? kPlainFileMax : kSecretFileMax;
    auto read = read_small_file(file, limit);
    if (!read) {
      add(at, dotted, fmt::format("cannot read {}: {}", file, read.error().message));
      return;
    }
    std::string data = std::move(*read);
    if (contents == nullptr) return;
    while (!data.empty() && std::isspace(static_cast<unsigned char>(data.back()))) data.pop_back();
    if (data.empty()) {
      add(at, dotted, fmt::format("{} is empty; it must hold the secret", file));
      return;
    }
    *contents = std::move(data);
  }

  // A [name] table; nullptr (reported if wrong) when absent or not a table.
  const toml::table* section_table(const toml::table& root, std::string_view name) {
    const toml::node* n = root.get(name);
    if (n == nullptr) return nullptr;
    if (!n->is_table()) {
      type_error(*n, std::string(name), fmt::format("a table ([{}])", name));
      return nullptr;
    }
    return n->as_table();
  }

  // The tables of a [[name]] array; reports a missing array when `required`.
  std::vector<const toml::table*> array_tables(const toml::table& root, std::string_view name,
                                               bool required) {
    std::vector<const toml::table*> tables;
    const toml::node* n = root.get(name);
    const std::string missing = fmt::format("at least one [[{}]] table is required", name);
    if (n == nullptr) {
      if (required) add(kFileStart, std::string(name), missing);
      return tables;
    }
    const toml::array* array = n->as_array();
    if (array == nullptr) {
      type_error(*n, std::string(name), fmt::format("an array of tables ([[{}]])", name));
      return tables;
    }
    if (array->empty() && required) add(n->source().begin, std::string(name), missing);
    for (std::size_t i = 0; i < array->size(); ++i) {
      const toml::node& element = *array->get(i);
      if (!element.is_table()) {
        type_error(element, fmt::format("{}[{}]", name, i), "a table");
        continue;
      }
      tables.push_back(element.as_table());
    }
    return tables;
  }

  void read_pve(const toml::table& root) {
    const toml::node* node = root.get("pve");
    if (node == nullptr) {
      if (reads_.pve) add(kFileStart, "pve", "required table [pve] is missing");
      return;
    }
    const toml::table* table = section_table(root, "pve");
    if (table == nullptr) return;
    Section s{*table, "pve"};
    check_keys(*table, s.name, keys_of("pve"));
    const bool need = reads_.pve;
    PveSection pve;

    if (const toml::node* e = find(s, "endpoints", need)) {
      if (const toml::array* list = e->as_array()) {
        if (list->empty()) add(e->source().begin, s.key("endpoints"), "needs at least one URL");
        for (std::size_t i = 0; i < list->size(); ++i) {
          const toml::node& url = *list->get(i);
          const std::string key = fmt::format("pve.endpoints[{}]", i);
          if (!url.is_string()) {
            type_error(url, key, "a string");
          } else if (auto error = url_error(url.as_string()->get(), {"https"})) {
            add(url.source().begin, key, *error);
          } else {
            pve.endpoints.push_back(url.as_string()->get());
          }
        }
      } else {
        type_error(*e, s.key("endpoints"), "an array of https:// URLs");
      }
    }

    if (auto id = get_string(s, "token_id", need)) {
      if (is_token_id(*id)) {
        pve.token_id = *id;
      } else {
        add(s.at("token_id"), s.key("token_id"),
            fmt::format("expected USER@REALM!TOKENID (e.g. \"pvectl@pve!tunnel\"), got \"{}\"",
                        *id));
      }
    }

    if (auto file = get_path(s, "token_secret_file", need)) {
      pve.token_secret_file = *file;
      if (need) check_file(s, "token_secret_file", *file, FileKind::secret, &pve.token_secret);
    }

    // TLS trust: exactly one way, so nobody believes a CA is checked while insecure is on.
    std::vector<std::string_view> trust_keys;
    if (table->contains("ca_file")) trust_keys.push_back("ca_file");
    if (table->contains("fingerprint")) trust_keys.push_back("fingerprint");
    if (auto insecure = get_bool(s, "insecure")) {
      pve.insecure = *insecure;
      if (*insecure) trust_keys.push_back("insecure");
    }
    if (trust_keys.empty() && need) {
      add(s.header(), "pve", "set exactly one of ca_file, fingerprint or insecure = true");
    }
    for (std::size_t i = 1; i < trust_keys.size(); ++i) {
      add(s.at(trust_keys[i]), s.key(trust_keys[i]),
          fmt::format("conflicts with pve.{}; set exactly one of ca_file, fingerprint or "
                      "insecure = true",
                      trust_keys[0]));
    }
    if (auto ca = get_path(s, "ca_file", false)) {
      pve.ca_file = *ca;
      if (need) check_file(s, "ca_file", *ca, FileKind::plain);
    }
    // One fingerprint, or a list: every node of a cluster has a certificate of its own.
    if (const toml::node* fp = table->get("fingerprint")) {
      auto take = [&](const toml::node& n, const std::string& key) {
        if (!n.is_string()) {
          type_error(n, key, "a string or an array of strings");
          return;
        }
        auto normalised = normalise_fingerprint(n.as_string()->get());
        if (normalised) {
          pve.fingerprints.push_back(*normalised);
        } else {
          add(n.source().begin, key, normalised.error());
        }
      };
      if (const toml::array* list = fp->as_array()) {
        if (list->empty()) add(fp->source().begin, s.key("fingerprint"), "the list is empty");
        for (size_t i = 0; i < list->size(); ++i) {
          take(*list->get(i), fmt::format("{}[{}]", s.key("fingerprint"), i));
        }
      } else {
        take(*fp, s.key("fingerprint"));
      }
    }
    read_int(s, "timeout_s", pve.timeout_s, 1, 300);
    config_.pve = std::move(pve);
  }

  void read_guests(const toml::table& root) {
    const bool need = reads_.guests;
    std::map<std::string, std::size_t> by_name;
    std::map<int64_t, std::size_t> by_vmid;
    auto tables = array_tables(root, "guest", need);
    for (std::size_t i = 0; i < tables.size(); ++i) {
      Section s{*tables[i], fmt::format("guest[{}]", i)};
      check_keys(s.table, s.name, keys_of("guest"));
      Guest guest;
      if (auto name = get_name(s, need)) {
        guest.name = *name;
        auto [it, inserted] = by_name.emplace(*name, i);
        if (!inserted) {
          add(s.at("name"), s.key("name"),
              fmt::format("duplicate guest name \"{}\" (also guest[{}])", *name, it->second));
        }
      }
      if (auto node = get_string(s, "node", need)) guest.node = *node;
      if (auto vmid = get_int(s, "vmid", need, kVmidMin, kVmidMax)) {
        guest.vmid = *vmid;
        auto [it, inserted] = by_vmid.emplace(*vmid, i);
        if (!inserted) {
          add(s.at("vmid"), s.key("vmid"),
              fmt::format("duplicate vmid {} (also guest[{}])", *vmid, it->second));
        }
      }
      if (auto type = get_string(s, "type", need)) {
        if (*type == "qemu") {
          guest.type = GuestType::qemu;
        } else if (*type == "lxc") {
          guest.type = GuestType::lxc;
        } else {
          add(s.at("type"), s.key("type"),
              fmt::format("expected \"qemu\" or \"lxc\", got \"{}\"", *type));
        }
      }
      if (auto order = get_int(s, "startup_order", false, 0, kIntMax)) {
        guest.startup_order = static_cast<int>(*order);
      }
      config_.guests.push_back(std::move(guest));
    }
  }

  // Guest and tunnel names appear in systemd unit names, URLs and metrics labels.
  std::optional<std::string> get_name(const Section& s, bool required) {
    auto name = get_string(s, "name", required);
    if (!name) return std::nullopt;
    const bool ok = std::all_of(name->begin(), name->end(), [](unsigned char c) {
      return std::isalnum(c) || c == '-' || c == '_' || c == '.';
    });
    if (!ok || !std::isalnum(static_cast<unsigned char>(name->front()))) {
      add(s.at("name"), s.key("name"),
          fmt::format("\"{}\" must start with a letter or digit and contain only letters, "
                      "digits, '-', '_' and '.'",
                      *name));
      return std::nullopt;
    }
    return name;
  }

  void read_tunnels(const toml::table& root) {
    const bool have_guests = !config_.guests.empty();
    std::vector<std::string_view> guest_names;
    for (const auto& g : config_.guests) guest_names.push_back(g.name);
    std::map<std::string, std::size_t> by_name;
    std::map<std::string, std::size_t> by_remote;
    auto tables = array_tables(root, "tunnel", reads_.at_least_one_tunnel);
    for (std::size_t i = 0; i < tables.size(); ++i) {
      Section s{*tables[i], fmt::format("tunnel[{}]", i)};
      check_keys(s.table, s.name, keys_of("tunnel"));
      const bool worker = reads_.tunnel_worker;
      Tunnel t;
      if (auto name = get_name(s, reads_.tunnel_identity)) {
        t.name = *name;
        auto [it, inserted] = by_name.emplace(*name, i);
        if (!inserted) {
          add(s.at("name"), s.key("name"),
              fmt::format("duplicate tunnel name \"{}\" (also tunnel[{}])", *name, it->second));
        }
      }
      if (auto guest = get_string(s, "guest", reads_.tunnel_identity)) {
        t.guest = *guest;
        if (have_guests && config_.find_guest(*guest) == nullptr) {
          std::string message = fmt::format("no [[guest]] named \"{}\"", *guest);
          if (auto guess = closest_match(*guest, guest_names)) {
            message += fmt::format(" (did you mean \"{}\"?)", *guess);
          }
          add(s.at("guest"), s.key("guest"), std::move(message));
        }
      }
      // Every command that meets a tunnel reads its role.
      if (auto role = get_string(s, "role", true)) {
        if (*role == "primary") {
          t.role = TunnelRole::primary;
        } else if (*role == "backup") {
          t.role = TunnelRole::backup;
        } else {
          add(s.at("role"), s.key("role"),
              fmt::format("expected \"primary\" or \"backup\", got \"{}\"", *role));
        }
      }
      if (auto host = get_string(s, "vps_host", worker)) t.vps_host = *host;
      read_int(s, "vps_port", t.vps_port, 1, 65535);
      if (auto user = get_string(s, "user", worker)) t.user = *user;
      if (auto key = get_path(s, "key_file", worker)) {
        t.key_file = *key;
        if (worker) check_file(s, "key_file", *key, FileKind::private_key);
      }
      if (auto passphrase = get_path(s, "passphrase_file", false)) {
        t.passphrase_file = *passphrase;
        if (worker) check_file(s, "passphrase_file", *passphrase, FileKind::private_key);
      }
      if (auto known = get_path(s, "known_hosts_file", worker)) {
        t.known_hosts_file = *known;
        if (worker) check_file(s, "known_hosts_file", *known, FileKind::plain);
      }
      if (auto allow = get_bool(s, "allow_public_bind")) t.allow_public_bind = *allow;
      if (auto remote = get_address(s, "remote", reads_.tunnel_remote, HostKind::ip_literal)) {
        t.remote = *remote;
        if (!t.allow_public_bind && !is_loopback_address(remote->host)) {
          add(s.at("remote"), s.key("remote"),
              fmt::format("remote bind address {} is not loopback; set allow_public_bind = true "
                          "to allow it",
                          remote->host));
        }
        // Two forwards cannot bind the same address on one VPS: the second would never serve.
        std::string where = fmt::format("{} on {}", remote->str(), t.vps_host);
        auto [it, inserted] = by_remote.emplace(where, i);
        if (!inserted) {
          add(s.at("remote"), s.key("remote"),
              fmt::format("remote {} is already used by tunnel[{}]", remote->str(), it->second));
        }
      }
      if (auto local = get_address(s, "local", worker, HostKind::any_host)) t.local = *local;
      // Bounded so that interval x count (how long a silent VPS is tolerated) cannot overflow.
      read_int(s, "keepalive_interval_s", t.keepalive_interval_s, 1, 3600);
      read_int(s, "keepalive_count_max", t.keepalive_count_max, 1, 100);
      if (auto probe = get_bool(s, "probe")) t.probe = *probe;
      if (auto path = get_string(s, "probe_path", false)) {
        if (path->front() == '/') {
          t.probe_path = *path;
        } else {
          add(s.at("probe_path"), s.key("probe_path"),
              fmt::format("must start with \"/\", got \"{}\"", *path));
        }
      }
      read_int(s, "probe_interval_s", t.probe_interval_s, 1);
      read_int(s, "probe_failures_max", t.probe_failures_max, 1);
      read_int(s, "forward_pending_max_s", t.forward_pending_max_s, 1);
      read_int(s, "drain_timeout_s", t.drain_timeout_s, 1);
      if (auto allow = get_bool(s, "allow_remote_control")) t.allow_remote_control = *allow;
      if (auto listen = get_address(s, "control_listen", false, HostKind::ip_literal)) {
        t.control_listen = *listen;
        if (!t.allow_remote_control && !is_loopback_address(listen->host)) {
          add(s.at("control_listen"), s.key("control_listen"),
              fmt::format("control API address {} is not loopback; set allow_remote_control = "
                          "true to allow it (and firewall it to the Proxmox hosts)",
                          listen->host));
        }
      }
      read_int(s, "max_connections", t.max_connections, 1, 65536);
      if (auto url = get_string(s, "control_url", false)) {
        if (auto error = url_error(*url, {"http", "https"})) {
          add(s.at("control_url"), s.key("control_url"), *error);
        } else {
          t.control_url = *url;
        }
      }
      // The token is required "if control_listen or control_url". control_listen always has
      // a value (the API is always on, loopback by default), so the worker always needs its
      // token: an unauthenticated control API is never what a user wants. check and the
      // controller only talk to workers that have a control_url, so only then do they need it.
      const bool control_client = reads_.control_client && s.table.contains("control_url");
      const bool token_needed = worker || control_client;
      if (auto token = get_path(s, "control_token_file", token_needed)) {
        t.control_token_file = *token;
        if (token_needed) {
          check_file(s, "control_token_file", *token, FileKind::secret, &t.control_token);
        }
      }
      config_.tunnels.push_back(std::move(t));
    }
  }

  void read_backup(const toml::table& root) {
    const toml::table* table = section_table(root, "backup");
    if (table == nullptr) return;
    Section s{*table, "backup"};
    check_keys(*table, s.name, keys_of("backup"));
    BackupSection& b = config_.backup;
    if (auto storage = get_string(s, "storage", false)) b.storage = *storage;
    read_int(s, "max_age_h", b.max_age_h, 1);
    read_int(s, "grace_h", b.grace_h, 0);
    read_int(s, "verify_grace_h", b.verify_grace_h, 0);
    if (auto vmid = get_int(s, "restore_test_vmid", false, kVmidMin, kVmidMax)) {
      b.restore_test_vmid = *vmid;
      for (std::size_t i = 0; i < config_.guests.size(); ++i) {
        if (config_.guests[i].vmid == *vmid) {
          add(s.at("restore_test_vmid"), s.key("restore_test_vmid"),
              fmt::format("vmid {} is guest[{}]; the restore test needs a scratch vmid", *vmid, i));
        }
      }
    }
    if (auto storage = get_string(s, "restore_test_storage", false)) {
      b.restore_test_storage = *storage;
    }
  }

  void read_controller(const toml::table& root) {
    const toml::table* table = section_table(root, "controller");
    if (table == nullptr) return;
    Section s{*table, "controller"};
    check_keys(*table, s.name, keys_of("controller"));
    ControllerSection& c = config_.controller;
    const bool need = reads_.controller;
    read_int(s, "interval_s", c.interval_s, 1);
    if (const toml::node* e = find(s, "enforce", false)) {
      if (const toml::array* list = e->as_array()) {
        for (std::size_t i = 0; i < list->size(); ++i) {
          const toml::node& action = *list->get(i);
          const std::string key = fmt::format("controller.enforce[{}]", i);
          if (!action.is_string()) {
            type_error(action, key, "a string");
            continue;
          }
          const std::string& name = action.as_string()->get();
          if (std::find(kEnforceActions.begin(), kEnforceActions.end(), name) ==
              kEnforceActions.end()) {
            add(action.source().begin, key,
                fmt::format("expected one of {}, got \"{}\"", quoted_list(kEnforceActions), name));
          } else if (c.enforces(name)) {
            add(action.source().begin, key, fmt::format("\"{}\" is listed twice", name));
          } else {
            c.enforce.push_back(name);
          }
        }
      } else {
        type_error(*e, s.key("enforce"), "an array of actions");
      }
    }
    if (auto listen = get_address(s, "listen", false, HostKind::ip_literal)) c.listen = *listen;
    if (auto dir = get_path(s, "lock_dir", false)) {
      c.lock_dir = *dir;
      if (need) check_file(s, "lock_dir", *dir, FileKind::directory);
    }
    // Created on demand by the controller (and `maintenance`), so only its parent must exist.
    c.state_dir = (std::filesystem::path(c.lock_dir).parent_path() / "pvectl-tunnel").string();
    if (auto dir = get_path(s, "state_dir", false)) c.state_dir = *dir;
    read_int(s, "lease_s", c.lease_s, 1);
    read_int(s, "start_min_interval_s", c.start_min_interval_s, 1);
    read_int(s, "start_backoff_max_s", c.start_backoff_max_s, 1);
    if (table->contains("start_backoff_max_s") && c.start_backoff_max_s < c.start_min_interval_s) {
      add(s.at("start_backoff_max_s"), s.key("start_backoff_max_s"),
          fmt::format("must be >= start_min_interval_s ({}), got {}", c.start_min_interval_s,
                      c.start_backoff_max_s));
    }
    read_int(s, "reconnect_after_cycles", c.reconnect_after_cycles, 1);
    read_int(s, "backup_check_interval_s", c.backup_check_interval_s, 1);
    if (auto log = get_path(s, "audit_log", false)) c.audit_log = *log;
    if (auto token = get_path(s, "token_file", false)) {
      c.token_file = *token;
      if (need) check_file(s, "token_file", *token, FileKind::secret, &c.token);
    }
  }

  void read_vps(const toml::table& root) {
    const toml::table* table = section_table(root, "vps");
    if (table == nullptr) return;
    Section s{*table, "vps"};
    check_keys(*table, s.name, keys_of("vps"));
    if (auto url = get_string(s, "public_url", false)) {
      if (auto error = url_error(*url, {"http", "https"})) {
        add(s.at("public_url"), s.key("public_url"), *error);
      } else {
        config_.vps.public_url = *url;
      }
    }
  }

  std::string path_;
  ParseOptions options_;
  Reads reads_;
  std::filesystem::path base_dir_;
  Problems problems_;
  Config config_;
};

}  // namespace

Result<Config, Problems> parse(std::string_view text, const std::string& path, Command command,
                               const ParseOptions& options) {
  return Loader(path, command, options).run(text);
}

Result<Config, Problems> load(const std::string& path, Command command,
                              const ParseOptions& options) {
  auto text = read_small_file(path, kConfigFileMax);
  if (!text) {
    return tl::unexpected(Problems{
        Problem{path, 0, 0, "",
                fmt::format("cannot read the config file {}: {}", path, text.error().message)}});
  }
  return parse(*text, path, command, options);
}

}  // namespace pvt::config
