// Writing a file that readers must never see half-written (a node_exporter textfile collector
// scrapes whenever it likes): a temporary file beside it, flushed, then renamed over it.
#pragma once

#include <sys/types.h>
#include <string>

#include "common/result.h"

namespace pvt {

Result<void> write_file_atomically(const std::string& path, const std::string& content,
                                   mode_t mode = 0644);

}  // namespace pvt
