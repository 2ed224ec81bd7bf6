#include "tunnel/host_key.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>

#include "common/small_file.h"
#include "common/text.h"

namespace pvt::tunnel {
namespace {

std::string base64(std::string_view raw) {
  std::string out(4 * ((raw.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(raw.data()),
                                static_cast<int>(raw.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

std::string unbase64(std::string_view text) {
  std::string out(3 * text.size() / 4 + 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(text.data()),
                                static_cast<int>(text.size()));
  if (n < 0) return {};
  size_t size = static_cast<size_t>(n);
  // EVP_DecodeBlock counts the padding as zero bytes.
  for (size_t i = text.size(); i > 0 && text[i - 1] == '='; --i) --size;
  out.resize(size);
  return out;
}

// A hashed known_hosts name, "|1|<salt>|<HMAC-SHA1(salt, name)>" (HashKnownHosts yes).
bool hashed_name_matches(std::string_view entry, std::string_view name) {
  if (entry.substr(0, 3) != "|1|") return false;
  const size_t bar = entry.find('|', 3);
  if (bar == std::string_view::npos) return false;
  const std::string salt = unbase64(entry.substr(3, bar - 3));
  const std::string expected = unbase64(entry.substr(bar + 1));
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  HMAC(EVP_sha1(), salt.data(), static_cast<int>(salt.size()),
       reinterpret_cast<const unsigned char*>(name.data()), name.size(), mac, &mac_len);
  return expected.size() == mac_len && std::memcmp(expected.data(), mac, mac_len) == 0;
}

// known_hosts patterns may use * and ? (ssh(8) "SSH_KNOWN_HOSTS FILE FORMAT").
bool glob_matches(std::string_view pattern, std::string_view text) {
  if (pattern.empty()) return text.empty();
  if (pattern.front() == '*') {
    for (size_t i = 0; i <= text.size(); ++i) {
      if (glob_matches(pattern.substr(1), text.substr(i))) return true;
    }
    return false;
  }
  if (text.empty()) return false;
  if (pattern.front() != '?' && pattern.front() != text.front()) return false;
  return glob_matches(pattern.substr(1), text.substr(1));
}

// Whether the comma-separated host field of a known_hosts line names `name`; a negated pattern
// ("!pattern") that matches excludes the line.
bool hosts_field_matches(std::string_view field, std::string_view name) {
  bool matched = false;
  for (const auto& pattern : text::split_list(field, ',')) {
    std::string_view p = pattern;
    const bool negated = !p.empty() && p.front() == '!';
    if (negated) p.remove_prefix(1);
    const bool hit = p.substr(0, 3) == "|1|" ? hashed_name_matches(p, name) : glob_matches(p, name);
    if (hit && negated) return false;
    matched = matched || hit;
  }
  return matched;
}

std::string method_of_key_type(int libssh2_type) {
  switch (libssh2_type) {
    case LIBSSH2_HOSTKEY_TYPE_RSA:
      return "ssh-rsa";
    case LIBSSH2_HOSTKEY_TYPE_DSS:
      return "ssh-dss";
    case LIBSSH2_HOSTKEY_TYPE_ECDSA_256:
      return "ecdsa-sha2-nistp256";
    case LIBSSH2_HOSTKEY_TYPE_ECDSA_384:
      return "ecdsa-sha2-nistp384";
    case LIBSSH2_HOSTKEY_TYPE_ECDSA_521:
      return "ecdsa-sha2-nistp521";
    case LIBSSH2_HOSTKEY_TYPE_ED25519:
      return "ssh-ed25519";
    default:
      return "unknown";
  }
}

int knownhost_key_bits(int libssh2_type) {
  switch (libssh2_type) {
    case LIBSSH2_HOSTKEY_TYPE_RSA:
      return LIBSSH2_KNOWNHOST_KEY_SSHRSA;
    case LIBSSH2_HOSTKEY_TYPE_DSS:
      return LIBSSH2_KNOWNHOST_KEY_SSHDSS;
    case LIBSSH2_HOSTKEY_TYPE_ECDSA_256:
      return LIBSSH2_KNOWNHOST_KEY_ECDSA_256;
    case LIBSSH2_HOSTKEY_TYPE_ECDSA_384:
      return LIBSSH2_KNOWNHOST_KEY_ECDSA_384;
    case LIBSSH2_HOSTKEY_TYPE_ECDSA_521:
      return LIBSSH2_KNOWNHOST_KEY_ECDSA_521;
    case LIBSSH2_HOSTKEY_TYPE_ED25519:
      return LIBSSH2_KNOWNHOST_KEY_ED25519;
    default:
      return LIBSSH2_KNOWNHOST_KEY_UNKNOWN;
  }
}

struct KnownHostsDeleter {
  void operator()(LIBSSH2_KNOWNHOSTS* h) const { libssh2_knownhost_free(h); }
};

constexpr size_t kKnownHostsMax = 4 * 1024 * 1024;  // bytes; a site's whole known_hosts fits

}  // namespace

Result<std::string> read_known_hosts(const std::string& path) {
  auto text = read_small_file(path, kKnownHostsMax);
  if (!text)
    return fail(fmt::format("cannot read known_hosts file {}: {}", path, text.error().message));
  return text;
}

std::string openssh_fingerprint(std::string_view key_blob) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(key_blob.data()), key_blob.size(), digest);
  std::string b64 = base64(std::string_view(reinterpret_cast<const char*>(digest), sizeof digest));
  while (!b64.empty() && b64.back() == '=') b64.pop_back();
  return "SHA256:" + b64;
}

std::string known_hosts_name(std::string_view host, int port) {
  if (port == 22) return std::string(host);
  return fmt::format("[{}]:{}", host, port);
}

std::vector<std::string> pinned_key_methods(std::string_view known_hosts_text,
                                            std::string_view host, int port) {
  const std::string name = known_hosts_name(host, port);
  std::vector<std::string> methods;
  std::istringstream lines{std::string(known_hosts_text)};
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream fields(line);
    std::string hosts, type;
    if (!(fields >> hosts) || hosts.empty() || hosts.front() == '#') continue;
    if (hosts.front() == '@') continue;  // @cert-authority, @revoked: not a pinned key
    if (!(fields >> type) || !hosts_field_matches(hosts, name)) continue;
    if (type == "ssh-rsa") {
      // An RSA key is offered with SHA-2 signatures first (RFC 8332); the key is the same.
      for (const char* m : {"rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"}) methods.emplace_back(m);
    } else {
      methods.push_back(type);
    }
  }
  std::vector<std::string> unique;
  for (auto& m : methods) {
    if (std::find(unique.begin(), unique.end(), m) == unique.end()) unique.push_back(m);
  }
  return unique;
}

std::string host_key_preference(const std::vector<std::string>& pinned) {
  if (pinned.empty()) {
    return "ssh-ed25519,ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,ecdsa-sha2-nistp521,"
           "rsa-sha2-512,rsa-sha2-256,ssh-rsa";
  }
  return fmt::format("{}", fmt::join(pinned, ","));
}

Result<HostKeyCheck> check_host_key(LIBSSH2_SESSION* session, const std::string& known_hosts_file,
                                    const std::string& host, int port) {
  size_t key_len = 0;
  int key_type = LIBSSH2_HOSTKEY_TYPE_UNKNOWN;
  const char* key = libssh2_session_hostkey(session, &key_len, &key_type);
  if (key == nullptr) return fail("the server presented no host key");

  HostKeyCheck check;
  check.fingerprint = openssh_fingerprint(std::string_view(key, key_len));
  check.key_type = method_of_key_type(key_type);

  std::unique_ptr<LIBSSH2_KNOWNHOSTS, KnownHostsDeleter> hosts(libssh2_knownhost_init(session));
  if (!hosts) return fail("cannot allocate the known_hosts list");
  // readfile stops at the first line it cannot parse; read and add line by line instead so one
  // odd line (a certificate authority, an unsupported key type) does not hide the others.
  auto text = read_known_hosts(known_hosts_file);
  if (!text) return tl::unexpected(text.error());
  std::istringstream lines(*text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty() || line.front() == '#' || line.front() == '@') continue;
    libssh2_knownhost_readline(hosts.get(), line.data(), line.size(),
                               LIBSSH2_KNOWNHOST_FILE_OPENSSH);
  }

  libssh2_knownhost* found = nullptr;
  const int rc = libssh2_knownhost_checkp(
      hosts.get(), host.c_str(), port, key, key_len,
      LIBSSH2_KNOWNHOST_TYPE_PLAIN | LIBSSH2_KNOWNHOST_KEYENC_RAW | knownhost_key_bits(key_type),
      &found);
  switch (rc) {
    case LIBSSH2_KNOWNHOST_CHECK_MATCH:
      check.verdict = HostKeyVerdict::match;
      break;
    case LIBSSH2_KNOWNHOST_CHECK_MISMATCH:
      check.verdict = HostKeyVerdict::mismatch;
      break;
    case LIBSSH2_KNOWNHOST_CHECK_NOTFOUND:
      check.verdict = HostKeyVerdict::unknown;
      break;
    default:
      return fail("cannot check the host key against " + known_hosts_file);
  }
  return check;
}

Result<void> append_host_key(LIBSSH2_SESSION* session, const std::string& known_hosts_file,
                             const std::string& host, int port) {
  size_t key_len = 0;
  int key_type = LIBSSH2_HOSTKEY_TYPE_UNKNOWN;
  const char* key = libssh2_session_hostkey(session, &key_len, &key_type);
  if (key == nullptr) return fail("the server presented no host key");
  std::string line =
      fmt::format("{} {} {}\n", known_hosts_name(host, port), method_of_key_type(key_type),
                  base64(std::string_view(key, key_len)));
  const int fd = ::open(known_hosts_file.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    return fail(fmt::format("cannot append to {}: {}", known_hosts_file, std::strerror(errno)));
  }
  // A file whose last line has no newline (an editor, `echo -n`) would get our entry glued to
  // that line, corrupting both: start on a line of our own.
  struct stat st {};
  char last = '\n';
  if (::fstat(fd, &st) == 0 && st.st_size > 0) {
    const int reader = ::open(known_hosts_file.c_str(), O_RDONLY | O_CLOEXEC);
    if (reader >= 0) {
      if (::pread(reader, &last, 1, st.st_size - 1) != 1) last = '\n';
      ::close(reader);
    }
  }
  if (last != '\n') line.insert(line.begin(), '\n');
  const bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
  if (::close(fd) != 0 || !ok) return fail("cannot write to " + known_hosts_file);
  return {};
}

}  // namespace pvt::tunnel
