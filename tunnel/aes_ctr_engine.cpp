// The ENGINE and EVP_CIPHER_meth APIs are deprecated in OpenSSL 3 but supported throughout 3.x;
// they are the only way to put a cipher under a library that calls EVP_CipherInit itself.
#define OPENSSL_SUPPRESS_DEPRECATED

#include "tunnel/aes_ctr_engine.h"

#include <openssl/opensslconf.h>  // OPENSSL_NO_ENGINE, OPENSSL_NO_DEPRECATED_3_0
#include <openssl/opensslv.h>

// Without ENGINE support (`no-engine`), or with the deprecated 3.0 API compiled out
// (`no-deprecated`, or OPENSSL_API_COMPAT >= 3.0 with OPENSSL_NO_DEPRECATED), there is no way
// under libssh2's EVP_CipherInit: libssh2's own AES-CTR is used and the worker says so once. The
// failure convention below is OpenSSL 3's (see ctr_cipher), hence the version too.
#if defined(OPENSSL_NO_ENGINE) || defined(OPENSSL_NO_DEPRECATED_3_0) || OPENSSL_VERSION_MAJOR < 3
#define PVT_AES_CTR_ENGINE 0
#else
#define PVT_AES_CTR_ENGINE 1
#endif

#if PVT_AES_CTR_ENGINE

#include <openssl/crypto.h>
#include <openssl/engine.h>
#include <openssl/evp.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <cstring>
#include <memory>

