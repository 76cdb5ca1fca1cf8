// Ports that move a buffer without copying it: the step writes its message in place in the
// channel (BufferOutput) and reads the message in place where it arrived (BufferInput).
//
// A buffer is a byte buffer (T = std::byte) or an array of a trivially copyable element type.
// On a connector a buffer port is the same type as Input/Output<std::vector<T>>, so either end
// may copy instead (docs/ARCHITECTURE.md, "Buffers in place").
#pragma once

#include <patchbay/port.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace patchbay {

template <class T>
concept buffer_element = std::is_trivially_copyable_v<T> && !std::is_const_v<T> &&
                         !std::is_volatile_v<T> && alignof(T) <= 8;

namespace detail {

/// What a loan reaches when its component runs in a process: the runner that owns the port's
/// channels. Set by the engine; without it a loan is memory of the port's own.
struct LoanHooks {
  void* runner = nullptr;
  /// Room for `bytes` in place; where the runner cannot give a channel's memory (no connector,
  /// or the reader has gone) it returns the port's scratch buffer.
  std::span<std::byte> (*loan)(void* runner, Port& port, std::size_t bytes) = nullptr;
  /// Sends the first `bytes` of the open loan.
  void (*commit)(void* runner, Port& port, std::size_t bytes) = nullptr;
};

/// A BufferOutput's state, which the engine reads and writes through the port's storage.
struct OutBuffer {
  enum class State : std::uint8_t {
    none,  ///< nothing loaned this step: the step sends an empty buffer
    open,  ///< loaned: sent (all of it) when the step returns, unless committed first
    sent,  ///< committed: this step's message is on its way
  };
  std::byte* data = nullptr;  ///< the open loan
  std::size_t bytes = 0;      ///< its size
  State state = State::none;
  bool in_channel = false;  ///< the loan is in the first channel's memory, not in `scratch`
  std::vector<std::byte> scratch;
  LoanHooks hooks;
};

/// A BufferInput's message: in place in its channel, or in `owned` where it had to be copied.
struct InView {
  const std::byte* data = nullptr;
  std::size_t bytes = 0;
  std::vector<std::byte> owned;
};

/// The codecs of buffer ports, for the engine's paths that copy (a fan-out's other channels, a
/// message taken by value): an OutBuffer encodes its open loan, an InView decodes into `owned`.
PortCodec out_buffer_codec();
PortCodec in_view_codec();

/// The port type of a buffer port: that of std::vector<T> (so connectors accept either form),
/// with a codec that reads the buffer's state instead of a vector.
template <buffer_element T>
const PortType& buffer_port_type(Port::Direction direction);

[[noreturn]] void buffer_misuse(const Port& port, const char* what);

}  // namespace detail

/// An output field whose message the step writes in place in the channel: loan(n) gives room
/// for n elements there (waiting for room if the channel is full), the step fills it, and the
/// message is sent when the step returns, or at once by commit(). A step that loans nothing
/// sends an empty buffer. A second loan() in the same step replaces the first (its contents are
/// not kept); after commit() the step's message is sent, and loan() throws std::logic_error.
/// With several connectors the loan lies in the first one's channel and is copied into the
/// others; with none, or once the reader has gone, the loan is memory of the port's own and the
/// message goes nowhere. A loan larger than the channel can ever hold fails the step with an
/// Error that names the connector and both sizes. Not thread-safe: use it from step() only.
///
///     patchbay::BufferOutput<float> frame{this, "frame"};
///     void step() override {
///       std::span<float> out = frame.loan(4096);
///       render(out);  // written where the reader will read it
///     }
template <buffer_element T>
class BufferOutput final : public Port {
 public:
  BufferOutput(Component* owner, std::string name)
      : Port(owner, std::move(name), detail::buffer_port_type<T>(Direction::output),
             Direction::output, &state_, false, true) {}

  /// Room for `count` elements, in place; valid until the step returns or commit().
  [[nodiscard]] std::span<T> loan(std::size_t count) {
    if (state_.state == detail::OutBuffer::State::sent)
      detail::buffer_misuse(*this, "loan() after commit()");
    const std::size_t bytes = count * sizeof(T);
    std::span<std::byte> room;
    if (state_.hooks.loan != nullptr) {
      room = state_.hooks.loan(state_.hooks.runner, *this, bytes);
    } else {
      state_.scratch.resize(bytes);
      room = std::span<std::byte>(state_.scratch.data(), bytes);
      state_.data = room.data();
      state_.bytes = bytes;
      state_.in_channel = false;
      state_.state = detail::OutBuffer::State::open;
    }
    return std::span<T>(reinterpret_cast<T*>(room.data()), count);
  }

  /// Sends the first `count` elements of the loan now (at most those loaned).
  void commit(std::size_t count) {
    if (state_.state != detail::OutBuffer::State::open)
      detail::buffer_misuse(*this, "commit() without a loan");
    if (count * sizeof(T) > state_.bytes)
      detail::buffer_misuse(*this, "commit() of more than was loaned");
    if (state_.hooks.commit != nullptr) {
      state_.hooks.commit(state_.hooks.runner, *this, count * sizeof(T));
    } else {
      state_.bytes = count * sizeof(T);
      state_.state = detail::OutBuffer::State::sent;
    }
  }
  /// Sends the whole loan now.
  void commit() { commit(state_.bytes / sizeof(T)); }

  /// Elements loaned this step and not yet sent (0 when none is open).
  [[nodiscard]] std::size_t loaned() const noexcept {
    return state_.state == detail::OutBuffer::State::open ? state_.bytes / sizeof(T) : 0;
  }

 private:
  detail::OutBuffer state_;
};

/// An input field whose message the step reads in place, where it arrived: view() is valid
/// until the step returns (the channel's memory is freed then, not before). Not thread-safe:
/// read it from step() only.
///
///     patchbay::BufferInput<float> frame{this, "frame"};
///     void step() override { total = std::accumulate(frame.view().begin(), frame.view().end(),
///     0.0f); }
template <buffer_element T>
class BufferInput final : public Port {
 public:
  BufferInput(Component* owner, std::string name)
      : Port(owner, std::move(name), detail::buffer_port_type<T>(Direction::input),
             Direction::input, &view_, false, true) {}

  /// This step's message, in place.
  [[nodiscard]] std::span<const T> view() const noexcept {
    return std::span<const T>(reinterpret_cast<const T*>(view_.data), view_.bytes / sizeof(T));
  }
  /// Elements in this step's message.
  [[nodiscard]] std::size_t size() const noexcept { return view_.bytes / sizeof(T); }

 private:
  detail::InView view_;
};

namespace detail {

template <buffer_element T>
const PortType& buffer_port_type(Port::Direction direction) {
  static const PortType out = PortTypeMaker::make(port_type_name<std::vector<T>>(),
                                                  typeid(std::vector<T>), out_buffer_codec());
  static const PortType in = PortTypeMaker::make(port_type_name<std::vector<T>>(),
                                                 typeid(std::vector<T>), in_view_codec());
  return direction == Port::Direction::output ? out : in;
}

}  // namespace detail

}  // namespace patchbay
