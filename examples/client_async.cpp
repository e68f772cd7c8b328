// client_async — one thread keeping many requests in flight with the
// client library's asynchronous calls (docs/client.md, "Asynchronous
// calls"): puts N messages with put_async, then drains them with batch
// gets under a unit of work, committed only once every message was
// handled. Built like client_hello:
//
//   g++ -o client_async client_async.cpp $(pkg-config --cflags --libs qmesh-client)
//   ./client_async 127.0.0.1 7700 ORDERS 10000
//
// Exit 0 when the N messages came back in order; on a client_error, the
// reason on stderr and exit 1.
#include <cstdlib>
#include <future>
#include <iostream>
#include <string>
#include <vector>

#include "client/client.hpp"

int main(int argc, char** argv) {
  if (argc != 5) {
    std::cerr << "usage: client_async HOST PORT QUEUE N\n";
    return 2;
  }
  const std::string host = argv[1], queue = argv[3];
  const auto port = static_cast<uint16_t>(std::atoi(argv[2]));
  const long n = std::atol(argv[4]);
  try {
    qmesh::client_options opts;
    opts.window = 256; // calls in flight at most (the default)
    auto c = qmesh::client::connect(host, port, opts);
    // Put: a future per message; a put beyond the window waits for one.
    std::vector<std::future<qmesh::msg_id>> puts;
    for (long i = 0; i < n; ++i)
      puts.push_back(
        c.put_async(queue, qmesh::client::text(std::to_string(i))));
    for (auto& f : puts)
      f.get(); // throws client_error (2053 queue full, ...) if one failed
    // Drain: up to 1,000 messages per unit of work, in batch gets of 100.
    long next = 0;
    for (;;) {
      auto uow = c.begin();
      qmesh::get_options g;
      g.uow = uow;
      std::vector<std::future<std::vector<qmesh::message>>> gets;
      for (int i = 0; i < 10; ++i)
        gets.push_back(c.get_many_async(queue, 100, g));
      size_t got = 0;
      for (auto& f : gets)
        for (auto& m : f.get()) { // each batch in queue order
          if (m.body != std::to_string(next)) {
            std::cerr << "client_async: expected " << next << ", got "
                      << m.body << '\n';
            c.backout(uow); // they stay on the queue
            return 1;
          }
          ++next;
          ++got;
        }
      c.commit(uow); // handled: now they are gone from the queue
      if (got == 0)
        break;
    }
    std::cout << "put " << n << ", got " << next << " in order\n";
    return next == n ? 0 : 1;
  } catch (const qmesh::client_error& e) {
    std::cerr << "client_async: " << e.what() << '\n';
    return 1;
  }
}
