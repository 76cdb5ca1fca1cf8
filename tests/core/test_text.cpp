#include <catch2/catch.hpp>

#include <string>

#include "core/text.hpp"

using patchbay::detail::one_line;
using patchbay::detail::quote;

TEST_CASE("quote escapes what would break a one-line message", "[text]") {
  CHECK(quote("plain") == "'plain'");
  CHECK(quote("") == "''");
  CHECK(quote("a\nb") == "'a\\nb'");
  CHECK(quote("tab\there\r") == "'tab\\there\\r'");
  CHECK(quote("it's") == "'it\\'s'");
  CHECK(quote("back\\slash") == "'back\\\\slash'");
  CHECK(quote(std::string("nul\0byte", 8)) == "'nul\\x00byte'");
  CHECK(quote("\x1b[31mred") == "'\\x1B[31mred'");
  CHECK(quote("caf\xc3\xa9") == "'caf\xc3\xa9'");  // valid UTF-8 kept
  CHECK(quote("bad\xff") == "'bad\\xFF'");         // invalid byte escaped
  CHECK(quote("cut\xc3") == "'cut\\xC3'");         // truncated sequence escaped
}

TEST_CASE("quote bounds a long value and says how long it was", "[text]") {
  const std::string big(1'000'000, 'x');
  const std::string q = quote(big);
  CHECK(q.size() < 260);
  CHECK(q.rfind("'" + std::string(200, 'x') + "...' (1000000 bytes)", 0) == 0);
  CHECK(quote(std::string(200, 'y')) == "'" + std::string(200, 'y') + "'");
  // A multi-byte character is never split.
  std::string euros;
  for (int i = 0; i < 100; ++i)
    euros += "\xe2\x82\xac";
  const std::string e = quote(euros, 10);
  CHECK(e == "'\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac...' (300 bytes)");
}

TEST_CASE("one_line escapes newlines and bounds the text", "[text]") {
  CHECK(one_line("first\nsecond") == "first\\nsecond");
  CHECK(one_line("it's fine") == "it's fine");
  const std::string big(10'000, 'z');
  const std::string line = one_line(big);
  CHECK(line.find('\n') == std::string::npos);
  CHECK(line == std::string(4096, 'z') + "... (10000 bytes)");
}
