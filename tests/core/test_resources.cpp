#include <patchbay/error.hpp>
#include <patchbay/resources.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <string>

using Catch::Contains;
using patchbay::apply;
using patchbay::check_quantity;
using patchbay::format_quantity;
using patchbay::ModelError;
using patchbay::parse_quantity;
using patchbay::ResourceOverrides;
using patchbay::Resources;

TEST_CASE("parse_quantity reads plain numbers", "[resources]") {
  CHECK(parse_quantity("0") == 0);
  CHECK(parse_quantity("2") == 2);
  CHECK(parse_quantity("1.5") == 1.5);
  CHECK(parse_quantity("0.001") == 0.001);
  CHECK(parse_quantity(".5") == 0.5);
  CHECK(parse_quantity("1.") == 1);
  CHECK(parse_quantity("+3") == 3);
  CHECK(parse_quantity("007") == 7);
  CHECK(parse_quantity("123456789012") == 123456789012.0);
}

TEST_CASE("parse_quantity applies every suffix", "[resources]") {
  CHECK(parse_quantity("500m") == 0.5);
  CHECK(parse_quantity("1m") == 0.001);
  CHECK(parse_quantity("1500m") == 1.5);
  CHECK(parse_quantity("1k") == 1e3);
  CHECK(parse_quantity("1M") == 1e6);
  CHECK(parse_quantity("2G") == 2e9);
  CHECK(parse_quantity("1T") == 1e12);
  CHECK(parse_quantity("1P") == 1e15);
  CHECK(parse_quantity("1E") == 1e18);
  CHECK(parse_quantity("1Ki") == 1024);
  CHECK(parse_quantity("512Mi") == 536870912);
  CHECK(parse_quantity("1Gi") == 1073741824.0);
  CHECK(parse_quantity("1Ti") == std::ldexp(1.0, 40));
  CHECK(parse_quantity("1Pi") == std::ldexp(1.0, 50));
  CHECK(parse_quantity("1Ei") == std::ldexp(1.0, 60));
}

TEST_CASE("parse_quantity handles decimals with suffixes exactly", "[resources]") {
  CHECK(parse_quantity("1.5Gi") == 1.5 * 1073741824.0);
  CHECK(parse_quantity("0.5Ki") == 512);
  CHECK(parse_quantity("0.1k") == 100);
  CHECK(parse_quantity("2.5G") == 2.5e9);
  CHECK(parse_quantity("0.3m") == 0.0003);
  CHECK(parse_quantity("100m") == 0.1);
  CHECK(parse_quantity(".25k") == 250);
}

TEST_CASE("parse_quantity trims whitespace", "[resources]") {
  CHECK(parse_quantity(" 2 ") == 2);
  CHECK(parse_quantity("\t512Mi\n") == 536870912);
  CHECK(parse_quantity("  500m") == 0.5);
}

TEST_CASE("parse_quantity rejects malformed text with a reason", "[resources]") {
  REQUIRE_THROWS_AS(parse_quantity("5x"), ModelError);
  REQUIRE_THROWS_WITH(parse_quantity("5x"), Contains("'5x'") && Contains("unknown suffix 'x'") &&
                                                Contains("expected one of m, k, M, G, T, P, E, "
                                                         "Ki, Mi, Gi, Ti, Pi, Ei"));
  REQUIRE_THROWS_WITH(parse_quantity("5ki"), Contains("unknown suffix 'ki'"));
  REQUIRE_THROWS_WITH(parse_quantity("5 Mi"), Contains("unknown suffix ' Mi'"));
  REQUIRE_THROWS_WITH(parse_quantity("-1"), Contains("'-1'") && Contains("negative"));
  REQUIRE_THROWS_WITH(parse_quantity("-500m"), Contains("negative"));
  REQUIRE_THROWS_WITH(parse_quantity("1e3"), Contains("'1e3'") && Contains("exponent not allowed"));
  REQUIRE_THROWS_WITH(parse_quantity("1E3"), Contains("exponent not allowed"));
  REQUIRE_THROWS_WITH(parse_quantity("1.5e-3"), Contains("exponent not allowed"));
  REQUIRE_THROWS_WITH(parse_quantity("2e+2"), Contains("exponent not allowed"));
  REQUIRE_THROWS_WITH(parse_quantity(""), Contains("empty"));
  REQUIRE_THROWS_WITH(parse_quantity("   "), Contains("empty"));
  REQUIRE_THROWS_WITH(parse_quantity("abc"), Contains("'abc'") && Contains("not a number"));
  REQUIRE_THROWS_WITH(parse_quantity("1.2.3"), Contains("'1.2.3'") && Contains("not a number"));
  REQUIRE_THROWS_WITH(parse_quantity("m"), Contains("not a number"));
  REQUIRE_THROWS_WITH(parse_quantity("Ki"), Contains("not a number"));
  REQUIRE_THROWS_WITH(parse_quantity("."), Contains("not a number"));
  REQUIRE_THROWS_WITH(parse_quantity("+"), Contains("not a number"));
  REQUIRE_THROWS_WITH(parse_quantity("-abc"), Contains("not a number"));
  REQUIRE_THROWS_WITH(parse_quantity("1 2"), Contains("not a number") || Contains("suffix"));
  REQUIRE_THROWS_WITH(parse_quantity("nan"), Contains("not a number"));
  REQUIRE_THROWS_WITH(parse_quantity("inf"), Contains("not a number"));
  REQUIRE_THROWS_WITH(parse_quantity(std::string(400, '9')), Contains("out of range"));
  REQUIRE_THROWS_WITH(parse_quantity(std::string(305, '9') + "Ei"), Contains("out of range"));
}

