// RFC 3339 UTC timestamps ("2026-11-24T19:00:00Z"), as the report and the worker status use.
#pragma once

#include <chrono>
#include <string>

namespace pvt {

std::string format_utc(std::chrono::system_clock::time_point t);

}  // namespace pvt
