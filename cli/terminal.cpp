#include "cli/terminal.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <charconv>
#include <cstdlib>
#include <cstring>

namespace pvt::cli {
namespace {

constexpr size_t kDefaultWidth = 80;
constexpr size_t kMinWidth = 20;  // below this nothing reads well; wrap as if it were this wide

}  // namespace

size_t terminal_width(int fd) {
  size_t width = 0;
  if (const char* columns = std::getenv("COLUMNS"); columns != nullptr && *columns != '\0') {
    const char* end = columns + std::strlen(columns);
    auto [ptr, ec] = std::from_chars(columns, end, width);
    if (ec != std::errc() || ptr != end) width = 0;
  }
  if (width == 0) {
    winsize ws{};
    if (isatty(fd) == 1 && ioctl(fd, TIOCGWINSZ, &ws) == 0) width = ws.ws_col;
  }
  if (width == 0) width = kDefaultWidth;
  return width < kMinWidth ? kMinWidth : width;
}

bool use_color(int fd) {
  const char* no_color = std::getenv("NO_COLOR");
  if (no_color != nullptr && *no_color != '\0') return false;
  return isatty(fd) == 1;
}

}  // namespace pvt::cli
