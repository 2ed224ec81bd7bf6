// What the terminal the output goes to allows: its width and whether colour is wanted.
#pragma once

#include <cstddef>

namespace pvt::cli {

// COLUMNS when it is set to a number, else the terminal's width when `fd` is one, else 80.
size_t terminal_width(int fd);

// Colour only on a terminal, and never when NO_COLOR is set to anything (no-color.org).
bool use_color(int fd);

}  // namespace pvt::cli
