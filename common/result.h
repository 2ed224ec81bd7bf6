// Expected failures travel as values: Result<T> holds either the value or an Error whose
// message a user can act on. Exceptions are reserved for programming errors.
#pragma once

#include <string>
#include <tl/expected.hpp>
#include <utility>

namespace pvt {

struct Error {
  std::string message;
};

template <class T, class E = Error>
using Result = tl::expected<T, E>;

inline tl::unexpected<Error> fail(std::string message) {
  return tl::unexpected<Error>(Error{std::move(message)});
}

}  // namespace pvt
