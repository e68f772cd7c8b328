// Segment files and the recovery scan.
//
// The journal is a directory of segment files `journal-<first seq, 20
// digits>.qlog`, each an 8-byte magic followed by frames (records.hpp). The
// name's seq is at most the seq of its first record; names sort in log order.
//
// Recovery rules of scan_segments():
//  - A torn final record of the LAST segment (too short for its header or
//    declared length, or a bad CRC / body with nothing but zero bytes after
//    it) is what a crash mid-write leaves: the file is truncated at the
//    frame's start and a note says so.
//  - Any other bad frame (before the tail, in an earlier segment, a bad
//    magic, a sequence number not above the previous one) is corruption:
//    the scan fails naming the file and byte offset, unless
//    recover_truncate is set; then the file is truncated there, all later
//    segments are deleted, and a note says that data was dropped.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <caf/expected.hpp>

#include "store/records.hpp"

namespace qmesh::store {

/// Every segment file starts with these 8 bytes.
constexpr std::string_view segment_magic = "QMJRNL02";

/// `journal-00000000000000000042.qlog`.
std::string segment_name(uint64_t first_seq);

/// The first seq of a segment file name; nullopt for other names.
std::optional<uint64_t> parse_segment_name(std::string_view filename);

struct segment_file {
  uint64_t first_seq = 0;
  std::filesystem::path path;
  /// Valid bytes (magic plus whole frames) and records in them.
  uint64_t bytes = 0;
  uint64_t records = 0;
};

/// The segment files in `dir`, in log order (bytes and records unset).
caf::expected<std::vector<segment_file>>
list_segments(const std::filesystem::path& dir);

/// Called for each valid record in log order with the first seq of the
/// segment holding it and its frame size. May move from `rec`.
using record_visitor
  = std::function<void(record& rec, uint64_t segment, size_t frame_size)>;

struct scan_result {
  /// The segments that remain, in log order, with their sizes.
  std::vector<segment_file> segments;
  /// Highest seq seen (0 for an empty journal).
  uint64_t last_seq = 0;
  uint64_t records = 0;
  /// Torn tails truncated, data dropped by recover_truncate.
  std::vector<std::string> notes;
};

/// Scans every segment of `dir` in order, feeding valid records to `visit`
/// and applying the recovery rules above (which may truncate or delete
/// files). Errors name the segment file and offset.
caf::expected<scan_result> scan_segments(const std::filesystem::path& dir,
                                         bool recover_truncate,
                                         const record_visitor& visit);

/// Reads one segment written by this process (compaction); stops with an
/// error at the first bad frame.
caf::error read_segment(const std::filesystem::path& path,
                        const std::function<void(record&)>& visit);

} // namespace qmesh::store
