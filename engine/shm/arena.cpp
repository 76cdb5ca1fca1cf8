#include "shm/arena.hpp"

#include <boost/interprocess/anonymous_shared_memory.hpp>

#include <cstring>
#include <new>

namespace patchbay::detail {

namespace bip = boost::interprocess;

namespace {
constexpr std::size_t header_bytes = 4096;  // the header's own page; the managed buffer follows
}

std::size_t Arena::bytes_needed(std::size_t workers, std::size_t components, std::size_t channels,
                                std::size_t ring_bytes) {
  // Tables, rings, and slack for the managed buffer's bookkeeping and 64-byte alignment.
  return header_bytes + workers * sizeof(WorkerControl) + components * sizeof(ComponentSlot) +
         channels * (sizeof(ChannelSlot) + 256) + ring_bytes + std::size_t{64} * 1024;
}

Arena::Arena(std::size_t bytes, std::size_t workers, std::size_t components, std::size_t channels)
    : region_(bip::anonymous_shared_memory(bytes)),
      buffer_(bip::create_only, static_cast<char*>(region_.get_address()) + header_bytes,
              region_.get_size() - header_bytes) {
  auto* h = ::new (region_.get_address()) ArenaHeader{};
  h->magic = magic;
  h->version = version;
  h->size = region_.get_size();
  h->worker_count = static_cast<std::uint32_t>(workers);
  h->component_count = static_cast<std::uint32_t>(components);
  h->channel_count = static_cast<std::uint32_t>(channels);
  h->failed_worker = no_worker;
  auto table = [&](const char* name, std::size_t count, std::size_t each) {
    void* p = buffer_.allocate_aligned(count * each + 1, 64);
    std::memset(p, 0, count * each + 1);
    (void)name;
    return static_cast<std::uint64_t>(static_cast<char*>(p) -
                                      static_cast<char*>(region_.get_address()));
  };
  h->workers_offset = table("workers", workers, sizeof(WorkerControl));
  h->components_offset = table("components", components, sizeof(ComponentSlot));
  h->channels_offset = table("channels", channels, sizeof(ChannelSlot));
}

std::uint64_t Arena::allocate(std::size_t bytes) {
  void* p = buffer_.allocate_aligned(bytes, 64);
  return static_cast<std::uint64_t>(static_cast<char*>(p) -
                                    static_cast<char*>(region_.get_address()));
}

}  // namespace patchbay::detail
