// The ENGINE and EVP_CIPHER_meth APIs are deprecated in OpenSSL 3 but supported throughout 3.x;
// they are the only way to put a cipher under a library that calls EVP_CipherInit itself.
#define OPENSSL_SUPPRESS_DEPRECATED

#include "tunnel/aes_ctr_engine.h"

#include <openssl/crypto.h>
#include <openssl/engine.h>
#include <openssl/evp.h>

#include <cstdint>
#include <cstring>

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

int ctr_init(EVP_CIPHER_CTX* ctx, const unsigned char* key, const unsigned char* iv, int) {
  CtrState* s = state_of(ctx);
  if (key != nullptr) {
    const EVP_CIPHER* ecb = ecb_for(EVP_CIPHER_CTX_get_key_length(ctx));
    if (ecb == nullptr) return 0;
    if (s->ecb == nullptr && (s->ecb = EVP_CIPHER_CTX_new()) == nullptr) return 0;
    if (EVP_EncryptInit_ex(s->ecb, ecb, nullptr, key, nullptr) != 1) return 0;
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

int ctr_cipher(EVP_CIPHER_CTX* ctx, unsigned char* out, const unsigned char* in, size_t len) {
  CtrState* s = state_of(ctx);
  if (s->ecb == nullptr) return 0;
  // libssh2's call: one block, keystream at hand.
  if (len == kBlock && s->used + kBlock <= kKeystream) {
    xor_block(out, in, s->keystream + s->used);
    s->used += kBlock;
    return 1;
  }
  while (len > 0) {
    if (s->used == kKeystream && !refill(s)) return 0;
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
  return 1;
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
      EVP_CIPHER_meth_set_flags(c, EVP_CIPH_CTR_MODE | EVP_CIPH_ALWAYS_CALL_INIT) != 1 ||
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

ENGINE* create_engine() {
  g_ciphers[0] = make_cipher(NID_aes_128_ctr, 16);
  g_ciphers[1] = make_cipher(NID_aes_192_ctr, 24);
  g_ciphers[2] = make_cipher(NID_aes_256_ctr, 32);
  for (auto* c : g_ciphers) {
    if (c == nullptr) return nullptr;
  }
  ENGINE* e = ENGINE_new();
  if (e == nullptr) return nullptr;
  if (ENGINE_set_id(e, "pvectl-tunnel-aes-ctr") != 1 ||
      ENGINE_set_name(e, "AES-CTR from a bulk keystream (pvectl-tunnel)") != 1 ||
      ENGINE_set_ciphers(e, engine_ciphers) != 1 || ENGINE_init(e) != 1) {
    ENGINE_free(e);
    return nullptr;
  }
  return e;  // one structural and one functional reference, kept for the process's life
}

}  // namespace

ENGINE* aes_ctr_engine() {
  static ENGINE* engine = create_engine();
  return engine;
}

Result<void> use_aes_ctr_engine() {
  ENGINE* e = aes_ctr_engine();
  if (e == nullptr) return fail("cannot create the AES-CTR engine (OpenSSL without engines?)");
  if (ENGINE_set_default_ciphers(e) != 1) return fail("cannot make the AES-CTR engine default");
  return {};
}

}  // namespace pvt::tunnel
