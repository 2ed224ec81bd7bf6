// The controller's audit trail: one JSON object per line for every action it took or would have
// taken, and how it went — what a person reads after the fact ("why was tunnel2 restarted at
// 03:12?") and what a log shipper ingests. The controller rotates it itself by size (no
// logrotate rule racing it): audit.jsonl -> audit.jsonl.1 -> ... -> audit.jsonl.<keep>.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "common/result.h"
#include "controller/audit/audit_sink.h"

namespace pvt::audit {

struct AuditLogOptions {
  std::string path;                       // [controller] audit_log
  uint64_t max_bytes = 10 * 1024 * 1024;  // rotate before a write would pass this
  int keep = 5;                           // rotated files kept
};

class AuditLog final : public AuditSink {
 public:
  explicit AuditLog(AuditLogOptions options);

  // Appends `record` as one line (written whole with O_APPEND, so a reader never sees half a
  // record); rotates first when the file would grow past max_bytes. Text in it must already be
  // free of secrets; invalid UTF-8 is repaired so that the line stays valid JSON.
  Result<void> append(const nlohmann::json& record) override;

 private:
  Result<void> rotate();

  AuditLogOptions options_;
};

}  // namespace pvt::audit
