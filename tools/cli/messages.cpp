// The qmesh CLI's messaging: put (arguments or stdin lines), get (one at a
// time, or pipelined in units of work for bulk gets) and move.
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <future>
#include <iostream>
#include <optional>

#include "tools/cli/batch.hpp"
#include "tools/cli/cli.hpp"

namespace qmesh::cli {

namespace {

/// Reads stdin to the end, one message per line, putting what each read
/// delivers as one batch (so a pipe is batched and a terminal is not).
void put_stdin(qmesh::client& c, const std::string& address,
               const message_options& mo) {
  constexpr size_t max_batch = 1000;
  constexpr size_t max_batch_bytes = 1 << 20;
  auto proto = mo.make();
  std::vector<qmesh::message> batch;
  size_t batch_bytes = 0;
  // Lines put so far: a batch is all or nothing, so a failure can say
  // exactly which lines went in.
  uint64_t put = 0;
  progress_line progress{"put"};
  auto flush = [&] {
    if (batch.empty())
      return;
    auto n = batch.size();
    try {
      c.put_many(address, std::move(batch));
    } catch (const qmesh::client_error& e) {
      progress.done();
      throw qmesh::client_error{
        e.code(), e.name(),
        e.text() + " (" + std::to_string(put) + " lines put: 1 to "
          + std::to_string(put) + "; none from line "
          + std::to_string(put + 1) + " on)"};
    }
    put += n;
    progress.update(put);
    batch.clear();
    batch_bytes = 0;
  };
  auto add = [&](std::string line) {
    if (!line.empty() && line.back() == '\r')
      line.pop_back();
    auto m = proto;
    batch_bytes += line.size();
    m.body = std::move(line);
    batch.push_back(std::move(m));
    if (batch.size() >= max_batch || batch_bytes >= max_batch_bytes)
      flush();
  };
  std::string buf;
  std::vector<char> chunk(64 * 1024);
  for (;;) {
    auto n = ::read(STDIN_FILENO, chunk.data(), chunk.size());
    if (n < 0) {
      if (errno == EINTR)
        continue;
      throw std::runtime_error(std::string{"reading stdin: "}
                               + std::strerror(errno));
    }
    if (n == 0)
      break;
    buf.append(chunk.data(), static_cast<size_t>(n));
    size_t start = 0;
    for (auto nl = buf.find('\n', start); nl != std::string::npos;
         nl = buf.find('\n', start)) {
      add(buf.substr(start, nl - start));
      start = nl + 1;
    }
    buf.erase(0, start);
    flush();
  }
  if (!buf.empty())
    add(std::move(buf));
  flush();
  progress.done();
}

/// Messages per unit of work of a bulk get.
constexpr uint64_t get_batch_size = 1000;

/// Prints a batch of messages and flushes stdout once.
void print_batch(const std::vector<qmesh::message>& msgs, bool show) {
  for (const auto& msg : msgs)
    print_message(msg, show, false);
  std::cout.flush();
}

/// A destructive get of many messages from a local queue: batch gets (see
/// batch.hpp) under a unit of work per batch, committed once the batch is
/// written to stdout. Killed or cut off mid-batch, the CLI leaves the
/// batch on the queue (redelivered, delivery_count + 1): at least once,
/// never lost. The batches do not wait; once the queue is empty, one get
/// waits (up to --wait) and what it brings is printed at once, then
/// batches resume.
template <class Fewer>
int get_in_batches(qmesh::client& c, const std::string& address,
                   qmesh::get_options opts, bool all, uint64_t count,
                   bool show, progress_line& progress, Fewer fewer) {
  const auto wait_ms = opts.wait_ms;
  uint64_t got = 0;
  auto batch = get_batch_size;
  bool waiting = false;
  while (all || got < count) {
    auto uow = c.begin();
    opts.uow = uow;
    opts.wait_ms = waiting ? wait_ms : 0;
    auto want = waiting ? 1 : all ? batch : std::min(batch, count - got);
    auto res = qmesh::cli::get_batch(c, address, opts, want);
    print_batch(res.messages, show);
    auto n = res.messages.size();
    auto keep = [&](const std::string& why) {
      try {
        c.backout(uow);
      } catch (const qmesh::client_error&) {
        // The node ends an abandoned unit of work itself.
      }
      progress.done();
      if (n == 0)
        return why;
      return why + " (this batch of " + std::to_string(n) + " stays on "
             + address + ")";
    };
    if (!std::cout)
      throw std::runtime_error(keep("writing stdout failed"));
    try {
      c.commit(uow);
    } catch (const qmesh::client_error& e) {
      throw qmesh::client_error{e.code(), e.name(), keep(e.text())};
    }
    got += n;
    progress.update(got);
    if (res.failure) {
      // A unit of work smaller than this batch (the node's
      // --max-uncommitted): go on with batches of what fitted.
      if (res.failure->code() == 2024 && n > 0) {
        batch = n;
        continue;
      }
      progress.done();
      throw *res.failure;
    }
    if (res.empty) {
      if (waiting || wait_ms == 0)
        return fewer(got);
      waiting = true;
    } else {
      waiting = false;
    }
  }
  progress.done();
  return exit_ok;
}

/// A browse of many messages: batch browses of up to get_batch_size, each
/// going on from the last message's cursor; once none is left, one browse
/// waits (up to --wait), then batches resume.
template <class Fewer>
int browse_in_batches(qmesh::client& c, const std::string& address,
                      qmesh::get_options opts, bool all, uint64_t count,
                      bool show, progress_line& progress, Fewer fewer) {
  const auto wait_ms = opts.wait_ms;
  uint64_t got = 0;
  while (all || got < count) {
    auto want = all ? get_batch_size : std::min(get_batch_size, count - got);
    opts.wait_ms = 0;
    auto msgs = c.get_many(address, static_cast<uint32_t>(want), opts);
    if (msgs.empty() && wait_ms != 0) {
      opts.wait_ms = wait_ms;
      if (auto msg = c.try_get(address, opts))
        msgs.push_back(std::move(*msg));
    }
    if (msgs.empty())
      return fewer(got);
    print_batch(msgs, show);
    got += msgs.size();
    progress.update(got);
    opts.browse = static_cast<uint8_t>(qmesh::browse_mode::next);
    opts.browse_cursor = msgs.back().tag;
  }
  progress.done();
  return exit_ok;
}

} // namespace

int cmd_put(const command& cmd, std::vector<std::string>& args,
            global_options& g) {
  std::string address;
  std::vector<std::string> texts;
  message_options mo;
  po::options_description desc{"Options"};
  desc.add_options()("address", po::value(&address)->required(),
                     "queue (QUEUE or QM/QUEUE)")(
    "text", po::value(&texts), "message bodies (none: one per stdin line)");
  mo.add_to(desc);
  mo.add_put_wait(desc);
  po::positional_options_description pos;
  pos.add("address", 1).add("text", -1);
  po::variables_map vm;
  if (!parse_args(cmd, args, desc, pos, vm, g))
    return exit_ok;
  auto proto = mo.make(); // usage errors before connecting
  auto c = connect(g);
  if (texts.empty()) {
    put_stdin(c, address, mo);
    return exit_ok;
  }
  if (texts.size() == 1) {
    proto.body = texts.front();
    c.put(address, std::move(proto));
    return exit_ok;
  }
  std::vector<qmesh::message> batch;
  for (auto& t : texts) {
    auto m = proto;
    m.body = std::move(t);
    batch.push_back(std::move(m));
  }
  c.put_many(address, std::move(batch));
  return exit_ok;
}

int cmd_get(const command& cmd, std::vector<std::string>& args,
            global_options& g) {
  std::string address;
  std::string wait = "0";
  std::string count_text;
  bool all = false;
  bool browse = false;
  std::string msg_id_text;
  std::string correl_id;
  bool show = false;
  po::options_description desc{"Options"};
  desc.add_options()("address", po::value(&address)->required(), "queue")(
    "wait", po::value(&wait)->value_name("MS"),
    "wait up to MS for each message (`unlimited` waits forever; default 0)")(
    "count", po::value(&count_text)->value_name("N"),
    "get N messages (default 1); fewer is reason 2033")(
    "all", po::bool_switch(&all), "get until the queue is empty")(
    "browse", po::bool_switch(&browse), "copy, do not remove")(
    "msg-id", po::value(&msg_id_text)->value_name("ID"),
    "only the message with this msg_id (32 hex digits)")(
    "correl-id", po::value(&correl_id)->value_name("ID"),
    "only messages with this correl_id")(
    "show-descriptor", po::bool_switch(&show),
    "print the descriptor fields before each body");
  po::positional_options_description pos;
  pos.add("address", 1);
  po::variables_map vm;
  if (!parse_args(cmd, args, desc, pos, vm, g))
    return exit_ok;
  qmesh::get_options opts;
  opts.wait_ms = parse_wait(wait);
  uint64_t count = 1;
  if (!count_text.empty()) {
    if (all)
      throw usage_error("get: --count and --all exclude each other");
    if (!parse_uint(count_text, count) || count == 0)
      throw usage_error("--count '" + count_text + "': expected N >= 1");
  }
  if (!msg_id_text.empty()) {
    auto id = qmesh::msg_id::parse(msg_id_text);
    if (!id)
      throw usage_error("--msg-id '" + msg_id_text
                        + "': expected 32 hex digits");
    opts.match_msg_id = *id;
  }
  opts.match_correl_id = correl_id;
  if (browse)
    opts.browse = static_cast<uint8_t>(qmesh::browse_mode::first);
  auto c = connect(g);
  // Auto-define makes a get on a mistyped name define an empty queue; say
  // so on stderr (only when the caller may inquire: 2035 says nothing).
  auto exists = [&]() -> std::optional<bool> {
    try {
      c.inquire(address);
      return true;
    } catch (const qmesh::client_error& e) {
      if (e.code() == 2085)
        return false;
      return std::nullopt;
    }
  };
  auto existed = exists();
  auto note_if_defined = [&] {
    if (existed == false && exists() == true)
      std::cerr << "qmesh: note: queue " << shown(address)
                << " did not exist; this "
                << (browse ? "browse" : "get")
                << " defined it (auto-define is on: check the name, or "
                   "delete it with qmesh delete-queue)\n";
  };
  progress_line progress{browse ? "browsed" : "got"};
  auto fewer = [&](uint64_t n) {
    progress.done();
    note_if_defined();
    if (all)
      return exit_ok;
    throw qmesh::client_error{qmesh::client_rc::no_msg_available,
                              "no_msg_available",
                              address + ": " + std::to_string(n) + " of "
                                + std::to_string(count) + " messages got"};
  };
  if (browse)
    return browse_in_batches(c, address, opts, all, count, show, progress,
                             fewer);
  if (!qmesh::cli::is_local(c, address)) {
    // A unit of work takes only local queues: one get at a time, so that
    // at most the message being printed is at risk.
    for (uint64_t n = 0; all || n < count; ++n) {
      auto msg = c.try_get(address, opts);
      if (!msg)
        return fewer(n);
      print_message(*msg, show);
      progress.update(n + 1);
    }
    return exit_ok;
  }
  return get_in_batches(c, address, opts, all, count, show, progress, fewer);
}

/// Moves messages from one queue to another address, a batch per unit of
/// work: each batch is got and put under one unit of work and committed,
/// so a message is in exactly one of the two queues whatever happens (a
/// failed put backs the batch out: it stays in the source).
int cmd_move(const command& cmd, std::vector<std::string>& args,
             global_options& g) {
  std::string source;
  std::string target;
  std::string count_text;
  std::string batch_text = "100";
  bool all = false;
  bool keep = false;
  po::options_description desc{"Options"};
  desc.add_options()("source", po::value(&source)->required(), "queue")(
    "target", po::value(&target)->required(), "address (QUEUE or QM/QUEUE)")(
    "count", po::value(&count_text)->value_name("N"),
    "move N messages (default 1); fewer is reason 2033")(
    "all", po::bool_switch(&all), "move until the source is empty")(
    "batch", po::value(&batch_text)->value_name("N"),
    "messages per unit of work (default 100, at most 10000)")(
    "keep-dlq-properties", po::bool_switch(&keep),
    "keep qmesh.dlq.reason and qmesh.dlq.source (default: removed)");
  po::positional_options_description pos;
  pos.add("source", 1).add("target", 1);
  po::variables_map vm;
  if (!parse_args(cmd, args, desc, pos, vm, g))
    return exit_ok;
  uint64_t count = 1;
  if (!count_text.empty()) {
    if (all)
      throw usage_error("move: --count and --all exclude each other");
    if (!parse_uint(count_text, count) || count == 0)
      throw usage_error("--count '" + count_text + "': expected N >= 1");
  }
  uint64_t batch = 0;
  if (!parse_uint(batch_text, batch) || batch == 0 || batch > 10'000)
    throw usage_error("--batch '" + batch_text + "': expected 1-10000");
  // Onto itself, --all would move the same messages round for ever.
  if (source == target)
    throw usage_error("move: SOURCE and TARGET are the same queue");
  auto c = connect(g);
  uint64_t moved = 0;
  progress_line progress{"moved"};
  auto report = [&] {
    progress.done();
    std::cout << moved << " message" << (moved == 1 ? "" : "s")
              << " moved from " << source << " to " << target << '\n';
  };
  bool empty = false;
  while (!empty && (all || moved < count)) {
    auto uow = c.begin();
    uint64_t in_batch = 0;
    try {
      qmesh::get_options opts;
      opts.uow = uow;
      auto want = all ? batch : std::min(batch, count - moved);
      auto got = qmesh::cli::get_batch(c, source, opts, want);
      in_batch = got.messages.size();
      if (got.failure)
        throw *got.failure;
      empty = got.empty;
      // The puts go in order, pipelined; the first failure backs the
      // whole batch out.
      std::vector<std::future<qmesh::msg_id>> puts;
      puts.reserve(got.messages.size());
      for (auto& msg : got.messages) {
        if (!keep) {
          msg.properties.erase("qmesh.dlq.reason");
          msg.properties.erase("qmesh.dlq.source");
        }
        puts.push_back(c.put_async(target, std::move(msg), uow));
      }
      std::optional<qmesh::client_error> failed;
      for (auto& f : puts) {
        try {
          f.get();
        } catch (const qmesh::client_error& e) {
          if (!failed)
            failed = e;
        }
      }
      if (failed)
        throw *failed;
      c.commit(uow);
    } catch (const qmesh::client_error& e) {
      try {
        c.backout(uow);
      } catch (const qmesh::client_error&) {
        // The node ends an abandoned unit of work itself.
      }
      report();
      throw qmesh::client_error{
        e.code(), e.name(),
        e.text() + " (this batch of " + std::to_string(in_batch)
          + " stays in " + source + ")"};
    }
    moved += in_batch;
    progress.update(moved);
  }
  report();
  if (!all && moved < count)
    throw qmesh::client_error{qmesh::client_rc::no_msg_available,
                              "no_msg_available",
                              source + ": " + std::to_string(moved) + " of "
                                + std::to_string(count)
                                + " messages moved"};
  return exit_ok;
}

} // namespace qmesh::cli
