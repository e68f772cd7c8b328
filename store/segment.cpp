#include "store/segment.hpp"

#include <algorithm>
#include <cstring>
#include <system_error>

#include "core/reason.hpp"
#include "store/file_io.hpp"

namespace qmesh::store {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view name_prefix = "journal-";
constexpr std::string_view name_suffix = ".qlog";
constexpr size_t seq_digits = 20;

const char* describe(frame_status s) {
  switch (s) {
    case frame_status::ok:
      return "ok";
    case frame_status::truncated:
      return "incomplete frame";
    case frame_status::bad_length:
      return "impossible length";
    case frame_status::bad_crc:
      return "CRC mismatch";
    case frame_status::bad_body:
      return "undecodable body";
  }
  return "?";
}

bool all_zero(std::span<const char> buf, size_t from) {
  return std::all_of(buf.begin() + static_cast<ptrdiff_t>(
                                     std::min(from, buf.size())),
                     buf.end(), [](char c) { return c == 0; });
}

caf::error io_error(const char* what, const fs::path& path, int err) {
  return reason_error(ec::resource_problem,
                      std::string{"journal: "} + what + " " + path.string()
                        + ": " + io::error_text(err));
}

/// What was wrong with a segment, where.
struct defect {
  size_t segment = 0; // index into the segment list
  uint64_t offset = 0;
  std::string what;
};

/// Applies recover_truncate at `d`: truncates (or, at offset 0, deletes)
/// the segment and deletes every later one.
caf::error drop_from(std::vector<segment_file>& segs, const defect& d,
                     const fs::path& dir) {
  auto& seg = segs[d.segment];
  if (d.offset == 0) {
    std::error_code err;
    fs::remove(seg.path, err);
    if (err)
      return io_error("cannot delete", seg.path, err.value());
  } else if (auto err = io::truncate_file(seg.path, d.offset)) {
    return io_error("cannot truncate", seg.path, err);
  }
  for (size_t i = d.segment + 1; i < segs.size(); ++i) {
    std::error_code err;
    fs::remove(segs[i].path, err);
    if (err)
      return io_error("cannot delete", segs[i].path, err.value());
  }
  segs.resize(d.offset == 0 ? d.segment : d.segment + 1);
  io::sync_dir(dir);
  return {};
}

} // namespace

std::string segment_name(uint64_t first_seq) {
  auto digits = std::to_string(first_seq);
  return std::string{name_prefix}
         + std::string(seq_digits - digits.size(), '0') + digits
         + std::string{name_suffix};
}

std::optional<uint64_t> parse_segment_name(std::string_view name) {
  if (name.size() != name_prefix.size() + seq_digits + name_suffix.size()
      || name.substr(0, name_prefix.size()) != name_prefix
      || name.substr(name.size() - name_suffix.size()) != name_suffix)
    return std::nullopt;
  auto digits = name.substr(name_prefix.size(), seq_digits);
  uint64_t x = 0;
  for (char c : digits) {
    if (c < '0' || c > '9')
      return std::nullopt;
    auto d = static_cast<uint64_t>(c - '0');
    if (x > (~uint64_t{0} - d) / 10)
      return std::nullopt;
    x = x * 10 + d;
  }
  return x;
}

caf::expected<std::vector<segment_file>>
list_segments(const fs::path& dir) {
  std::vector<segment_file> result;
  std::error_code err;
  for (auto it = fs::directory_iterator{dir, err};
       !err && it != fs::directory_iterator{}; it.increment(err)) {
    auto name = it->path().filename().string();
    if (auto seq = parse_segment_name(name))
      result.push_back(segment_file{*seq, it->path(), 0, 0});
  }
  if (err)
    return io_error("cannot list", dir, err.value());
  std::sort(result.begin(), result.end(),
            [](auto& a, auto& b) { return a.first_seq < b.first_seq; });
  return result;
}

