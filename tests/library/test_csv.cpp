#include "library/csv.hpp"

#include <patchbay/error.hpp>

#include <catch2/catch.hpp>

#include <cstdint>
#include <random>
#include <sstream>
#include <streambuf>
#include <string>
#include <vector>

namespace {

using Row = std::vector<std::string>;
using Rows = std::vector<Row>;

// A stream buffer that hands out one character at a time and reports nothing available
// ahead, so that the Reader refills at every character.
class TrickleBuf : public std::streambuf {
 public:
  explicit TrickleBuf(std::string text) : text_(std::move(text)) {}

 protected:
  int_type underflow() override {
    if (next_ == text_.size()) return traits_type::eof();
    current_ = text_[next_++];
    setg(&current_, &current_, &current_ + 1);
    return traits_type::to_int_type(current_);
  }
  std::streamsize showmanyc() override { return 0; }

 private:
  std::string text_;
  std::size_t next_ = 0;
  char current_ = 0;
};

// An endless input of one character repeated (a /dev/zero of any byte), handed out 4 KiB at a
// time; it counts what was read, to show that the Reader stops early.
class EndlessBuf : public std::streambuf {
 public:
  explicit EndlessBuf(char c) : block_(4096, c) {}
  std::size_t handed_out = 0;

 protected:
  int_type underflow() override {
    handed_out += block_.size();
    setg(block_.data(), block_.data(), block_.data() + block_.size());
    return traits_type::to_int_type(block_.front());
  }

 private:
  std::string block_;
};

// The ModelError that reading all of `text` with a row limit of `max_row_bytes` throws.
patchbay::ModelError read_error(const std::string& text, std::size_t max_row_bytes) {
  std::istringstream in(text);
  patchbay::csv::Reader reader(in, "'data.csv'", max_row_bytes);
  Row row;
  try {
    while (reader.next_row(row)) {
    }
  } catch (const patchbay::ModelError& e) {
    CHECK(reader.line() == e.where().line);
    CHECK_FALSE(reader.next_row(row));  // a failed Reader reads nothing more
    CHECK(row.empty());
    return e;
  }
  FAIL("no ModelError reading " << text.size() << " bytes");
  return patchbay::ModelError("");
}

Rows read_all_from(std::istream& in, std::vector<std::int64_t>* lines = nullptr) {
  patchbay::csv::Reader reader(in, "data.csv");
  Rows rows;
  Row row;
  while (reader.next_row(row)) {
    rows.push_back(row);
    if (lines != nullptr) lines->push_back(reader.line());
  }
  CHECK(row.empty());
  CHECK_FALSE(reader.next_row(row));
  return rows;
}

// Reads `text` both from a string stream and one character at a time; both must agree.
Rows read_all(const std::string& text, std::vector<std::int64_t>* lines = nullptr) {
  std::istringstream in(text);
  Rows rows = read_all_from(in, lines);
  TrickleBuf trickle(text);
  std::istream slow(&trickle);
  std::vector<std::int64_t> slow_lines;
  CHECK(read_all_from(slow, &slow_lines) == rows);
  if (lines != nullptr) CHECK(slow_lines == *lines);
  return rows;
}

std::string write_all(const Rows& rows) {
  std::ostringstream out;
  for (const Row& row : rows)
    patchbay::csv::write_row(out, row);
  return out.str();
}

std::string field_text(std::string_view field) {
  std::ostringstream out;
  patchbay::csv::write_field(out, field);
  return out.str();
}

}  // namespace

TEST_CASE("csv reads simple rows", "[csv]") {
  CHECK(read_all("a,b,c\n1,2,3\n") == Rows{{"a", "b", "c"}, {"1", "2", "3"}});
  CHECK(read_all("") == Rows{});
  CHECK(read_all("x") == Rows{{"x"}});
}

