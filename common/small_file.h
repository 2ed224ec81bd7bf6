// Reading a file a user named (config, secrets, known_hosts, CA) without trusting what it is: a
// FIFO would block the reader forever and /dev/zero never ends, so only regular files are read,
// and only up to a size that no sane file of the kind reaches.
#pragma once

#include <cstddef>
#include <string>

#include "common/result.h"

namespace pvt {

// The file's contents, or why not ("is not a regular file (a FIFO)", "is larger than 1 MiB",
// strerror of open/read). The message does not repeat the path.
Result<std::string> read_small_file(const std::string& path, size_t max_bytes);

}  // namespace pvt
