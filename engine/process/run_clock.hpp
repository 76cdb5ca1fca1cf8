// How a component's time splits into running and waiting, at one clock read per wait.
//
// A component alternates: it runs, parks, resumes, runs, parks... Timing each run exactly takes
// two clock reads per wait, and the one at the resume lies on the path of every message: the
// component reads the clock after its input arrived and before its step can answer. On the
// machines patchbay targets a clock read costs 8 to 15 ns, which is a tenth of a message between
// two cores. So the clock is read at every park (after the component has sent what it had),
// which makes the sum of run and wait time exact, and at one resume in eight, chosen at random
// so that no periodic pattern of the component aliases with it; the first eight resumes are all
// timed. A cycle whose resume was not timed is split in the proportion the timed cycles showed.
#pragma once

#include <cstdint>

namespace patchbay::detail {

class RunClock {
 public:
  /// The component starts running at `now`.
  void start(std::uint64_t now) noexcept {
    mark_ = now;
    resumed_at_ = now;
    resume_known_ = true;
    first_ = true;
  }

  /// Whether the caller should read the clock at this resume and pass it to resumed().
  [[nodiscard]] bool time_this_resume() noexcept {
    if (resumes_ < kAlwaysTimed) {
      ++resumes_;
      return true;
    }
    // xorshift32: a cheap sequence with no period a component could fall into step with.
    random_ ^= random_ << 13;
    random_ ^= random_ >> 17;
    random_ ^= random_ << 5;
    return (random_ & (kSampleEvery - 1)) == 0;
  }

  /// The component resumed at `now` (only after time_this_resume() said so).
  void resumed(std::uint64_t now) noexcept {
    resumed_at_ = now;
    resume_known_ = true;
  }

  /// Ticks of the time since the previous park (or the start), split as described at the top
  /// of this file.
  struct Split {
    std::uint64_t ran = 0;
    std::uint64_t waited = 0;
  };

  /// The component parks (or finishes) at `now`.
  [[nodiscard]] Split stopped(std::uint64_t now) noexcept {
    const std::uint64_t cycle = now - mark_;
    mark_ = now;
    if (first_) {  // from start(): running all along
      first_ = false;
      resume_known_ = false;
      return {cycle, 0};
    }
    std::uint64_t ran = 0;
    if (resume_known_) {
      ran = now - resumed_at_;
      sampled_run_ += ran;
      sampled_cycle_ += cycle;
      share_ = sampled_cycle_ == 0
                   ? 0.0
                   : static_cast<double>(sampled_run_) / static_cast<double>(sampled_cycle_);
      resume_known_ = false;
    } else {
      ran = static_cast<std::uint64_t>(static_cast<double>(cycle) * share_);
      if (ran > cycle) ran = cycle;
    }
    return {ran, cycle - ran};
  }

 private:
  static constexpr std::uint32_t kAlwaysTimed = 8;
  static constexpr std::uint32_t kSampleEvery = 8;  // a power of two

  std::uint64_t mark_ = 0;        // the last park (or the start)
  std::uint64_t resumed_at_ = 0;  // valid while resume_known_
  std::uint64_t sampled_run_ = 0;
  std::uint64_t sampled_cycle_ = 0;
  double share_ = 0.0;  // sampled_run_ / sampled_cycle_
  std::uint32_t resumes_ = 0;
  std::uint32_t random_ = 0x9e3779b9;
  bool resume_known_ = false;
  bool first_ = true;
};

}  // namespace patchbay::detail
