// Buffer ports (buffer.hpp): a step writes its message in place in the channel and the reader
// reads it where it arrived. One rule per test case, run on every engine that process_kinds()
// names.
#include <catch2/catch.hpp>

#include <patchbay/buffer.hpp>
#include <patchbay/error.hpp>
#include <patchbay/process.hpp>

#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "support/model.hpp"

namespace {

using Catch::Contains;
using patchbay::BufferInput;
using patchbay::BufferOutput;
using patchbay::Component;
using patchbay::Input;
using patchbay::Output;
using patchbay::Status;
using patchbay::test::Model;
using patchbay::test::run_guarded;
using patchbay::test::SharedCounter;
using patchbay::test::SharedRecord;
using patchbay::test::stats_of;
using patchbay::test::thrown_message;
using patchbay_test::process_kinds;

// Element j of message i.
std::uint32_t element(std::uint32_t i, std::uint32_t j) {
  return i * 1000 + j;
}
// Elements in message i: 1 to 50, and none every tenth message.
std::size_t length_of(std::uint32_t i) {
  return i % 10 == 9 ? 0 : i % 50 + 1;
}

// Loans message i in place and fills it; records where each loan lay.
class LoaningSource final : public Component {
 public:
  LoaningSource(std::string name, std::uint32_t count)
      : Component(std::move(name)), count_(count) {}

  BufferOutput<std::uint32_t> out{this, "out"};
  SharedRecord places{64 * 1024};

  void step() override {
    if (next_ == count_) {
      close();
      return;
    }
    std::span<std::uint32_t> room = out.loan(length_of(next_));
    for (std::uint32_t j = 0; j < room.size(); ++j)
      room[j] = element(next_, j);
    places.append(reinterpret_cast<std::uintptr_t>(room.data()));
    ++next_;
  }

 private:
  std::uint32_t count_;
  std::uint32_t next_ = 0;
};

// The same messages, from a vector (copied into the channel).
class VectorSource final : public Component {
 public:
  VectorSource(std::string name, std::uint32_t count) : Component(std::move(name)), count_(count) {}

  Output<std::vector<std::uint32_t>> out{this, "out"};

  void step() override {
    if (next_ == count_) {
      close();
      return;
    }
    out.value().resize(length_of(next_));
    for (std::uint32_t j = 0; j < out.value().size(); ++j)
      out.value()[j] = element(next_, j);
    ++next_;
  }

 private:
  std::uint32_t count_;
  std::uint32_t next_ = 0;
};

// Checks each message against the sequence in place; counts the good ones, records where each
// lay and the first mismatch.
class ViewCheck final : public Component {
 public:
  using Component::Component;

  BufferInput<std::uint32_t> in{this, "in"};
  SharedCounter good;
  SharedRecord places{64 * 1024};

  void step() override {
    const std::span<const std::uint32_t> view = in.view();
    bool ok = view.size() == length_of(next_) && in.size() == view.size();
    for (std::uint32_t j = 0; ok && j < view.size(); ++j)
      ok = view[j] == element(next_, j);
    if (!ok) throw std::runtime_error("message " + std::to_string(next_) + " differs");
    places.append(reinterpret_cast<std::uintptr_t>(view.data()));
    ++good;
    ++next_;
  }

 private:
  std::uint32_t next_ = 0;
};

// The same check on a vector (copied out of the channel).
class VectorCheck final : public Component {
 public:
  using Component::Component;

  Input<std::vector<std::uint32_t>> in{this, "in"};
  SharedCounter good;

  void step() override {
    bool ok = in.value().size() == length_of(next_);
    for (std::uint32_t j = 0; ok && j < in.value().size(); ++j)
      ok = in.value()[j] == element(next_, j);
    if (!ok) throw std::runtime_error("message " + std::to_string(next_) + " differs");
    ++good;
    ++next_;
  }

 private:
  std::uint32_t next_ = 0;
};

// Each step: loans 10 bytes, fills them, commits the first 3 at once; at step `misuse` it loans
// again after the commit.
class PartCommitter final : public Component {
 public:
  PartCommitter(std::string name, int steps, int misuse = -1)
      : Component(std::move(name)), steps_(steps), misuse_(misuse) {}