TEST_CASE("csv accepts CRLF, LF and CR line endings", "[csv]") {
  std::vector<std::int64_t> lines;
  CHECK(read_all("a,b\r\nc,d\r\n", &lines) == Rows{{"a", "b"}, {"c", "d"}});
  CHECK(lines == std::vector<std::int64_t>{1, 2});
  CHECK(read_all("a,b\rc,d\ne,f\r\n") == Rows{{"a", "b"}, {"c", "d"}, {"e", "f"}});
}

TEST_CASE("csv reads a last line without newline", "[csv]") {
  CHECK(read_all("a,b\nc,d") == Rows{{"a", "b"}, {"c", "d"}});
  CHECK(read_all("a,\"b\"") == Rows{{"a", "b"}});
  CHECK(read_all("a,") == Rows{{"a", ""}});
}

TEST_CASE("csv keeps empty fields", "[csv]") {
  CHECK(read_all(",\n,,\na,,b\n\"\"\n") == Rows{{"", ""}, {"", "", ""}, {"a", "", "b"}, {""}});
}

TEST_CASE("csv skips blank lines but counts them", "[csv]") {
  std::vector<std::int64_t> lines;
  CHECK(read_all("\na\n\n\r\nb\n\n", &lines) == Rows{{"a"}, {"b"}});
  CHECK(lines == std::vector<std::int64_t>{2, 5});
  CHECK(read_all("\n\n\n") == Rows{});
  CHECK(read_all("  \n") == Rows{{"  "}});
}

TEST_CASE("csv reads quoted fields", "[csv]") {
  CHECK(read_all("\"a,b\",\"say \"\"hi\"\"\",\"\"\"\"\n") == Rows{{"a,b", "say \"hi\"", "\""}});
  CHECK(read_all("\"line1\nline2\",x\n") == Rows{{"line1\nline2", "x"}});
  CHECK(read_all("\"line1\r\nline2\",x\r\n") == Rows{{"line1\r\nline2", "x"}});
  CHECK(read_all("\" padded \"") == Rows{{" padded "}});
}

TEST_CASE("csv tolerates stray quotes", "[csv]") {
  CHECK(read_all("a\"b,c\n") == Rows{{"a\"b", "c"}});
  CHECK(read_all("5\" pipe,x\"\n") == Rows{{"5\" pipe", "x\""}});
  CHECK(read_all("\"ab\"c,d\n") == Rows{{"abc", "d"}});
  CHECK(read_all("\"ab\" ,d\n") == Rows{{"ab ", "d"}});
}

TEST_CASE("csv line() follows rows that span lines", "[csv]") {
  std::vector<std::int64_t> lines;
  const Rows rows = read_all("h1,h2\n\"a\nb\nc\",d\ne,\"f\r\ng\"\r\nlast\n", &lines);
  CHECK(rows == Rows{{"h1", "h2"}, {"a\nb\nc", "d"}, {"e", "f\r\ng"}, {"last"}});
  CHECK(lines == std::vector<std::int64_t>{1, 2, 5, 7});

  std::istringstream in("x\n");
  patchbay::csv::Reader reader(in, "f.csv");
  CHECK(reader.line() == 0);
  CHECK(reader.name() == "f.csv");
}

TEST_CASE("csv skips a byte order mark at the start only", "[csv]") {
  CHECK(read_all("\xEF\xBB\xBF\"a\",b\n") == Rows{{"a", "b"}});
  CHECK(read_all("\xEF\xBB\xBF") == Rows{});
  CHECK(read_all("\xEF\xBB") == Rows{{"\xEF\xBB"}});
  CHECK(read_all("x\n\xEF\xBB\xBFy\n") == Rows{{"x"}, {"\xEF\xBB\xBFy"}});
}

