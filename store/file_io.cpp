#include "store/file_io.hpp"

#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

namespace qmesh::store::io {

int write_all(int fd, const char* data, size_t n) noexcept {
  while (n > 0) {
    auto written = ::write(fd, data, n);
    if (written < 0) {
      if (errno == EINTR)
        continue;
      return errno;
    }
    if (written == 0)
      return EIO;
    data += written;
    n -= static_cast<size_t>(written);
  }
  return 0;
}

int read_file(const std::filesystem::path& path, std::vector<char>& out) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return errno;
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    auto err = errno;
    ::close(fd);
    return err;
  }
  out.resize(static_cast<size_t>(st.st_size));
  size_t got = 0;
  while (got < out.size()) {
    auto n = ::read(fd, out.data() + got, out.size() - got);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      auto err = errno;
      ::close(fd);
      return err;
    }
    if (n == 0)
      break; // shrank meanwhile
    got += static_cast<size_t>(n);
  }
  out.resize(got);
  ::close(fd);
  return 0;
}

int sync_dir(const std::filesystem::path& dir) noexcept {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return errno;
  int err = ::fsync(fd) == 0 ? 0 : errno;
  ::close(fd);
  return err;
}

int truncate_file(const std::filesystem::path& path, uint64_t size) noexcept {
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0)
    return errno;
  int err = 0;
  if (::ftruncate(fd, static_cast<off_t>(size)) != 0 || ::fsync(fd) != 0)
    err = errno;
  ::close(fd);
  return err;
}

int free_bytes(const std::filesystem::path& path, uint64_t& out) noexcept {
  struct statvfs st;
  if (::statvfs(path.c_str(), &st) != 0)
    return errno;
  out = static_cast<uint64_t>(st.f_bavail) * st.f_frsize;
  return 0;
}

std::string error_text(int err) {
  return std::strerror(err);
}

} // namespace qmesh::store::io