  BufferOutput<std::byte> out{this, "out"};

  void step() override {
    if (step_ == steps_) {
      close();
      return;
    }
    std::span<std::byte> room = out.loan(10);
    for (std::size_t j = 0; j < room.size(); ++j)
      room[j] = static_cast<std::byte>(step_ + static_cast<int>(j));
    out.commit(3);
    if (step_ == misuse_) (void)out.loan(1);
    ++step_;
  }

 private:
  int steps_;
  int misuse_;
  int step_ = 0;
};

// Loans nothing: every step sends an empty buffer.
class SilentSource final : public Component {
 public:
  SilentSource(std::string name, int steps) : Component(std::move(name)), steps_(steps) {}

  BufferOutput<std::byte> out{this, "out"};

  void step() override {
    if (step_++ == steps_) close();
  }

 private:
  int steps_;
  int step_ = 0;
};

// Loans `bytes` once.
class BigLoan final : public Component {
 public:
  BigLoan(std::string name, std::size_t bytes) : Component(std::move(name)), bytes_(bytes) {}

  BufferOutput<std::byte> out{this, "out"};

  void step() override { (void)out.loan(bytes_); }

 private:
  std::size_t bytes_;
};

// Records each byte message, as a string of its bytes.
class BytesRecorder final : public Component {
 public:
  using Component::Component;

  BufferInput<std::byte> in{this, "in"};
  SharedRecord seen{64 * 1024};

  void step() override {
    seen.append(std::string(reinterpret_cast<const char*>(in.view().data()), in.size()));
  }
};

constexpr std::uint32_t kMessages = 300;

}  // namespace

TEST_CASE("buffers: a message loaned in place arrives whole and in order, read in place",
          "[semantics][buffers]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  Model m;
  // 300 messages of up to 200 bytes through a 4 KiB channel: the producer waits for room in
  // its loan, and the ring wraps many times.
  auto& source = m.add<LoaningSource>("src", kMessages);
  auto& sink = m.add<ViewCheck>("sink");
  m.connect("src.out", "sink.in", 4096);
  auto process = m.build(kind);
  run_guarded(*process);

  CHECK(process->status() == Status::completed);
  CHECK(sink.good.load() == kMessages);
  CHECK(stats_of(*process, "src").messages_out == kMessages);
  if (kind == "local") {
    // One address space: the reader's view is the very memory the writer loaned.
    CHECK(sink.places.read<std::uintptr_t>() == source.places.read<std::uintptr_t>());
  }
}

TEST_CASE("buffers: either end may copy instead, with a vector of the same element type",
          "[semantics][buffers]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  Model m;
  m.add<LoaningSource>("loaner", kMessages);
  auto& copier = m.add<VectorCheck>("copier");
  m.add<VectorSource>("vectors", kMessages);
  auto& viewer = m.add<ViewCheck>("viewer");
  m.connect("loaner.out", "copier.in", 4096);
  m.connect("vectors.out", "viewer.in", 4096);
  auto process = m.build(kind);
  run_guarded(*process);

  CHECK(copier.good.load() == kMessages);
  CHECK(viewer.good.load() == kMessages);
}

TEST_CASE("buffers: a fan-out gives every reader the whole message", "[semantics][buffers]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  Model m;
  m.add<LoaningSource>("src", kMessages);
  auto& a = m.add<ViewCheck>("a");
  auto& b = m.add<VectorCheck>("b");
  auto& c = m.add<ViewCheck>("c");
  m.connect("src.out", "a.in", 4096);
  m.connect("src.out", "b.in");
  m.connect("src.out", "c.in", 1024);
  auto process = m.build(kind);
  run_guarded(*process);

  CHECK(a.good.load() == kMessages);
  CHECK(b.good.load() == kMessages);
  CHECK(c.good.load() == kMessages);
  CHECK(stats_of(*process, "src").messages_out == 3 * kMessages);
}

