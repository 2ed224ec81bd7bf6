#include "controller/planner/startup_property.h"

#include <fmt/format.h>

#include <vector>

#include "pve/models.h"

namespace pvt::planner {
namespace {

std::vector<std::string> split_parts(std::string_view text) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    if (comma == std::string_view::npos) comma = text.size();
    std::string part(text.substr(start, comma - start));
    while (!part.empty() && part.front() == ' ') part.erase(part.begin());
    while (!part.empty() && part.back() == ' ') part.pop_back();
    if (!part.empty()) parts.push_back(std::move(part));
    start = comma + 1;
  }
  return parts;
}

}  // namespace

std::optional<std::string> with_startup_order(std::optional<std::string_view> current, int order) {
  const std::string want = fmt::format("order={}", order);
  if (!current || current->empty()) return want;
  if (!pve::parse_startup(*current)) return std::nullopt;
  std::vector<std::string> parts = split_parts(*current);
  bool replaced = false;
  for (auto& p : parts) {
    const bool keyed = p.rfind("order=", 0) == 0;
    const bool bare = p.find('=') == std::string::npos;  // "1" is order=1
    if (keyed || bare) {
      p = want;
      replaced = true;
    }
  }
  if (!replaced) parts.insert(parts.begin(), want);
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : ",") + p;
  return out;
}

bool has_startup_order(std::optional<std::string_view> current, int order) {
  if (!current) return false;
  auto spec = pve::parse_startup(*current);
  return spec && spec->order && *spec->order == order;
}

}  // namespace pvt::planner
