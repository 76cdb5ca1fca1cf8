#include "library/gzip.hpp"

#include <patchbay/error.hpp>

#include <utility>

#include "core/text.hpp"

namespace patchbay::library::gzip {

namespace {

// zlib's window bits for a gzip header and trailer (rather than zlib's own format).
constexpr int kGzipWindow = 15 + 16;

std::string zlib_message(const z_stream& stream, int code) {
  if (stream.msg != nullptr) return stream.msg;
  return "zlib error " + std::to_string(code);
}

}  // namespace

Deflater::Deflater() {
  const int code =
      deflateInit2(&stream_, Z_DEFAULT_COMPRESSION, Z_DEFLATED, kGzipWindow, 8, Z_DEFAULT_STRATEGY);
  if (code != Z_OK) throw Error("cannot start gzip compression: " + zlib_message(stream_, code));
}

Deflater::~Deflater() {
  deflateEnd(&stream_);
}

void Deflater::compress(std::string_view in, std::string& out, bool finish) {
  if (finished_) throw Error("gzip: data after the end of the stream");
  // zlib does not write through next_in; its API is older than const.
  stream_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  stream_.avail_in = static_cast<uInt>(in.size());
  const int flush = finish ? Z_FINISH : Z_NO_FLUSH;
  int code = Z_OK;
  do {
    const std::size_t at = out.size();
    const std::size_t room = deflateBound(&stream_, stream_.avail_in) + 64;
    out.resize(at + room);
    stream_.next_out = reinterpret_cast<Bytef*>(out.data() + at);
    stream_.avail_out = static_cast<uInt>(room);
    code = deflate(&stream_, flush);
    out.resize(at + room - stream_.avail_out);
    if (code == Z_STREAM_ERROR)
      throw Error("gzip compression failed: " + zlib_message(stream_, code));
  } while (stream_.avail_in != 0 || (finish && code != Z_STREAM_END));
  finished_ = finish;
}

Inflater::Inflater(std::string name) : name_(std::move(name)) {
  const int code = inflateInit2(&stream_, kGzipWindow);
  if (code != Z_OK) throw Error("cannot start gzip decompression: " + zlib_message(stream_, code));
}

Inflater::~Inflater() {
  inflateEnd(&stream_);
}

void Inflater::feed(const unsigned char* data, std::size_t size) {
  stream_.next_in = const_cast<Bytef*>(data);
  stream_.avail_in = static_cast<uInt>(size);
  if (size != 0 && member_ended_) {
    // A new member starts (the first, or one after another: `cat a.gz b.gz` is valid gzip).
    if (stream_.total_in != 0) inflateReset(&stream_);
    member_ended_ = false;
  }
}

std::size_t Inflater::inflate(char* out, std::size_t capacity) {
  while (stream_.avail_in != 0) {
    if (member_ended_) {
      inflateReset(&stream_);
      member_ended_ = false;
    }
    stream_.next_out = reinterpret_cast<Bytef*>(out);
    stream_.avail_out = static_cast<uInt>(capacity);
    const int code = ::inflate(&stream_, Z_NO_FLUSH);
    if (code != Z_OK && code != Z_STREAM_END && code != Z_BUF_ERROR) {
      throw Error(detail::quote(name_) + " is not valid gzip: " + zlib_message(stream_, code));
    }
    if (code == Z_STREAM_END) member_ended_ = true;
    const std::size_t produced = capacity - stream_.avail_out;
    if (produced != 0) return produced;
  }
  return 0;
}

}  // namespace patchbay::library::gzip