TEST_CASE("csv reports an unterminated quoted field where its row began", "[csv]") {
  const std::string text = "a,b\nc,d\ne,\"never\nclosed\nat all\n";
  for (const bool trickle : {false, true}) {
    INFO("trickle " << trickle);
    std::istringstream fast(text);
    TrickleBuf buf(text);
    std::istream slow(&buf);
    std::istream& in = trickle ? static_cast<std::istream&>(slow) : fast;
    patchbay::csv::Reader reader(in, "data.csv");
    Row row;
    REQUIRE(reader.next_row(row));
    REQUIRE(reader.next_row(row));
    try {
      (void)reader.next_row(row);
      FAIL("expected ModelError");
    } catch (const patchbay::ModelError& e) {
      CHECK(e.where().file == "data.csv");
      CHECK(e.where().line == 3);
      CHECK_THAT(std::string(e.what()), Catch::StartsWith("data.csv:3: unterminated quoted field"));
      CHECK_THAT(e.message(), Catch::Contains("field 2"));
    }
    CHECK(reader.line() == 3);
    CHECK_FALSE(reader.next_row(row));
  }

  std::istringstream in("\"abc");
  patchbay::csv::Reader reader(in, "one.csv");
  Row row;
  REQUIRE_THROWS_WITH(reader.next_row(row), Catch::Contains("one.csv:1"));
}

TEST_CASE("csv bounds the length of a row, naming where it began", "[csv]") {
  CHECK(read_all("12345678,0\n") == Rows{{"12345678", "0"}});
  {
    std::istringstream in("h\n1234567890\n");
    patchbay::csv::Reader reader(in, "x", 10);  // exactly the limit passes
    Row row;
    CHECK(reader.next_row(row));
    CHECK(reader.next_row(row));
    CHECK(row == Row{"1234567890"});
    CHECK(reader.max_row_bytes() == 10);
  }
  const patchbay::ModelError unquoted = read_error("h\n12345678901\nnext\n", 10);
  CHECK(std::string(unquoted.what()) ==
        "'data.csv':2: row is longer than 10 bytes, the limit of a row");
  // Quoted fields, separators and lines inside quotes count; the row began on line 2.
  CHECK(read_error("h\n\"a\nb\nc\nd\ne\nf\"\n", 10).where().line == 2);
  CHECK(read_error("h\n,,,,,,,,,,,,,,,,,\n", 10).where().line == 2);
  CHECK(read_error("h\n\"\"\"\"\"\"\"\"\"\"\"\"\n", 10).where().line == 2);
  // The message says what the limit is and where, never what the row holds.
  CHECK_THAT(std::string(read_error("h\nsecret-secret-secret\n", 10).what()),
             !Catch::Contains("secret"));

  // The default limit ends an endless row after about 1 MiB, not at the end of memory.
  for (const char c : {'a', ','}) {
    EndlessBuf endless(c);
    std::istream in(&endless);
    patchbay::csv::Reader reader(in, "'endless'");
    Row row;
    REQUIRE_THROWS_WITH(reader.next_row(row),
                        "'endless':1: row is longer than 1048576 bytes, the limit of a row");
    CHECK(endless.handed_out < patchbay::csv::Reader::default_max_row_bytes + 256 * 1024);
    CHECK_FALSE(reader.next_row(row));
  }
}

TEST_CASE("csv rejects a NUL byte, naming the line and field", "[csv]") {
  using namespace std::string_literals;
  const patchbay::ModelError unquoted = read_error("a,b\n1,x\0y\n"s, 100);
  CHECK(std::string(unquoted.what()) ==
        "'data.csv':2: field 2 holds a NUL byte: this is not a CSV text file");
  CHECK(read_error("a,b\n1,\"x\ny\0\"\n"s, 100).where().line == 2);
  CHECK(read_error("\0"s, 100).where().line == 1);

  // /dev/zero ends at its first byte.
  EndlessBuf zeros('\0');
  std::istream in(&zeros);
  patchbay::csv::Reader reader(in, "'/dev/zero'");
  Row row;
  REQUIRE_THROWS_WITH(reader.next_row(row), Catch::Contains("'/dev/zero':1: field 1 holds a NUL"));
  CHECK(zeros.handed_out <= 64 * 1024);
}

TEST_CASE("csv errors do not quote the input", "[csv]") {
  const patchbay::ModelError e = read_error("a,b\nc,\"password-hash\nmore", 100);
  CHECK_THAT(std::string(e.what()), Catch::StartsWith("'data.csv':2: unterminated quoted field"));
  CHECK_THAT(std::string(e.what()), !Catch::Contains("password") && !Catch::Contains("more"));
}

