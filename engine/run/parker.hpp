// How a component's fiber waits for a channel, independent of where its peers run.
#pragma once

#include <cstdint>
#include <string>

#include "shm/atomic.hpp"

namespace patchbay::detail {

/// What a parked component waits for (for deadlock reports).
struct WaitReason {
  /// events: a component whose only inputs are events waits for the next one.
  enum class Kind : unsigned char { input, output, events } kind = Kind::input;
  const std::string* what = nullptr;  ///< the input field, the connector's label, or "events"
  bool remote = false;                ///< a peer runs in another worker process
};

/// One per component. The owner parks when a channel is empty (reading) or full (writing);
/// a peer that changes such a channel calls notify(). Spurious wake-ups are allowed: the owner
/// re-checks its channels after every park().
class Parker {
 public:
  Parker() = default;
  Parker(const Parker&) = delete;
  Parker& operator=(const Parker&) = delete;
  virtual ~Parker() = default;

  /// Owner side: suspends the owner until notify() or a stop. `reason` outlives the wait (the
  /// runner keeps one per input field and output channel, so that parking copies nothing).
  virtual void park(const WaitReason& reason) = 0;
  /// Peer side: wakes the owner if it is parked. It is called after every message, and costs
  /// one load and no call while the owner is not parked. Always inlined: a copy out of line
  /// would be a vague-linkage symbol of the library, called through the PLT.
  [[gnu::always_inline]] void notify() {
    if (idle_word_ != nullptr && load_relaxed(*idle_word_) == 0) {
      return;
    }
    wake();
  }
  /// Owner side: how many times the owner may poll the rings it waits on itself, instead of
  /// parking, because nothing else on its thread can run and only another process can feed
  /// it (0: park at once). Polling its own ring saves the whole park and wake-up for a message
  /// that is microseconds away.
  /// It is read at every receive that finds its rings empty, so it is a load, not a call.
  [[nodiscard]] unsigned spin_budget() const { return *spin_word_; }
  /// Owner side: lets the other components of the owner's thread that are ready run first
  /// (fair stepping, see SliceTicker); returns at once when there are none.
  virtual void yield() {}

 protected:
  /// Does what notify() promises, when the idle word does not rule it out.
  virtual void wake() = 0;
  /// A word that reads 0 while wake() would do nothing, so that notify() can skip the call. It
  /// is read with a relaxed load and no fence, which must be all wake() needs before it looks.
  void set_idle_word(std::uint32_t* word) { idle_word_ = word; }
  /// A word that holds spin_budget(), kept current by whoever knows it.
  void set_spin_word(const unsigned* word) { spin_word_ = word; }

 private:
  static constexpr unsigned no_spin_ = 0;
  std::uint32_t* idle_word_ = nullptr;
  const unsigned* spin_word_ = &no_spin_;
};

}  // namespace patchbay::detail
