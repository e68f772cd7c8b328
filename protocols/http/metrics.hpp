// The node's figures in the Prometheus text exposition format (0.0.4),
// for `GET /metrics`. Plain C++: unit tests call it directly.
//
// Names start with `qmesh_`; counters end in `_total`; units are part of
// the name (`_bytes`, `_seconds`). Per-queue series carry a `queue` label,
// per-channel series a `remote` label, connections a `protocol`
// label (label values escaped as the format
// says: backslash, double quote, newline).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/cluster_info.hpp"
#include "core/queue_attrs.hpp"
#include "core/requests.hpp"

namespace qmesh::http {

/// The whole `/metrics` body.
std::string render_metrics(const qm_status& node,
                           const std::vector<queue_status>& queues,
                           const cluster_status& cluster,
                           const std::vector<connection_info>& connections);

/// A label value escaped for the text format.
std::string escape_label(std::string_view value);

} // namespace qmesh::http
