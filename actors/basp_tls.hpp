// Mutual TLS for BASP (native clients and cluster links) through CAF's
// OpenSSL module; docs/operations.md, "TLS". Used by the node and the
// client library alike.
#pragma once

#include <string>

#include <caf/fwd.hpp>

namespace qmesh {

/// The files of one side of a mutual-TLS BASP link (PEM).
struct basp_tls_files {
  /// This side's certificate chain and its unencrypted key.
  std::string cert;
  std::string key;
  /// The CA a peer's certificate must chain to.
  std::string ca;
};

/// Loads CAF's OpenSSL module into `cfg` with `files`: every BASP
/// connection of the system then runs TLS and verifies the peer's
/// certificate against the CA (both sides; a peer without a valid
/// certificate fails the handshake before any BASP byte is parsed).
/// Call it only when TLS is wanted: a system without it runs as before.
///
/// Also guards OpenSSL's per-thread error queue for CAF's OpenSSL code,
/// which leaves a failed handshake's errors queued: the next TLS call on
/// that thread would see them and drop a healthy connection (one bad peer
/// would cut every other link). Each SSL_read, SSL_write, SSL_accept and
/// SSL_connect of the process starts with an empty queue, as OpenSSL
/// requires of its callers.
void load_basp_tls(caf::actor_system_config& cfg, const basp_tls_files& files);

} // namespace qmesh
