// The SHA-256 fingerprint of a certificate as Proxmox and OpenSSL print it ("AA:BB:..."): what
// `pve.fingerprint` pins and what pvesim announces.
#pragma once

#include <openssl/x509.h>

#include <string>

namespace pvt {

std::string sha256_fingerprint(X509* cert);

}  // namespace pvt
