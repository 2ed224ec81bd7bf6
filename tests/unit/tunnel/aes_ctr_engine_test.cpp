// The engine's AES-CTR must be OpenSSL's AES-CTR byte for byte: for every key size, counters
// that carry across 32 and 64 bits and wrap around, and any split of the data into calls.
#include "tunnel/aes_ctr_engine.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <vector>

namespace pvt::tunnel {
namespace {

using Bytes = std::vector<unsigned char>;

const EVP_CIPHER* ctr_of(size_t key_length) {
  return key_length == 16   ? EVP_aes_128_ctr()
         : key_length == 24 ? EVP_aes_192_ctr()
                            : EVP_aes_256_ctr();
}

// Encrypts `data` in pieces of the given sizes (cycled) with `engine` (nullptr: OpenSSL's own).
Bytes encrypt(ENGINE* engine, const Bytes& key, const Bytes& iv, const Bytes& data,
              const std::vector<size_t>& pieces, int enc = 1) {
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  EXPECT_EQ(EVP_CipherInit_ex(ctx, ctr_of(key.size()), engine, key.data(), iv.data(), enc), 1);
  Bytes out(data.size());
  size_t done = 0;
  for (size_t i = 0; done < data.size(); ++i) {
    const size_t n = std::min(pieces[i % pieces.size()], data.size() - done);
    // libssh2's way: EVP_Cipher on a block at a time, into a separate buffer.
    EXPECT_EQ(EVP_Cipher(ctx, out.data() + done, data.data() + done, static_cast<unsigned>(n)),
              engine ? 1 : static_cast<int>(n));
    done += n;
  }
  EVP_CIPHER_CTX_free(ctx);
  return out;
}

Bytes random_bytes(size_t n) {
  Bytes b(n);
  RAND_bytes(b.data(), static_cast<int>(n));
  return b;
}

TEST(AesCtrEngine, MatchesOpenSslForEveryKeySizeCounterAndSplit) {
  ENGINE* engine = aes_ctr_engine();
  ASSERT_NE(engine, nullptr);
  const Bytes data = random_bytes(70000);
  const std::vector<Bytes> ivs = {
      random_bytes(16),
      Bytes(16, 0xff),                                               // wraps to zero
      {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xf0},  // carries past 32 bits
      {0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe},  // past 64 bits
  };
  const std::vector<std::vector<size_t>> splits = {
      {16}, {32768}, {1}, {7, 16, 33, 2048, 2049}, {70000}};
  for (size_t key_length : {16u, 24u, 32u}) {
    const Bytes key = random_bytes(key_length);
    for (const auto& iv : ivs) {
      const Bytes expected = encrypt(nullptr, key, iv, data, {70000});
      for (const auto& split : splits) {
        EXPECT_EQ(encrypt(engine, key, iv, data, split), expected)
            << "key " << key_length << " split " << split.front();
      }
    }
  }
}

TEST(AesCtrEngine, DecryptsWhatItEncrypted) {
  ENGINE* engine = aes_ctr_engine();
  ASSERT_NE(engine, nullptr);
  const Bytes key = random_bytes(16), iv = random_bytes(16), data = random_bytes(5000);
  const Bytes sealed = encrypt(engine, key, iv, data, {16});
  EXPECT_NE(sealed, data);
  EXPECT_EQ(encrypt(engine, key, iv, sealed, {16}, 0), data);
}

TEST(AesCtrEngine, ANewIvRestartsTheKeystream) {
  // libssh2 initialises once per key exchange; a re-init with a new IV must not reuse keystream
  // computed ahead for the old one.
  ENGINE* engine = aes_ctr_engine();
  ASSERT_NE(engine, nullptr);
  const Bytes key = random_bytes(32), iv1 = random_bytes(16), iv2 = random_bytes(16);
  const Bytes data = random_bytes(100);
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  ASSERT_EQ(EVP_CipherInit_ex(ctx, EVP_aes_256_ctr(), engine, key.data(), iv1.data(), 1), 1);
  Bytes out(100);
  ASSERT_EQ(EVP_Cipher(ctx, out.data(), data.data(), 16), 1);
  ASSERT_EQ(EVP_CipherInit_ex(ctx, nullptr, nullptr, nullptr, iv2.data(), 1), 1);
  ASSERT_EQ(EVP_Cipher(ctx, out.data(), data.data(), 100), 1);
  EVP_CIPHER_CTX_free(ctx);
  EXPECT_EQ(out, encrypt(nullptr, key, iv2, data, {100}));
}

}  // namespace
}  // namespace pvt::tunnel
