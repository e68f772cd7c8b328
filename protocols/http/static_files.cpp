#include "protocols/http/static_files.hpp"

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <ctime>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "protocols/http/url.hpp"

namespace qmesh::http {

namespace {

/// The real path of `path` (symlinks resolved), empty if it does not exist.
std::string real_path(const std::string& path) {
  if (path.empty())
    return {};
  char buf[PATH_MAX];
  if (::realpath(path.c_str(), buf) == nullptr)
    return {};
  return buf;
}

/// True if `path` is `dir` or inside it.
bool inside(const std::string& path, const std::string& dir) {
  return path == dir
         || (path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0
             && path[dir.size()] == '/');
}

static_reply error(unsigned status, int reason, const std::string& text) {
  nlohmann::json j;
  j["reason"] = reason;
  j["error"] = text;
  static_reply r;
  r.status = status;
  r.content_type = "application/json";
  r.fields.emplace_back("Cache-Control", "no-store");
  r.body = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
           + "\n";
  return r;
}

static_reply bad_request(const std::string& text) {
  return error(400, 2046, "2046 options_error: " + text);
}

static_reply not_found(std::string_view path, const std::string& why) {
  return error(404, 2085,
               "2085 unknown_object_name: no resource "
                 + std::string{path.substr(0, 200)} + why);
}

std::string http_date(time_t t) {
  struct tm tm;
  gmtime_r(&t, &tm);
  char buf[64];
  auto n = std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return std::string(buf, n);
}

/// True if the If-None-Match list names `etag` (weak comparison) or is `*`.
bool etag_matches(std::string_view list, const std::string& etag) {
  while (!list.empty()) {
    auto comma = list.find(',');
    auto item = list.substr(0, comma);
    while (!item.empty() && item.front() == ' ')
      item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ')
      item.remove_suffix(1);
    if (item.substr(0, 2) == "W/")
      item.remove_prefix(2);
    if (item == "*" || item == etag)
      return true;
    if (comma == std::string_view::npos)
      break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

} // namespace

static_files::static_files(const std::string& root, uint64_t max_file_bytes)
  : max_file_bytes_(max_file_bytes) {
  auto real = real_path(root);
  struct stat st;
  if (!real.empty() && ::stat(real.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
    root_ = std::move(real);
}

std::string_view static_files::content_type(std::string_view name) {
  static const std::pair<std::string_view, std::string_view> table[] = {
    {".html", "text/html; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".mjs", "text/javascript; charset=utf-8"},
    {".map", "application/json"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".ico", "image/x-icon"},
    {".txt", "text/plain; charset=utf-8"},
    {".woff2", "font/woff2"},
  };
  auto dot = name.rfind('.');
  if (dot == std::string_view::npos)
    return {};
  auto ext = name.substr(dot);
  for (const auto& [e, type] : table)
    if (e == ext)
      return type;
  return {};
}

static_reply static_files::serve(const static_request& req) const {
  if (req.method != "GET" && req.method != "HEAD") {
    auto r = bad_request("static files take GET or HEAD");
    r.status = 405;
    r.fields.emplace_back("Allow", "GET, HEAD");
    return r;
  }
  auto target = req.target;
  if (target.empty() || target.front() != '/')
    return bad_request("expected a path starting with /");
  if (target.size() > max_path_bytes)
    return bad_request("path over " + std::to_string(max_path_bytes)
                       + " bytes");
  auto qpos = target.find('?');
  auto raw = target.substr(0, qpos);
  // Decode and check every segment; empty ones (`//`) are skipped.
  std::vector<std::string> segs;
  bool dir_form = raw.back() == '/';
  for (auto rest = raw.substr(1); !rest.empty();) {
    auto slash = rest.find('/');
    auto part = rest.substr(0, slash);
    rest = slash == std::string_view::npos ? std::string_view{}
                                           : rest.substr(slash + 1);
    if (part.empty())
      continue;
    std::string seg;
    if (!percent_decode(part, seg, false))
      return bad_request("malformed percent-encoding in the path");
    for (char c : seg)
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f || c == '\\'
          || c == '/')
        return bad_request("control character, backslash or encoded slash "
                           "in the path");
    if (seg == "." || seg == "..")
      return bad_request("'.' or '..' in the path");
    if (seg.front() == '.')
      return not_found(raw, " (hidden name)");
    segs.push_back(std::move(seg));
  }
  if (root_.empty())
    return not_found(raw, " (no web root)");
  // Where the file may be: the root, or one vendored package.
  std::string base = root_;
  size_t first = 0;
  if (!segs.empty() && segs[0] == "node_modules")
    return not_found(raw, "");
  if (!segs.empty() && segs[0] == "vendor") {
    std::string pkg;
    for (const auto& p : vendored_packages) {
      // A package name has one or two segments (`@scope/name`).
      std::vector<std::string_view> parts;
      std::string_view pv{p};
      while (!pv.empty()) {
        auto s = pv.find('/');
        parts.push_back(pv.substr(0, s));
        pv = s == std::string_view::npos ? std::string_view{}
                                         : pv.substr(s + 1);
      }
      if (segs.size() > parts.size()) {
        bool match = true;
        for (size_t i = 0; i < parts.size(); ++i)
          match = match && segs[i + 1] == parts[i];
        if (match) {
          pkg = p;
          first = 1 + parts.size();
          break;
        }
      }
    }
    if (pkg.empty())
      return not_found(raw, " (not a vendored package)");
    base = real_path(root_ + "/node_modules/" + pkg);
    if (base.empty() || !inside(base, root_ + "/node_modules"))
      return not_found(raw, " (package not installed: run npm ci in the "
                            "web root)");
  }
  std::string path = base;
  for (size_t i = first; i < segs.size(); ++i)
    path += "/" + segs[i];
  auto real = real_path(path);
  if (real.empty() || !inside(real, base))
    return not_found(raw, "");
  struct stat st;
  if (::stat(real.c_str(), &st) != 0)
    return not_found(raw, "");
  if (S_ISDIR(st.st_mode)) {
    if (!dir_form) {
      static_reply r;
      r.status = 301;
      r.content_type = "text/plain; charset=utf-8";
      std::string location{raw};
      location += '/';
      if (qpos != std::string_view::npos)
        location += target.substr(qpos);
      r.fields.emplace_back("Location", location);
      r.fields.emplace_back("Cache-Control", "no-cache");
      r.body = "see " + location + "\n";
      return r;
    }
    real = real_path(real + "/index.html");
    if (real.empty() || !inside(real, base) || ::stat(real.c_str(), &st) != 0)
      return not_found(raw, " (directory without index.html)");
  }
  if (!S_ISREG(st.st_mode))
    return not_found(raw, "");
  auto type = content_type(real.substr(real.rfind('/') + 1));
  if (type.empty())
    return not_found(raw, " (file type not served)");
  auto size = static_cast<uint64_t>(st.st_size);
  if (size > max_file_bytes_)
    return not_found(raw, " (over the static file limit of "
                            + std::to_string(max_file_bytes_) + " bytes)");
  char tag[64];
  std::snprintf(tag, sizeof tag, "\"%llx-%llx\"",
                static_cast<unsigned long long>(size),
                static_cast<unsigned long long>(st.st_mtim.tv_sec)
                    * 1'000'000'000ULL
                  + static_cast<unsigned long long>(st.st_mtim.tv_nsec));
  std::string etag = tag;
  static_reply r;
  r.content_type = type;
  r.fields.emplace_back("ETag", etag);
  r.fields.emplace_back("Last-Modified", http_date(st.st_mtim.tv_sec));
  r.fields.emplace_back("Cache-Control", "no-cache");
  r.fields.emplace_back("X-Content-Type-Options", "nosniff");
  if (type.substr(0, 9) == "text/html")
    r.fields.emplace_back("Content-Security-Policy",
                          "default-src 'self'; connect-src 'self' ws: wss:; "
                          "img-src 'self' data:; style-src 'self' "
                          "'unsafe-inline'; frame-ancestors 'none'");
  if (!req.if_none_match.empty() && etag_matches(req.if_none_match, etag)) {
    r.status = 304;
    r.content_type.clear();
    return r;
  }
  // Read the file whole (at most max_file_bytes_ + 1, in case it grew).
  int fd = ::open(real.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return not_found(raw, "");
  std::string body;
  body.resize(size + 1);
  size_t got = 0;
  while (got < body.size()) {
    auto n = ::read(fd, body.data() + got, body.size() - got);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  if (got > size)
    return error(503, 2195,
                 "2195 unexpected_error: the file changed while read");
  body.resize(got);
  r.body = std::move(body);
  return r;
}

} // namespace qmesh::http
