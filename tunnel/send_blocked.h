// libssh2 reports only the direction its *last* call blocked on
// (libssh2_session_block_directions), so a channel write that blocked on a full socket is
// forgotten as soon as the next channel is read. Every call that returns EAGAIN notes it here at
// once, and the loop waits for POLLOUT while any send is unfinished — without it a pass that
// ends with a read would leave a half-sent packet waiting for unrelated inbound traffic.
#pragma once

#include <libssh2.h>

namespace pvt::tunnel {

struct SendBlocked {
  bool on_socket = false;

  void note(LIBSSH2_SESSION* session) {
    if ((libssh2_session_block_directions(session) & LIBSSH2_SESSION_BLOCK_OUTBOUND) != 0) {
      on_socket = true;
    }
  }
};

}  // namespace pvt::tunnel
