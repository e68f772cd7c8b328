// client_hello — the smallest program on the installed qmesh client
// library: connects to a node, puts one message on a queue, gets it back and
// prints its body. Built outside the source tree with pkg-config
// (docs/operations.md, "Building a program against the client library"):
//
//   g++ -o client_hello client_hello.cpp $(pkg-config --cflags --libs qmesh-client)
//   ./client_hello 127.0.0.1 7700 HELLO "hello, qmesh"
//
// Exit 0 when the message came back unchanged; on a client_error, the
// reason (`2059 q_mgr_not_available: ...`) on stderr and exit 1.
#include <cstdlib>
#include <iostream>
#include <string>

#include "client/client.hpp"

int main(int argc, char** argv) {
  if (argc != 5) {
    std::cerr << "usage: client_hello HOST PORT QUEUE TEXT\n";
    return 2;
  }
  const std::string host = argv[1], queue = argv[3], text = argv[4];
  const auto port = static_cast<uint16_t>(std::atoi(argv[2]));
  try {
    auto c = qmesh::client::connect(host, port);
    std::cout << "connected to " << c.qmgr().name << '\n';
    auto id = c.put(queue, qmesh::client::text(text));
    auto msg = c.get(queue, qmesh::client::wait(5000));
    std::cout << "put " << qmesh::to_string(id) << ", got \"" << msg.body
              << "\"\n";
    return msg.body == text ? 0 : 1;
  } catch (const qmesh::client_error& e) {
    std::cerr << "client_hello: " << e.what() << '\n';
    return 1;
  }
}
