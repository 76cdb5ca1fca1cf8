// patchbay::Value (kinds, accessors, text, binary encoding) and the port type descriptors.
#include <patchbay/error.hpp>
#include <patchbay/internal/value_codec.hpp>
#include <patchbay/port.hpp>
#include <patchbay/value.hpp>

#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include <catch2/catch.hpp>

#include "core/port_access.hpp"

namespace {

using Catch::Contains;
using patchbay::Value;
using Kind = patchbay::Value::Kind;

struct Pod {
  std::int32_t a;
  float b;
};

template <class T>
const patchbay::detail::PortCodec& codec_of() {
  return patchbay::detail::PortAccess::codec(patchbay::port_type<T>());
}

// Encodes `v` into a buffer one byte larger than encoded_size() says, checking that encode()
// writes exactly that many bytes.
std::vector<std::byte> encode(const Value& v) {
  const std::size_t size = patchbay::detail::encoded_size(v);
  std::vector<std::byte> buffer(size + 1, std::byte{0xA5});
  patchbay::detail::encode_value(v, buffer.data());
  CHECK(buffer.back() == std::byte{0xA5});
  buffer.pop_back();
  return buffer;
}

Value round_trip(const Value& v) {
  const auto bytes = encode(v);
  return patchbay::detail::decode_value(bytes.data(), bytes.size());
}

std::vector<std::byte> bytes_of(std::initializer_list<int> values) {
  std::vector<std::byte> out;
  for (int v : values)
    out.push_back(static_cast<std::byte>(v));
  return out;
}

std::string decode_error(const std::vector<std::byte>& bytes) {
  try {
    (void)patchbay::detail::decode_value(bytes.data(), bytes.size());
  } catch (const patchbay::Error& e) {
    return e.what();
  }
  return "<no error>";
}

}  // namespace

// ---- Value ----

TEST_CASE("Value: each constructor gives its kind", "[values]") {
  CHECK(Value().kind() == Kind::null);
  CHECK(Value(nullptr).kind() == Kind::null);
  CHECK(Value(true).kind() == Kind::boolean);
  CHECK(Value(42).kind() == Kind::integer);
  CHECK(Value(std::int64_t{-5}).kind() == Kind::integer);
  CHECK(Value(std::uint8_t{7}).kind() == Kind::integer);
  CHECK(Value(2.5).kind() == Kind::real);
  CHECK(Value(1.5f).kind() == Kind::real);
  CHECK(Value("text").kind() == Kind::string);
  CHECK(Value(std::string("text")).kind() == Kind::string);
  CHECK(Value(std::string_view("text")).kind() == Kind::string);
  CHECK(Value(Value::List{1, "x"}).kind() == Kind::list);

  CHECK(Value().is_null());
  CHECK(Value(false).is_bool());
  CHECK(Value(1).is_int());
  CHECK_FALSE(Value(1).is_double());
  CHECK(Value(1.0).is_double());
  CHECK_FALSE(Value(1.0).is_int());
  CHECK(Value(1).is_number());
  CHECK(Value(1.0).is_number());
  CHECK_FALSE(Value(true).is_number());
  CHECK_FALSE(Value("1").is_number());
  CHECK(Value("").is_string());
  CHECK(Value(Value::List{}).is_list());
}

TEST_CASE("Value: kind names for messages", "[values]") {
  CHECK(patchbay::kind_name(Kind::null) == "null");
  CHECK(patchbay::kind_name(Kind::boolean) == "bool");
  CHECK(patchbay::kind_name(Kind::integer) == "int");
  CHECK(patchbay::kind_name(Kind::real) == "double");
  CHECK(patchbay::kind_name(Kind::string) == "string");
  CHECK(patchbay::kind_name(Kind::list) == "list");
}

TEST_CASE("Value: accessors return the value held; as_double converts an int", "[values]") {
  CHECK(Value(true).as_bool());
  CHECK_FALSE(Value(false).as_bool());
  CHECK(Value(std::numeric_limits<std::int64_t>::min()).as_int() ==
        std::numeric_limits<std::int64_t>::min());
  CHECK(Value(2.25).as_double() == 2.25);
  CHECK(Value(7).as_double() == 7.0);
  CHECK(Value(1.5f).as_double() == 1.5);
  CHECK(Value("hi").as_string() == "hi");
  const Value list = Value::List{1, "a", Value::List{}};
  REQUIRE(list.as_list().size() == 3);
  CHECK(list.as_list()[0] == Value(1));
  CHECK(list.as_list()[1] == Value("a"));
  CHECK(list.as_list()[2].as_list().empty());
}

