#include "pve/json_fields.h"

#include <fmt/format.h>

#include <charconv>

namespace pvt::pve::fields {

ApiError malformed(const std::string& what) {
  ApiError e;
  e.kind = ErrorKind::malformed;
  e.message = what;
  return e;
}

namespace {

std::string excerpt(const Json& v) {
  std::string s = v.dump();
  return s.size() > 40 ? s.substr(0, 40) + "..." : s;
}

std::optional<int64_t> int_from_string(const std::string& s) {
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

}  // namespace

ApiResult<std::optional<int64_t>> opt_int(const Json& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return std::optional<int64_t>{};
  if (it->is_number_integer()) return std::optional<int64_t>{it->get<int64_t>()};
  if (it->is_number_float()) return std::optional<int64_t>{static_cast<int64_t>(it->get<double>())};
  if (it->is_boolean()) return std::optional<int64_t>{it->get<bool>() ? 1 : 0};
  if (it->is_string()) {
    if (auto v = int_from_string(it->get<std::string>())) return std::optional<int64_t>{*v};
  }
  return tl::unexpected(
      malformed(fmt::format("field \"{}\": expected an integer, got {}", key, excerpt(*it))));
}

ApiResult<std::optional<double>> opt_number(const Json& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return std::optional<double>{};
  if (it->is_number()) return std::optional<double>{it->get<double>()};
  if (it->is_string()) {
    try {
      size_t used = 0;
      const std::string s = it->get<std::string>();
      double v = std::stod(s, &used);
      if (used == s.size()) return std::optional<double>{v};
    } catch (const std::exception&) {
    }
  }
  return tl::unexpected(
      malformed(fmt::format("field \"{}\": expected a number, got {}", key, excerpt(*it))));
}

ApiResult<std::optional<bool>> opt_bool(const Json& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return std::optional<bool>{};
  if (it->is_boolean()) return std::optional<bool>{it->get<bool>()};
  if (it->is_number_integer()) {
    auto v = it->get<int64_t>();
    if (v == 0 || v == 1) return std::optional<bool>{v == 1};
  }
  if (it->is_string()) {
    const auto s = it->get<std::string>();
    if (s == "0" || s == "1") return std::optional<bool>{s == "1"};
  }
  return tl::unexpected(
      malformed(fmt::format("field \"{}\": expected 0 or 1, got {}", key, excerpt(*it))));
}

ApiResult<std::optional<std::string>> opt_string(const Json& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return std::optional<std::string>{};
  if (it->is_string()) return std::optional<std::string>{it->get<std::string>()};
  if (it->is_number_integer())
    return std::optional<std::string>{std::to_string(it->get<int64_t>())};
  return tl::unexpected(
      malformed(fmt::format("field \"{}\": expected a string, got {}", key, excerpt(*it))));
}

ApiResult<int64_t> req_int(const Json& obj, const char* key) {
  auto v = opt_int(obj, key);
  if (!v) return tl::unexpected(v.error());
  if (!*v) return tl::unexpected(malformed(fmt::format("field \"{}\" is missing", key)));
  return **v;
}

ApiResult<std::string> req_string(const Json& obj, const char* key) {
  auto v = opt_string(obj, key);
  if (!v) return tl::unexpected(v.error());
  if (!*v) return tl::unexpected(malformed(fmt::format("field \"{}\" is missing", key)));
  return **v;
}

}  // namespace pvt::pve::fields
