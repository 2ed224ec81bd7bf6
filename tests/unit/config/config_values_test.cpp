#include "common/config_values.h"

#include <gtest/gtest.h>

namespace pvt::config {
namespace {

TEST(ParseHostPort, AcceptsIpv4AndBracketedIpv6) {
  auto v4 = parse_host_port("127.0.0.1:29000", HostKind::ip_literal);
  ASSERT_TRUE(v4) << v4.error();
  EXPECT_EQ(v4->host, "127.0.0.1");
  EXPECT_EQ(v4->port, 29000);
  auto v6 = parse_host_port("[::1]:9190", HostKind::ip_literal);
  ASSERT_TRUE(v6) << v6.error();
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->str(), "[::1]:9190");
}

TEST(ParseHostPort, HostNamesOnlyWhereAHostIsAllowed) {
  EXPECT_TRUE(parse_host_port("nginx.internal:18080", HostKind::any_host));
  EXPECT_FALSE(parse_host_port("nginx.internal:18080", HostKind::ip_literal));
  EXPECT_FALSE(parse_host_port("bad_host!:80", HostKind::any_host));
}

TEST(ParseHostPort, RefusesMalformedAddresses) {
  for (const char* text :
       {"127.0.0.1", "127.0.0.1:", ":80", "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:80x",
        "::1:9190", "[::1]9190", "[::1]", "[nonsense]:80", "300.0.0.1:80"}) {
    EXPECT_FALSE(parse_host_port(text, HostKind::ip_literal)) << text;
  }
  EXPECT_EQ(parse_host_port("::1:9190", HostKind::ip_literal).error(),
            "IPv6 addresses need brackets, e.g. [::1]:PORT; got \"::1:9190\"");
  EXPECT_TRUE(parse_host_port("127.0.0.1:65535", HostKind::ip_literal));
  EXPECT_TRUE(parse_host_port("127.0.0.1:1", HostKind::ip_literal));
}

TEST(LoopbackAddress, CoversAll127AndIpv6Loopback) {
  EXPECT_TRUE(is_loopback_address("127.0.0.1"));
  EXPECT_TRUE(is_loopback_address("127.255.0.9"));
  EXPECT_TRUE(is_loopback_address("::1"));
  EXPECT_TRUE(is_loopback_address("0:0:0:0:0:0:0:1"));
  EXPECT_FALSE(is_loopback_address("0.0.0.0"));
  EXPECT_FALSE(is_loopback_address("128.0.0.1"));
  EXPECT_FALSE(is_loopback_address("::"));
  EXPECT_FALSE(is_loopback_address("::ffff:192.0.2.1"));
  EXPECT_FALSE(is_loopback_address("localhost"));
}

TEST(UrlError, AcceptsOnlyTheGivenSchemesWithAHost) {
  EXPECT_FALSE(url_error("https://pve1.example.lan:8006", {"https"}));
  EXPECT_FALSE(url_error("https://192.0.2.10:8006/", {"https"}));
  EXPECT_FALSE(url_error("https://[fd00::10]:8006", {"https"}));
  EXPECT_FALSE(url_error("http://tunnel1.example.lan:9190", {"http", "https"}));
  EXPECT_EQ(url_error("http://pve1:8006", {"https"}),
            "expected a URL starting with https://, got \"http://pve1:8006\"");
  EXPECT_TRUE(url_error("pve1.example.lan:8006", {"https"}));
  EXPECT_TRUE(url_error("https://", {"https"}));
  EXPECT_TRUE(url_error("https://pve1:0", {"https"}));
  EXPECT_TRUE(url_error("https://pve1:port", {"https"}));
  EXPECT_TRUE(url_error("https://user:pass@pve1:8006", {"https"}));
}

TEST(TokenId, IsUserAtRealmBangTokenId) {
  EXPECT_TRUE(is_token_id("pvectl@pve!tunnel"));
  EXPECT_TRUE(is_token_id("root@pam!check-1"));
  EXPECT_FALSE(is_token_id("pvectl@pve"));
  EXPECT_FALSE(is_token_id("pvectl!tunnel"));
  EXPECT_FALSE(is_token_id("@pve!tunnel"));
  EXPECT_FALSE(is_token_id("pvectl@pve!"));
  EXPECT_FALSE(is_token_id("pvectl@pve!1tunnel"));
  EXPECT_FALSE(is_token_id("pvectl@pve!tunnel=secret"));
}

TEST(Fingerprint, NormalisesToUpperCase) {
  const std::string mixed =
      "ab:CD:ef:01:23:45:67:89:ab:cd:ef:01:23:45:67:89:ab:cd:ef:01:23:45:67:89:ab:cd:ef:01:23:45:"
      "67:89";
  auto f = normalise_fingerprint(mixed);
  ASSERT_TRUE(f) << f.error();
  EXPECT_EQ(*f,
            "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:"
            "23:45:67:89");
  EXPECT_FALSE(normalise_fingerprint(mixed.substr(3)));  // 31 pairs
  EXPECT_FALSE(normalise_fingerprint(mixed + ":00"));    // 33 pairs
  // Without separators (some tools print it so) and as openssl prints it: the same pairs.
  auto bare = normalise_fingerprint(std::string(64, 'a'));
  ASSERT_TRUE(bare) << bare.error();
  EXPECT_EQ(bare->size(), 95u);
  EXPECT_EQ(bare->substr(0, 6), "AA:AA:");
  auto openssl = normalise_fingerprint("sha256 Fingerprint=" + mixed);
  ASSERT_TRUE(openssl) << openssl.error();
  EXPECT_EQ(*openssl, *f);
  EXPECT_FALSE(normalise_fingerprint(std::string(63, 'a')));    // odd length
  EXPECT_FALSE(normalise_fingerprint("gg" + mixed.substr(2)));  // not hex
}

TEST(DidYouMean, SuggestsCloseKeysOnly) {
  const std::vector<std::string_view> keys = {"keepalive_interval_s", "keepalive_count_max",
                                              "timeout_s", "role"};
  EXPECT_EQ(closest_match("keepalive_interval", keys), "keepalive_interval_s");
  EXPECT_EQ(closest_match("keepalive_cuont_max", keys), "keepalive_count_max");
  EXPECT_EQ(closest_match("timeout", keys), "timeout_s");
  EXPECT_EQ(closest_match("rol", keys), "role");
  EXPECT_FALSE(closest_match("colour", keys));
  EXPECT_EQ(edit_distance("kitten", "sitting"), 3u);
  EXPECT_EQ(edit_distance("", "abc"), 3u);
}

}  // namespace
}  // namespace pvt::config
