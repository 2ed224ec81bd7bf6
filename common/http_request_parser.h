// An incremental HTTP/1.1 request parser (RFC 9112): request line, header section and a body of
// Content-Length bytes. It does no I/O: a server feeds whatever bytes arrived, split anywhere, and
// learns when the header section is complete (so it can authenticate before it reads a body) and
// when the request is. Every limit is checked as the bytes come in, so what a client can make the
// parser hold never exceeds them, whatever it sends.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace pvt::http {

// Enough for any request a curl, a scraper or our own client sends to a control API, and small
// enough that a connection's worst case is a few tens of KiB.
inline constexpr size_t kHeaderSectionMaxBytes = 8 * 1024;
inline constexpr size_t kHeaderLinesMax = 32;
inline constexpr size_t kBodyMaxBytes = 4 * 1024;

struct RequestLimits {
  // The request line and every header line with their line ends, up to and including the empty
  // line that ends the section.
  size_t header_section_max_bytes = kHeaderSectionMaxBytes;
  size_t header_lines_max = kHeaderLinesMax;
  size_t body_max_bytes = kBodyMaxBytes;
};

struct HeaderField {
  std::string name;   // lowercase
  std::string value;  // without the whitespace around it
};

struct Request {
  std::string method;
  std::string target;     // as sent: the path and the query
  std::string path;       // the target up to '?'
  int minor_version = 1;  // HTTP/1.<minor_version>
  std::vector<HeaderField> headers;
  size_t content_length = 0;
  std::string body;

  // The value of the first field called `lowercase_name`, or nullptr.
  const std::string* header(std::string_view lowercase_name) const;
  // Whether the connection may carry another request after this one: HTTP/1.1 unless the client
  // said "Connection: close"; HTTP/1.0 never (its keep-alive extension is not worth supporting).
  bool keep_alive() const;
  // "Expect: 100-continue" on HTTP/1.1: the client waits for a go-ahead before it sends the body.
  bool expects_continue() const;
};

// Why a request was refused: the HTTP status to answer with and a message for the client, which
// never quotes the client's bytes.
struct ParseError {
  int status = 400;
  std::string message;
};

class RequestParser {
 public:
  enum class Event {
    need_more,         // every byte given was consumed; the request goes on
    headers_complete,  // request() has all but the body; feed again (even nothing) to go on
    complete,          // request() is whole; bytes after `consumed` belong to the next request
    failed,            // error() says why; this connection can carry no further request
  };
  struct Progress {
    Event event = Event::need_more;
    size_t consumed = 0;  // of the bytes given to this feed()
  };

  explicit RequestParser(RequestLimits limits = {});

  Progress feed(std::string_view bytes);

  const Request& request() const { return request_; }
  const ParseError& error() const { return error_; }
  // A byte of this request has arrived (empty lines before a request line count).
  bool started() const { return started_; }
  // Bytes held for the request so far: bounded by the limits.
  size_t held_bytes() const;
  // Ready for the next request on the same connection.
  void reset();

 private:
  enum class Phase { request_line, headers, body, complete, failed };

  bool take_line();
  bool take_request_line();
  bool take_header_line();
  bool finish_headers();
  Progress fail(int status, std::string message, size_t consumed);

  RequestLimits limits_;
  Phase phase_ = Phase::request_line;
  bool started_ = false;
  size_t header_bytes_ = 0;
  std::string line_;
  Request request_;
  ParseError error_;
};

}  // namespace pvt::http
