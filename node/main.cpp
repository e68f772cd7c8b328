// qmesh-node: one queue manager as a server process.
//
// Exit codes: 0 after SIGINT / SIGTERM, 2 for bad options or a listener
// that cannot be opened, 1 for anything else. Errors are one line on stderr.
#include <iostream>
#include <string>

#include <termios.h>
#include <unistd.h>

#include "core/password.hpp"

#include "node/node.hpp"
#include "node/options.hpp"

namespace {

/// --hash-password: one password from stdin (the terminal: prompted, not
/// echoed), its hash on stdout.
int hash_password_command() {
  bool tty = isatty(STDIN_FILENO) == 1;
  termios saved{};
  if (tty) {
    std::cerr << "password: " << std::flush;
    if (tcgetattr(STDIN_FILENO, &saved) == 0) {
      auto quiet = saved;
      quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
      tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
    }
  }
  std::string password;
  std::getline(std::cin, password);
  if (tty) {
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
    std::cerr << '\n';
  }
  if (!password.empty() && password.back() == '\r')
    password.pop_back();
  if (password.empty()) {
    std::cerr << "qmesh-node: --hash-password: empty password\n";
    return qmesh::node::exit_usage;
  }
  auto hash = qmesh::hash_password(password);
  if (hash.empty()) {
    std::cerr << "qmesh-node: --hash-password: hashing failed\n";
    return qmesh::node::exit_failure;
  }
  std::cout << hash << '\n';
  return qmesh::node::exit_ok;
}

} // namespace

int main(int argc, char** argv) {
  using namespace qmesh::node;
  try {
    auto parsed = parse(argc, argv);
    if (!parsed.error.empty()) {
      std::cerr << "qmesh-node: " << parsed.error
                << " (see qmesh-node --help)\n";
      return exit_usage;
    }
    if (parsed.hash_password)
      return hash_password_command();
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
