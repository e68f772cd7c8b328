#include "core/password.hpp"

#include <charconv>
#include <vector>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

namespace qmesh {

namespace {

constexpr std::string_view scheme = "pbkdf2-sha256";
constexpr size_t salt_bytes = 16;
constexpr size_t hash_bytes = 32;

std::string to_base64(const unsigned char* data, size_t n) {
  std::string out(4 * ((n + 2) / 3), '\0');
  auto len = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                             data, static_cast<int>(n));
  out.resize(static_cast<size_t>(len));
  return out;
}

/// Decodes standard base64 of at most `max_text` characters (padding
/// included) into `out`; false if it is empty, longer, or not base64.
bool decode_base64_upto(std::string_view text, size_t max_text,
                        std::string& out) {
  if (text.empty() || text.size() % 4 != 0 || text.size() > max_text)
    return false;
  std::string buf(3 * text.size() / 4, '\0');
  auto len = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(buf.data()),
                             reinterpret_cast<const unsigned char*>(
                               text.data()),
                             static_cast<int>(text.size()));
  if (len < 0)
    return false;
  size_t pad = 0;
  for (auto i = text.size(); i > 0 && text[i - 1] == '='; --i)
    ++pad;
  if (pad > 2)
    return false;
  buf.resize(static_cast<size_t>(len) - pad);
  out = std::move(buf);
  return true;
}

/// A hash file's salt or hash field (short by construction).
bool from_base64(std::string_view text, std::vector<unsigned char>& out) {
  std::string bytes;
  if (!decode_base64_upto(text, 256, bytes))
    return false;
  out.assign(bytes.begin(), bytes.end());
  return true;
}

bool derive(std::string_view password, const unsigned char* salt,
            size_t salt_len, uint32_t iterations, unsigned char* out) {
  return PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()),
                           salt, static_cast<int>(salt_len),
                           static_cast<int>(iterations), EVP_sha256(),
                           static_cast<int>(hash_bytes), out)
         == 1;
}

struct decoded {
  uint32_t iterations = 0;
  std::vector<unsigned char> salt;
  std::vector<unsigned char> hash;
};

/// Splits `scheme$ITER$SALT$HASH`; false if any part is malformed.
bool decode(std::string_view encoded, decoded& out) {
  std::string_view parts[4];
  size_t n = 0;
  size_t start = 0;
  while (n < 4) {
    auto dollar = encoded.find('$', start);
    parts[n++] = encoded.substr(start, dollar == std::string_view::npos
                                         ? std::string_view::npos
                                         : dollar - start);
    if (dollar == std::string_view::npos)
      break;
    start = dollar + 1;
    if (n == 4)
      return false; // a fifth part
  }
  if (n != 4 || parts[0] != scheme)
    return false;
  auto it = parts[1];
  auto res = std::from_chars(it.data(), it.data() + it.size(), out.iterations);
  if (it.empty() || res.ec != std::errc{} || res.ptr != it.data() + it.size()
      || out.iterations < min_password_iterations
      || out.iterations > max_password_iterations)
    return false;
  return from_base64(parts[2], out.salt) && out.salt.size() >= 8
         && from_base64(parts[3], out.hash) && out.hash.size() == hash_bytes;
}

} // namespace

std::string hash_password(std::string_view password, uint32_t iterations) {
  unsigned char salt[salt_bytes];
  unsigned char hash[hash_bytes];
  if (RAND_bytes(salt, sizeof(salt)) != 1
      || !derive(password, salt, sizeof(salt), iterations, hash))
    return {};
  std::string out{scheme};
  out += '$';
  out += std::to_string(iterations);
  out += '$';
  out += to_base64(salt, sizeof(salt));
  out += '$';
  out += to_base64(hash, sizeof(hash));
  return out;
}

bool is_valid_password_hash(std::string_view encoded) {
  decoded d;
  return decode(encoded, d);
}

bool verify_password(std::string_view password, std::string_view encoded) {
  decoded d;
  if (!decode(encoded, d))
    return false;
  unsigned char hash[hash_bytes];
  if (!derive(password, d.salt.data(), d.salt.size(), d.iterations, hash))
    return false;
  return CRYPTO_memcmp(hash, d.hash.data(), hash_bytes) == 0;
}

} // namespace qmesh

namespace qmesh {

std::string fast_digest(std::string_view text) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(text.data(), text.size(), out, &len, EVP_sha256(), nullptr)
      != 1)
    return {};
  return std::string{reinterpret_cast<const char*>(out), len};
}

} // namespace qmesh

namespace qmesh {

bool decode_base64(std::string_view text, std::string& out) {
  return decode_base64_upto(text, 8192, out);
}

} // namespace qmesh
