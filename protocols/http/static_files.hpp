// Static files of the HTTP listener: the node's web root (`--web-root`),
// which holds the web console (`/`) and the chat example (`/chat/`), and
// the few npm packages those pages load, under `/vendor/` (docs/operations.md,
// "Web console and chat").
//
// Rules: GET and HEAD only; a URL path maps to the same path under the root
// (`/` and any `dir/` to `index.html`; `/dir` redirects to `/dir/`);
// `/vendor/<package>/...` maps to `node_modules/<package>/...` for the
// packages in `vendored_packages` only. Refused: `.` and `..` segments (also
// percent-encoded), backslashes, control characters and NUL, names starting
// with `.`, `node_modules` itself, absolute-form targets, paths over
// `max_path_bytes`, anything whose real path (symlinks resolved) leaves the
// root, file types not in the content-type table, and files over
// `max_file_bytes` (files are read whole on the caller's thread: the cap
// keeps that short). Answers carry ETag (size and modification time),
// Last-Modified and Cache-Control (`no-cache`: revalidate, 304 on a
// matching If-None-Match).
//
// Plain C++, no actors: the HTTP connection actor calls serve() and writes
// the reply; unit tests call it on a temporary directory.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace qmesh::http {

/// One answer to a static-file request.
struct static_reply {
  unsigned status = 200;
  std::string content_type;
  /// Further header fields (Cache-Control, ETag, Location, Allow, ...).
  std::vector<std::pair<std::string, std::string>> fields;
  /// The file's bytes, or a JSON error body (`{"reason":..,"error":..}`).
  std::string body;
};

/// The request fields static serving looks at.
struct static_request {
  std::string_view method; // "GET", "HEAD", ...
  std::string_view target; // as sent: path and query
  std::string_view if_none_match;
};

/// A web root. Immutable after construction; safe to share across threads.
class static_files {
public:
  /// npm packages reachable under /vendor/.
  static inline const std::vector<std::string> vendored_packages
    = {"@stomp/stompjs"};
  static constexpr size_t max_path_bytes = 1024;

  /// `root` is resolved to its real path here; a root that does not exist
  /// (or an empty one) answers every request with 404.
  explicit static_files(const std::string& root,
                        uint64_t max_file_bytes = 8 * 1024 * 1024);

  /// The real path of the root, empty if it does not exist.
  const std::string& root() const {
    return root_;
  }

  static_reply serve(const static_request& req) const;

  /// The content type for a file name, empty if such files are not served.
  static std::string_view content_type(std::string_view file_name);

private:
  std::string root_;
  uint64_t max_file_bytes_;
};

} // namespace qmesh::http
