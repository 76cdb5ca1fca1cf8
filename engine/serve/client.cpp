// The core of a Client (include/patchbay/serve.hpp): requests pushed into an ingress, and their
// replies taken from an egress and matched in order, by whichever waiting thread takes them.
#include <patchbay/serve.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>

#include "core/text.hpp"
#include "serve/host_port.hpp"
#include "shm/counters.hpp"

namespace patchbay::detail {

namespace {
// How long a pending request's waiter gives the run to end, once the egress has closed
// without its reply, to learn why.
constexpr auto end_wait = std::chrono::seconds(5);
}  // namespace

/// Requests wait in `pending_` in the order they entered the ingress, which is the order their
/// replies leave the egress. A thread that waits for a reply takes replies for everyone (it
/// "pumps") while it holds `pump_`; the others sleep until their reply is filled or the pump
/// is free again. One caller alone therefore takes its own reply from the ring, with no hand-off
/// between threads.
class ClientCore {
 public:
  ClientCore(std::shared_ptr<HostPort> ingress, std::shared_ptr<HostPort> egress,
             const PortType& request, const PortType& reply)
      : ingress_(std::move(ingress)),
        egress_(std::move(egress)),
        request_(request),
        reply_(reply) {}

  ChannelOp call(const void* request, std::shared_ptr<ReplySlot> slot, std::int64_t timeout_ns) {
    // Queued under the ingress's lock just before the request becomes visible: the queue's
    // order is the ring's, and a reply never arrives before its slot is queued.
    return ingress_->push(request, request_, timeout_ns, [&] {
      std::lock_guard guard(pending_mutex_);
      pending_.push_back(std::move(slot));
    });
  }

  bool wait(ReplySlot& slot, std::int64_t timeout_ns) {
    const std::int64_t deadline = timeout_ns < 0 ? -1 : steady_now_ns() + timeout_ns;
    while (!filled(slot)) {
      if (pump_.try_lock()) {
        pumping_.store(true, std::memory_order_seq_cst);
        const bool in_time = pump(slot, deadline);
        pumping_.store(false, std::memory_order_seq_cst);
        pump_.unlock();
        wake_sleepers();  // one of them takes over
        if (!in_time) return filled(slot);
        continue;
      }
      if (!sleep(slot, deadline)) return filled(slot);
    }
    return true;
  }

 private:
  static bool filled(const ReplySlot& slot) {
    return slot.state.load(std::memory_order_seq_cst) != 0;
  }

  // Takes replies until `mine` is filled; false when the deadline passed first.
  bool pump(ReplySlot& mine, std::int64_t deadline) {
    while (!filled(mine)) {
      std::shared_ptr<ReplySlot> front;
      {
        std::lock_guard guard(pending_mutex_);
        if (!pending_.empty()) front = pending_.front();
      }
      if (front == nullptr) return true;  // filled meanwhile (the queue only empties by fills)
      const std::int64_t left =
          deadline < 0 ? -1 : std::max<std::int64_t>(0, deadline - steady_now_ns());
      HostPort::Failed failed;
      const ChannelOp op = egress_->take(front->value, reply_, left, failed);
      if (op == ChannelOp::success) {
        {
          std::lock_guard guard(pending_mutex_);
          pending_.pop_front();
        }
        if (failed.failed) [[unlikely]] {
          front->component = std::move(failed.component);
          front->error = std::move(failed.message);
        }
        front->state.store(failed.failed ? 3 : 1, std::memory_order_seq_cst);
        if (front.get() != &mine) wake_sleepers();
      } else if (op == ChannelOp::closed) {
        fail_pending();
      } else if (deadline >= 0 && steady_now_ns() >= deadline) {
        return false;
      }
    }
    return true;
  }

  // Nothing more will come from the egress: every pending request fails. A request is
  // answered before the egress completes unless the run goes wrong, and then the run ends
  // soon after the egress: its end says why.
  void fail_pending() {
    (void)egress_->wait_for_end(std::chrono::nanoseconds(end_wait).count());
    std::string reason = egress_->end_reason();
    const std::string message =
        "no reply: " + (reason.empty() ? "the egress " + quote(egress_->component()) +
                                             " completed before answering this request"
                                       : reason);
    std::deque<std::shared_ptr<ReplySlot>> failed;
    {
      std::lock_guard guard(pending_mutex_);
      failed.swap(pending_);
    }
    for (const auto& slot : failed) {
      slot->error = message;
      slot->state.store(2, std::memory_order_seq_cst);
    }
    wake_sleepers();
  }

  // Until `slot` is filled or nobody pumps; false when the deadline passed first.
  bool sleep(ReplySlot& slot, std::int64_t deadline) {
    sleepers_.fetch_add(1, std::memory_order_seq_cst);
    std::unique_lock lock(wait_mutex_);
    const auto done = [&] { return filled(slot) || !pumping_.load(std::memory_order_seq_cst); };
    bool in_time = true;
    if (deadline < 0) {
      woken_.wait(lock, done);
    } else {
      const auto until = std::chrono::steady_clock::time_point(
          std::chrono::nanoseconds(deadline));  // steady_now_ns() is steady_clock's
      in_time = woken_.wait_until(lock, until, done);
    }
    lock.unlock();
    sleepers_.fetch_sub(1, std::memory_order_seq_cst);
    return in_time;
  }

  void wake_sleepers() {
    if (sleepers_.load(std::memory_order_seq_cst) == 0) return;
    { std::lock_guard guard(wait_mutex_); }
    woken_.notify_all();
  }

  std::shared_ptr<HostPort> ingress_;
  std::shared_ptr<HostPort> egress_;
  const PortType& request_;
  const PortType& reply_;
  std::mutex pending_mutex_;
  std::deque<std::shared_ptr<ReplySlot>> pending_;
  std::mutex pump_;
  std::atomic<bool> pumping_{false};
  std::mutex wait_mutex_;
  std::condition_variable woken_;
  std::atomic<int> sleepers_{0};
};

std::shared_ptr<ClientCore> make_client_core(std::shared_ptr<HostPort> ingress,
                                             std::shared_ptr<HostPort> egress,
                                             const PortType& request, const PortType& reply) {
  if (const std::string why = egress->reply_mismatch(ingress->component()); !why.empty()) {
    throw Error("egress " + quote(egress->component()) + " cannot answer the requests of ingress " +
                quote(ingress->component()) + " one for one: " + why);
  }
  ingress->claim(HostPort::Use::client);
  try {
    egress->claim(HostPort::Use::client);
  } catch (...) {
    ingress->release(HostPort::Use::client);
    throw;
  }
  return std::make_shared<ClientCore>(std::move(ingress), std::move(egress), request, reply);
}

ChannelOp client_call(ClientCore& core, const void* request, std::shared_ptr<ReplySlot> slot,
                      std::int64_t timeout_ns) {
  return core.call(request, std::move(slot), timeout_ns);
}

bool client_wait(ClientCore& core, ReplySlot& slot, std::int64_t timeout_ns) {
  return core.wait(slot, timeout_ns);
}

}  // namespace patchbay::detail
