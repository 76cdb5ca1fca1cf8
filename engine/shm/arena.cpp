#include "shm/arena.hpp"

#include <patchbay/error.hpp>

#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <new>
#include <string>

#include "shm/futex.hpp"

namespace patchbay::detail {

void wake_worker(WorkerControl& worker) noexcept {
  atomic_word(worker.wake_sequence).fetch_add(1, std::memory_order_seq_cst);
  futex_wake_all(&worker.wake_sequence);
}

namespace bip = boost::interprocess;

namespace {

constexpr std::size_t header_bytes = 4096;  // the header's own page; the managed buffer follows

[[noreturn]] void fail(const std::string& what) {
  throw Error("cannot " + what + " the shared arena: " + std::strerror(errno));
}

void* map_shared(int fd, std::size_t size) {
  void* base = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  return base == MAP_FAILED ? nullptr : base;
}

}  // namespace

std::size_t Arena::bytes_needed(std::size_t workers, std::size_t components, std::size_t channels,
                                std::size_t ring_bytes) {
  // Tables, rings, and slack for the managed buffer's bookkeeping and 64-byte alignment.
  return header_bytes + workers * sizeof(WorkerControl) + components * sizeof(ComponentSlot) +
         channels * (sizeof(ChannelSlot) + 256) + ring_bytes + std::size_t{64} * 1024;
}

Arena::Arena(std::size_t bytes, std::size_t workers, std::size_t components, std::size_t channels) {
  const auto page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  size_ = (bytes + page - 1) / page * page;
  memfd_ = memfd_create("patchbay-arena", MFD_CLOEXEC);
  if (memfd_ < 0) fail("create");
  if (ftruncate(memfd_, static_cast<off_t>(size_)) != 0 || !(base_ = map_shared(memfd_, size_))) {
    const int error = errno;
    close(memfd_);
    errno = error;
    fail("size or map");
  }
  buffer_ = bip::managed_external_buffer(bip::create_only, static_cast<char*>(base_) + header_bytes,
                                         size_ - header_bytes);
  auto* h = ::new (base_) ArenaHeader{};
  h->magic = magic;
  h->version = version;
  h->size = size_;
  h->worker_count = static_cast<std::uint32_t>(workers);
  h->component_count = static_cast<std::uint32_t>(components);
  h->channel_count = static_cast<std::uint32_t>(channels);
  h->failed_worker = no_worker;
  auto table = [&](std::size_t count, std::size_t each) {
    void* p = buffer_.allocate_aligned(count * each + 1, 64);
    std::memset(p, 0, count * each + 1);
    return static_cast<std::uint64_t>(static_cast<char*>(p) - static_cast<char*>(base_));
  };
  h->workers_offset = table(workers, sizeof(WorkerControl));
  h->components_offset = table(components, sizeof(ComponentSlot));
  h->channels_offset = table(channels, sizeof(ChannelSlot));
}

Arena::Arena(int memfd) {
  struct stat st {};
  if (fstat(memfd, &st) != 0) fail("inspect");
  size_ = static_cast<std::size_t>(st.st_size);
  if (size_ < header_bytes) throw Error("cannot attach the shared arena: it is too small");
  if (!(base_ = map_shared(memfd, size_))) fail("map");
  if (header().magic != magic || header().version != version || header().size != size_) {
    munmap(base_, size_);
    throw Error("cannot attach the shared arena: not an arena of this version");
  }
}

Arena::~Arena() {
  if (base_ != nullptr) munmap(base_, size_);
  if (memfd_ >= 0) close(memfd_);
}

std::uint64_t Arena::allocate(std::size_t bytes) {
  void* p = buffer_.allocate_aligned(bytes, 64);
  return static_cast<std::uint64_t>(static_cast<char*>(p) - static_cast<char*>(base_));
}

}  // namespace patchbay::detail
