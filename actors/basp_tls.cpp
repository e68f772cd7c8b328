#include "actors/basp_tls.hpp"

#include <dlfcn.h>

#include <caf/actor_system_config.hpp>
#include <caf/io/middleman.hpp>
#include <caf/openssl/manager.hpp>
#include <openssl/err.h>
#include <openssl/ssl.h>

namespace qmesh {

namespace {

/// The next definition of `name` after this one (libssl's).
template <class Fn>
Fn* next_definition(const char* name) {
  return reinterpret_cast<Fn*>(dlsym(RTLD_NEXT, name));
}

} // namespace

void load_basp_tls(caf::actor_system_config& cfg,
                   const basp_tls_files& files) {
  cfg.load<caf::openssl::manager>();
  cfg.openssl_certificate = files.cert;
  cfg.openssl_key = files.key;
  cfg.openssl_cafile = files.ca;
}

} // namespace qmesh

// -- the error-queue guard ----------------------------------------------------
// These definitions take the place of libssl's for the whole process (the
// executable's symbols come first in dynamic lookup) and forward to them
// after clearing the calling thread's error queue. This file is linked in
// whenever load_basp_tls is.

extern "C" {

int SSL_read(SSL* ssl, void* buf, int num) {
  static auto* next = qmesh::next_definition<int(SSL*, void*, int)>("SSL_read");
  ERR_clear_error();
  return next(ssl, buf, num);
}

int SSL_write(SSL* ssl, const void* buf, int num) {
  static auto* next
    = qmesh::next_definition<int(SSL*, const void*, int)>("SSL_write");
  ERR_clear_error();
  return next(ssl, buf, num);
}

int SSL_accept(SSL* ssl) {
  static auto* next = qmesh::next_definition<int(SSL*)>("SSL_accept");
  ERR_clear_error();
  return next(ssl);
}

int SSL_connect(SSL* ssl) {
  static auto* next = qmesh::next_definition<int(SSL*)>("SSL_connect");
  ERR_clear_error();
  return next(ssl);
}

} // extern "C"
