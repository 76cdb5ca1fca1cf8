#include "shm/arena.hpp"

#include <patchbay/error.hpp>

#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <new>
#include <string>

#include "shm/atomic.hpp"
#include "shm/futex.hpp"

namespace patchbay::detail {

void wake_worker(WorkerControl& worker) noexcept {
  fetch_add_seq_cst(worker.wake_sequence, 1);
  futex_wake_all(&worker.wake_sequence);
}

namespace {

constexpr std::size_t header_bytes = 4096;  // the header's own page; the tables follow

constexpr std::uint64_t round_up_to_line(std::uint64_t n) {
  return (n + cache_line_bytes - 1) / cache_line_bytes * cache_line_bytes;
}

[[noreturn]] void fail(const std::string& what) {
  throw Error("cannot " + what + " the shared arena: " + std::strerror(errno));
}

void* map_shared(int fd, std::size_t size) {
  void* base = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  return base == MAP_FAILED ? nullptr : base;
}

// Whether `count` entries of `each` bytes from `offset` lie inside an arena of `size` bytes,
// after its header page, aligned as the creator aligns them.
bool table_fits(std::uint64_t offset, std::uint64_t count, std::size_t each, std::size_t size) {
  return offset >= header_bytes && offset % cache_line_bytes == 0 && offset <= size &&
         count <= (size - offset) / each;
}

}  // namespace

std::uint64_t Arena::bytes_needed(std::size_t workers, std::size_t components, std::size_t channels,
                                  std::uint64_t ring_bytes, std::size_t replicas) {
  return header_bytes + round_up_to_line(std::uint64_t{workers} * sizeof(WorkerControl)) +
         round_up_to_line(std::uint64_t{components} * sizeof(ComponentSlot)) +
         round_up_to_line(std::uint64_t{channels} * sizeof(ChannelSlot)) +
         std::uint64_t{workers} * worker_exports_slot_bytes +
         std::uint64_t{replicas} * sizeof(ReplicaSlot) + ring_bytes;
}

Arena::Arena(std::size_t bytes, std::size_t workers, std::size_t components, std::size_t channels,
             std::size_t replicas) {
  const auto page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  size_ = (bytes + page - 1) / page * page;
  memfd_ = memfd_create("patchbay-arena", MFD_CLOEXEC);
  if (memfd_ < 0) fail("create");
  // A memfd is created 0777, and /proc/PID/fd/N opens it for anyone who may look there.
  if (fchmod(memfd_, 0600) != 0) {
    const int error = errno;
    close(memfd_);
    errno = error;
    fail("protect");
  }
  if (ftruncate(memfd_, static_cast<off_t>(size_)) != 0 || !(base_ = map_shared(memfd_, size_))) {
    const int error = errno;
    close(memfd_);
    errno = error;
    fail("size or map");
  }
  next_ = header_bytes;
  auto* h = ::new (base_) ArenaHeader{};
  h->magic = magic;
  h->version = version;
  h->size = size_;
  h->worker_count = static_cast<std::uint32_t>(workers);
  h->component_count = static_cast<std::uint32_t>(components);
  h->channel_count = static_cast<std::uint32_t>(channels);
  h->failed_worker = no_worker;
  auto table = [&](std::size_t count, std::size_t each) { return allocate(count * each); };
  workers_offset_ = h->workers_offset = table(workers, sizeof(WorkerControl));
  components_offset_ = h->components_offset = table(components, sizeof(ComponentSlot));
  channels_offset_ = h->channels_offset = table(channels, sizeof(ChannelSlot));
  exports_offset_ = h->exports_offset = table(workers, worker_exports_slot_bytes);
  replicas_offset_ = h->replicas_offset = table(replicas, sizeof(ReplicaSlot));
  h->replica_count = static_cast<std::uint32_t>(replicas);
  replica_count_ = replicas;
  worker_count_ = workers;
  component_count_ = components;
  channel_count_ = channels;
  ring_offsets_.assign(channels, 0);
  for (std::size_t w = 0; w < workers; ++w)
    worker(w).failed_component = no_component;
}

Arena::Arena(int memfd) {
  struct stat st {};
  if (fstat(memfd, &st) != 0) fail("inspect");
  size_ = static_cast<std::size_t>(st.st_size);
  if (size_ < header_bytes) throw Error("cannot attach the shared arena: it is too small");
  if (!(base_ = map_shared(memfd, size_))) fail("map");
  // One copy of the header: what is checked is what is used.
  ArenaHeader h{};
  std::memcpy(&h, base_, sizeof h);
  const char* problem = nullptr;
  if (h.magic != magic || h.version != version || h.size != size_) {
    problem = "not an arena of this version";
  } else if (!table_fits(h.workers_offset, h.worker_count, sizeof(WorkerControl), size_) ||
             !table_fits(h.components_offset, h.component_count, sizeof(ComponentSlot), size_) ||
             !table_fits(h.channels_offset, h.channel_count, sizeof(ChannelSlot), size_) ||
             !table_fits(h.exports_offset, h.worker_count, worker_exports_slot_bytes, size_) ||
             !table_fits(h.replicas_offset, h.replica_count, sizeof(ReplicaSlot), size_)) {
    problem = "its tables lie outside it";
  }
  if (problem != nullptr) {
    munmap(base_, size_);
    base_ = nullptr;
    throw Error(std::string("cannot attach the shared arena: ") + problem);
  }
  workers_offset_ = h.workers_offset;
  components_offset_ = h.components_offset;
  channels_offset_ = h.channels_offset;
  exports_offset_ = h.exports_offset;
  replicas_offset_ = h.replicas_offset;
  replica_count_ = h.replica_count;
  worker_count_ = h.worker_count;
  component_count_ = h.component_count;
  channel_count_ = h.channel_count;
}

Arena::~Arena() {
  if (base_ != nullptr) munmap(base_, size_);
  if (memfd_ >= 0) close(memfd_);
}

void Arena::set_ring_offset(std::size_t i, std::uint64_t offset) {
  ring_offsets_.at(i) = offset;
  channel(i).ring_offset = offset;
}

void* Arena::ring_memory(std::size_t i, std::size_t bytes) const {
  if (i >= channel_count_) throw Error("arena corrupted: no channel " + std::to_string(i));
  std::uint64_t offset = 0;
  if (!ring_offsets_.empty()) {
    offset = ring_offsets_[i];  // the creator's, or a forked copy of it
  } else {
    offset = load_relaxed(channel(i).ring_offset);
    if (!table_fits(offset, 1, bytes, size_)) {
      throw Error("arena corrupted: channel " + std::to_string(i) + "'s ring offset " +
                  std::to_string(offset) + " does not leave " + std::to_string(bytes) +
                  " bytes inside the arena of " + std::to_string(size_) + " bytes");
    }
  }
  return at<void>(offset);
}

std::uint64_t Arena::allocate(std::size_t bytes) {
  const std::uint64_t rounded = round_up_to_line(bytes);
  if (rounded < bytes || rounded > size_ - next_) {
    throw Error("the shared arena of " + std::to_string(size_) + " bytes has no room for " +
                std::to_string(bytes) + " more");
  }
  const std::uint64_t offset = next_;
  next_ += rounded;
  return offset;
}

}  // namespace patchbay::detail
