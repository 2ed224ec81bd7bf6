#include "common/http_request_parser.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>

namespace pvt::http {
namespace {

bool is_tchar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool is_token(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), is_tchar);
}

// Visible ASCII only: a target with spaces, controls or raw 8-bit bytes is malformed, and keeping
// it ASCII lets error messages name the path safely.
bool is_target_char(char c) { return c > 0x20 && c < 0x7f; }

bool is_ows(char c) { return c == ' ' || c == '\t'; }

// RFC 9110 field-value: visible characters, obs-text, and whitespace inside; no controls (a bare
// CR or a NUL is how header injection and request smuggling start).
bool is_field_value_char(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u == '\t' || (u >= 0x20 && u != 0x7f);
}

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                            [](char x, char y) { return lower(x) == lower(y); });
}

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
  return s;
}

// Whether the comma-separated list `value` holds `token` (case-insensitive), as Connection does.
bool list_has(std::string_view value, std::string_view token) {
  while (!value.empty()) {
    const size_t comma = value.find(',');
    if (iequals(trim_ows(value.substr(0, comma)), token)) return true;
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return false;
}

}  // namespace

const std::string* Request::header(std::string_view lowercase_name) const {
  for (const auto& h : headers) {
    if (h.name == lowercase_name) return &h.value;
  }
  return nullptr;
}

bool Request::keep_alive() const {
  if (minor_version < 1) return false;
  for (const auto& h : headers) {
    if (h.name == "connection" && list_has(h.value, "close")) return false;
  }
  return true;
}

bool Request::expects_continue() const {
  const std::string* expect = header("expect");
  return minor_version >= 1 && expect != nullptr && iequals(*expect, "100-continue");
}

RequestParser::RequestParser(RequestLimits limits) : limits_(limits) {}

size_t RequestParser::held_bytes() const {
  size_t n = line_.size() + request_.method.size() + request_.target.size() + request_.path.size() +
             request_.body.size();
  for (const auto& h : request_.headers) n += h.name.size() + h.value.size();
  return n;
}

void RequestParser::reset() {
  phase_ = Phase::request_line;
  started_ = false;
  header_bytes_ = 0;
  line_.clear();
  request_ = Request{};
  error_ = ParseError{};
}

RequestParser::Progress RequestParser::fail(int status, std::string message, size_t consumed) {
  phase_ = Phase::failed;
  error_ = ParseError{status, std::move(message)};
  line_.clear();
  return {Event::failed, consumed};
}

RequestParser::Progress RequestParser::feed(std::string_view bytes) {
  switch (phase_) {
    case Phase::failed:
      return {Event::failed, 0};
    case Phase::complete:
      return {Event::complete, 0};
    case Phase::body: {
      const size_t n = std::min(request_.content_length - request_.body.size(), bytes.size());
      request_.body.append(bytes.data(), n);
      if (request_.body.size() < request_.content_length) return {Event::need_more, n};
      phase_ = Phase::complete;
      return {Event::complete, n};
    }
    case Phase::request_line:
    case Phase::headers:
      break;
  }
  // Byte by byte: the header section is small, and this way every split of the input takes the
  // same path and every limit holds exactly at its boundary.
  for (size_t i = 0; i < bytes.size();) {
    const char c = bytes[i++];
    started_ = true;
    if (++header_bytes_ > limits_.header_section_max_bytes) {
      return fail(431,
                  fmt::format("the header section is larger than {} bytes",
                              limits_.header_section_max_bytes),
                  i);
    }
    if (c != '\n') {
      line_.push_back(c);
      continue;
    }
    // CRLF ends a line; so does a bare LF, which RFC 9112 lets a recipient accept.
    if (!line_.empty() && line_.back() == '\r') line_.pop_back();
    if (!take_line()) return {Event::failed, i};
    line_.clear();
    if (phase_ == Phase::body) return {Event::headers_complete, i};
  }
  return {Event::need_more, bytes.size()};
}

bool RequestParser::take_line() {
  if (phase_ == Phase::request_line) return take_request_line();
  if (line_.empty()) return finish_headers();
  return take_header_line();
}

