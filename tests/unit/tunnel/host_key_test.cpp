#include "tunnel/host_key.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

namespace pvt::tunnel {
namespace {

std::string b64(const std::string& raw) {
  std::string out(4 * ((raw.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(raw.data()),
                                static_cast<int>(raw.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

// A hashed known_hosts name as `ssh-keygen -H` writes it.
std::string hashed(const std::string& name, const std::string& salt) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha1(), salt.data(), static_cast<int>(salt.size()),
       reinterpret_cast<const unsigned char*>(name.data()), name.size(), mac, &len);
  return "|1|" + b64(salt) + "|" + b64(std::string(reinterpret_cast<char*>(mac), len));
}

TEST(OpensshFingerprint, MatchesSshKeygen) {
  // A key made with `ssh-keygen -t ed25519`; `ssh-keygen -lf` printed the fingerprint below.
  const std::string blob_b64 =
      "AAAAC3NzaC1lZDI1NTE5AAAAIKHoJnOzUyDHflfI7XiTmUzLM1cTOVBJCQjjR0/MsgUs";
  std::string raw(3 * blob_b64.size() / 4, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(raw.data()),
                                reinterpret_cast<const unsigned char*>(blob_b64.data()),
                                static_cast<int>(blob_b64.size()));
  raw.resize(static_cast<size_t>(n));
  EXPECT_EQ(openssh_fingerprint(raw), "SHA256:80GFQqFQrNyGLImqS+08CTZR0X96q+lCdH/GP4hEAVI");
}

TEST(KnownHostsName, BracketsOnlyOffPort22) {
  EXPECT_EQ(known_hosts_name("vps.example.net", 22), "vps.example.net");
  EXPECT_EQ(known_hosts_name("vps.example.net", 2222), "[vps.example.net]:2222");
  EXPECT_EQ(known_hosts_name("2001:db8::1", 2222), "[2001:db8::1]:2222");
}

TEST(PinnedKeyMethods, PlainHashedPatternsAndMarkers) {
  const std::string text =
      "# comment\n"
      "\n"
      "other.example.net ssh-rsa AAAA\n"
      "vps.example.net,203.0.113.7 ecdsa-sha2-nistp256 AAAA\n"
      "@cert-authority *.example.net ssh-ed25519 AAAA\n"
      "@revoked vps.example.net ssh-dss AAAA\n" +
      hashed("vps.example.net", "0123456789abcdefghij") + " ssh-ed25519 AAAA\n" +
      "*.example.net,!vps.example.net ssh-rsa AAAA\n"
      "[vps.example.net]:2222 ssh-rsa AAAA\n";
  EXPECT_EQ(pinned_key_methods(text, "vps.example.net", 22),
            (std::vector<std::string>{"ecdsa-sha2-nistp256", "ssh-ed25519"}));
  EXPECT_EQ(pinned_key_methods(text, "vps.example.net", 2222),
            (std::vector<std::string>{"rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"}));
  EXPECT_EQ(pinned_key_methods(text, "203.0.113.7", 22),
            (std::vector<std::string>{"ecdsa-sha2-nistp256"}));
  // Wildcards match, the negation excludes only the named host.
  EXPECT_EQ(pinned_key_methods(text, "www.example.net", 22),
            (std::vector<std::string>{"rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"}));
  EXPECT_TRUE(pinned_key_methods(text, "unknown.example.org", 22).empty());
}

TEST(HostKeyPreference, PinnedFirstOtherwiseEd25519First) {
  EXPECT_EQ(host_key_preference({"ssh-ed25519"}), "ssh-ed25519");
  EXPECT_EQ(host_key_preference({}).rfind("ssh-ed25519,", 0), 0u);
}

}  // namespace
}  // namespace pvt::tunnel
