// libFuzzer target: the CSV reader (engine/library/csv.hpp). The input is read twice, at once
// from a std::istringstream and a few bytes at a time (the reader refills its buffer at every
// boundary); both reads must give the same rows, or the same ModelError. Rows read in full are
// written with write_row and must read back unchanged.
#include <patchbay/error.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <istream>
#include <optional>
#include <sstream>
#include <streambuf>
#include <string>
#include <string_view>
#include <vector>

#include "check.hpp"
#include "library/csv.hpp"

namespace {

using Rows = std::vector<std::vector<std::string>>;

// Hands out its text at most `chunk` bytes per underflow, like a pipe.
class Trickle final : public std::streambuf {
 public:
  Trickle(std::string_view text, std::size_t chunk) : text_(text), chunk_(chunk) {}

 protected:
  int_type underflow() override {
    if (offset_ == text_.size()) return traits_type::eof();
    const std::size_t n = std::min(chunk_, text_.size() - offset_);
    char* begin = text_.data() + offset_;
    setg(begin, begin, begin + n);
    offset_ += n;
    return traits_type::to_int_type(*begin);
  }

 private:
  std::string text_;
  std::size_t chunk_;
  std::size_t offset_ = 0;
};

struct Outcome {
  Rows rows;
  std::optional<std::string> error;  // the ModelError's message, if the read ended in one

  bool operator==(const Outcome&) const = default;
};

Outcome read_all(std::istream& in) {
  Outcome out;
  patchbay::csv::Reader reader(in, "fuzz.csv");
  std::vector<std::string> fields;
  try {
    while (reader.next_row(fields))
      out.rows.push_back(fields);
  } catch (const patchbay::ModelError& e) {
    out.error = e.what();
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using patchbay::fuzz::require;
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  std::istringstream whole{std::string(text)};
  const Outcome at_once = read_all(whole);

  Trickle trickle(text, 1 + size % 5);
  std::istream trickled(&trickle);
  require(read_all(trickled) == at_once, "reading in small pieces gives other rows");

  if (at_once.error) return 0;
  std::ostringstream written;
  for (const auto& row : at_once.rows)
    patchbay::csv::write_row(written, row);
  std::istringstream again(written.str());
  require(read_all(again) == at_once, "rows written with write_row read back differently");
  return 0;
}
