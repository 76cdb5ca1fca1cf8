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
#include <map>
#include <optional>
#include <span>
#include <string>
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
};

}  // namespace patchbay
