// How values cross process boundaries as task arguments and results: trivially copyable types
// as their bytes, everything else through MessagePack (msgpack-cxx) with the library's own
// adaptors (std::string, containers, std::optional, tuples, and classes with MSGPACK_DEFINE).
// A type that is neither is a compile-time error naming it (patchbay::Codec<T>).
#pragma once

#include <msgpack.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include <patchbay/error.hpp>

namespace patchbay {

/// Specialise to true for a type that msgpack-cxx can pack and convert through an adaptor of
/// your own (msgpack::adaptor::pack / convert specialisations) when patchbay cannot see it.
template <class T>
inline constexpr bool msgpack_serializable = false;

namespace detail {

template <class T>
struct is_msgpack_container : std::false_type {};
template <class T, class A>
struct is_msgpack_container<std::vector<T, A>> : std::true_type {};
template <class K, class V, class C, class A>
struct is_msgpack_container<std::map<K, V, C, A>> : std::true_type {};
template <class K, class V, class H, class E, class A>
struct is_msgpack_container<std::unordered_map<K, V, H, E, A>> : std::true_type {};
template <class T>
struct is_msgpack_container<std::optional<T>> : std::true_type {};
template <class A, class B>
struct is_msgpack_container<std::pair<A, B>> : std::true_type {};
template <class... T>
struct is_msgpack_container<std::tuple<T...>> : std::true_type {};
template <class T, std::size_t N>
struct is_msgpack_container<std::array<T, N>> : std::true_type {};

template <class T>
concept HasMsgpackDefine = requires(const T& v, msgpack::packer<msgpack::sbuffer>& p) {
  v.msgpack_pack(p);
};

/// Raw bytes: trivially copyable, and nothing that points into one process's memory.
template <class T>
concept CopiedAsBytes = std::is_trivially_copyable_v<T> && !std::is_pointer_v<T> &&
                        !std::is_member_pointer_v<T> && !std::is_reference_v<T>;

}  // namespace detail

template <class T>
struct is_flat_vector : std::false_type {};
template <class E, class A>
struct is_flat_vector<std::vector<E, A>>
    : std::bool_constant<detail::CopiedAsBytes<E> && !std::is_same_v<E, bool>> {};

/// A vector of trivially copyable elements: laid out flat (a count, then the elements, 8-byte
/// aligned), so that it can be read in place as a std::span.
template <class T>
concept FlatVector = is_flat_vector<T>::value;

/// A value that can be read in place: a FlatVector (as a std::span of its elements), or a
/// std::string (as a std::string_view of its characters).
template <class T>
concept Viewable = FlatVector<T> || std::is_same_v<T, std::string>;

/// A type a task may take or return.
template <class T>
concept Serializable = detail::CopiedAsBytes<T> || std::is_same_v<T, std::string> ||
    detail::is_msgpack_container<T>::value || detail::HasMsgpackDefine<T> ||
    msgpack_serializable<T>;

/// Bytes being written: a growable buffer that msgpack can write into.
class ByteWriter {
 public:
  void write(const char* data, std::size_t size) {  // msgpack's buffer interface
    if (size == 0) return;
    const std::size_t at = bytes_.size();
    bytes_.resize(at + size);
    std::memcpy(bytes_.data() + at, data, size);
  }
  void append(const void* data, std::size_t size) { write(static_cast<const char*>(data), size); }
  template <class T>
  void append_value(const T& value) {
    append(&value, sizeof value);
  }
  /// Pads with zero bytes to a multiple of `alignment` (from the first byte written).
  void align(std::size_t alignment) {
    static constexpr std::byte zeros[16]{};
    const std::size_t pad = (alignment - bytes_.size() % alignment) % alignment;
    write(reinterpret_cast<const char*>(zeros), pad);
  }
  /// Overwrites `size` bytes at `offset`, which were written before.
  void patch(std::size_t offset, const void* data, std::size_t size) {
    std::memcpy(bytes_.data() + offset, data, size);
  }
  void clear() noexcept { bytes_.clear(); }
  [[nodiscard]] std::span<const std::byte> bytes() const noexcept { return bytes_; }
  [[nodiscard]] std::size_t size() const noexcept { return bytes_.size(); }

 private:
  std::vector<std::byte> bytes_;
};

/// Bytes being read, with bounds checks: a short or malformed input throws Error.
class ByteReader {
 public:
  explicit ByteReader(std::span<const std::byte> bytes) : bytes_(bytes) {}
  [[nodiscard]] std::span<const std::byte> take(std::size_t size) {
    if (size > bytes_.size() - pos_) throw Error("patchbay: a serialized value is truncated");
    const auto out = bytes_.subspan(pos_, size);
    pos_ += size;
    return out;
  }
  template <class T>
  [[nodiscard]] T take_value() {
    T value;
    std::memcpy(&value, take(sizeof(T)).data(), sizeof(T));
    return value;
  }
  /// Skips the padding ByteWriter::align() wrote.
  void align(std::size_t alignment) { (void)take((alignment - pos_ % alignment) % alignment); }
  [[nodiscard]] bool at_end() const noexcept { return pos_ == bytes_.size(); }

