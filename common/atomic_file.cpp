#include "common/atomic_file.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace pvt {

Result<void> write_file_atomically(const std::string& path, const std::string& content,
                                   mode_t mode) {
  // Same directory, so the rename cannot cross file systems; the PID keeps two runs apart.
  const std::string tmp = fmt::format("{}.tmp.{}", path, getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
  if (fd < 0) return fail(fmt::format("cannot write {}: {}", tmp, std::strerror(errno)));
  auto give_up = [&](const char* what) {
    const int err = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    return fail(fmt::format("cannot {} {}: {}", what, tmp, std::strerror(err)));
  };
  size_t done = 0;
  while (done < content.size()) {
    const ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return give_up("write");
    }
    done += static_cast<size_t>(n);
  }
  // The umask may have narrowed the mode; readers (node_exporter) need what was asked.
  if (::fchmod(fd, mode) != 0) return give_up("set the mode of");
  if (::fsync(fd) != 0) return give_up("flush");
  if (::close(fd) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return fail(fmt::format("cannot write {}: {}", tmp, std::strerror(err)));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return fail(fmt::format("cannot rename {} to {}: {}", tmp, path, std::strerror(err)));
  }
  return {};
}

}  // namespace pvt