TEST_CASE("Value: an accessor of the wrong kind throws naming both kinds", "[values]") {
  CHECK_THROWS_AS(Value("x").as_int(), patchbay::Error);
  CHECK_THROWS_WITH(Value("x").as_int(), "value is string, expected int");
  CHECK_THROWS_WITH(Value(1.5).as_int(), "value is double, expected int");
  CHECK_THROWS_WITH(Value(true).as_int(), "value is bool, expected int");
  CHECK_THROWS_WITH(Value().as_bool(), "value is null, expected bool");
  CHECK_THROWS_WITH(Value(1).as_bool(), "value is int, expected bool");
  CHECK_THROWS_WITH(Value(1).as_string(), "value is int, expected string");
  CHECK_THROWS_WITH(Value("1.5x").as_double(), "value is string, expected double");
  CHECK_THROWS_WITH(Value("1.5").as_int(), "value is string, expected int");
  CHECK_THROWS_WITH(Value(true).as_list(), "value is bool, expected list");
  CHECK_THROWS_WITH(Value(Value::List{}).as_string(), "value is list, expected string");
}

TEST_CASE("Value: the numeric accessors read the number a string spells", "[values]") {
  // A string stays a string (a CSV cell keeps its text); asking for a number parses it.
  const Value padded("007");
  CHECK(padded.is_string());
  CHECK(padded.as_int() == 7);
  CHECK(padded.as_double() == 7.0);
  CHECK(padded.to_string() == "007");
  CHECK(Value("1e3").as_double() == 1000.0);
  CHECK(Value("-0.5").as_double() == -0.5);
  CHECK(Value("+12").as_int() == 12);
  CHECK(Value("-9223372036854775808").as_int() == std::numeric_limits<std::int64_t>::min());
  CHECK_THROWS_WITH(Value("1e3").as_int(), "value is string, expected int");
  CHECK_THROWS_WITH(Value("9223372036854775808").as_int(), "value is string, expected int");
  for (const char* text : {"", " 1", "1 ", "inf", "nan", "0x1A", "+-1", "1,5", "+"}) {
    INFO(text);
    CHECK_THROWS_WITH(Value(text).as_double(), "value is string, expected double");
  }
}

TEST_CASE("Value: canonical_number takes only a number's exact spelling", "[values]") {
  using patchbay::detail::canonical_number;
  CHECK(canonical_number("7") == Value(7));
  CHECK(canonical_number("-3") == Value(-3));
  CHECK(canonical_number("2.5") == Value(2.5));
  CHECK(canonical_number("100000.0") == Value(100000.0));
  CHECK(canonical_number("1e+16") == Value(1e16));
  for (const char* text : {"007", "+7", "1e3", "2.50", "-0", "100000.00", "1e16", "x", ""}) {
    INFO(text);
    CHECK_FALSE(canonical_number(text).has_value());
  }
}

TEST_CASE("Value: equality compares kind and value", "[values]") {
  CHECK(Value(1) == Value(1));
  CHECK(Value(1) != Value(2));
  CHECK(Value(1) != Value(1.0));  // int and double are different kinds
  CHECK(Value() == Value(nullptr));
  CHECK(Value("a") != Value("b"));
  CHECK(Value(Value::List{1, "a"}) == Value(Value::List{1, "a"}));
  CHECK(Value(Value::List{1, "a"}) != Value(Value::List{1}));
}

TEST_CASE("Value: to_string", "[values]") {
  CHECK(Value().to_string().empty());
  CHECK(Value(true).to_string() == "true");
  CHECK(Value(false).to_string() == "false");
  CHECK(Value(42).to_string() == "42");
  CHECK(Value(-7).to_string() == "-7");
  CHECK(Value(std::numeric_limits<std::int64_t>::min()).to_string() == "-9223372036854775808");
  CHECK(Value("as is, \"quoted\"").to_string() == "as is, \"quoted\"");
  CHECK(Value("").to_string().empty());
}

