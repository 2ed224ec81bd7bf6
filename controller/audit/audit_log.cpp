#include "controller/audit/audit_log.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace pvt::audit {

AuditLog::AuditLog(AuditLogOptions options) : options_(std::move(options)) {}

Result<void> AuditLog::rotate() {
  // Oldest first, so that nothing is overwritten before it moved on.
  ::unlink(fmt::format("{}.{}", options_.path, options_.keep).c_str());
  for (int i = options_.keep - 1; i >= 1; --i) {
    const std::string from = fmt::format("{}.{}", options_.path, i);
    const std::string to = fmt::format("{}.{}", options_.path, i + 1);
    if (::rename(from.c_str(), to.c_str()) != 0 && errno != ENOENT) {
      return fail(fmt::format("cannot rotate {}: {}", from, std::strerror(errno)));
    }
  }
  if (options_.keep == 0) {
    ::unlink(options_.path.c_str());
  } else if (::rename(options_.path.c_str(), (options_.path + ".1").c_str()) != 0 &&
             errno != ENOENT) {
    return fail(fmt::format("cannot rotate {}: {}", options_.path, std::strerror(errno)));
  }
  return {};
}

Result<void> AuditLog::append(const nlohmann::json& record) {
  // A serialiser that meets invalid UTF-8 replaces it instead of throwing.
  const std::string line =
      record.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  struct stat st {};
  if (::stat(options_.path.c_str(), &st) == 0 && st.st_size > 0 &&
      static_cast<uint64_t>(st.st_size) + line.size() > options_.max_bytes) {
    if (auto rotated = rotate(); !rotated) return rotated;
  }
  const int fd = ::open(options_.path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0) {
    return fail(
        fmt::format("cannot open the audit log {}: {}", options_.path, std::strerror(errno)));
  }
  const ssize_t n = ::write(fd, line.data(), line.size());
  const int write_errno = errno;
  ::close(fd);
  if (n != static_cast<ssize_t>(line.size())) {
    return fail(fmt::format("cannot write the audit log {}: {}", options_.path,
                            n < 0 ? std::strerror(write_errno) : "short write"));
  }
  return {};
}

}  // namespace pvt::audit