TEST_CASE("buffers: a loan with no connector, or with no reader left, goes nowhere",
          "[semantics][buffers]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  Model m;
  m.add<LoaningSource>("unwired", kMessages);
  m.add<PartCommitter>("committer", 100);
  auto& sink = m.add<BytesRecorder>("sink");
  m.connect("committer.out", "sink.in");
  auto process = m.build(kind);
  run_guarded(*process);
  CHECK(process->status() == Status::completed);
  CHECK(stats_of(*process, "unwired").steps == kMessages + 1);
  CHECK(stats_of(*process, "unwired").messages_out == 0);
  CHECK(sink.seen.read<std::string>().size() == 100);
}

TEST_CASE(
    "buffers: commit() sends part of the loan at once; a step that loans nothing sends an "
    "empty buffer",
    "[semantics][buffers]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  Model m;
  m.add<PartCommitter>("parts", 4);
  m.add<SilentSource>("silent", 3);
  auto& parts = m.add<BytesRecorder>("parts_sink");
  auto& silent = m.add<BytesRecorder>("silent_sink");
  m.connect("parts.out", "parts_sink.in");
  m.connect("silent.out", "silent_sink.in");
  auto process = m.build(kind);
  run_guarded(*process);

  std::vector<std::string> expected;
  for (char step = 0; step < 4; ++step)
    expected.push_back(std::string{step, static_cast<char>(step + 1), static_cast<char>(step + 2)});
  CHECK(parts.seen.read<std::string>() == expected);
  CHECK(silent.seen.read<std::string>() == std::vector<std::string>(3));
}

TEST_CASE("buffers: loan() after commit() fails the step naming the component and the buffer",
          "[semantics][buffers]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  Model m;
  m.add<PartCommitter>("parts", 10, 2);
  m.add<BytesRecorder>("sink");
  m.connect("parts.out", "sink.in");
  auto process = m.build(kind);
  try {
    run_guarded(*process);
    FAIL("run() returned normally although a step misused its buffer");
  } catch (const patchbay::ComponentFailure& e) {
    CHECK(e.component() == "parts");
    CHECK_THAT(thrown_message(kind, e),
               Contains("buffer 'out'") && Contains("loan() after commit()"));
  }
  CHECK(process->status() == Status::failed);
}

TEST_CASE(
    "buffers: a loan larger than the channel can hold fails naming the connector and both "
    "sizes",
    "[semantics][buffers]") {
  const std::string kind = GENERATE(from_range(process_kinds()));
  INFO("process kind: " << kind);
  Model m;
  m.add<BigLoan>("big", 5000);
  m.add<BytesRecorder>("sink");
  m.connect("big.out", "sink.in", 4096);
  auto process = m.build(kind);
  try {
    run_guarded(*process);
    FAIL("run() returned normally although a loan could never fit");
  } catch (const patchbay::ComponentFailure& e) {
    CHECK(e.component() == "big");
    CHECK_THAT(thrown_message(kind, e), Contains("big.out -> sink.in") && Contains("5000 bytes") &&
                                            Contains("at most 2032 bytes") &&
                                            Contains("capacity 4096"));
  }
}

TEST_CASE("buffers: a buffer connects only to a buffer or vector of its element type",
          "[semantics][buffers]") {
  Model m;
  m.add<BigLoan>("bytes", 8);
  m.add<ViewCheck>("words");
  m.connect("bytes.out", "words.in");
  try {
    (void)m.build("local");
    FAIL("a byte buffer fed an array of uint32");
  } catch (const patchbay::ModelError& e) {
    CHECK_THAT(std::string(e.what()), Contains("bytes") && Contains("array<uint32>"));
  }
}

TEST_CASE("buffers: outside a process a loan is the port's own memory", "[buffers]") {
  LoaningSource source("alone", 3);
  source.step();
  CHECK(source.out.loaned() == length_of(0));
  std::span<std::uint32_t> room = source.out.loan(4);
  room[3] = 7;
  source.out.commit(2);
  CHECK(source.out.loaned() == 0);
  CHECK_THROWS_AS(source.out.commit(1), std::logic_error);
}
