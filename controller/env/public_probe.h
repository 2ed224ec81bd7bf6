// Which tunnel carries the public traffic: a GET of [vps] public_url, through the public vhost
// and nginx's upstream, answered by the home service with an X-Tunnel header naming the tunnel
// the request came through (the templates add it).
#pragma once

#include <chrono>
#include <string>

#include "common/result.h"

namespace pvt::controller {

// The X-Tunnel header's value; an error naming what went wrong (unreachable, HTTP status, no
// header). TLS is verified against the system CAs: the public URL has a public certificate.
Result<std::string> probe_traffic_via(const std::string& public_url,
                                      std::chrono::milliseconds timeout);

}  // namespace pvt::controller
