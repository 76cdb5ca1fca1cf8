#include "fork/fork_protocol.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace patchbay::detail {

namespace {
constexpr std::size_t header_size = 12;  // kind (4 bytes), payload length (8 bytes)
constexpr std::size_t most_fds = 4;
}  // namespace

bool send_frame(int fd, FrameKind kind, std::string_view payload) noexcept {
  char header[header_size];
  const auto k = static_cast<std::uint32_t>(kind);
  const std::uint64_t size = payload.size();
  std::memcpy(header, &k, 4);
  std::memcpy(header + 4, &size, 8);
  auto write_all = [fd](const char* data, std::size_t n) {
    while (n > 0) {
      const ssize_t done = send(fd, data, n, MSG_NOSIGNAL);
      if (done < 0 && errno == EINTR) continue;
      if (done <= 0) return false;
      data += done;
      n -= static_cast<std::size_t>(done);
    }
    return true;
  };
  return write_all(header, header_size) && write_all(payload.data(), payload.size());
}

bool FrameReader::fill(int timeout_ms) {
  pollfd p{fd_, POLLIN, 0};
  int ready = 0;
  do {
    ready = poll(&p, 1, timeout_ms);
  } while (ready < 0 && errno == EINTR);
  if (ready <= 0) return ready == 0;
  char chunk[65536];
  while (true) {
    const ssize_t got = recv(fd_, chunk, sizeof chunk, MSG_DONTWAIT);
    if (got > 0) {
      buffer_.append(chunk, static_cast<std::size_t>(got));
      continue;
    }
    if (got < 0 && errno == EINTR) continue;
    if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
    return false;  // closed, or failed
  }
}

std::optional<std::pair<FrameKind, std::string>> FrameReader::next() {
  if (buffer_.size() < header_size) return std::nullopt;
  std::uint32_t kind = 0;
  std::uint64_t size = 0;
  std::memcpy(&kind, buffer_.data(), 4);
  std::memcpy(&size, buffer_.data() + 4, 8);
  if (buffer_.size() - header_size < size) return std::nullopt;
  std::pair<FrameKind, std::string> frame{static_cast<FrameKind>(kind),
                                          buffer_.substr(header_size, size)};
  buffer_.erase(0, header_size + size);
  return frame;
}

bool send_with_fds(int socket, char what, const std::vector<int>& fds) noexcept {
  if (fds.size() > most_fds) return false;
  iovec io{&what, 1};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * most_fds)] = {};
  msghdr message{};
  message.msg_iov = &io;
  message.msg_iovlen = 1;
  if (!fds.empty()) {
    message.msg_control = control;
    message.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
    cmsghdr* header = CMSG_FIRSTHDR(&message);
    header->cmsg_level = SOL_SOCKET;
    header->cmsg_type = SCM_RIGHTS;
    header->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(header), fds.data(), sizeof(int) * fds.size());
  }
  ssize_t sent = 0;
  do {
    sent = sendmsg(socket, &message, MSG_NOSIGNAL);
  } while (sent < 0 && errno == EINTR);
  return sent == 1;
}

char receive_with_fds(int socket, std::vector<int>& fds) {
  fds.clear();
  char what = 0;
  iovec io{&what, 1};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * most_fds)] = {};
  msghdr message{};
  message.msg_iov = &io;
  message.msg_iovlen = 1;
  message.msg_control = control;
  message.msg_controllen = sizeof control;
  ssize_t got = 0;
  do {
    got = recvmsg(socket, &message, MSG_CMSG_CLOEXEC);
  } while (got < 0 && errno == EINTR);
  if (got <= 0) return 0;
  for (cmsghdr* header = CMSG_FIRSTHDR(&message); header != nullptr;
       header = CMSG_NXTHDR(&message, header)) {
    if (header->cmsg_level != SOL_SOCKET || header->cmsg_type != SCM_RIGHTS) continue;
    const std::size_t n = (header->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (std::size_t i = 0; i < n; ++i) {
      int fd = -1;
      std::memcpy(&fd, CMSG_DATA(header) + i * sizeof(int), sizeof(int));
      fds.push_back(fd);
    }
  }
  return what;
}

}  // namespace patchbay::detail
