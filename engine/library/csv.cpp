#include "library/csv.hpp"

#include <patchbay/error.hpp>

#include <algorithm>
#include <cctype>
#include <climits>
#include <cstring>
#include <ios>
#include <streambuf>
#include <utility>

#include "core/text.hpp"

namespace patchbay::csv {

namespace {
constexpr std::string_view kBom = "\xEF\xBB\xBF";
}  // namespace

Reader::Reader(std::istream& in, std::string name, std::size_t max_row_bytes)
    : in_(in),
      name_(std::move(name)),
      max_row_bytes_(max_row_bytes),
      buffer_(std::make_unique<char[]>(kCapacity)) {}

bool Reader::fill() {
  if (at_end_) return false;
  // Keep what is unread at the front of the buffer and read after it.
  if (pos_ > 0) {
    std::memmove(buffer_.get(), buffer_.get() + pos_, end_ - pos_);
    end_ -= pos_;
    offset_ += pos_;
    pos_ = 0;
  }
  std::streambuf* buf = in_.rdbuf();
  if (buf == nullptr) {
    at_end_ = true;
    return false;
  }
  using Traits = std::streambuf::traits_type;
  // Block for one character only, then take whatever else is available without blocking.
  const Traits::int_type c = buf->sbumpc();
  if (Traits::eq_int_type(c, Traits::eof())) {
    at_end_ = true;
    in_.setstate(std::ios_base::eofbit);
    return false;
  }
  buffer_[end_++] = Traits::to_char_type(c);
  const std::streamsize available = buf->in_avail();
  if (available > 0) {
    const auto wanted = std::min(static_cast<std::size_t>(available), kCapacity - end_);
    end_ += static_cast<std::size_t>(
        buf->sgetn(buffer_.get() + end_, static_cast<std::streamsize>(wanted)));
  }
  return true;
}

int Reader::peek() {
  if (pos_ == end_ && !fill()) return kEnd;
  return static_cast<unsigned char>(buffer_[pos_]);
}

void Reader::skip_bom() {
  while (end_ - pos_ < kBom.size() && fill()) {
  }
  if (std::string_view(buffer_.get() + pos_, end_ - pos_).starts_with(kBom)) pos_ += kBom.size();
}

void Reader::end_of_line() {
  if (peek() == '\r') {
    advance();
    if (peek() == '\n') advance();
  } else {
    advance();  // '\n'
  }
  ++line_;
}

void Reader::fail(const std::string& message) {
  failed_ = true;
  // SourceLocation counts lines in an int; a row beyond that says its line in the message.
  if (row_line_ <= INT_MAX)
    throw ModelError(message, SourceLocation{name_, static_cast<int>(row_line_)});
  throw ModelError("line " + std::to_string(row_line_) + ": " + message, SourceLocation{name_, 0});
}

void Reader::check_row(char stop, std::size_t index) {
  if (offset_ + pos_ - row_start_ > max_row_bytes_) {
    fail("row is longer than " + std::to_string(max_row_bytes_) + " bytes, the limit of a row");
  }
  if (stop == '\0') {
    fail("field " + std::to_string(index + 1) + " holds a NUL byte: this is not a CSV text file");
  }
}

void Reader::read_quoted(std::string& field, std::size_t index) {
  // pos_ is just past the opening quote.
  for (;;) {
    if (pos_ == end_ && !fill()) {
      fail("unterminated quoted field: field " + std::to_string(index + 1) +
           " opens a '\"' that is never closed");
    }
    const char* begin = buffer_.get() + pos_;
    const char* end = buffer_.get() + end_;
    const char* p = begin;
    while (p != end && *p != '"' && *p != '\n' && *p != '\r' && *p != '\0')
      ++p;
    field.append(begin, p);
    pos_ += static_cast<std::size_t>(p - begin);
    check_row(p == end ? ' ' : *p, index);
    if (p == end) continue;
    const char c = *p;
    advance();
    if (c == '"') {
      if (peek() != '"') return;  // closing quote
      advance();
      field.push_back('"');
    } else if (c == '\r') {
      field.push_back('\r');
      if (peek() == '\n') {
        advance();
        field.push_back('\n');
      }
      ++line_;
    } else {
      field.push_back('\n');
      ++line_;
    }
  }
}

void Reader::read_unquoted(std::string& field, std::size_t index) {
  for (;;) {
    if (pos_ == end_ && !fill()) return;
    const char* begin = buffer_.get() + pos_;
    const char* end = buffer_.get() + end_;
    const char* p = begin;
    while (p != end && *p != ',' && *p != '\n' && *p != '\r' && *p != '\0')
      ++p;
    field.append(begin, p);
    pos_ += static_cast<std::size_t>(p - begin);
    check_row(p == end ? ' ' : *p, index);
    if (p != end) return;
  }
}

bool Reader::next_row(std::vector<std::string>& fields) {
  if (failed_) {
    fields.clear();
    return false;
  }
  // Anything the stream buffer throws leaves a row half read: the Reader cannot go on.
  failed_ = true;
  if (!started_) {
    started_ = true;
    skip_bom();
  }
  // Skip blank lines.
  for (;;) {
    const int c = peek();
    if (c == kEnd) {
      fields.clear();
      failed_ = false;
      return false;
    }
    if (c != '\n' && c != '\r') break;
    end_of_line();
  }
  row_line_ = line_;
  row_start_ = offset_ + pos_;

  std::size_t count = 0;
  for (;;) {
    if (count == fields.size()) fields.emplace_back();
    std::string& field = fields[count];
    field.clear();
    if (peek() == '"') {
      advance();
      read_quoted(field, count);
    }
    read_unquoted(field, count);
    ++count;
    const int c = peek();
    if (c == ',') {
      advance();
      check_row(',', count);  // a row of nothing but separators is bounded too
      continue;
    }
    if (c == '\n' || c == '\r') end_of_line();
    break;
  }
  fields.resize(count);
  failed_ = false;
  return true;
}

void append_field(std::string& out, std::string_view field) {
  const bool needs_quotes = field.find_first_of(",\"\r\n") != std::string_view::npos ||
                            (!field.empty() && (field.front() == ' ' || field.front() == '\t' ||
                                                field.back() == ' ' || field.back() == '\t')) ||
                            field.starts_with(kBom);
  if (!needs_quotes) {
    out.append(field);
    return;
  }
  out.push_back('"');
  for (;;) {
    const std::size_t quote = field.find('"');
    out.append(field.substr(0, quote));
    if (quote == std::string_view::npos) break;
    out.append("\"\"");
    field.remove_prefix(quote + 1);
  }
  out.push_back('"');
}

void append_row(std::string& out, const std::vector<std::string>& fields) {
  if (fields.size() == 1 && fields.front().empty()) {
    out.append("\"\"\n");
    return;
  }
  bool first = true;
  for (const std::string& field : fields) {
    if (!first) out.push_back(',');
    first = false;
    append_field(out, field);
  }
  out.push_back('\n');
}

void write_field(std::ostream& out, std::string_view field) {
  std::string text;
  append_field(text, field);
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
}

void write_row(std::ostream& out, const std::vector<std::string>& fields) {
  std::string text;
  append_row(text, fields);
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
}

std::optional<FileFormat> format_of(std::string_view path, std::string& why) {
  const std::size_t slash = path.rfind('/');
  const std::string_view name = slash == std::string_view::npos ? path : path.substr(slash + 1);
  std::string lower(name);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  const auto ends_with = [&](std::string_view suffix) {
    return lower.size() > suffix.size() && lower.ends_with(suffix);
  };
  if (ends_with(".csv.gz")) return FileFormat::csv_gzip;
  if (ends_with(".csv")) return FileFormat::csv;
  const std::size_t dot = lower.find('.', 1);
  if (dot == std::string::npos) return FileFormat::csv;
  const std::string_view extension = name.substr(dot);
  why = "its extension " + detail::quote(extension) + " is not a format this build reads or writes";
  if (ends_with(".parquet")) why += " (Parquet needs a library it does not have)";
  why += ": use '.csv' (CSV) or '.csv.gz' (gzip-compressed CSV)";
  return std::nullopt;
}

}  // namespace patchbay::csv
