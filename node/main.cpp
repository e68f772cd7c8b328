// qmesh-node: one queue manager as a server process.
//
// Exit codes: 0 after SIGINT / SIGTERM, 2 for bad options or a listener
// that cannot be opened, 1 for anything else. Errors are one line on stderr.
#include <iostream>

#include "node/node.hpp"
#include "node/options.hpp"

int main(int argc, char** argv) {
  using namespace qmesh::node;
  try {
    auto parsed = parse(argc, argv);
    if (!parsed.error.empty()) {
      std::cerr << "qmesh-node: " << parsed.error
                << " (see qmesh-node --help)\n";
      return exit_usage;
    }
    if (!parsed.opts) {
      std::cout << parsed.out;
      return exit_ok;
    }
    return run(*parsed.opts);
  } catch (const std::exception& e) {
    std::cerr << "qmesh-node: " << e.what() << '\n';
    return exit_failure;
  }
}