TEST_CASE("Value: to_string of doubles is shortest round-trip and keeps a '.0'", "[values]") {
  CHECK(Value(2.0).to_string() == "2.0");
  CHECK(Value(0.0).to_string() == "0.0");
  CHECK(Value(-0.0).to_string() == "-0.0");
  CHECK(Value(100.0).to_string() == "100.0");
  CHECK(Value(-3.0).to_string() == "-3.0");
  CHECK(Value(0.5).to_string() == "0.5");
  CHECK(Value(0.1).to_string() == "0.1");
  CHECK(Value(1.0 / 3.0).to_string() == "0.3333333333333333");
  CHECK(Value(1e300).to_string() == "1e+300");
  // Positional, as Python's repr() writes a float, from 1e-4 up to 1e16; scientific beyond.
  CHECK(Value(100000.0).to_string() == "100000.0");
  CHECK(Value(1000.0).to_string() == "1000.0");
  CHECK(Value(123456789012345.0).to_string() == "123456789012345.0");
  CHECK(Value(1e15).to_string() == "1000000000000000.0");
  CHECK(Value(1e16).to_string() == "1e+16");
  CHECK(Value(0.0001).to_string() == "0.0001");
  CHECK(Value(0.00001).to_string() == "1e-05");
  CHECK(Value(-2.5e-5).to_string() == "-2.5e-05");
  CHECK(Value(2.5e-10).to_string() == "2.5e-10");
  CHECK(Value(std::numeric_limits<double>::infinity()).to_string() == "inf");
  CHECK(Value(-std::numeric_limits<double>::infinity()).to_string() == "-inf");
  CHECK(Value(std::numeric_limits<double>::quiet_NaN()).to_string() == "nan");
  // Round trip: the text parses back to the same double.
  for (double d : {0.1, 1.0 / 3.0, 123456.789, 1e-300, 1.7976931348623157e308, 100000.0,
                   9007199254740993.0, 0.0001, 1e15 + 0.5}) {
    INFO(d);
    CHECK(std::stod(Value(d).to_string()) == d);
  }
}

TEST_CASE("Value: to_string of lists", "[values]") {
  CHECK(Value(Value::List{}).to_string() == "[]");
  CHECK(Value(Value::List{1, 2.0, "x", true}).to_string() == "[1, 2.0, x, true]");
  CHECK(Value(Value::List{Value::List{1}, Value::List{}}).to_string() == "[[1], []]");
  CHECK(Value(Value::List{Value(), 1}).to_string() == "[, 1]");
}

// ---- binary encoding ----

TEST_CASE("Value encoding: sizes are exact", "[values]") {
  CHECK(patchbay::detail::encoded_size(Value()) == 1);
  CHECK(patchbay::detail::encoded_size(Value(true)) == 2);
  CHECK(patchbay::detail::encoded_size(Value(1)) == 9);
  CHECK(patchbay::detail::encoded_size(Value(1.5)) == 9);
  CHECK(patchbay::detail::encoded_size(Value("")) == 5);
  CHECK(patchbay::detail::encoded_size(Value("abc")) == 8);
  CHECK(patchbay::detail::encoded_size(Value(Value::List{})) == 5);
  CHECK(patchbay::detail::encoded_size(Value(Value::List{1, ""})) == 5 + 9 + 5);
  // encode() writes exactly encoded_size() bytes (checked by encode() above).
  CHECK(encode(Value(Value::List{1, "abc", Value::List{true}})).size() == 5 + 9 + 8 + 7);
}

TEST_CASE("Value encoding: decode(encode(v)) == v", "[values]") {
  Value deep = Value::List{};
  for (int i = 0; i < 100; ++i)
    deep = Value::List{i, deep};
  const std::vector<Value> values{
      Value(),
      Value(true),
      Value(false),
      Value(0),
      Value(-1),
      Value(std::numeric_limits<std::int64_t>::min()),
      Value(std::numeric_limits<std::int64_t>::max()),
      Value(0.0),
      Value(1e-300),
      Value(-2.5),
      Value(std::numeric_limits<double>::infinity()),
      Value(""),
      Value("hello"),
      Value(std::string("nul\0inside", 10)),
      Value(std::string(100000, 'q')),
      Value(Value::List{}),
      Value(Value::List{Value::List{}}),
      Value(Value::List{1, "", Value::List{Value::List{}, "", Value()}, 2.5, false}),
      deep,
  };
  for (const auto& v : values) {
    INFO(v.to_string().substr(0, 80));
    CHECK(round_trip(v) == v);
  }
  SECTION("special doubles keep their bits") {
    const Value negative_zero = round_trip(Value(-0.0));
    REQUIRE(negative_zero.is_double());
    CHECK(std::signbit(negative_zero.as_double()));
    const Value nan = round_trip(Value(std::numeric_limits<double>::quiet_NaN()));
    REQUIRE(nan.is_double());
    CHECK(std::isnan(nan.as_double()));
  }
}

