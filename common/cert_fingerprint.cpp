#include "common/cert_fingerprint.h"

#include <fmt/format.h>
#include <openssl/evp.h>

namespace pvt {

std::string sha256_fingerprint(X509* cert) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (X509_digest(cert, EVP_sha256(), md, &len) != 1) return "";
  std::string out;
  for (unsigned int i = 0; i < len; ++i) out += fmt::format("{}{:02X}", i ? ":" : "", md[i]);
  return out;
}

}  // namespace pvt
