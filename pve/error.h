// What can go wrong talking to the Proxmox VE API, as a value a user can act on.
#pragma once

#include <map>
#include <optional>
#include <string>

namespace pvt::pve {

enum class ErrorKind {
  unreachable,       // DNS, connection refused, no route: every endpoint tried
  timeout,           // connect or total timeout, or the run's deadline
  tls,               // certificate not trusted / fingerprint mismatch (fingerprint_seen set)
  unauthorized,      // 401: token rejected (never retried)
  forbidden,         // 403: missing privilege (see missing_privilege())
  not_found,         // 404 or "does not exist" 500s for a guest/storage/pool
  bad_request,       // 400: parameter verification failed (param_errors set)
  node_unreachable,  // 595/596 from the proxy: another node cannot be reached
  server,            // other 5xx, with Proxmox's message
  malformed,         // body is not JSON or not of the documented shape
};

const char* to_string(ErrorKind k);

struct MissingPrivilege {
  std::string path;       // e.g. "/vms/110"
  std::string privilege;  // e.g. "VM.PowerMgmt"
};

struct ApiError {
  ErrorKind kind = ErrorKind::server;
  int http_status = 0;   // 0 when no HTTP answer was received
  std::string method;    // "GET"
  std::string path;      // below /api2/json, e.g. "/nodes/pve1/qemu/110/config"
  std::string endpoint;  // base URL that answered or failed last
  std::string message;   // Proxmox's message (status line or body) or ours
  std::map<std::string, std::string> param_errors;  // 400 "errors" object
  std::string fingerprint_seen;                     // tls: SHA-256 of the peer certificate

  // One line: "GET /nodes/pve1/qemu/110/config: 403 Permission check failed (/vms/110, VM.Audit)"
  std::string describe() const;
  // Parsed from "Permission check failed (/vms/110, VM.PowerMgmt)".
  std::optional<MissingPrivilege> missing_privilege() const;
};

}  // namespace pvt::pve