TEST_CASE("Value encoding: malformed input throws patchbay::Error", "[values]") {
  CHECK_THROWS_AS(patchbay::detail::decode_value(nullptr, 0), patchbay::Error);
  CHECK_THAT(decode_error({}), Contains("malformed") && Contains("truncated"));
  CHECK_THAT(decode_error(bytes_of({9})), Contains("malformed") && Contains("unknown tag"));
  CHECK_THAT(decode_error(bytes_of({2, 1, 2, 3})), Contains("truncated"));  // int of 3 bytes
  CHECK_THAT(decode_error(bytes_of({1})), Contains("truncated"));           // bool without byte
  // a boolean is the byte 0 or 1, nothing else (found by the wire format's fuzzer)
  CHECK_THAT(decode_error(bytes_of({1, 0x7f})), Contains("malformed") && Contains("boolean"));
  CHECK(round_trip(Value(true)) == Value(true));
  // string announcing 10 bytes, holding 3
  CHECK_THAT(decode_error(bytes_of({4, 10, 0, 0, 0, 'a', 'b', 'c'})), Contains("truncated"));
  // list announcing 2 items, holding 1
  CHECK_THAT(decode_error(bytes_of({5, 2, 0, 0, 0, 0})), Contains("truncated"));
  // list announcing 4 billion items in 5 bytes: an error, not a huge allocation
  CHECK_THAT(decode_error(bytes_of({5, 0xFF, 0xFF, 0xFF, 0xFF})), Contains("truncated"));
  // a valid value followed by junk
  auto extra = encode(Value(1));
  extra.push_back(std::byte{0});
  CHECK_THAT(decode_error(extra), Contains("trailing bytes"));
  // a nested item with a bad tag
  CHECK_THAT(decode_error(bytes_of({5, 1, 0, 0, 0, 77})), Contains("unknown tag"));
}

TEST_CASE("Value: mappings hold nested values, read by key with clear errors", "[values]") {
  const Value config =
      Value::Map{{"scale", 2.0}, {"names", Value::List{"a", "b"}}, {"inner", Value::Map{{"n", 3}}}};
  CHECK(config.kind() == Kind::map);
  CHECK(config.is_map());
  CHECK(patchbay::kind_name(Kind::map) == "map");
  CHECK(config.at("scale").as_double() == 2.0);
  CHECK(config.at("names").at(1).as_string() == "b");
  CHECK(config.at("inner").at("n").as_int() == 3);
  CHECK(config.find("absent") == nullptr);
  REQUIRE(config.find("scale") != nullptr);
  try {
    (void)config.at("scael");
    FAIL("no error");
  } catch (const patchbay::Error& e) {
    CHECK_THAT(e.what(), Contains("'scael'") && Contains("inner, names, scale"));
  }
  CHECK_THROWS_WITH(config.at("names").at(5), Contains("index 5") && Contains("2 items"));
  CHECK_THROWS_WITH(Value(1).at("x"), Contains("int") && Contains("map"));
  CHECK_THROWS_WITH(Value(1).as_map(), Contains("expected map"));
  CHECK(config.to_string() == "{inner: {n: 3}, names: [a, b], scale: 2.0}");
  CHECK(Value(Value::Map{}).to_string() == "{}");
  CHECK(config ==
        Value(Value::Map{
            {"inner", Value::Map{{"n", 3}}}, {"names", Value::List{"a", "b"}}, {"scale", 2.0}}));
  CHECK_FALSE(config == Value(Value::Map{{"scale", 2.0}}));
}

TEST_CASE("Value encoding: mappings round-trip, nested in lists and lists in them", "[values]") {
  const Value v = Value::List{
      Value::Map{{"a", 1}, {"b", Value::List{Value::Map{{"c", "x"}}, nullptr}}},
      Value::Map{},
  };
  CHECK(round_trip(v) == v);
  CHECK(round_trip(Value::Map{{"", true}}) == Value(Value::Map{{"", true}}));
  // tag 6, one entry, key "k" (1 byte), value int 7
  const auto one = bytes_of({6, 1, 0, 0, 0, 1, 0, 0, 0, 'k', 2, 7, 0, 0, 0, 0, 0, 0, 0});
  CHECK(patchbay::detail::decode_value(one.data(), one.size()) == Value(Value::Map{{"k", 7}}));
  CHECK(encode(Value::Map{{"k", 7}}) == one);
  // keys out of order or repeated would decode to a map that encodes differently
  CHECK_THAT(decode_error(bytes_of({6, 2, 0, 0, 0, 1, 0, 0, 0, 'b', 0, 1, 0, 0, 0, 'a', 0})),
             Contains("out of order"));
  CHECK_THAT(decode_error(bytes_of({6, 2, 0, 0, 0, 1, 0, 0, 0, 'a', 0, 1, 0, 0, 0, 'a', 0})),
             Contains("out of order"));
  // a map announcing 2 entries, holding 1; a key longer than the bytes left
  CHECK_THAT(decode_error(bytes_of({6, 2, 0, 0, 0, 1, 0, 0, 0, 'a', 0})), Contains("truncated"));
  CHECK_THAT(decode_error(bytes_of({6, 1, 0, 0, 0, 9, 0, 0, 0, 'a'})), Contains("truncated"));
}

