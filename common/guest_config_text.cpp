#include "common/guest_config_text.h"

#include <algorithm>
#include <cctype>

namespace pvt {
namespace {

bool numbered(std::string_view key, std::string_view prefix) {
  return key.size() > prefix.size() && key.substr(0, prefix.size()) == prefix &&
         std::all_of(key.begin() + static_cast<std::ptrdiff_t>(prefix.size()), key.end(),
                     [](unsigned char c) { return std::isdigit(c) != 0; });
}

// "size=8G,backup=0" contains option "backup=0"?
bool has_option(std::string_view options, std::string_view option) {
  size_t start = 0;
  while (start <= options.size()) {
    size_t end = options.find(',', start);
    if (end == std::string_view::npos) end = options.size();
    if (options.substr(start, end - start) == option) return true;
    start = end + 1;
  }
  return false;
}

}  // namespace

std::vector<ConfigEntry> parse_guest_config_text(std::string_view text) {
  std::vector<ConfigEntry> entries;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    std::string_view line = text.substr(pos, eol - pos);
    pos = eol + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (!line.empty() && line.front() == '[') break;
    if (line.empty() || line.front() == '#') continue;
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) continue;
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    entries.push_back({std::string(line.substr(0, colon)), std::string(value)});
  }
  return entries;
}

std::optional<std::string> backed_up_volume(std::string_view type, std::string_view key,
                                            std::string_view value) {
  const bool qemu_disk = numbered(key, "ide") || numbered(key, "sata") || numbered(key, "scsi") ||
                         numbered(key, "virtio") || key == "efidisk0" || key == "tpmstate0";
  const bool lxc_disk = key == "rootfs" || numbered(key, "mp");
  if (type == "qemu" ? !qemu_disk : !lxc_disk) return std::nullopt;
  const size_t comma = value.find(',');
  const std::string_view volume = value.substr(0, comma);
  const std::string_view options =
      comma == std::string_view::npos ? std::string_view{} : value.substr(comma + 1);
  // A volume id is "STORAGE:NAME"; "none", "cdrom", "/dev/sdb" and bind mounts are not.
  if (volume.empty() || volume.front() == '/' || volume.find(':') == std::string_view::npos)
    return std::nullopt;
  if (type == "qemu" && (has_option(options, "media=cdrom") || has_option(options, "backup=0")))
    return std::nullopt;
  if (type == "lxc" && key != "rootfs" && !has_option(options, "backup=1")) return std::nullopt;
  return std::string(volume);
}

}  // namespace pvt