TEST_CASE("parse_quantity errors carry the message without location", "[resources]") {
  try {
    (void)parse_quantity("5x");
    FAIL("expected ModelError");
  } catch (const ModelError& e) {
    CHECK(e.where().empty());
    CHECK(e.message() == std::string(e.what()));
    CHECK_THAT(e.message(), Catch::StartsWith("invalid quantity '5x': unknown suffix 'x'"));
  }
}

TEST_CASE("quantity errors quote the text on one bounded line", "[resources]") {
  REQUIRE_THROWS_WITH(parse_quantity("1\n2x"), Contains("invalid quantity '1\\n2x'"));
  try {
    (void)parse_quantity(std::string(100'000, '9') + "x");
    FAIL("expected ModelError");
  } catch (const ModelError& e) {
    CHECK(e.message().size() < 1000);
    CHECK_THAT(e.message(), Contains("(100001 bytes)") && Contains("unknown suffix 'x'"));
  }
  try {
    (void)parse_quantity("5" + std::string(100'000, 'q'));
    FAIL("expected ModelError");
  } catch (const ModelError& e) {
    CHECK(e.message().size() < 1000);
  }
  try {
    (void)check_quantity(-1e300);
    FAIL("expected ModelError");
  } catch (const ModelError& e) {
    CHECK(e.message() == "invalid quantity -1e+300: negative");
  }
}

TEST_CASE("check_quantity accepts non-negative finite numbers", "[resources]") {
  CHECK(check_quantity(0) == 0);
  CHECK(check_quantity(0.5) == 0.5);
  CHECK(check_quantity(1e30) == 1e30);
  CHECK_FALSE(std::signbit(check_quantity(-0.0)));
  REQUIRE_THROWS_AS(check_quantity(-1), ModelError);
  REQUIRE_THROWS_WITH(check_quantity(-1), Contains("-1") && Contains("negative"));
  REQUIRE_THROWS_WITH(check_quantity(std::numeric_limits<double>::quiet_NaN()),
                      Contains("not a number"));
  REQUIRE_THROWS_WITH(check_quantity(std::numeric_limits<double>::infinity()),
                      Contains("infinite"));
  REQUIRE_THROWS_WITH(check_quantity(-std::numeric_limits<double>::infinity()),
                      Contains("infinite"));
}

TEST_CASE("format_quantity renders compactly", "[resources]") {
  CHECK(format_quantity(0) == "0");
  CHECK(format_quantity(-0.0) == "0");
  CHECK(format_quantity(0.5) == "0.5");
  CHECK(format_quantity(0.001) == "0.001");
  CHECK(format_quantity(2) == "2");
  CHECK(format_quantity(1.5) == "1.5");
  CHECK(format_quantity(999) == "999");
  CHECK(format_quantity(1000) == "1k");
  CHECK(format_quantity(1024) == "1Ki");
  CHECK(format_quantity(1536) == "1536");
  CHECK(format_quantity(1536.5) == "1536.5");
  CHECK(format_quantity(3072) == "3Ki");
  CHECK(format_quantity(536870912) == "512Mi");
  CHECK(format_quantity(1073741824.0) == "1Gi");
  CHECK(format_quantity(1.5 * 1073741824.0) == "1536Mi");
  CHECK(format_quantity(std::ldexp(1.0, 60)) == "1Ei");
  CHECK(format_quantity(2e9) == "2G");  // also 1953125Ki, but longer
  CHECK(format_quantity(1.5e9) == "1500M");
  CHECK(format_quantity(1e18) == "1E");
  CHECK(format_quantity(2500) == "2500");
  CHECK(format_quantity(1e-10) == "0.0000000001");
  CHECK(format_quantity(-1) == "-1");
  CHECK(format_quantity(std::numeric_limits<double>::quiet_NaN()) == "nan");
  CHECK(format_quantity(std::numeric_limits<double>::infinity()) == "inf");
  CHECK(format_quantity(-std::numeric_limits<double>::infinity()) == "-inf");
}

TEST_CASE("format_quantity output parses back to the same value", "[resources]") {
  const double values[] = {0,
                           0.001,
                           0.1,
                           0.3,
                           1.0 / 3,
                           1,
                           2,
                           1000,
                           1024,
                           1e6,
                           2e9,
                           4e12,
                           536870912,
                           1536,
                           12345,
                           1e18,
                           1e21,
                           1e30,
                           1e300,
                           5e-324,
                           123.456,
                           0.1 + 0.2,
                           std::ldexp(1.0, 62),
                           std::ldexp(3.0, 70)};
  for (const double value : values) {
    INFO(value);
    CHECK(parse_quantity(format_quantity(value)) == value);
  }
  for (const char* text : {"500m", "512Mi", "2G", "1.5", "1.5Gi", "7Ti", "3E", "0.1k"}) {
    INFO(text);
    CHECK(parse_quantity(format_quantity(parse_quantity(text))) == parse_quantity(text));
  }
}

TEST_CASE("Resources defaults", "[resources]") {
  const Resources r;
  CHECK(r.cpu == 0.001);
  CHECK(r.gpu == 0);
  CHECK(r.memory == 0);
  CHECK(r.custom.empty());
  CHECK(r == Resources{});
  CHECK(patchbay::to_string(r) == "cpu=0.001 gpu=0 memory=0");
}

TEST_CASE("apply lays explicit overrides over the base", "[resources]") {
  Resources base;
  base.cpu = 2;
  base.gpu = 1;
  base.memory = 1024;
  base.custom = {{"fpga", 1}, {"tpu", 4}};

  SECTION("no overrides keep everything") {
    CHECK(apply(base, ResourceOverrides{}) == base);
  }

  SECTION("present fields replace, absent ones are kept") {
    ResourceOverrides o;
    o.cpu = 0.5;
    o.memory = 536870912;
    const Resources r = apply(base, o);
    CHECK(r.cpu == 0.5);
    CHECK(r.gpu == 1);
    CHECK(r.memory == 536870912);
    CHECK(r.custom == base.custom);
  }

  SECTION("an explicit zero replaces too") {
    ResourceOverrides o;
    o.gpu = 0.0;
    CHECK(apply(base, o).gpu == 0);
  }

  SECTION("custom resources merge by name") {
    ResourceOverrides o;
    o.custom = {{"tpu", 8}, {"custom_hardware", 2}};
    const Resources r = apply(base, o);
    CHECK(r.custom ==
          std::map<std::string, double>{{"custom_hardware", 2}, {"fpga", 1}, {"tpu", 8}});
    CHECK(r.cpu == 2);
  }

  SECTION("applied over defaults") {
    ResourceOverrides o;
    o.gpu = 1;
    const Resources r = apply(Resources{}, o);
    CHECK(r.cpu == 0.001);
    CHECK(r.gpu == 1);
  }
}

TEST_CASE("to_string lists resources with custom ones sorted", "[resources]") {
  Resources r;
  r.cpu = 0.5;
  r.gpu = 1;
  r.memory = 536870912;
  r.custom = {{"zeta", 1}, {"custom_hardware", 2}, {"alpha", 1.5}};
  CHECK(patchbay::to_string(r) == "cpu=0.5 gpu=1 memory=512Mi alpha=1.5 custom_hardware=2 zeta=1");
}
