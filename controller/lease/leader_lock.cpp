#include "controller/lease/leader_lock.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>
#include <utime.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <optional>

#include "common/small_file.h"

namespace pvt::lease {
namespace {

constexpr const char* kLockName = "pvectl-tunnel";
constexpr const char* kOwnerFile = "owner";
constexpr long kFuseSuperMagic = 0x65735546;  // pmxcfs is a FUSE file system

using Clock = std::chrono::system_clock;

Clock::time_point mtime_of(const struct stat& st) {
  return Clock::time_point(std::chrono::seconds(st.st_mtim.tv_sec) +
                           std::chrono::nanoseconds(st.st_mtim.tv_nsec));
}

// An flock on the guard file for the duration of a scope; the steps that look and then change
// the lock run under it on plain directories.
class Guard {
 public:
  explicit Guard(const std::string& path)
      : fd_(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600)) {
    if (fd_ >= 0 && ::flock(fd_, LOCK_EX) != 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }
  ~Guard() {
    if (fd_ >= 0) ::close(fd_);  // closing releases the flock
  }
  Guard(const Guard&) = delete;
  Guard& operator=(const Guard&) = delete;
  bool ok() const { return fd_ >= 0; }

 private:
  int fd_;
};

bool set_mtime(const std::string& path, Clock::time_point t) {
  const auto secs = std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch());
  struct utimbuf times {};
  times.actime = static_cast<time_t>(secs.count());
  times.modtime = static_cast<time_t>(secs.count());
  return ::utime(path.c_str(), &times) == 0;
}

std::string read_owner(const std::string& lock_path) {
  auto text = read_small_file(lock_path + "/" + kOwnerFile, 4096);
  if (!text) return "";
  while (!text->empty() && (text->back() == '\n' || text->back() == ' ')) text->pop_back();
  return *text;
}

bool write_owner(const std::string& lock_path, const std::string& owner) {
  const std::string file = lock_path + "/" + kOwnerFile;
  const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  const std::string line = owner + "\n";
  const bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
  return ::close(fd) == 0 && ok;
}

// Removes an expired lock that was renamed aside (its owner file, then the directory).
void discard(const std::string& path) {
  ::unlink((path + "/" + kOwnerFile).c_str());
  ::rmdir(path.c_str());
}

}  // namespace

LeaderLock::LeaderLock(LeaderLockOptions options)
    : options_(std::move(options)),
      path_(options_.lock_dir + "/" + kLockName),
      guard_path_(options_.lock_dir + "/." + kLockName + ".guard") {}

bool LeaderLock::on_pmxcfs() const {
  struct statfs fs {};
  return ::statfs(options_.lock_dir.c_str(), &fs) == 0 && fs.f_type == kFuseSuperMagic;
}

Result<bool> LeaderLock::update(Clock::time_point now) {
  if (held_) {
    // Past our own lease without a successful renewal, pmxcfs may have given it away already.
    if (now - last_renewal_ > options_.lease) {
      held_ = false;
      why_ = fmt::format("no renewal for more than {} s: the lock may have expired",
                         options_.lease.count());
      return false;
    }
    return renew(now);
  }
  return acquire(now);
}

Result<bool> LeaderLock::renew(Clock::time_point now) {
  const bool pmxcfs = on_pmxcfs();
  std::optional<Guard> guard;
  if (!pmxcfs) {
    guard.emplace(guard_path_);
    // The owner file is ours only while nobody took the lock over.
    if (read_owner(path_) != options_.owner) {
      held_ = false;
      why_ = fmt::format("{} is held by {} now", path_, read_owner(path_));
      return false;
    }
  }
  if (!set_mtime(path_, now)) {
    held_ = false;
    why_ = fmt::format("renewing {} failed: {} (no quorum, or another node took it)", path_,
                       std::strerror(errno));
    return false;
  }
  last_renewal_ = now;
  return true;
}

Result<bool> LeaderLock::acquire(Clock::time_point now) {
  struct stat dir {};
  if (::stat(options_.lock_dir.c_str(), &dir) != 0 || !S_ISDIR(dir.st_mode)) {
    return fail(
        fmt::format("lock_dir {} is not a directory: {}", options_.lock_dir, std::strerror(errno)));
  }
  const bool pmxcfs = on_pmxcfs();
  std::optional<Guard> guard;
  if (!pmxcfs) {
    guard.emplace(guard_path_);
    if (!guard->ok()) {
      return fail(fmt::format("cannot lock {}: {}", guard_path_, std::strerror(errno)));
    }
  }
  struct stat st {};
  if (::stat(path_.c_str(), &st) == 0) {
    const auto age = now - mtime_of(st);
    if (age <= options_.lease) {
      why_ = fmt::format("{} is held{} (renewed {} s ago)", path_,
                         pmxcfs ? "" : " by " + read_owner(path_),
                         std::chrono::duration_cast<std::chrono::seconds>(age).count());
      return false;
    }
    if (pmxcfs) {
      // pmxcfs's unlock request: honoured only for an expired lock, so a live one survives it.
      set_mtime(path_, Clock::time_point{});
    } else {
      // Aside atomically, under the guard: no other contender can be between our look and this.
      static std::atomic<unsigned> counter{0};
      const std::string aside =
          fmt::format("{}.expired.{}.{}", path_, ::getpid(), counter.fetch_add(1));
      if (::rename(path_.c_str(), aside.c_str()) == 0) discard(aside);
    }
  }
  if (::mkdir(path_.c_str(), 0700) != 0) {
    if (errno == EEXIST) {
      why_ = fmt::format("{} was taken by another controller first", path_);
      return false;
    }
    return fail(fmt::format("cannot create {}: {}", path_, std::strerror(errno)));
  }
  if (!pmxcfs && !write_owner(path_, options_.owner)) {
    discard(path_);
    return fail(fmt::format("cannot write the owner of {}: {}", path_, std::strerror(errno)));
  }
  set_mtime(path_, now);
  held_ = true;
  last_renewal_ = now;
  why_.clear();
  return true;
}

void LeaderLock::release() {
  if (!held_) return;
  held_ = false;
  if (!on_pmxcfs()) {
    Guard guard(guard_path_);
    if (read_owner(path_) == options_.owner) discard(path_);
    return;
  }
  ::rmdir(path_.c_str());
}

}  // namespace pvt::lease
