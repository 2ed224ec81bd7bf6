// Where the controller's audit records go: the JSON-lines file (AuditLog) in production, memory
// in the simulated environment.
#pragma once

#include <nlohmann/json.hpp>

#include "common/result.h"

namespace pvt::audit {

class AuditSink {
 public:
  virtual ~AuditSink() = default;
  // One record: an action taken or planned and how it went. Text in it is free of secrets.
  virtual Result<void> append(const nlohmann::json& record) = 0;
};

}  // namespace pvt::audit
