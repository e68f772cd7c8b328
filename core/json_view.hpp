// JSON views of the reply types, one shape for every interface that prints
// JSON (the CLI's --json, the HTTP admin API). Field names follow the
// structs; times are ms since the epoch; a message body that is not UTF-8
// is dumped with replacement characters (dump with error_handler replace).
#pragma once

#include <nlohmann/json.hpp>

#include "core/cluster_info.hpp"
#include "core/message.hpp"
#include "core/queue_attrs.hpp"
#include "core/requests.hpp"

namespace qmesh {

using ordered_json = nlohmann::ordered_json;

ordered_json to_json(const queue_status& s);
ordered_json to_json(const subscription_info& s);
ordered_json to_json(const qm_status& s);
ordered_json to_json(const connection_info& c);
ordered_json to_json(const cluster_status& s);
ordered_json to_json(const message& m);

/// A JSON object of attribute values as an attr_map (strings as they are,
/// numbers and booleans in their text form); false if `j` is not an object
/// of scalars.
bool to_attr_map(const nlohmann::json& j, attr_map& out);

} // namespace qmesh
