#include "library/csv.hpp"

#include <patchbay/error.hpp>

#include <catch2/catch.hpp>

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

Rows read_all_from(std::istream& in, std::vector<int>* lines = nullptr) {
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
Rows read_all(const std::string& text, std::vector<int>* lines = nullptr) {
  std::istringstream in(text);
  Rows rows = read_all_from(in, lines);
  TrickleBuf trickle(text);
  std::istream slow(&trickle);
  std::vector<int> slow_lines;
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
  std::vector<int> lines;
  CHECK(read_all("a,b\r\nc,d\r\n", &lines) == Rows{{"a", "b"}, {"c", "d"}});
  CHECK(lines == std::vector<int>{1, 2});
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
  std::vector<int> lines;
  CHECK(read_all("\na\n\n\r\nb\n\n", &lines) == Rows{{"a"}, {"b"}});
  CHECK(lines == std::vector<int>{2, 5});
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
  std::vector<int> lines;
  const Rows rows = read_all("h1,h2\n\"a\nb\nc\",d\ne,\"f\r\ng\"\r\nlast\n", &lines);
  CHECK(rows == Rows{{"h1", "h2"}, {"a\nb\nc", "d"}, {"e", "f\r\ng"}, {"last"}});
  CHECK(lines == std::vector<int>{1, 2, 5, 7});

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