caf::expected<scan_result> scan_segments(const fs::path& dir,
                                         bool recover_truncate,
                                         const record_visitor& visit) {
  auto listed = list_segments(dir);
  if (!listed)
    return listed.error();
  scan_result result;
  result.segments = std::move(*listed);
  auto& segs = result.segments;
  std::optional<defect> corrupt;
  for (size_t i = 0; i < segs.size() && !corrupt; ++i) {
    auto& seg = segs[i];
    auto name = seg.path.filename().string();
    bool last = i + 1 == segs.size();
    io::mapped_file file;
    if (auto err = file.open(seg.path))
      return io_error("cannot read", seg.path, err);
    std::span<const char> buf{file.data(), file.size()};
    auto magic = segment_magic.size();
    if (buf.size() < magic && last
        && (buf.empty()
            || std::memcmp(buf.data(), segment_magic.data(), buf.size()) == 0)) {
      // Created, then the process died before the magic was written.
      std::error_code err;
      fs::remove(seg.path, err);
      if (err)
        return io_error("cannot delete", seg.path, err.value());
      result.notes.push_back("journal: " + name
                             + ": incomplete segment header at offset 0, "
                               "segment removed");
      segs.pop_back();
      break;
    }
    if (buf.size() < magic
        || std::memcmp(buf.data(), segment_magic.data(), magic) != 0) {
      corrupt = defect{i, 0, "bad segment magic"};
      break;
    }
    size_t off = magic;
    size_t valid = buf.size();
    while (off < buf.size()) {
      auto d = decode(buf.subspan(off));
      if (d.status == frame_status::ok) {
        if (d.rec.seq <= result.last_seq) {
          corrupt = defect{i, off,
                           "sequence number " + std::to_string(d.rec.seq)
                             + " not above "
                             + std::to_string(result.last_seq)};
          break;
        }
        result.last_seq = d.rec.seq;
        ++seg.records;
        ++result.records;
        visit(d.rec, seg.first_seq, d.size);
        off += d.size;
        continue;
      }
      bool torn = last
                  && (d.status == frame_status::truncated
                      || ((d.status == frame_status::bad_crc
                           || d.status == frame_status::bad_body)
                          && all_zero(buf, off + d.size)));
      if (!torn) {
        corrupt = defect{i, off, describe(d.status)};
        break;
      }
      if (auto err = io::truncate_file(seg.path, off))
        return io_error("cannot truncate", seg.path, err);
      result.notes.push_back("journal: " + name + ": torn record at offset "
                             + std::to_string(off) + " ("
                             + describe(d.status) + ", "
                             + std::to_string(buf.size() - off)
                             + " bytes) truncated");
      valid = off;
      break;
    }
    seg.bytes = corrupt ? corrupt->offset : valid;
  }
  if (corrupt) {
    auto& seg = segs[corrupt->segment];
    auto where = "journal: corrupt record in " + seg.path.string()
                 + " at offset " + std::to_string(corrupt->offset) + " ("
                 + corrupt->what + ")";
    if (!recover_truncate)
      return reason_error(ec::resource_problem,
                          where + "; refusing to open (--recover-truncate "
                                  "drops everything from there on)");
    auto later = segs.size() - corrupt->segment - 1;
    if (auto err = drop_from(segs, *corrupt, dir))
      return err;
    result.notes.push_back(where + ": truncated there and "
                           + std::to_string(later)
                           + " later segment(s) deleted; data after that "
                             "point was dropped");
  }
  return result;
}

caf::error read_segment(const fs::path& path,
                        const std::function<void(record&)>& visit) {
  io::mapped_file file;
  if (auto err = file.open(path))
    return io_error("cannot read", path, err);
  std::span<const char> buf{file.data(), file.size()};
  auto magic = segment_magic.size();
  if (buf.size() < magic
      || std::memcmp(buf.data(), segment_magic.data(), magic) != 0)
    return reason_error(ec::resource_problem,
                        "journal: bad segment magic in " + path.string());
  for (size_t off = magic; off < buf.size();) {
    auto d = decode(buf.subspan(off));
    if (d.status != frame_status::ok)
      return reason_error(ec::resource_problem,
                          "journal: corrupt record in " + path.string()
                            + " at offset " + std::to_string(off) + " ("
                            + describe(d.status) + ")");
    visit(d.rec);
    off += d.size;
  }
  return {};
}

} // namespace qmesh::store
