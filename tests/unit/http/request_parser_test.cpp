// The request parser on its own: every split of the input gives the same result, every limit
// holds exactly at its boundary, and malformed or ambiguous framing is refused with the status a
// client can act on.
#include "common/http_request_parser.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace pvt::http {
namespace {

using Event = RequestParser::Event;

// What feeding a whole input produced: the request or the error, and how far the parser read.
struct Outcome {
  Event last = Event::need_more;
  bool saw_headers = false;
  size_t consumed = 0;
  Request request;
  ParseError error;
};

// Feeds `chunks` one after the other, going on after headers_complete as a server does.
Outcome feed_chunks(RequestParser& parser, const std::vector<std::string>& chunks) {
  Outcome o;
  for (const auto& chunk : chunks) {
    std::string_view rest = chunk;
    while (true) {
      const auto p = parser.feed(rest);
      rest.remove_prefix(p.consumed);
      o.consumed += p.consumed;
      o.last = p.event;
      if (p.event == Event::headers_complete) {
        o.saw_headers = true;
        continue;
      }
      if (p.event != Event::need_more || rest.empty()) break;
    }
    if (o.last == Event::complete || o.last == Event::failed) break;
  }
  o.request = parser.request();
  o.error = parser.error();
  return o;
}

Outcome parse(const std::string& text, RequestLimits limits = {}) {
  RequestParser parser(limits);
  return feed_chunks(parser, {text});
}

std::string header_value(const Request& r, std::string_view name) {
  const std::string* v = r.header(name);
  return v != nullptr ? *v : "<none>";
}

TEST(RequestParser, ParsesAGetWithHeaders) {
  const auto o = parse(
      "GET /v1/status?x=1 HTTP/1.1\r\nHost: 127.0.0.1:9190\r\nAuthorization: Bearer abc\r\n"
      "X-Spaced:  \t padded value \t \r\n\r\n");
  ASSERT_EQ(o.last, Event::complete);
  EXPECT_TRUE(o.saw_headers);
  EXPECT_EQ(o.request.method, "GET");
  EXPECT_EQ(o.request.target, "/v1/status?x=1");
  EXPECT_EQ(o.request.path, "/v1/status");
  EXPECT_EQ(o.request.minor_version, 1);
  ASSERT_EQ(o.request.headers.size(), 3u);
  EXPECT_EQ(o.request.headers[0].name, "host");
  EXPECT_EQ(header_value(o.request, "authorization"), "Bearer abc");
  EXPECT_EQ(header_value(o.request, "x-spaced"), "padded value");
  EXPECT_EQ(o.request.body, "");
  EXPECT_TRUE(o.request.keep_alive());
}

TEST(RequestParser, HeaderNamesAreMatchedInLowercase) {
  const auto o = parse("GET / HTTP/1.1\r\nCONTENT-length: 0\r\nX-MiXeD: v\r\n\r\n");
  ASSERT_EQ(o.last, Event::complete);
  EXPECT_EQ(header_value(o.request, "x-mixed"), "v");
  EXPECT_EQ(header_value(o.request, "content-length"), "0");
  EXPECT_EQ(o.request.header("X-MiXeD"), nullptr);  // lookups take lowercase names
}

TEST(RequestParser, BareLineFeedsWorkLikeCrlf) {
  const auto crlf = parse("POST /a HTTP/1.1\r\nContent-Length: 3\r\nX: y\r\n\r\nabc");
  const auto lf = parse("POST /a HTTP/1.1\nContent-Length: 3\nX: y\n\nabc");
  const auto mixed = parse("POST /a HTTP/1.1\r\nContent-Length: 3\nX: y\r\n\nabc");
  for (const auto* o : {&crlf, &lf, &mixed}) {
    ASSERT_EQ(o->last, Event::complete);
    EXPECT_EQ(o->request.body, "abc");
    EXPECT_EQ(header_value(o->request, "x"), "y");
  }
}

TEST(RequestParser, EverySplitOfTheInputGivesTheSameRequest) {
  const std::vector<std::string> inputs = {
      "GET /v1/status HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer t\r\n\r\n",
      "POST /v1/drain HTTP/1.1\r\nContent-Length: 13\r\nContent-Type: application/json\r\n\r\n"
      "{\"why\": \"up\"}",
      "\r\n\nPOST /x HTTP/1.0\nContent-Length: 2\n\nhi",
  };
  for (const auto& input : inputs) {
    const auto whole = parse(input);
    ASSERT_EQ(whole.last, Event::complete) << input;
    ASSERT_EQ(whole.consumed, input.size());
    for (size_t cut = 0; cut <= input.size(); ++cut) {
      RequestParser parser;
      const auto split = feed_chunks(parser, {input.substr(0, cut), input.substr(cut)});
      EXPECT_EQ(split.last, Event::complete) << "cut at " << cut;
      EXPECT_EQ(split.consumed, input.size()) << "cut at " << cut;
      EXPECT_EQ(split.request.method, whole.request.method);
      EXPECT_EQ(split.request.target, whole.request.target);
      EXPECT_EQ(split.request.body, whole.request.body) << "cut at " << cut;
      EXPECT_EQ(split.request.headers.size(), whole.request.headers.size());
    }
    // And one byte at a time.
    std::vector<std::string> bytes;
    for (char c : input) bytes.emplace_back(1, c);
    RequestParser parser;
    const auto trickled = feed_chunks(parser, bytes);
    EXPECT_EQ(trickled.last, Event::complete);
    EXPECT_EQ(trickled.request.body, whole.request.body);
  }
}

TEST(RequestParser, EverySplitOfABadInputFailsTheSameWay) {
  const std::string input = "GET / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n";
  for (size_t cut = 0; cut <= input.size(); ++cut) {
    RequestParser parser;
    const auto o = feed_chunks(parser, {input.substr(0, cut), input.substr(cut)});
    EXPECT_EQ(o.last, Event::failed) << "cut at " << cut;
    EXPECT_EQ(o.error.status, 400);
  }
}

TEST(RequestParser, HeadersCompleteComesBeforeTheBodyIsRead) {
  RequestParser parser;
  const std::string head = "POST /x HTTP/1.1\r\nContent-Length: 5\r\n\r\n";
  const auto p = parser.feed(head + "hel");
  EXPECT_EQ(p.event, Event::headers_complete);
  EXPECT_EQ(p.consumed, head.size());
  EXPECT_EQ(parser.request().content_length, 5u);
  EXPECT_EQ(parser.request().body, "");
  EXPECT_EQ(parser.feed("hel").event, Event::need_more);
  const auto last = parser.feed("loEXTRA");
  EXPECT_EQ(last.event, Event::complete);
  EXPECT_EQ(last.consumed, 2u);
  EXPECT_EQ(parser.request().body, "hello");
}

TEST(RequestParser, PipelinedRequestsAreSeparatedAndResetStartsTheNext) {
  const std::string first = "GET /a HTTP/1.1\r\n\r\n";
  const std::string second = "GET /b HTTP/1.1\r\nConnection: close\r\n\r\n";
  RequestParser parser;
  const auto all = first + second;
  auto p = parser.feed(all);
  ASSERT_EQ(p.event, Event::headers_complete);
  p = parser.feed(std::string_view(all).substr(p.consumed));
  ASSERT_EQ(p.event, Event::complete);
  EXPECT_EQ(p.consumed, 0u);
  EXPECT_EQ(parser.request().path, "/a");
  EXPECT_EQ(parser.feed(second).event, Event::complete);  // stays complete until reset
  parser.reset();
  EXPECT_FALSE(parser.started());
  const auto o = feed_chunks(parser, {second});
  ASSERT_EQ(o.last, Event::complete);
  EXPECT_EQ(o.request.path, "/b");
  EXPECT_FALSE(o.request.keep_alive());
}

TEST(RequestParser, HeaderSectionLimitHoldsExactlyAtTheBoundary) {
  RequestLimits limits;
  limits.header_section_max_bytes = 100;
  const std::string start = "GET / HTTP/1.1\r\nX: ";
  const std::string end = "\r\n\r\n";
  const std::string exact = start + std::string(100 - start.size() - end.size(), 'a') + end;
  ASSERT_EQ(exact.size(), 100u);
  EXPECT_EQ(parse(exact, limits).last, Event::complete);
  const std::string over = start + std::string(101 - start.size() - end.size(), 'a') + end;
  const auto o = parse(over, limits);
  EXPECT_EQ(o.last, Event::failed);
  EXPECT_EQ(o.error.status, 431);
  EXPECT_EQ(o.consumed, 101u);  // refused on the first byte past the limit

  // The default: 8 KiB.
  const std::string big_exact =
      start + std::string(kHeaderSectionMaxBytes - start.size() - end.size(), 'a') + end;
  EXPECT_EQ(parse(big_exact).last, Event::complete);
  EXPECT_EQ(parse(big_exact.substr(0, 16) + "a" + big_exact.substr(16)).error.status, 431);
}

TEST(RequestParser, EndlessHeadersAreRefusedAfterTheLimitWithBoundedMemory) {
  RequestParser parser;
  std::string flood = "GET / HTTP/1.1\r\n";
  while (flood.size() < 1024 * 1024) flood += "X-Flood: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
  const auto p = parser.feed(flood);
  EXPECT_EQ(p.event, Event::failed);
  EXPECT_EQ(parser.error().status, 431);
  EXPECT_LE(p.consumed, kHeaderSectionMaxBytes + 1);
  EXPECT_LE(parser.held_bytes(), kHeaderSectionMaxBytes);
  // One endless line (no line end at all) is cut the same way.
  RequestParser line;
  const auto q = line.feed(std::string(1024 * 1024, 'G'));
  EXPECT_EQ(q.event, Event::failed);
  EXPECT_EQ(line.error().status, 431);
  EXPECT_EQ(q.consumed, kHeaderSectionMaxBytes + 1);
}

TEST(RequestParser, HeaderLineLimitHoldsExactlyAtTheBoundary) {
  auto with_lines = [](size_t n) {
    std::string r = "GET / HTTP/1.1\r\n";
    for (size_t i = 0; i < n; ++i) r += "X-" + std::to_string(i) + ": v\r\n";
    return r + "\r\n";
  };
  EXPECT_EQ(parse(with_lines(kHeaderLinesMax)).last, Event::complete);
  const auto o = parse(with_lines(kHeaderLinesMax + 1));
  EXPECT_EQ(o.last, Event::failed);
  EXPECT_EQ(o.error.status, 431);
  RequestLimits limits;
  limits.header_lines_max = 2;
  EXPECT_EQ(parse(with_lines(2), limits).last, Event::complete);
  EXPECT_EQ(parse(with_lines(3), limits).error.status, 431);
}

TEST(RequestParser, BodyLimitHoldsExactlyAtTheBoundaryBeforeAnyBodyByte) {
  auto post = [](size_t n) {
    return "POST /x HTTP/1.1\r\nContent-Length: " + std::to_string(n) + "\r\n\r\n" +
           std::string(n, 'b');
  };
  const auto exact = parse(post(kBodyMaxBytes));
  EXPECT_EQ(exact.last, Event::complete);
  EXPECT_EQ(exact.request.body.size(), kBodyMaxBytes);
  // Refused when the header section ends: the body is never read.
  RequestParser parser;
  const std::string head = "POST /x HTTP/1.1\r\nContent-Length: 4097\r\n\r\n";
  const auto p = parser.feed(head + "bbbb");
  EXPECT_EQ(p.event, Event::failed);
  EXPECT_EQ(p.consumed, head.size());
  EXPECT_EQ(parser.error().status, 413);
  // No overflow on a length of any size.
  EXPECT_EQ(parse("POST /x HTTP/1.1\r\nContent-Length: 99999999999999999999999999999\r\n\r\n")
                .error.status,
            413);
  RequestLimits limits;
  limits.body_max_bytes = 0;
  EXPECT_EQ(parse(post(0), limits).last, Event::complete);
  EXPECT_EQ(parse(post(1), limits).error.status, 413);
}

TEST(RequestParser, BadRequestLinesAreRefused) {
  const std::vector<std::pair<std::string, int>> cases = {
      {"GET /\r\n\r\n", 400},
      {"GET\r\n\r\n", 400},
      {"GET  / HTTP/1.1\r\n\r\n", 400},
      {"GET / HTTP/1.1 \r\n\r\n", 400},
      {"GET / HTTP/1.1 extra\r\n\r\n", 400},
      {" GET / HTTP/1.1\r\n\r\n", 400},
      {"G(T / HTTP/1.1\r\n\r\n", 400},
      {"GET x HTTP/1.1\r\n\r\n", 400},
      {"GET http://example.com/ HTTP/1.1\r\n\r\n", 400},
      {"GET * HTTP/1.1\r\n\r\n", 400},
      {"GET /a\x01z HTTP/1.1\r\n\r\n", 400},
      {"GET /\xff HTTP/1.1\r\n\r\n", 400},
      {"GET /\tx HTTP/1.1\r\n\r\n", 400},
      {"GET / HTTPS/1.1\r\n\r\n", 400},
      {"GET / http/1.1\r\n\r\n", 400},
      {"GET / HTTP/1.10\r\n\r\n", 400},
      {"GET / HTTP/1\r\n\r\n", 400},
      {"GET / HTTP/1.1\rX\r\n\r\n", 400},
      {std::string("GET / HTTP/1.1\0\r\n\r\n", 19), 400},
      {"GET / HTTP/2.0\r\n\r\n", 505},
      {"GET / HTTP/0.9\r\n\r\n", 505},
  };
  for (const auto& [text, status] : cases) {
    const auto o = parse(text);
    EXPECT_EQ(o.last, Event::failed) << text;
    EXPECT_EQ(o.error.status, status) << text;
    EXPECT_FALSE(o.saw_headers) << text;
    EXPECT_FALSE(o.error.message.empty());
  }
}

TEST(RequestParser, Http10IsParsedAndNeverKeptAlive) {
  const auto o = parse("GET /v1/status HTTP/1.0\r\n\r\n");
  ASSERT_EQ(o.last, Event::complete);
  EXPECT_EQ(o.request.minor_version, 0);
  EXPECT_FALSE(o.request.keep_alive());
  EXPECT_FALSE(parse("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").request.keep_alive());
  EXPECT_FALSE(
      parse("GET / HTTP/1.1\r\nConnection: Keep-Alive, CLOSE\r\n\r\n").request.keep_alive());
  EXPECT_TRUE(parse("GET / HTTP/1.1\r\nConnection: keep-alive\r\n\r\n").request.keep_alive());
}

TEST(RequestParser, EmptyLinesBeforeTheRequestLineAreSkippedButCounted) {
  const auto o = parse("\r\n\r\nGET / HTTP/1.1\r\n\r\n");
  EXPECT_EQ(o.last, Event::complete);
  EXPECT_EQ(o.request.path, "/");
  RequestParser parser;
  EXPECT_EQ(parser.feed("\r\n").event, Event::need_more);
  EXPECT_TRUE(parser.started());
  EXPECT_EQ(parser.feed(std::string(kHeaderSectionMaxBytes, '\n')).event, Event::failed);
  EXPECT_EQ(parser.error().status, 431);
}

TEST(RequestParser, DuplicateOrInvalidContentLengthIsRefused) {
  const std::vector<std::string> lengths = {"", "-1", "+1", "1 2", "0x10", "1e3", "1,1", "١"};
  for (const auto& v : lengths) {
    const auto o = parse("POST /x HTTP/1.1\r\nContent-Length: " + v + "\r\n\r\n");
    EXPECT_EQ(o.last, Event::failed) << v;
    EXPECT_EQ(o.error.status, 400) << v;
  }
  for (const auto* twice : {"Content-Length: 1\r\nContent-Length: 1\r\n",
                            "Content-Length: 1\r\ncontent-length: 2\r\n"}) {
    const auto o = parse(std::string("POST /x HTTP/1.1\r\n") + twice + "\r\nab");
    EXPECT_EQ(o.last, Event::failed) << twice;
    EXPECT_EQ(o.error.status, 400) << twice;
  }
  const auto padded = parse("POST /x HTTP/1.1\r\nContent-Length:  007 \r\n\r\n1234567");
  EXPECT_EQ(padded.last, Event::complete);
  EXPECT_EQ(padded.request.body, "1234567");
}

TEST(RequestParser, TransferEncodingIsRefusedWithLengthRequiredOrNotImplemented) {
  EXPECT_EQ(parse("POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n").error.status,
            411);
  EXPECT_EQ(parse("POST /x HTTP/1.1\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n").error.status,
            411);
  EXPECT_EQ(parse("POST /x HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n").error.status, 501);
  // Both framings at once: the smuggling case, refused whatever the length says.
  EXPECT_EQ(parse("POST /x HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\nabc")
                .error.status,
            411);
}

TEST(RequestParser, MalformedHeaderLinesAreRefused) {
  const std::vector<std::string> lines = {
      " Folded: x",    // folding at the start of the section
      "\tFolded: x",   //
      "Name : value",  // whitespace before the colon (RFC 9112 5.1)
      "No-Colon",      //
      ": no name",     //
      "Bad(Name): v",  //
      "X: a\x01z",     // a control character
      "X: a\rb",       // a bare CR
      "X: a\x7f",      // DEL
      std::string("X: a\0b", 6),
  };
  for (const auto& line : lines) {
    const auto o = parse("GET / HTTP/1.1\r\n" + line + "\r\n\r\n");
    EXPECT_EQ(o.last, Event::failed) << line;
    EXPECT_EQ(o.error.status, 400) << line;
    EXPECT_FALSE(o.saw_headers) << line;
  }
  // obs-fold after a field.
  EXPECT_EQ(parse("GET / HTTP/1.1\r\nA: b\r\n  continued\r\n\r\n").error.status, 400);
  // obs-text in a value is allowed; an empty value too.
  const auto o = parse("GET / HTTP/1.1\r\nX: caf\xc3\xa9\r\nEmpty:\r\n\r\n");
  ASSERT_EQ(o.last, Event::complete);
  EXPECT_EQ(header_value(o.request, "x"), "caf\xc3\xa9");
  EXPECT_EQ(header_value(o.request, "empty"), "");
}

TEST(RequestParser, ExpectContinueIsRecognised) {
  EXPECT_TRUE(parse("POST /x HTTP/1.1\r\nExpect: 100-Continue\r\nContent-Length: 0\r\n\r\n")
                  .request.expects_continue());
  EXPECT_FALSE(parse("POST /x HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n")
                   .request.expects_continue());
  EXPECT_FALSE(parse("GET / HTTP/1.1\r\n\r\n").request.expects_continue());
}

TEST(RequestParser, AFailedParserStaysFailedUntilReset) {
  RequestParser parser;
  EXPECT_EQ(parser.feed("BAD\r\n").event, Event::failed);
  const auto again = parser.feed("GET / HTTP/1.1\r\n\r\n");
  EXPECT_EQ(again.event, Event::failed);
  EXPECT_EQ(again.consumed, 0u);
  parser.reset();
  EXPECT_EQ(feed_chunks(parser, {"GET / HTTP/1.1\r\n\r\n"}).last, Event::complete);
}

TEST(RequestParser, ErrorMessagesNeverQuoteTheClientsBytes) {
  for (const auto* text :
       {"GET /\x01<script> HTTP/1.1\r\n\r\n", "GET / HTTP/1.1\r\nX<script>: v\r\n\r\n",
        "POST / HTTP/1.1\r\nContent-Length: <script>\r\n\r\n"}) {
    const auto o = parse(text);
    ASSERT_EQ(o.last, Event::failed) << text;
    EXPECT_EQ(o.error.message.find("script"), std::string::npos) << o.error.message;
  }
}

}  // namespace
}  // namespace pvt::http
