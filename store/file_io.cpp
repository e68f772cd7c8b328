#include "store/file_io.hpp"

#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <sys/mman.h>
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

mapped_file::mapped_file(mapped_file&& other) noexcept
  : data_(other.data_), size_(other.size_) {
  other.data_ = nullptr;
  other.size_ = 0;
}

mapped_file& mapped_file::operator=(mapped_file&& other) noexcept {
  if (this != &other) {
    reset();
    std::swap(data_, other.data_);
    std::swap(size_, other.size_);
  }
  return *this;
}

mapped_file::~mapped_file() {
  reset();
}

void mapped_file::reset() noexcept {
  if (data_ != nullptr)
    ::munmap(const_cast<char*>(data_), size_);
  data_ = nullptr;
  size_ = 0;
}

int mapped_file::open(const std::filesystem::path& path) noexcept {
  reset();
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return errno;
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    auto err = errno;
    ::close(fd);
    return err;
  }
  if (st.st_size > 0) {
    auto size = static_cast<size_t>(st.st_size);
    void* p = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      auto err = errno;
      ::close(fd);
      return err;
    }
    ::madvise(p, size, MADV_SEQUENTIAL);
    data_ = static_cast<const char*>(p);
    size_ = size;
  }
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

void advise_huge_pages(const void* p, size_t n) noexcept {
  constexpr uintptr_t page = 4096;
  auto begin = (reinterpret_cast<uintptr_t>(p) + page - 1) & ~(page - 1);
  auto end = (reinterpret_cast<uintptr_t>(p) + n) & ~(page - 1);
  if (end > begin)
    ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
}

std::string error_text(int err) {
  return std::strerror(err);
}

} // namespace qmesh::store::io
