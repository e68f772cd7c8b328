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

/// Reads the whole file at `path` into `out`.
int read_file(const std::filesystem::path& path, std::vector<char>& out);

/// fsync() on the directory, making file creations and deletions in it
/// durable.
int sync_dir(const std::filesystem::path& dir) noexcept;

/// Truncates the file at `path` to `size` bytes and syncs it.
int truncate_file(const std::filesystem::path& path, uint64_t size) noexcept;

/// Free bytes for unprivileged users on the filesystem holding `path`.
int free_bytes(const std::filesystem::path& path, uint64_t& out) noexcept;

/// "No such file or directory" style text for an errno value.
std::string error_text(int err);

} // namespace qmesh::store::io