// ---- port types ----

TEST_CASE("port_type: names", "[values]") {
  using patchbay::port_type;
  CHECK(port_type<std::int64_t>().name == "int64");
  CHECK(port_type<std::int32_t>().name == "int32");
  CHECK(port_type<std::int16_t>().name == "int16");
  CHECK(port_type<std::int8_t>().name == "int8");
  CHECK(port_type<std::uint64_t>().name == "uint64");
  CHECK(port_type<std::uint32_t>().name == "uint32");
  CHECK(port_type<std::uint16_t>().name == "uint16");
  CHECK(port_type<std::uint8_t>().name == "uint8");
  CHECK(port_type<double>().name == "double");
  CHECK(port_type<float>().name == "float");
  CHECK(port_type<bool>().name == "bool");
  CHECK(port_type<std::string>().name == "string");
  CHECK(port_type<std::vector<std::byte>>().name == "bytes");
  CHECK(port_type<Value>().name == "Value");
  CHECK_THAT(port_type<Pod>().name, Contains("Pod"));

  CHECK(port_type<Value>().is_dynamic);
  CHECK_FALSE(port_type<std::int64_t>().is_dynamic);
  CHECK_FALSE(port_type<std::string>().is_dynamic);
  // One descriptor per type.
  CHECK(&port_type<std::int64_t>() == &port_type<std::int64_t>());
  CHECK(port_type<std::int64_t>().same_as(port_type<std::int64_t>()));
  CHECK_FALSE(port_type<std::int64_t>().same_as(port_type<std::int32_t>()));
}

TEST_CASE("port_type: can_feed rules", "[values]") {
  using patchbay::port_type;
  const auto& i64 = port_type<std::int64_t>();
  const auto& i32 = port_type<std::int32_t>();
  const auto& dbl = port_type<double>();
  const auto& str = port_type<std::string>();
  const auto& bytes = port_type<std::vector<std::byte>>();
  const auto& val = port_type<Value>();
  const auto& pod = port_type<Pod>();

  // Same type.
  CHECK(i64.can_feed(i64));
  CHECK(str.can_feed(str));
  CHECK(pod.can_feed(pod));
  CHECK(val.can_feed(val));
  CHECK(bytes.can_feed(bytes));
  // Typed -> Value, for types with a Value form.
  CHECK(i64.can_feed(val));
  CHECK(dbl.can_feed(val));
  CHECK(str.can_feed(val));
  CHECK_FALSE(pod.can_feed(val));
  CHECK_FALSE(bytes.can_feed(val));
  // Value -> typed (checked at run time), for types with a Value form.
  CHECK(val.can_feed(i64));
  CHECK(val.can_feed(dbl));
  CHECK(val.can_feed(str));
  CHECK_FALSE(val.can_feed(pod));
  CHECK_FALSE(val.can_feed(bytes));
  // Different typed ports never convert, not even between numbers.
  CHECK_FALSE(i64.can_feed(str));
  CHECK_FALSE(str.can_feed(i64));
  CHECK_FALSE(i64.can_feed(dbl));
  CHECK_FALSE(i64.can_feed(i32));
  CHECK_FALSE(i32.can_feed(i64));
}

