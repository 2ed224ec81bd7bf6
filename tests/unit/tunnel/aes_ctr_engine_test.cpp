// The engine's AES-CTR must be OpenSSL's AES-CTR byte for byte: for every key size, counters
// that carry across 32 and 64 bits and wrap around, and any split of the data into calls. Once
// registered as the worker does, libssh2's own call (EVP_CipherInit with no engine) must get it:
// a silent fallback to OpenSSL's AES-CTR fails here, not only in a benchmark. Its failures must
// be the one value libssh2 1.10 and 1.11 and OpenSSL 3 all take as failure (-1).
#define OPENSSL_SUPPRESS_DEPRECATED  // the ENGINE API, as in the engine itself

#include "tunnel/aes_ctr_engine.h"

#include <gtest/gtest.h>
#include <openssl/engine.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <cstring>
#include <random>
#include <vector>

namespace pvt::tunnel {
namespace {

using Bytes = std::vector<unsigned char>;

const EVP_CIPHER* ctr_of(size_t key_length) {
  return key_length == 16   ? EVP_aes_128_ctr()
         : key_length == 24 ? EVP_aes_192_ctr()
                            : EVP_aes_256_ctr();
}

// OpenSSL's own AES-CTR (its provider's), also while the engine is the process's default for
// AES-CTR (a test below makes it so): the engine is off the default list for the call.
Bytes reference(const Bytes& key, const Bytes& iv, const Bytes& data, int enc = 1) {
  const EVP_CIPHER* cipher = ctr_of(key.size());
  ENGINE* current = ENGINE_get_cipher_engine(EVP_CIPHER_get_nid(cipher));
  const bool ours = current != nullptr && current == aes_ctr_engine();
  if (current != nullptr) ENGINE_finish(current);
  if (ours) ENGINE_unregister_ciphers(aes_ctr_engine());
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  EXPECT_EQ(EVP_CipherInit_ex(ctx, cipher, nullptr, key.data(), iv.data(), enc), 1);
  EXPECT_NE(EVP_CIPHER_get0_provider(EVP_CIPHER_CTX_get0_cipher(ctx)), nullptr)
      << "the reference is not OpenSSL's provider";
  Bytes out(data.size());
  int n = 0;
  EXPECT_EQ(EVP_CipherUpdate(ctx, out.data(), &n, data.data(), static_cast<int>(data.size())), 1);
  EXPECT_EQ(n, static_cast<int>(data.size()));
  EVP_CIPHER_CTX_free(ctx);
  if (ours) {
    EXPECT_EQ(ENGINE_set_default_ciphers(aes_ctr_engine()), 1);
  }
  return out;
}

// Encrypts `data` in pieces of the given sizes (cycled) with `engine` (nullptr: OpenSSL's own).
Bytes encrypt(ENGINE* engine, const Bytes& key, const Bytes& iv, const Bytes& data,
              const std::vector<size_t>& pieces, int enc = 1) {
  if (engine == nullptr) return reference(key, iv, data, enc);
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  EXPECT_EQ(EVP_CipherInit_ex(ctx, ctr_of(key.size()), engine, key.data(), iv.data(), enc), 1);
  Bytes out(data.size());
  size_t done = 0;
  for (size_t i = 0; done < data.size(); ++i) {
    const size_t n = std::min(pieces[i % pieces.size()], data.size() - done);
    // libssh2's way: EVP_Cipher on a block at a time, into a separate buffer. A custom cipher:
    // the number of bytes done.
    EXPECT_EQ(EVP_Cipher(ctx, out.data() + done, data.data() + done, static_cast<unsigned>(n)),
              static_cast<int>(n));
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
  ASSERT_EQ(EVP_Cipher(ctx, out.data(), data.data(), 16), 16);
  ASSERT_EQ(EVP_CipherInit_ex(ctx, nullptr, nullptr, nullptr, iv2.data(), 1), 1);
  ASSERT_EQ(EVP_Cipher(ctx, out.data(), data.data(), 100), 100);
  EVP_CIPHER_CTX_free(ctx);
  EXPECT_EQ(out, encrypt(nullptr, key, iv2, data, {100}));
}

// How libssh2's _libssh2_cipher_crypt (openssl.c), built against OpenSSL 3, reads EVP_Cipher's
// result for one piece of a packet: 1.10 `ret != -1` is success; 1.11 `ret != -1`, then
// `rc = !ret`; and 1.11 calls EVP_Cipher(ctx, NULL, NULL, 0) after each packet's last block,
// failing on `ret < 0` only.
bool libssh2_1_10_fails(int ret) { return ret == -1; }
bool libssh2_1_11_fails(int ret) { return ret == -1 || ret == 0; }
bool libssh2_1_11_final_fails(int ret) { return ret < 0; }

TEST(AesCtrEngine, FailsWithMinusOneWhichLibssh2AndOpenSslBothTakeAsFailure) {
  ENGINE* engine = aes_ctr_engine();
  ASSERT_NE(engine, nullptr);
  const Bytes key = random_bytes(16), iv = random_bytes(16), data = random_bytes(64);
  Bytes out(64);
  // No key given: the context cannot encrypt; every way in must see a failure.
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  ASSERT_EQ(EVP_CipherInit_ex(ctx, EVP_aes_128_ctr(), engine, nullptr, iv.data(), 1), 1);
  const int ret = EVP_Cipher(ctx, out.data(), data.data(), 16);
  EXPECT_EQ(ret, -1);
  EXPECT_TRUE(libssh2_1_10_fails(ret));
  EXPECT_TRUE(libssh2_1_11_fails(ret));
  EXPECT_TRUE(libssh2_1_11_final_fails(EVP_Cipher(ctx, nullptr, nullptr, 0)));
  int n = 0;
  EXPECT_EQ(EVP_CipherUpdate(ctx, out.data(), &n, data.data(), 16), 0);
  EXPECT_EQ(EVP_CipherFinal_ex(ctx, out.data(), &n), 0);
  // Keyed, nothing fails: a block, an unaligned piece, the final call on nothing.
  ASSERT_EQ(EVP_CipherInit_ex(ctx, EVP_aes_128_ctr(), engine, key.data(), iv.data(), 1), 1);
  for (unsigned len : {16u, 7u, 41u}) {
    const int r = EVP_Cipher(ctx, out.data(), data.data(), len);
    EXPECT_EQ(r, static_cast<int>(len));
    EXPECT_FALSE(libssh2_1_10_fails(r));
    EXPECT_FALSE(libssh2_1_11_fails(r));
  }
  EXPECT_FALSE(libssh2_1_11_final_fails(EVP_Cipher(ctx, nullptr, nullptr, 0)));
  EXPECT_EQ(EVP_CipherUpdate(ctx, out.data(), &n, data.data(), 33), 1);
  EXPECT_EQ(n, 33);
  EXPECT_EQ(EVP_CipherFinal_ex(ctx, out.data(), &n), 1);
  EXPECT_EQ(n, 0);
  EVP_CIPHER_CTX_free(ctx);
}

// libssh2's _libssh2_cipher_init: EVP_CIPHER_CTX_new, then EVP_CipherInit with no engine.
EVP_CIPHER_CTX* libssh2_cipher_init(const EVP_CIPHER* cipher, const Bytes& key, const Bytes& iv,
                                    int enc) {
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  EXPECT_EQ(EVP_CipherInit(ctx, cipher, key.data(), iv.data(), enc), 1);
  return ctx;
}

TEST(AesCtrEngine, RegisteredAsTheWorkerDoesLibssh2sOwnCipherInitGetsIt) {
  ASSERT_TRUE(use_aes_ctr_engine());
  ENGINE* engine = aes_ctr_engine();
  for (const int nid : {NID_aes_128_ctr, NID_aes_192_ctr, NID_aes_256_ctr}) {
    const EVP_CIPHER* cipher = EVP_get_cipherbynid(nid);
    const Bytes key = random_bytes(static_cast<size_t>(EVP_CIPHER_get_key_length(cipher)));
    EVP_CIPHER_CTX* ctx = libssh2_cipher_init(cipher, key, random_bytes(16), 1);
    EXPECT_EQ(EVP_CIPHER_CTX_get0_cipher(ctx), ENGINE_get_cipher(engine, nid)) << OBJ_nid2sn(nid);
    EXPECT_EQ(EVP_CIPHER_get0_provider(EVP_CIPHER_CTX_get0_cipher(ctx)), nullptr);
    EVP_CIPHER_CTX_free(ctx);
    ENGINE* chosen = ENGINE_get_cipher_engine(nid);
    EXPECT_EQ(chosen, engine);
    if (chosen != nullptr) ENGINE_finish(chosen);
  }
  // A second call (a reload) changes nothing.
  ASSERT_TRUE(use_aes_ctr_engine());
  EVP_CIPHER_CTX* ctx =
      libssh2_cipher_init(EVP_aes_128_ctr(), random_bytes(16), random_bytes(16), 1);
  EXPECT_EQ(EVP_CIPHER_CTX_get0_cipher(ctx), ENGINE_get_cipher(engine, NID_aes_128_ctr));
  EVP_CIPHER_CTX_free(ctx);
}

TEST(AesCtrEngine, ThroughLibssh2sCallMatchesOpenSslForUnalignedChunks) {
  ASSERT_TRUE(use_aes_ctr_engine());
  std::mt19937 rng(20240611);
  const Bytes data = random_bytes(300000);
  for (const size_t key_length : {16u, 32u}) {
    const Bytes key = random_bytes(key_length), iv = random_bytes(16);
    const Bytes expected = reference(key, iv, data);
    for (int enc : {1, 0}) {
      for (const bool update : {false, true}) {
        EVP_CIPHER_CTX* ctx = libssh2_cipher_init(ctr_of(key_length), key, iv, enc);
        ASSERT_EQ(EVP_CIPHER_CTX_get0_cipher(ctx),
                  ENGINE_get_cipher(aes_ctr_engine(), EVP_CIPHER_get_nid(ctr_of(key_length))));
        Bytes out(data.size());
        std::vector<size_t> sizes;
        for (size_t done = 0; done < data.size();) {
          // Mostly unaligned sizes, some below a block, some across a keystream refill.
          size_t n = rng() % 4 == 0 ? rng() % 16 + 1 : rng() % 5000 + 1;
          if (n % 16 == 0) ++n;
          n = std::min(n, data.size() - done);
          sizes.push_back(n);
          const unsigned char* in = enc ? data.data() + done : expected.data() + done;
          if (update) {
            int got = 0;
            ASSERT_EQ(EVP_CipherUpdate(ctx, out.data() + done, &got, in, static_cast<int>(n)), 1);
            ASSERT_EQ(got, static_cast<int>(n));
          } else {
            ASSERT_EQ(EVP_Cipher(ctx, out.data() + done, in, static_cast<unsigned>(n)),
                      static_cast<int>(n));
          }
          done += n;
        }
        EVP_CIPHER_CTX_free(ctx);
        EXPECT_GT(sizes.size(), 100u);
        EXPECT_EQ(out, enc ? expected : data)
            << "key " << key_length << (enc ? " encrypt" : " decrypt")
            << (update ? " EVP_CipherUpdate" : " EVP_Cipher");
      }
    }
  }
}

// An engine whose "AES-CTR" copies its input: use_aes_ctr_engine's check must refuse it and
// leave it off the default list, so libssh2 keeps a working AES-CTR.
int copy_cipher(EVP_CIPHER_CTX*, unsigned char* out, const unsigned char* in, size_t len) {
  if (len > 0) std::memmove(out, in, len);
  return static_cast<int>(len);
}
int accept_init(EVP_CIPHER_CTX*, const unsigned char*, const unsigned char*, int) { return 1; }
const int kBrokenNids[] = {NID_aes_128_ctr, NID_aes_192_ctr, NID_aes_256_ctr};
EVP_CIPHER* g_broken[3] = {};
int broken_ciphers(ENGINE*, const EVP_CIPHER** cipher, const int** nids, int nid) {
  if (cipher == nullptr) {
    *nids = kBrokenNids;
    return 3;
  }
  for (int i = 0; i < 3; ++i) {
    if (kBrokenNids[i] == nid) {
      *cipher = g_broken[i];
      return 1;
    }
  }
  *cipher = nullptr;
  return 0;
}

TEST(AesCtrEngine, AnEngineThatIsNotAesCtrIsNotLeftAsTheDefault) {
  for (int i = 0; i < 3; ++i) {
    g_broken[i] = EVP_CIPHER_meth_new(kBrokenNids[i], 1, 16 + 8 * i);
    ASSERT_NE(g_broken[i], nullptr);
    EVP_CIPHER_meth_set_iv_length(g_broken[i], 16);
    EVP_CIPHER_meth_set_flags(g_broken[i], EVP_CIPH_CTR_MODE | EVP_CIPH_FLAG_CUSTOM_CIPHER);
    EVP_CIPHER_meth_set_init(g_broken[i], accept_init);
    EVP_CIPHER_meth_set_do_cipher(g_broken[i], copy_cipher);
  }
  ENGINE* broken = ENGINE_new();
  ASSERT_NE(broken, nullptr);
  ASSERT_EQ(ENGINE_set_id(broken, "pvt-test-broken"), 1);
  ASSERT_EQ(ENGINE_set_ciphers(broken, broken_ciphers), 1);
  auto r = detail::make_default_for_aes_ctr(broken);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("differs from OpenSSL"), std::string::npos) << r.error().message;
  for (const int nid : kBrokenNids) {
    ENGINE* chosen = ENGINE_get_cipher_engine(nid);
    EXPECT_NE(chosen, broken);
    if (chosen != nullptr) ENGINE_finish(chosen);
    EVP_CIPHER_CTX* ctx =
        libssh2_cipher_init(EVP_get_cipherbynid(nid), Bytes(32, 1), Bytes(16, 2), 1);
    EXPECT_NE(EVP_CIPHER_CTX_get0_cipher(ctx), ENGINE_get_cipher(broken, nid));
    EVP_CIPHER_CTX_free(ctx);
  }
  ENGINE_free(broken);
  for (auto*& c : g_broken) {
    EVP_CIPHER_meth_free(c);
    c = nullptr;
  }
}

}  // namespace
}  // namespace pvt::tunnel
