// qmesh-request-reply — request/reply over qmesh with reply_to and correl_id.
//
// A responder serves requests from a request queue; a requester puts each
// request with `reply_to_queue` set to its reply queue and waits for the
// reply whose correl_id is the request's msg_id, so many requesters can
// share one reply queue and replies never mix:
//
//   qmesh-request-reply responder --queue SVC.REQUEST
//   qmesh-request-reply requester --queue SVC.REQUEST
//       --reply-queue APP.REPLY hello world
//   HELLO
//   WORLD
//
// A request expires when its requester stops waiting (--wait), and its
// reply no later: nothing is left behind by a requester that gave up.
//
// The responder's service upper-cases the request body. It takes each
// request and puts its reply in one unit of work, so a responder that dies
// half-way loses nothing: the request goes back to the queue.
//
// Exit codes as the qmesh CLI: 0 ok, 1 reason code, 2 usage error.
#include <algorithm>
#include <cctype>
#include <iostream>
#include <string>
#include <vector>

#include <boost/program_options.hpp>

#include "client/client.hpp"

namespace po = boost::program_options;

namespace {

struct usage_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct endpoint {
  std::string host = "127.0.0.1";
  uint16_t port = 7700;
};

endpoint parse_node(const std::string& text) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0)
    throw usage_error("--node '" + text + "': expected HOST:PORT");
  int port = 0;
  try {
    size_t used = 0;
    port = std::stoi(text.substr(colon + 1), &used);
    if (used != text.size() - colon - 1)
      port = 0;
  } catch (...) {
    port = 0;
  }
  if (port < 1 || port > 65535)
    throw usage_error("--node '" + text + "': port must be 1-65535");
  return {text.substr(0, colon), static_cast<uint16_t>(port)};
}

/// The responder's service: the request body in upper case.
std::string serve(const std::string& request) {
  std::string reply = request;
  std::transform(reply.begin(), reply.end(), reply.begin(),
                 [](unsigned char c) { return std::toupper(c); });
  return reply;
}

/// Puts one request per text and prints each reply body on its own line.
int requester(qmesh::client& c, const std::string& queue,
              const std::string& reply_queue,
              const std::vector<std::string>& texts, int64_t wait_ms) {
  for (const auto& text : texts) {
    auto request = qmesh::client::text(text);
    request.reply_to_queue = reply_queue;
    // Nobody waits for the answer after wait_ms: the request expires then,
    // so a requester that gives up leaves nothing behind for a responder.
    request.expiry = std::max<int64_t>(wait_ms, 1);
    auto id = c.put(queue, std::move(request));
    // The reply carries the request's msg_id as its correl_id.
    qmesh::get_options opts;
    opts.wait_ms = wait_ms;
    opts.match_correl_id = qmesh::to_string(id);
    auto reply = c.try_get(reply_queue, opts);
    if (!reply)
      throw qmesh::client_error{qmesh::client_rc::no_msg_available,
                                "no_msg_available",
                                "no reply to '" + text + "' within "
                                  + std::to_string(wait_ms)
                                  + " ms; the request expires unanswered"};
    std::cout << reply->body << std::endl;
  }
  return 0;
}

/// Serves `count` requests (0 = until no request arrives within wait_ms).
int responder(qmesh::client& c, const std::string& queue, uint64_t count,
              int64_t wait_ms) {
  for (uint64_t served = 0; count == 0 || served < count;) {
    auto uow = c.begin();
    qmesh::get_options opts;
    opts.wait_ms = wait_ms;
    opts.uow = uow;
    auto request = c.try_get(queue, opts);
    if (!request) {
      c.backout(uow);
      if (count == 0)
        return 0;
      throw qmesh::client_error{qmesh::client_rc::no_msg_available,
                                "no_msg_available",
                                queue + ": " + std::to_string(served)
                                  + " of " + std::to_string(count)
                                  + " requests arrived"};
    }
    if (request->reply_to_queue.empty()) {
      // Nobody to answer: take it off the queue and say so.
      std::cerr << "qmesh-request-reply: request "
                << qmesh::to_string(request->id)
                << " has no reply_to_queue; dropped\n";
      c.commit(uow);
      continue;
    }
    auto reply = qmesh::client::text(serve(request->body));
    reply.correl_id = qmesh::to_string(request->id);
    // A reply lives no longer than its request did: its requester has
    // stopped waiting by then.
    reply.expiry = request->expiry;
    auto address = request->reply_to_qmgr.empty()
                     ? request->reply_to_queue
                     : request->reply_to_qmgr + "/" + request->reply_to_queue;
    c.put(address, std::move(reply), uow);
    c.commit(uow);
    ++served;
    std::cerr << "qmesh-request-reply: served " << qmesh::to_string(request->id)
              << std::endl;
  }
  return 0;
}

