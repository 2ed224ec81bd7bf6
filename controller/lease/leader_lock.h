// One controller in the cluster acts: the one holding the leader lock, taken and kept the way
// pve-ha-manager does it on the cluster filesystem (pmxcfs). The lock is the directory
// <lock_dir>/pvectl-tunnel:
//   - acquire with mkdir;
//   - renew every cycle with utime(path, now) — pmxcfs refuses it to anyone but the holder;
//   - lost when no renewal succeeded for lease_s (pmxcfs lets it expire after 120 s);
//   - an expired lock is taken over by sending pmxcfs's unlock request, utime(path, 0, 0), which
//     it honours only for expired locks, then mkdir.
// Without quorum pmxcfs is read-only, so nobody can renew and nobody acts.
//
// On a plain directory (tests, or a single host without a cluster) nothing enforces ownership,
// so the protocol is made race-free by hand: an owner file inside the lock names the holder, and
// the steps that look and then change (take over an expired lock, renew) run under an flock on
// a guard file beside it; an expired lock is renamed aside atomically before the mkdir.
#pragma once

#include <chrono>
#include <string>

#include "common/result.h"
#include "controller/lease/lease.h"

namespace pvt::lease {

struct LeaderLockOptions {
  std::string lock_dir;  // e.g. /etc/pve/priv/lock; the lock is <lock_dir>/pvectl-tunnel
  std::chrono::seconds lease{120};
  std::string owner;  // who we are, for the owner file and messages: "pve1:1234"
};

class LeaderLock final : public Lease {
 public:
  explicit LeaderLock(LeaderLockOptions options);
  LeaderLock(const LeaderLock&) = delete;
  LeaderLock& operator=(const LeaderLock&) = delete;

  // Once per cycle: renews the lock when held, else tries to take it (free or expired). Returns
  // whether we hold it now. `now` is wall time (the lock's mtime is compared with it). A failed
  // renewal loses the lock at once: the caller must stop acting in this very cycle.
  Result<bool> update(std::chrono::system_clock::time_point now) override;

  // Gives the lock up (on shutdown), so another controller need not wait for it to expire.
  void release() override;

  bool held() const override { return held_; }
  const std::string& path() const { return path_; }
  // Why the last update() left us a follower or took the lock away, for status and logs.
  const std::string& why() const override { return why_; }

 private:
  Result<bool> acquire(std::chrono::system_clock::time_point now);
  Result<bool> renew(std::chrono::system_clock::time_point now);
  bool on_pmxcfs() const;

  LeaderLockOptions options_;
  std::string path_;
  std::string guard_path_;
  bool held_ = false;
  std::chrono::system_clock::time_point last_renewal_{};
  std::string why_;
};

}  // namespace pvt::lease
