#include "common/bearer_token.h"

#include <string>

namespace pvt::http {
namespace {

bool same_secret(std::string_view given, std::string_view token) {
  if (given.size() != token.size() || token.empty()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < token.size(); ++i) {
    diff |= static_cast<unsigned char>(given[i] ^ token[i]);
  }
  return diff == 0;
}

}  // namespace

bool bearer_matches(const Request& request, std::string_view token) {
  const std::string* auth = request.header("authorization");
  constexpr std::string_view kPrefix = "Bearer ";
  return auth != nullptr && auth->compare(0, kPrefix.size(), kPrefix) == 0 &&
         same_secret(std::string_view(*auth).substr(kPrefix.size()), token);
}

}  // namespace pvt::http
