// AES-CTR for libssh2 at the speed of OpenSSL's bulk AES. libssh2 1.10 (and 1.11) encrypts and
// decrypts one 16-byte block per EVP_Cipher call; through OpenSSL 3's provider dispatch that
// costs ~64 ns a block here, which alone caps a tunnel at ~250 MB/s of CPU. This OpenSSL ENGINE
// serves aes{128,192,256}-ctr from a keystream that OpenSSL's AES computes 2 KiB at a time (one
// AES-ECB call over consecutive counter blocks, SSH's 128-bit big-endian counter, RFC 4344), so
// a block costs an XOR. libssh2 picks it up by itself: it initialises its ciphers through
// EVP_CipherInit with no engine, and OpenSSL then asks for the default engine of the cipher.
#pragma once

#include <openssl/types.h>

#include "common/result.h"

namespace pvt::tunnel {

// The engine, created on first use; nullptr when this OpenSSL has no engine support (built with
// OPENSSL_NO_ENGINE, or with the deprecated 3.0 API compiled out) or creating it failed.
ENGINE* aes_ctr_engine();

// Makes the engine the process's default for AES-CTR. Only for the worker's process: every
// AES-CTR context created afterwards uses it. Checked before it returns: libssh2's own call
// (EVP_CipherInit with no engine) must get the engine's cipher, with OpenSSL's AES-CTR output
// for every key size. An error (no engine support, or registration or that check failed) leaves
// no default behind: libssh2 keeps its own AES-CTR, which works, only slower.
Result<void> use_aes_ctr_engine();

namespace detail {
// use_aes_ctr_engine() for any engine `e` offering AES-CTR (tests give it a broken one).
Result<void> make_default_for_aes_ctr(ENGINE* e);
}  // namespace detail

}  // namespace pvt::tunnel
