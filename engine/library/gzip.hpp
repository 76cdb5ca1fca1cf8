// gzip streams for FileReader and FileWriter (a path ending in .csv.gz), through zlib.
#pragma once

#include <zlib.h>

#include <cstddef>
#include <string>
#include <string_view>

namespace patchbay::library::gzip {

/// Compresses a stream into gzip format, piece by piece.
class Deflater {
 public:
  Deflater();
  ~Deflater();
  Deflater(const Deflater&) = delete;
  Deflater& operator=(const Deflater&) = delete;

  /// Appends to `out` what compressing `in` gives so far; with `finish`, ends the stream (its
  /// trailer included): nothing may follow. Throws Error on a zlib failure.
  void compress(std::string_view in, std::string& out, bool finish);

 private:
  z_stream stream_{};
  bool finished_ = false;
};

/// Decompresses a gzip stream (one or more members one after the other), piece by piece.
class Inflater {
 public:
  /// `name`: the file, for errors.
  explicit Inflater(std::string name);
  ~Inflater();
  Inflater(const Inflater&) = delete;
  Inflater& operator=(const Inflater&) = delete;

  /// Gives the next compressed bytes (after the previous ones are used up: see needs_input()).
  void feed(const unsigned char* data, std::size_t size);
  /// Whether every byte fed has been used.
  [[nodiscard]] bool needs_input() const { return stream_.avail_in == 0; }
  /// Decompresses into `out` (at most `capacity` bytes); the bytes written, 0 when it needs
  /// input. Throws Error naming the file when the data is not gzip.
  std::size_t inflate(char* out, std::size_t capacity);
  /// Whether the input so far ended a member exactly: at the end of the file, anything else is
  /// a truncated stream.
  [[nodiscard]] bool at_member_end() const { return member_ended_; }

 private:
  z_stream stream_{};
  std::string name_;
  bool member_ended_ = true;  // nothing fed yet: an empty file is an empty stream
};

}  // namespace patchbay::library::gzip
