// Password hashes for the users file: PBKDF2-HMAC-SHA256 from OpenSSL with a
// random 16-byte salt, encoded `pbkdf2-sha256$ITERATIONS$SALT_B64$HASH_B64`.
//
// Hashing is deliberately slow (tens of milliseconds): the node pays it once
// per authentication, never per message.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace qmesh {

/// Iterations of newly made hashes.
constexpr uint32_t password_iterations = 210'000;

/// Fewest iterations a stored hash may have.
constexpr uint32_t min_password_iterations = 1'000;

/// Most iterations a stored hash may have (bounds the cost of one check).
constexpr uint32_t max_password_iterations = 10'000'000;

/// Hashes `password` with a fresh random salt; empty on an OpenSSL failure.
std::string hash_password(std::string_view password,
                          uint32_t iterations = password_iterations);

/// True if `encoded` has the form hash_password() produces.
bool is_valid_password_hash(std::string_view encoded);

/// True if `password` matches `encoded`; compares in constant time.
bool verify_password(std::string_view password, std::string_view encoded);

} // namespace qmesh

namespace qmesh {

/// A fast one-way digest (SHA-256) of `text`, for caching verifications.
std::string fast_digest(std::string_view text);

} // namespace qmesh

namespace qmesh {

/// Decodes standard base64 (with padding); false if malformed or longer
/// than 8 KiB.
bool decode_base64(std::string_view text, std::string& out);

} // namespace qmesh