TEST_CASE("port_type: run-time conversions from Value check kind and range", "[values]") {
  std::int64_t i64 = 0;
  CHECK(codec_of<std::int64_t>().assign_from_value(Value(-5), &i64));
  CHECK(i64 == -5);
  // A string that spells an integer (a CSV cell) reads as one; other text does not.
  CHECK(codec_of<std::int64_t>().assign_from_value(Value("007"), &i64));
  CHECK(i64 == 7);
  CHECK_FALSE(codec_of<std::int64_t>().assign_from_value(Value("5x"), &i64));
  CHECK_FALSE(codec_of<std::int64_t>().assign_from_value(Value("2.5"), &i64));
  CHECK_FALSE(codec_of<std::int64_t>().assign_from_value(Value(2.5), &i64));
  CHECK_FALSE(codec_of<std::int64_t>().assign_from_value(Value(true), &i64));

  std::uint8_t u8 = 0;
  CHECK(codec_of<std::uint8_t>().assign_from_value(Value(255), &u8));
  CHECK(u8 == 255);
  CHECK_FALSE(codec_of<std::uint8_t>().assign_from_value(Value(256), &u8));
  CHECK_FALSE(codec_of<std::uint8_t>().assign_from_value(Value(-1), &u8));
  std::int8_t i8 = 0;
  CHECK(codec_of<std::int8_t>().assign_from_value(Value(-128), &i8));
  CHECK_FALSE(codec_of<std::int8_t>().assign_from_value(Value(-129), &i8));

  double d = 0;
  CHECK(codec_of<double>().assign_from_value(Value(3), &d));
  CHECK(d == 3.0);
  CHECK(codec_of<double>().assign_from_value(Value(0.25), &d));
  CHECK(d == 0.25);
  CHECK(codec_of<double>().assign_from_value(Value("1e3"), &d));
  CHECK(d == 1000.0);
  CHECK_FALSE(codec_of<double>().assign_from_value(Value("0.25 "), &d));
  CHECK_FALSE(codec_of<double>().assign_from_value(Value("nan"), &d));

  bool b = false;
  CHECK(codec_of<bool>().assign_from_value(Value(true), &b));
  CHECK(b);
  CHECK_FALSE(codec_of<bool>().assign_from_value(Value(1), &b));

  std::string s;
  CHECK(codec_of<std::string>().assign_from_value(Value("x"), &s));
  CHECK(s == "x");
  CHECK_FALSE(codec_of<std::string>().assign_from_value(Value(1), &s));

  CHECK(codec_of<Pod>().assign_from_value == nullptr);
  CHECK(codec_of<Pod>().decode_value == nullptr);
}

TEST_CASE("port_type: codecs round-trip and typed records decode to Values", "[values]") {
  const auto& i64 = codec_of<std::int64_t>();
  const std::int64_t x = -123456789;
  std::array<std::byte, 8> buffer{};
  REQUIRE(i64.encoded_size(&x) == 8);
  i64.encode(&x, buffer.data());
  std::int64_t y = 0;
  i64.decode(buffer.data(), buffer.size(), &y);
  CHECK(y == x);
  CHECK(i64.decode_value(buffer.data(), buffer.size()) == Value(x));

  const auto& boolean = codec_of<bool>();
  const bool t = true;
  std::array<std::byte, 1> one{};
  boolean.encode(&t, one.data());
  CHECK(boolean.decode_value(one.data(), 1) == Value(true));

  const auto& f32 = codec_of<float>();
  const float f = 0.5f;
  std::array<std::byte, 4> four{};
  f32.encode(&f, four.data());
  CHECK(f32.decode_value(four.data(), 4) == Value(0.5));

  const auto& str = codec_of<std::string>();
  const std::string s("a\0b", 3);
  REQUIRE(str.encoded_size(&s) == 3);
  std::vector<std::byte> text(3);
  str.encode(&s, text.data());
  std::string back = "previous contents";
  str.decode(text.data(), text.size(), &back);
  CHECK(back == s);
  CHECK(str.decode_value(text.data(), text.size()) == Value(s));

  const std::string empty;
  CHECK(str.encoded_size(&empty) == 0);
  str.decode(nullptr, 0, &back);
  CHECK(back.empty());

  const auto& pod = codec_of<Pod>();
  const Pod p{7, 1.25f};
  std::array<std::byte, sizeof(Pod)> raw{};
  REQUIRE(pod.encoded_size(&p) == sizeof(Pod));
  pod.encode(&p, raw.data());
  Pod q{};
  pod.decode(raw.data(), raw.size(), &q);
  CHECK(q.a == 7);
  CHECK(q.b == 1.25f);

  const auto& val = codec_of<Value>();
  const Value v = Value::List{1, "two", Value::List{3.0}};
  std::vector<std::byte> encoded(val.encoded_size(&v));
  val.encode(&v, encoded.data());
  Value w;
  val.decode(encoded.data(), encoded.size(), &w);
  CHECK(w == v);
  CHECK(val.decode_value(encoded.data(), encoded.size()) == v);
}