namespace pvt::tunnel {
namespace {

constexpr size_t kBlock = 16;
constexpr size_t kKeystream = 2048;  // bytes computed per AES call: 128 counter blocks

// Per EVP_CIPHER_CTX (OpenSSL allocates it zeroed, frees it after cleanup).
struct CtrState {
  EVP_CIPHER_CTX* ecb;                  // AES-ECB with the session key
  unsigned char counter[kBlock];        // next counter block to encrypt
  unsigned char keystream[kKeystream];  // keystream[used..] not consumed yet
  size_t used;
};

CtrState* state_of(EVP_CIPHER_CTX* ctx) {
  return static_cast<CtrState*>(EVP_CIPHER_CTX_get_cipher_data(ctx));
}

uint64_t load_be64(const unsigned char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return __builtin_bswap64(v);
}

void store_be64(unsigned char* p, uint64_t v) {
  v = __builtin_bswap64(v);
  std::memcpy(p, &v, 8);
}

const EVP_CIPHER* ecb_for(int key_length) {
  switch (key_length) {
    case 16:
      return EVP_aes_128_ecb();
    case 24:
      return EVP_aes_192_ecb();
    case 32:
      return EVP_aes_256_ecb();
    default:
      return nullptr;
  }
}

// The init callback's convention is not do_cipher's: OpenSSL tests `!init(...)`, so failure is 0
// (-1 would pass as success), and EVP_CipherInit then returns 0, which libssh2 (1.10 and 1.11:
// `!EVP_CipherInit(...)`) takes as failure.
int ctr_init(EVP_CIPHER_CTX* ctx, const unsigned char* key, const unsigned char* iv, int) {
  CtrState* s = state_of(ctx);
  if (key != nullptr) {
    const EVP_CIPHER* ecb = ecb_for(EVP_CIPHER_CTX_get_key_length(ctx));
    if (s->ecb == nullptr) s->ecb = EVP_CIPHER_CTX_new();
    if (ecb == nullptr || s->ecb == nullptr ||
        EVP_EncryptInit_ex(s->ecb, ecb, nullptr, key, nullptr) != 1) {
      // No key from before may stay usable: do_cipher fails from now on.
      EVP_CIPHER_CTX_free(s->ecb);
      s->ecb = nullptr;
      return 0;
    }
    EVP_CIPHER_CTX_set_padding(s->ecb, 0);
  }
  if (iv != nullptr) std::memcpy(s->counter, iv, kBlock);
  s->used = kKeystream;  // computed on first use, from the counter as it is then
  return 1;
}

bool refill(CtrState* s) {
  // The counter is one 128-bit big-endian number; kept in two registers while counting (a
  // byte-wise increment in memory stalls every block on store forwarding).
  uint64_t high = load_be64(s->counter);
  uint64_t low = load_be64(s->counter + 8);
  for (size_t off = 0; off < kKeystream; off += kBlock) {
    store_be64(s->keystream + off, high);
    store_be64(s->keystream + off + 8, low);
    if (++low == 0) ++high;
  }
  store_be64(s->counter, high);
  store_be64(s->counter + 8, low);
  int out = 0;
  if (EVP_EncryptUpdate(s->ecb, s->keystream, &out, s->keystream, kKeystream) != 1 ||
      out != static_cast<int>(kKeystream)) {
    return false;
  }
  s->used = 0;
  return true;
}

// Encrypts and decrypts alike (CTR); any length, the keystream carries over between calls.
void xor_block(unsigned char* out, const unsigned char* in, const unsigned char* ks) {
  uint64_t a[2], b[2];
  std::memcpy(a, in, kBlock);
  std::memcpy(b, ks, kBlock);
  a[0] ^= b[0];
  a[1] ^= b[1];
  std::memcpy(out, a, kBlock);
}

// The failure convention. A legacy cipher's do_cipher result reaches libssh2 unchanged: for such
// a cipher EVP_Cipher returns what do_cipher returns. libssh2 built against OpenSSL 3 then reads
//   1.10 (_libssh2_cipher_crypt): `ret != -1` is success; 0 is success too, and the block is
//        overwritten with whatever the output buffer held: a failure would pass unnoticed;
//   1.11: `ret != -1`, then `rc = !ret`: -1 and 0 are failures; and on the last block of each
//        packet it calls EVP_Cipher(ctx, NULL, NULL, 0) and takes only `ret < 0` as failure.
// So -1 is the one failure both take. OpenSSL's own callers agree only with the "custom cipher"
// convention (EVP_CIPH_FLAG_CUSTOM_CIPHER: the number of bytes written, -1 on error):
// EVP_CipherUpdate/Final test `< 0` for it, whereas for a plain cipher they test `if (do_cipher)`
// and would take -1 for success. Hence the flag, the byte count on success (0 for the final
// call's empty input: not a failure for either libssh2) and -1 on every failure path.
constexpr int kCipherFailed = -1;

int ctr_cipher(EVP_CIPHER_CTX* ctx, unsigned char* out, const unsigned char* in, size_t len) {
  CtrState* s = state_of(ctx);
  if (s == nullptr || s->ecb == nullptr || len > INT_MAX) return kCipherFailed;
  const int done = static_cast<int>(len);
  // libssh2's call: one block, keystream at hand.
  if (len == kBlock && s->used + kBlock <= kKeystream) {
    xor_block(out, in, s->keystream + s->used);
    s->used += kBlock;
    return done;
  }
  while (len > 0) {
    if (s->used == kKeystream && !refill(s)) return kCipherFailed;
    size_t n = std::min(len, kKeystream - s->used);
    const unsigned char* ks = s->keystream + s->used;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
      uint64_t a, b;
      std::memcpy(&a, in + i, 8);
      std::memcpy(&b, ks + i, 8);
      a ^= b;
      std::memcpy(out + i, &a, 8);
    }
    for (; i < n; ++i) out[i] = in[i] ^ ks[i];
    s->used += n;
    in += n;
    out += n;
    len -= n;
  }
  return done;
}

int ctr_cleanup(EVP_CIPHER_CTX* ctx) {
  CtrState* s = state_of(ctx);
  if (s == nullptr) return 1;
  EVP_CIPHER_CTX_free(s->ecb);
  s->ecb = nullptr;
  OPENSSL_cleanse(s->keystream, sizeof s->keystream);
  OPENSSL_cleanse(s->counter, sizeof s->counter);
  return 1;
}

EVP_CIPHER* make_cipher(int nid, int key_length) {
  EVP_CIPHER* c = EVP_CIPHER_meth_new(nid, 1, key_length);
  if (c == nullptr) return nullptr;
  if (EVP_CIPHER_meth_set_iv_length(c, kBlock) != 1 ||
      EVP_CIPHER_meth_set_flags(
          c, EVP_CIPH_CTR_MODE | EVP_CIPH_ALWAYS_CALL_INIT | EVP_CIPH_FLAG_CUSTOM_CIPHER) != 1 ||
      EVP_CIPHER_meth_set_init(c, ctr_init) != 1 ||
      EVP_CIPHER_meth_set_do_cipher(c, ctr_cipher) != 1 ||
      EVP_CIPHER_meth_set_cleanup(c, ctr_cleanup) != 1 ||
      EVP_CIPHER_meth_set_impl_ctx_size(c, sizeof(CtrState)) != 1) {
    EVP_CIPHER_meth_free(c);
    return nullptr;
  }
  return c;
}

const int kNids[] = {NID_aes_128_ctr, NID_aes_192_ctr, NID_aes_256_ctr};
EVP_CIPHER* g_ciphers[3] = {};

int engine_ciphers(ENGINE*, const EVP_CIPHER** cipher, const int** nids, int nid) {
  if (cipher == nullptr) {
    *nids = kNids;
    return 3;
  }
  for (int i = 0; i < 3; ++i) {
    if (kNids[i] == nid) {
      *cipher = g_ciphers[i];
      return *cipher != nullptr ? 1 : 0;
    }
  }
  *cipher = nullptr;
  return 0;
}

void free_ciphers() {
  for (auto*& c : g_ciphers) {
    EVP_CIPHER_meth_free(c);
    c = nullptr;
  }
}

ENGINE* create_engine() {
  g_ciphers[0] = make_cipher(NID_aes_128_ctr, 16);
  g_ciphers[1] = make_cipher(NID_aes_192_ctr, 24);
  g_ciphers[2] = make_cipher(NID_aes_256_ctr, 32);
  for (auto* c : g_ciphers) {
    if (c == nullptr) {
      free_ciphers();
      return nullptr;
    }
  }
  ENGINE* e = ENGINE_new();
  if (e == nullptr) {
    free_ciphers();
    return nullptr;
  }
  if (ENGINE_set_id(e, "pvectl-tunnel-aes-ctr") != 1 ||
      ENGINE_set_name(e, "AES-CTR from a bulk keystream (pvectl-tunnel)") != 1 ||
      ENGINE_set_ciphers(e, engine_ciphers) != 1 || ENGINE_init(e) != 1) {
    ENGINE_free(e);
    free_ciphers();
    return nullptr;
  }
  return e;  // one structural and one functional reference, kept for the process's life
}

struct CtxFree {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};

// What libssh2 gets for `nid` as things stand: its call (EVP_CipherInit with no engine: the
// default engine for the cipher, if any, else OpenSSL's provider), then block by block plus an
// unaligned tail, from a counter that carries past 64 bits. `cipher` is the cipher chosen.
struct Probe {
  const EVP_CIPHER* cipher = nullptr;
  unsigned char out[100] = {};
  bool ok = false;
};

Probe probe(int nid) {
  Probe p;
  unsigned char key[32], iv[kBlock], in[sizeof p.out];
  for (size_t i = 0; i < sizeof key; ++i) key[i] = static_cast<unsigned char>(i * 7 + 1);
  for (size_t i = 0; i < kBlock; ++i) iv[i] = i < 8 ? 0 : 0xff;
  for (size_t i = 0; i < sizeof in; ++i) in[i] = static_cast<unsigned char>(i);
  std::unique_ptr<EVP_CIPHER_CTX, CtxFree> ctx(EVP_CIPHER_CTX_new());
  const EVP_CIPHER* cipher = EVP_get_cipherbynid(nid);
  if (!ctx || cipher == nullptr || EVP_CipherInit(ctx.get(), cipher, key, iv, 1) != 1) return p;
  p.cipher = EVP_CIPHER_CTX_get0_cipher(ctx.get());
  for (size_t off = 0; off < sizeof in; off += kBlock) {
    const auto n = static_cast<unsigned>(std::min(kBlock, sizeof in - off));
    if (EVP_Cipher(ctx.get(), p.out + off, in + off, n) == kCipherFailed) return p;
  }
  p.ok = true;
  return p;
}

}  // namespace