TEST_CASE("csv appends rows to a string as it writes them to a stream", "[csv]") {
  const Row row = {"a", "b,c", "", " d"};
  std::string text = "start:";
  patchbay::csv::append_row(text, row);
  CHECK(text == "start:" + write_all({row}));
  std::string field;
  patchbay::csv::append_field(field, "say \"hi\"");
  CHECK(field == field_text("say \"hi\""));
}

TEST_CASE("csv writes fields quoted only when needed", "[csv]") {
  CHECK(field_text("plain") == "plain");
  CHECK(field_text("") == "");
  CHECK(field_text("in side") == "in side");
  CHECK(field_text("a,b") == "\"a,b\"");
  CHECK(field_text("say \"hi\"") == "\"say \"\"hi\"\"\"");
  CHECK(field_text("\"") == "\"\"\"\"");
  CHECK(field_text("a\nb") == "\"a\nb\"");
  CHECK(field_text("a\rb") == "\"a\rb\"");
  CHECK(field_text(" lead") == "\" lead\"");
  CHECK(field_text("trail ") == "\"trail \"");
  CHECK(field_text("\ttab") == "\"\ttab\"");
  CHECK(field_text("\xEF\xBB\xBFx") == "\"\xEF\xBB\xBFx\"");
  CHECK(field_text("h\xC3\xA9llo") == "h\xC3\xA9llo");
}

TEST_CASE("csv writes rows terminated by LF", "[csv]") {
  CHECK(write_all({{"a", "b"}, {"c"}}) == "a,b\nc\n");
  CHECK(write_all({{""}}) == "\"\"\n");
  CHECK(write_all({{"", ""}}) == ",\n");
  CHECK(write_all({{}}) == "\n");
}

TEST_CASE("csv round trips tricky fields", "[csv]") {
  const Rows rows = {
      {"plain", "with,comma", "with \"quotes\"", "\"", "\"\""},
      {"multi\nline", "crlf\r\ninside", "cr\ronly", "trailing\n"},
      {"", "", ""},
      {""},
      {" leading", "trailing ", "  ", "\t"},
      {"unicode \xC3\xA9\xE2\x82\xAC \xF0\x9F\x98\x80", "\xE6\x97\xA5\xE6\x9C\xAC"},
      {"\xEF\xBB\xBF"
       "bom",
       "a\"b", ",", "\n"},
      {"last"},
  };
  CHECK(read_all(write_all(rows)) == rows);
  // A byte order mark in the very first field survives too.
  const Rows first_bom = {{"\xEF\xBB\xBFx", "y"}};
  CHECK(read_all(write_all(first_bom)) == first_bom);
}

TEST_CASE("csv round trips many random rows", "[csv]") {
  std::mt19937 random(12345);
  const std::string alphabet = "ab ,\"\r\n\xC3\xA9x1";
  Rows rows;
  for (int i = 0; i < 5000; ++i) {
    Row row(1 + random() % 6);
    for (std::string& field : row) {
      const std::size_t length = random() % 12;
      for (std::size_t k = 0; k < length; ++k)
        field += alphabet[random() % alphabet.size()];
    }
    rows.push_back(std::move(row));
  }
  const std::string text = write_all(rows);
  REQUIRE(text.size() > std::size_t{64} * 1024);  // crosses the reader's buffer size
  CHECK(read_all(text) == rows);
}

TEST_CASE("csv reads many rows reusing the row vector", "[csv]") {
  std::string text;
  for (int i = 0; i < 100000; ++i)
    text += std::to_string(i) + ",x" + std::to_string(i % 7) + "\n";
  std::istringstream in(text);
  patchbay::csv::Reader reader(in, "big.csv");
  Row row;
  int count = 0;
  while (reader.next_row(row)) {
    REQUIRE(row.size() == 2);
    REQUIRE(row[0] == std::to_string(count));
    ++count;
    REQUIRE(reader.line() == count);
  }
  CHECK(count == 100000);
  CHECK(in.eof());
}