 private:
  std::span<const std::byte> bytes_;
  std::size_t pos_ = 0;
};

/// Encodes and decodes one T. Trivially copyable types are their bytes; the others are a 32-bit
/// length and their MessagePack form.
template <class T>
struct Codec {
  static_assert(Serializable<T>,
                "patchbay::Codec<T>: T cannot be serialized: it is not trivially copyable, not a "
                "std::string or standard container of serializable types, and has no "
                "MSGPACK_DEFINE (or specialise patchbay::msgpack_serializable<T>)");

  static void encode(const T& value, ByteWriter& out) {
    if constexpr (detail::CopiedAsBytes<T>) {
      out.append_value(value);
    } else if constexpr (FlatVector<T>) {
      encode_flat(std::span(value.data(), value.size()), out);
    } else {
      const std::size_t start = out.size();
      out.append_value(std::uint32_t{0});
      msgpack::pack(out, value);
      const auto length = static_cast<std::uint32_t>(out.size() - start - sizeof(std::uint32_t));
      out.patch(start, &length, sizeof length);
    }
  }

  [[nodiscard]] static T decode(ByteReader& in) {
    if constexpr (detail::CopiedAsBytes<T>) {
      return in.take_value<T>();
    } else if constexpr (FlatVector<T>) {
      const auto elements = view(in);
      return T(elements.begin(), elements.end());
    } else {
      const auto length = in.take_value<std::uint32_t>();
      const auto bytes = in.take(length);
      try {
        const msgpack::object_handle handle =
            msgpack::unpack(reinterpret_cast<const char*>(bytes.data()), bytes.size());
        return handle.get().as<T>();
      } catch (const msgpack::type_error&) {
        throw Error("patchbay: a serialized value does not hold the type expected");
      } catch (const msgpack::unpack_error& e) {
        throw Error(std::string("patchbay: a serialized value is malformed: ") + e.what());
      }
    }
  }

  /// FlatVector only: the elements of `elements` in T's layout.
  template <class E>
  static void encode_flat(std::span<const E> elements, ByteWriter& out) {
    out.align(8);
    out.append_value(static_cast<std::uint64_t>(elements.size()));
    out.append(elements.data(), elements.size_bytes());
  }

  /// std::string only: encodes `text` as Codec<std::string>::encode() would its copy.
  static void encode_view(std::string_view text, ByteWriter& out) {
    static_assert(std::is_same_v<T, std::string>);
    const std::size_t start = out.size();
    out.append_value(std::uint32_t{0});
    msgpack::pack(out, text);
    const auto length = static_cast<std::uint32_t>(out.size() - start - sizeof(std::uint32_t));
    out.patch(start, &length, sizeof length);
  }

  /// Viewable only: the value where it lies, valid while the bytes are: a FlatVector's
  /// elements as a std::span (the bytes must start 8-byte aligned, as the runtime's buffers
  /// do), a std::string's characters as a std::string_view.
  [[nodiscard]] static auto view(ByteReader& in) {
    static_assert(Viewable<T>,
                  "Codec<T>::view: T is neither a vector of trivially copyable "
                  "types nor a std::string");
    if constexpr (std::is_same_v<T, std::string>) {
      return view_string(in);
    } else {
      return view_flat(in);
    }
  }

 private:
  // MessagePack's str: its header (fixstr, str 8, str 16, str 32; big-endian lengths), then the
  // characters.
  [[nodiscard]] static std::string_view view_string(ByteReader& in) {
    const auto length = in.take_value<std::uint32_t>();
    const auto bytes = in.take(length);
    const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
    auto big_endian = [&](std::size_t from, std::size_t count) {
      std::size_t n = 0;
      for (std::size_t i = 0; i < count; ++i)
        n = (n << 8) | p[from + i];
      return n;
    };
    std::size_t header = 0;
    std::size_t size = 0;
    if (length >= 1 && (p[0] & 0xe0) == 0xa0) {
      header = 1;
      size = p[0] & 0x1f;
    } else if (length >= 2 && p[0] == 0xd9) {
      header = 2;
      size = p[1];
    } else if (length >= 3 && p[0] == 0xda) {
      header = 3;
      size = big_endian(1, 2);
    } else if (length >= 5 && p[0] == 0xdb) {
      header = 5;
      size = big_endian(1, 4);
    } else {
      throw Error("patchbay: a serialized value does not hold the type expected");
    }
    if (header + size != length) throw Error("patchbay: a serialized string is malformed");
    return {reinterpret_cast<const char*>(p + header), size};
  }

  [[nodiscard]] static auto view_flat(ByteReader& in) {
    using E = typename T::value_type;
    in.align(8);
    const auto count = in.take_value<std::uint64_t>();
    if (count > std::numeric_limits<std::size_t>::max() / sizeof(E))
      throw Error("patchbay: a serialized vector is malformed");
    const auto bytes = in.take(static_cast<std::size_t>(count) * sizeof(E));
    if (reinterpret_cast<std::uintptr_t>(bytes.data()) % alignof(E) != 0)
      throw Error("patchbay: a serialized vector is not aligned for its elements");
    return std::span<const E>(reinterpret_cast<const E*>(bytes.data()),
                              static_cast<std::size_t>(count));
  }
};

}  // namespace patchbay
