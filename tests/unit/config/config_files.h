// A temporary directory holding the files config tests refer to as @DIR@/NAME (listed in
// tests/config/README.md), with the modes that make them valid or invalid. Removed on destruction.
#pragma once

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

namespace pvt::config::testing {

class ConfigFiles {
 public:
  static constexpr const char* kPveSecret = "0b5d6a8e-pve-token-secret";
  static constexpr const char* kControlSecret = "control-token-secret";
  static constexpr const char* kControllerSecret = "controller-token-secret";

  ConfigFiles() {
    std::string pattern = (std::filesystem::temp_directory_path() / "pvt-config-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    dir_ = pattern;
    // Trailing newlines and spaces, as editors and `echo` leave them: the loader trims them.
    write("pve-token", std::string(kPveSecret) + "\n", 0600);
    write("pve-token-world", std::string(kPveSecret) + "\n", 0644);
    write("pve-token-empty", " \n\n", 0600);
    write("pve-token-group-writable", std::string(kPveSecret) + "\n", 0620);
    write("ca.pem", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n", 0644);
    write("id_ed25519_tunnel1", "-----BEGIN OPENSSH PRIVATE KEY-----\n", 0600);
    write("id_ed25519_tunnel2", "-----BEGIN OPENSSH PRIVATE KEY-----\n", 0600);
    write("id_ed25519_world", "-----BEGIN OPENSSH PRIVATE KEY-----\n", 0644);
    write("id_ed25519_group", "-----BEGIN OPENSSH PRIVATE KEY-----\n", 0640);
    write("passphrase", "key passphrase\n", 0600);
    write("known_hosts", "vps.example.net ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA\n", 0644);
    write("control-token", std::string(kControlSecret) + "\n", 0600);
    write("control-token-group", std::string(kControlSecret) + "\n", 0640);
    write("controller-token", std::string(kControllerSecret) + "\r\n", 0600);
    std::filesystem::create_directory(dir_ / "lock");
    // Nobody ever writes to it: a loader that opens it for reading without care blocks forever.
    if (::mkfifo((dir_ / "known_hosts_fifo").c_str(), 0644) != 0)
      throw std::runtime_error("mkfifo failed");
  }
  ~ConfigFiles() {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  ConfigFiles(const ConfigFiles&) = delete;
  ConfigFiles& operator=(const ConfigFiles&) = delete;

  const std::filesystem::path& dir() const { return dir_; }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  void write(const std::string& name, const std::string& contents, mode_t mode) const {
    const auto file = dir_ / name;
    std::ofstream(file, std::ios::binary | std::ios::trunc) << contents;
    if (::chmod(file.c_str(), mode) != 0) throw std::runtime_error("chmod failed");
  }

  // Replaces every @DIR@ in `text` with this directory.
  std::string substitute(std::string text) const {
    return replace_all(text, "@DIR@", dir_.string());
  }

  static std::string replace_all(std::string text, const std::string& from, const std::string& to) {
    for (auto pos = text.find(from); pos != std::string::npos;
         pos = text.find(from, pos + to.size())) {
      text.replace(pos, from.size(), to);
    }
    return text;
  }

 private:
  std::filesystem::path dir_;
};

}  // namespace pvt::config::testing