constexpr const char* usage_text
  = "usage: qmesh-request-reply responder --queue Q [--count N] "
    "[--wait MS]\n"
    "       qmesh-request-reply requester --queue Q "
    "--reply-queue R TEXT...\n";

int run(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << usage_text << "(qmesh-request-reply --help for more)\n";
    return 2;
  }
  std::string node = "127.0.0.1:7700";
  std::string mode;
  std::string queue;
  std::string reply_queue;
  std::vector<std::string> texts;
  std::string count_text;
  std::string wait;
  po::options_description desc{"Options"};
  desc.add_options()
    ("help,h", "print this help")
    ("node", po::value(&node)->value_name("HOST:PORT"),
     "node to talk to (default 127.0.0.1:7700)")
    ("queue", po::value(&queue)->value_name("QUEUE"),
     "request queue (both modes)")
    ("reply-queue", po::value(&reply_queue)->value_name("QUEUE"),
     "requester: queue the replies come back on")
    ("count", po::value(&count_text)->value_name("N"),
     "responder: serve N requests, then exit (default: until --wait "
     "passes without a request)")
    ("wait", po::value(&wait)->value_name("MS"),
     "requester: wait per reply (default 10000); responder: wait per "
     "request (default unlimited)");
  po::options_description hidden;
  hidden.add_options()("mode", po::value(&mode))(
    "text", po::value(&texts)->composing());
  po::options_description all;
  all.add(desc).add(hidden);
  po::positional_options_description pos;
  pos.add("mode", 1).add("text", -1);
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc, argv)
                .options(all)
                .positional(pos)
                .style(po::command_line_style::unix_style
                       ^ po::command_line_style::allow_guessing)
                .run(),
              vm);
    po::notify(vm);
  } catch (const po::error& e) {
    throw usage_error(e.what());
  }
  if (vm.count("help")) {
    std::cout << usage_text << "\n"
                 "Request/reply over qmesh with reply_to_queue and "
                 "correl_id; the responder upper-cases each request.\n\n"
              << desc;
    return 0;
  }
  auto ep = parse_node(node);
  uint64_t count = 0;
  if (!count_text.empty()) {
    if (count_text.find_first_not_of("0123456789") != std::string::npos
        || count_text.size() > 18)
      throw usage_error("--count '" + count_text + "': expected N >= 0");
    count = std::stoull(count_text);
  }
  if (queue.empty())
    throw usage_error("--queue is required");
  int64_t wait_ms = 0;
  if (!wait.empty()) {
    try {
      size_t used = 0;
      wait_ms = std::stoll(wait, &used);
      if (used != wait.size() || wait_ms < 0)
        throw usage_error("");
    } catch (...) {
      throw usage_error("--wait '" + wait + "': expected milliseconds");
    }
  }
  if (mode == "requester") {
    if (reply_queue.empty())
      throw usage_error("requester: --reply-queue is required");
    if (texts.empty())
      throw usage_error("requester: give at least one TEXT");
    auto c = qmesh::client::connect(ep.host, ep.port);
    return requester(c, queue, reply_queue, texts,
                     wait.empty() ? 10'000 : wait_ms);
  }
  if (mode == "responder") {
    if (!texts.empty())
      throw usage_error("responder: unexpected argument " + texts.front());
    auto c = qmesh::client::connect(ep.host, ep.port);
    return responder(c, queue, count,
                     wait.empty() ? qmesh::wait_unlimited : wait_ms);
  }
  throw usage_error(mode.empty() ? "missing mode (requester or responder)"
                                 : "unknown mode '" + mode + "'");
}

} // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const usage_error& e) {
    std::cerr << "qmesh-request-reply: " << e.what()
              << " (see qmesh-request-reply --help)\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "qmesh-request-reply: " << e.what() << '\n';
    return 1;
  }
}
