#include "node/port_probe.hpp"

#include <cerrno>
#include <cstring>

#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

namespace qmesh::node {

std::vector<listen_address> listen_addresses(const options& opts) {
  std::vector<listen_address> out;
  auto add = [&](const endpoint& ep, const char* what) {
    if (ep.port != 0)
      out.push_back({ep, what});
  };
  add(opts.listen, "native");
  if (opts.stomp.enabled)
    add(opts.stomp.listen, "stomp");
  if (opts.http.enabled)
    add(opts.http.listen, "http");
  if (opts.tls.stomp_listen)
    add(*opts.tls.stomp_listen, "stomp+tls");
  if (opts.tls.http_listen)
    add(*opts.tls.http_listen, "https");
  if (opts.cluster.enabled)
    add(opts.cluster.listen, "cluster");
  return out;
}

std::string probe(const listen_address& addr) {
  auto fail = [&](const std::string& why) {
    return "cannot listen on " + to_string(addr.ep) + " (" + addr.what
           + "): " + why;
  };
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  auto port = std::to_string(addr.ep.port);
  auto host = addr.ep.host.empty() ? nullptr : addr.ep.host.c_str();
  if (int rc = getaddrinfo(host, port.c_str(), &hints, &res); rc != 0)
    return fail(std::string{"unknown host: "} + gai_strerror(rc));
  std::string why;
  for (auto* ai = res; ai != nullptr; ai = ai->ai_next) {
    int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
                      ai->ai_protocol);
    if (fd < 0) {
      why = std::strerror(errno);
      continue;
    }
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    bool ok = ::bind(fd, ai->ai_addr, ai->ai_addrlen) == 0
              && ::listen(fd, 1) == 0;
    if (!ok)
      why = errno == EADDRINUSE ? "the address is already in use (another "
                                  "node or program listens there)"
            : errno == EADDRNOTAVAIL
              ? "no such address on this machine"
              : errno == EACCES ? "permission denied (a port below 1024?)"
                                : std::strerror(errno);
    ::close(fd);
    if (ok) {
      freeaddrinfo(res);
      return {};
    }
  }
  freeaddrinfo(res);
  return fail(why.empty() ? "no address to bind" : why);
}

} // namespace qmesh::node
