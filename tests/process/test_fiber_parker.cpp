#include <catch2/catch.hpp>

#include <boost/fiber/all.hpp>

#include <string>

#include "local/fiber_parker.hpp"

using patchbay::detail::FiberParker;
using patchbay::detail::FiberParkGroup;
using patchbay::detail::WaitReason;

namespace {

const std::string what = "in";
const WaitReason local_input{WaitReason::Kind::input, &what, false};
const WaitReason remote_input{WaitReason::Kind::input, &what, true};

// Parks `parker` on its own fiber for `reason`, then lets `check` look at `other` while it is
// parked, then wakes it and waits for its fiber to end.
template <class Check>
void while_parked(FiberParkGroup& group, FiberParker& parker, const WaitReason& reason,
                  Check check) {
  group.runner_started();
  group.runner_started();
  boost::fibers::fiber parked([&] { parker.park(reason); });
  boost::this_fiber::yield();  // the fiber runs and parks
  REQUIRE(parker.parked());
  check();
  parker.notify();
  parked.join();
}

}  // namespace

TEST_CASE("a component may spin on its own rings only while the rest of its thread waits on it",
          "[fiber_parker]") {
  constexpr unsigned budget = 256;
  SECTION("in a worker, with the other component parked on a channel of this thread") {
    FiberParkGroup group([](FiberParkGroup&) { return false; });
    FiberParker other(group, "other");
    FiberParker me(group, "me");
    group.set_remote_wait([] {}, budget);
    while_parked(group, other, local_input, [&] { CHECK(me.spin_budget() == budget); });
  }
  SECTION("not while the other component waits on another worker: its news would wait") {
    FiberParkGroup group([](FiberParkGroup&) { return false; });
    FiberParker other(group, "other");
    FiberParker me(group, "me");
    // The remote wait returns at once and leaves the parker parked, so it suspends.
    group.set_remote_wait([] {}, budget);
    while_parked(group, other, remote_input, [&] { CHECK(me.spin_budget() == 0); });
  }
  SECTION("not while another component can still run") {
    FiberParkGroup group([](FiberParkGroup&) { return false; });
    FiberParker me(group, "me");
    group.set_remote_wait([] {}, budget);
    group.runner_started();
    group.runner_started();
    CHECK(me.spin_budget() == 0);
  }
  SECTION("never without a remote wait (a LocalProcess)") {
    FiberParkGroup group([](FiberParkGroup&) { return false; });
    FiberParker other(group, "other");
    FiberParker me(group, "me");
    group.set_remote_wait({}, budget);
    while_parked(group, other, local_input, [&] { CHECK(me.spin_budget() == 0); });
  }
}
