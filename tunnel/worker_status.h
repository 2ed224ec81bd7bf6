// What the worker serves beside its status JSON: the same facts as Prometheus text. The status
// model and its JSON are shared with the clients in worker_client/worker_status.h.
#pragma once

#include <string>

#include "worker_client/worker_status.h"

namespace pvt::tunnel {

// GET /metrics: the same facts in the Prometheus text exposition format (version 0.0.4).
std::string worker_metrics(const WorkerStatus& s);

}  // namespace pvt::tunnel