ENGINE* aes_ctr_engine() {
  static ENGINE* engine = create_engine();
  return engine;
}

namespace detail {

Result<void> make_default_for_aes_ctr(ENGINE* e) {
  // OpenSSL's answer first, with the engine off the default list (a second call starts over).
  ENGINE_unregister_ciphers(e);
  Probe reference[3];
  for (int i = 0; i < 3; ++i) {
    reference[i] = probe(kNids[i]);
    if (!reference[i].ok) return fail("OpenSSL's own AES-CTR does not work here");
  }
  if (ENGINE_set_default_ciphers(e) != 1) {
    ENGINE_unregister_ciphers(e);  // whatever part of the registration was done
    return fail("cannot make the AES-CTR engine OpenSSL's default");
  }
  // libssh2 must get the engine, and the engine must be AES-CTR: otherwise nothing of it stays.
  for (int i = 0; i < 3; ++i) {
    const Probe p = probe(kNids[i]);
    const char* problem = nullptr;
    if (p.cipher != ENGINE_get_cipher(e, kNids[i])) {
      problem = "EVP_CipherInit does not pick the AES-CTR engine";
    } else if (!p.ok || std::memcmp(p.out, reference[i].out, sizeof p.out) != 0) {
      problem = "the AES-CTR engine's output differs from OpenSSL's AES-CTR";
    }
    if (problem != nullptr) {
      ENGINE_unregister_ciphers(e);
      return fail(problem);
    }
  }
  return {};
}

}  // namespace detail

Result<void> use_aes_ctr_engine() {
  ENGINE* e = aes_ctr_engine();
  if (e == nullptr) return fail("cannot create the AES-CTR engine");
  return detail::make_default_for_aes_ctr(e);
}

}  // namespace pvt::tunnel

#else  // !PVT_AES_CTR_ENGINE

namespace pvt::tunnel {

ENGINE* aes_ctr_engine() { return nullptr; }

namespace detail {
Result<void> make_default_for_aes_ctr(ENGINE*) {
  return fail("this OpenSSL has no ENGINE API (built without engines or deprecated 3.0 APIs)");
}
}  // namespace detail

Result<void> use_aes_ctr_engine() { return detail::make_default_for_aes_ctr(nullptr); }

}  // namespace pvt::tunnel

#endif  // PVT_AES_CTR_ENGINE