bool RequestParser::take_request_line() {
  // RFC 9112 2.2: empty lines before a request line are ignored (some clients send a CRLF after
  // a POST body); they still count against the header section's size.
  if (line_.empty()) return true;
  const std::string_view line = line_;
  const size_t sp1 = line.find(' ');
  const size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos) {
    fail(400, "malformed request line (expected: METHOD /path HTTP/1.1)", 0);
    return false;
  }
  const std::string_view method = line.substr(0, sp1);
  const std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  const std::string_view version = line.substr(sp2 + 1);
  if (!is_token(method)) {
    fail(400, "malformed request line: the method is not a token", 0);
    return false;
  }
  if (target.empty() || target.front() != '/' ||
      !std::all_of(target.begin(), target.end(), is_target_char)) {
    fail(400, "malformed request line: the target must be a path starting with /", 0);
    return false;
  }
  const bool shaped = version.size() == 8 && version.substr(0, 5) == "HTTP/" && version[5] >= '0' &&
                      version[5] <= '9' && version[6] == '.' && version[7] >= '0' &&
                      version[7] <= '9';
  if (!shaped) {
    fail(400, "malformed request line: bad HTTP version", 0);
    return false;
  }
  if (version[5] != '1') {
    fail(505, "only HTTP/1.0 and HTTP/1.1 are supported", 0);
    return false;
  }
  request_.method = method;
  request_.target = target;
  request_.path = target.substr(0, target.find('?'));
  request_.minor_version = version[7] - '0';
  phase_ = Phase::headers;
  return true;
}

bool RequestParser::take_header_line() {
  const std::string_view line = line_;
  if (is_ows(line.front())) {
    // RFC 9112 5.2: a server must reject obsolete line folding or unfold it; rejecting cannot
    // be misread by a proxy in front.
    fail(400, "obsolete line folding in the header section", 0);
    return false;
  }
  if (request_.headers.size() >= limits_.header_lines_max) {
    fail(431, fmt::format("more than {} header lines", limits_.header_lines_max), 0);
    return false;
  }
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos || !is_token(line.substr(0, colon))) {
    // Whitespace before the colon lands here too: RFC 9112 5.1 requires a 400 for it.
    fail(400, "malformed header line (expected: Name: value)", 0);
    return false;
  }
  const std::string_view value = trim_ows(line.substr(colon + 1));
  if (!std::all_of(value.begin(), value.end(), is_field_value_char)) {
    fail(400, "control character in a header value", 0);
    return false;
  }
  HeaderField field;
  field.name.reserve(colon);
  for (char c : line.substr(0, colon)) field.name.push_back(lower(c));
  field.value = value;
  request_.headers.push_back(std::move(field));
  return true;
}

bool RequestParser::finish_headers() {
  bool have_length = false;
  for (const auto& h : request_.headers) {
    if (h.name == "transfer-encoding") {
      // Refused rather than decoded: a fixed-size body is all these APIs take, and a message
      // with both framings is the classic smuggling vector.
      const std::string_view codings = h.value;
      const size_t comma = codings.rfind(',');
      const std::string_view last =
          trim_ows(comma == std::string_view::npos ? codings : codings.substr(comma + 1));
      if (iequals(last, "chunked")) {
        fail(411, "chunked bodies are not accepted: send the body with a Content-Length", 0);
      } else {
        fail(501, "transfer codings are not implemented: send the body with a Content-Length", 0);
      }
      return false;
    }
    if (h.name != "content-length") continue;
    if (have_length) {
      fail(400, "more than one Content-Length", 0);
      return false;
    }
    have_length = true;
    if (h.value.empty() ||
        !std::all_of(h.value.begin(), h.value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      fail(400, "invalid Content-Length", 0);
      return false;
    }
    // Digit by digit with a stop past the limit, so no length overflows.
    uint64_t length = 0;
    for (char c : h.value) {
      length = length * 10 + static_cast<uint64_t>(c - '0');
      if (length > limits_.body_max_bytes) break;
    }
    if (length > limits_.body_max_bytes) {
      fail(413, fmt::format("the body is larger than {} bytes", limits_.body_max_bytes), 0);
      return false;
    }
    request_.content_length = static_cast<size_t>(length);
  }
  request_.body.reserve(request_.content_length);
  phase_ = Phase::body;
  return true;
}

}  // namespace pvt::http
