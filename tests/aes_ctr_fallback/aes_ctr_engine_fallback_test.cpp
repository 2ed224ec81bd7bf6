// tunnel/aes_ctr_engine.cpp built as against an OpenSSL without the ENGINE API (compiled twice,
// see tests/CMakeLists.txt: OPENSSL_NO_ENGINE, and the deprecated 3.0 API compiled out). It must
// build, say that the fast path is not there, and leave AES-CTR to OpenSSL (libssh2's own).
#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <vector>

#include "tunnel/aes_ctr_engine.h"

namespace pvt::tunnel {
namespace {

TEST(AesCtrEngineFallback, NoEngineAndAnErrorThatSaysSo) {
  EXPECT_EQ(aes_ctr_engine(), nullptr);
  auto r = use_aes_ctr_engine();
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("no ENGINE API"), std::string::npos) << r.error().message;
}

TEST(AesCtrEngineFallback, AesCtrStillWorksThroughOpenSsl) {
  ASSERT_FALSE(use_aes_ctr_engine());
  const std::vector<unsigned char> key(16, 1), iv(16, 2), in(100, 3);
  std::vector<unsigned char> out(in.size());
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  ASSERT_EQ(EVP_CipherInit(ctx, EVP_aes_128_ctr(), key.data(), iv.data(), 1), 1);
  EXPECT_EQ(EVP_Cipher(ctx, out.data(), in.data(), static_cast<unsigned>(in.size())),
            static_cast<int>(in.size()));
  EVP_CIPHER_CTX_free(ctx);
  EXPECT_NE(out, in);
}

}  // namespace
}  // namespace pvt::tunnel
