// The bearer token check of the loopback APIs (the worker's control API, the controller's status
// server): "Authorization: Bearer <token>", compared in constant time so that the answer's
// timing does not tell how much of a guess was right.
#pragma once

#include <string_view>

#include "common/http_request_parser.h"

namespace pvt::http {

// Whether the request carries exactly `token`; never with an empty token.
bool bearer_matches(const Request& request, std::string_view token);

}  // namespace pvt::http
