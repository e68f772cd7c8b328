// Small POSIX file helpers for the journal (internal to store/).
//
// Each returns 0 on success or an errno value; none throws. Callers own the
// file descriptors they pass.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace qmesh::store::io {

/// Writes all `n` bytes (retrying short writes and EINTR).
int write_all(int fd, const char* data, size_t n) noexcept;

/// A read-only memory map of a whole file (empty files map nothing).
/// Move-only; unmaps on destruction.
class mapped_file {
public:
  mapped_file() = default;
  mapped_file(mapped_file&& other) noexcept;
  mapped_file& operator=(mapped_file&& other) noexcept;
  ~mapped_file();

  /// Maps the file at `path`; returns an errno value.
  int open(const std::filesystem::path& path) noexcept;

  const char* data() const noexcept {
    return data_;
  }

  size_t size() const noexcept {
    return size_;
  }

private:
  void reset() noexcept;
  const char* data_ = nullptr;
  size_t size_ = 0;
};

/// fsync() on the directory, making file creations and deletions in it
/// durable.
int sync_dir(const std::filesystem::path& dir) noexcept;

/// Truncates the file at `path` to `size` bytes and syncs it.
int truncate_file(const std::filesystem::path& path, uint64_t size) noexcept;

/// Free bytes for unprivileged users on the filesystem holding `path`.
int free_bytes(const std::filesystem::path& path, uint64_t& out) noexcept;

/// Asks the kernel to back [p, p + n) with transparent huge pages (where
/// it allows them: "madvise" mode): a large buffer about to be filled then
/// takes hundreds of page faults instead of hundreds of thousands. A hint;
/// errors are ignored.
void advise_huge_pages(const void* p, size_t n) noexcept;

/// "No such file or directory" style text for an errno value.
std::string error_text(int err);

} // namespace qmesh::store::io
