// How a component's time splits into running and waiting, without a clock read per message.
//
// A component alternates: it runs, parks, resumes, runs, parks... Timing every run exactly takes
// two clock reads per wait, and on the machines patchbay targets a read costs 8 to 15 ns, a
// tenth of a message between two cores; the read at the resume lies on the message's path, and
// the one at the park delays the component's return to polling for the next message. So the
// clock is read at the start, at the end, and around sampled cycles only: the first eight
// cycles, then one in eight, chosen at random so that no periodic pattern of the component
// aliases with the sampling. A sampled cycle times its wait (park to resume) and the run that
// follows (resume to the next park). The totals reported are the elapsed time up to the last
// clock read, exact, split in the proportion the samples showed. Reading them costs a division,
// so the caller asks for them when it publishes, not at every clock read.
#pragma once

#include <cstdint>

namespace patchbay::detail {

class RunClock {
 public:
  /// Run and wait ticks since start(), as of the last clock read.
  struct Totals {
    std::uint64_t ran = 0;
    std::uint64_t waited = 0;
  };

  /// The component starts running at `now`.
  void start(std::uint64_t now) noexcept {
    start_ = now;
    phase_ = Phase::running_sampled;
    mark_ = now;
  }

  /// At a park: whether the caller must read the clock and call parked().
  [[nodiscard]] bool time_this_park() noexcept {
    sampling_next_ = sample();
    return sampling_next_ || phase_ == Phase::running_sampled;
  }
  /// The component parks at `now` (only when time_this_park() said so).
  void parked(std::uint64_t now) noexcept {
    if (phase_ == Phase::running_sampled) sampled_run_ += now - mark_;
    phase_ = sampling_next_ ? Phase::waiting_sampled : Phase::untimed;
    mark_ = now;
  }

  /// At a resume: whether the caller must read the clock and call resumed().
  [[nodiscard]] bool time_this_resume() const noexcept { return phase_ == Phase::waiting_sampled; }
  /// The component resumes at `now` (only when time_this_resume() said so).
  void resumed(std::uint64_t now) noexcept {
    sampled_wait_ += now - mark_;
    phase_ = Phase::running_sampled;
    mark_ = now;
  }

  /// The component finishes at `now`: the final totals.
  Totals finished(std::uint64_t now) noexcept {
    if (phase_ == Phase::running_sampled) sampled_run_ += now - mark_;
    if (phase_ == Phase::waiting_sampled) sampled_wait_ += now - mark_;
    phase_ = Phase::untimed;
    mark_ = now;
    return totals();
  }

  /// Run and wait ticks from start() to the last clock read.
  [[nodiscard]] Totals totals() const noexcept {
    const std::uint64_t elapsed = mark_ - start_;
    const std::uint64_t sampled = sampled_run_ + sampled_wait_;
    if (sampled == 0) return {elapsed, 0};
    auto ran = static_cast<std::uint64_t>(static_cast<double>(elapsed) *
                                          static_cast<double>(sampled_run_) /
                                          static_cast<double>(sampled));
    if (ran > elapsed) ran = elapsed;
    return {ran, elapsed - ran};
  }

 private:
  enum class Phase : unsigned char { untimed, waiting_sampled, running_sampled };
  static constexpr std::uint32_t kAlwaysSampled = 8;
  static constexpr std::uint32_t kSampleEvery = 8;  // a power of two

  bool sample() noexcept {
    if (cycles_ < kAlwaysSampled) {
      ++cycles_;
      return true;
    }
    // xorshift32: a cheap sequence with no period a component could fall into step with.
    random_ ^= random_ << 13;
    random_ ^= random_ >> 17;
    random_ ^= random_ << 5;
    return (random_ & (kSampleEvery - 1)) == 0;
  }

  std::uint64_t start_ = 0;
  std::uint64_t mark_ = 0;  // the last clock read
  std::uint64_t sampled_run_ = 0;
  std::uint64_t sampled_wait_ = 0;
  std::uint32_t cycles_ = 0;
  std::uint32_t random_ = 0x9e3779b9;
  Phase phase_ = Phase::untimed;
  bool sampling_next_ = false;
};

}  // namespace patchbay::detail
