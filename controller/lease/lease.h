// Who may act in the cluster: the controller asks once per cycle and acts only while it holds
// the lease. LeaderLock is the real one (pmxcfs); the simulated environment shares one in memory
// between the controllers of a scenario.
#pragma once

#include <chrono>
#include <string>

#include "common/result.h"

namespace pvt::lease {

class Lease {
 public:
  virtual ~Lease() = default;
  // Renews the lease when held, else tries to take it. Whether we hold it now; a failed renewal
  // loses it at once, and the caller stops acting in this very cycle.
  virtual Result<bool> update(std::chrono::system_clock::time_point now) = 0;
  // Gives it up (shutdown), so that another controller need not wait for it to expire.
  virtual void release() = 0;
  virtual bool held() const = 0;
  // Why the last update() left us without it ("held by pve2:1234 ..."), for status and logs.
  virtual const std::string& why() const = 0;
};

}  // namespace pvt::lease
