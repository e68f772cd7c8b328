"""Flow control (design §7a, issue 8) against real qmesh-node processes:
a producer faster than its consumers is slowed, never disconnected and never
silently dropped.

- STOMP point-to-point: a full queue (block policy) pauses a full-speed
  producer through TCP; it is neither refused nor disconnected.
- Native client: `qmesh put` processes wait for room (put wait) while a
  slow `qmesh get` drains.
- Pub/sub fan-out 1 -> 10: publishers are held by subscription credit,
  nothing is dead-lettered, `qmesh status` stays responsive, SIGTERM works
  under overload.
- --memory-limit: producers are held at the limit, resident memory stays
  bounded, everything flows once consumers read.
- Overflow policies reject / drop-oldest, and the put wait running out.
- A killed `qmesh get --wait` leaves no waiter that eats the next message.

Each node runs on free loopback ports and is stopped in cleanup; every
socket read, process wait and loop has a deadline. Waits are on conditions
(harness.wait_for, socket reads); the only sleeps pace a deliberately slow
consumer or give a state time to show that nothing changes.

The big STOMP streams use flow_stomp.py: raw sockets, many frames per
write, bodies checked with one regular expression per read.
"""
import json
import selectors
import signal
import subprocess
import threading
import time
import unittest

from client_harness import Background
from flow_stomp import (Conn, Consumer, Producer, cli_fields, parse_frames,
                        rss_bytes)
from harness import CLI, Node, wait_for

DLQ = "SYSTEM.DEAD.LETTER.QUEUE"
MiB = 1024 * 1024

# The longest one expected event (a frame, a state) may take.
TIMEOUT = 20.0


class FlowCase(unittest.TestCase):
    """Helpers; every test starts the node(s) it needs."""

    def node(self, *args):
        n = Node(*args)
        self.addCleanup(n.stop)
        return n

    def status(self, node):
        return cli_fields(CLI, node.address, "status")[0]

    def inquire(self, node, name):
        return cli_fields(CLI, node.address, "inquire", name)[0]

    def ok(self, node, *args, input=None):
        r = node.cli(*args, input=input)
        self.assertEqual(r.returncode, 0, f"qmesh {' '.join(args)}: "
                                          f"{r.stderr}")
        return r.stdout

    def producer(self, node, destination, n, **kw):
        p = Producer(node.stomp_address, destination, n, **kw)
        self.addCleanup(p.close)
        return p.start()

    def consumer(self, node, destination, **kw):
        c = Consumer(node.stomp_address, destination, **kw)
        self.addCleanup(c.close)
        return c

    def background(self, *cmd, stdin=None):
        p = Background(list(cmd), stdin=stdin)
        self.addCleanup(p.kill)
        return p

    def wait_stalled(self, *producers, quiet=0.3, timeout=TIMEOUT):
        """Waits until no producer got a byte further for `quiet` s: they
        are held by TCP (the node stopped reading their sockets)."""
        def stalled():
            before = [p.sent for p in producers]
            time.sleep(quiet)  # absence of progress needs an interval
            return before == [p.sent for p in producers]
        self.assertTrue(wait_for(stalled, timeout, 0),
                        "producers never stalled: "
                        + "; ".join(p.describe() for p in producers))

    def assert_producer_ok(self, p, timeout=TIMEOUT):
        self.assertTrue(p.wait(timeout), f"producer: {p.describe()}")
        self.assertEqual(p.errors(), [])
        self.assertFalse(p.eof.is_set(), "producer was disconnected")

    def assert_consumer_ok(self, c, n):
        self.assertEqual(c.bad, [], "misordered or repeated (want, got)")
        self.assertEqual(c.count, n, "messages lost or duplicated")
        self.assertEqual([f for f in c.other if f[0] != "RECEIPT"], [])


def drain(consumers, total, idle=TIMEOUT, limit=150.0):
    """Reads every consumer until each took `total` bodies; stops after
    `idle` s without data on any of them or `limit` s in all."""
    sel = selectors.DefaultSelector()
    for c in consumers:
        c.sock.setblocking(False)
        sel.register(c.sock, selectors.EVENT_READ, c)
    start = last = time.monotonic()
    try:
        while any(c.count < total for c in consumers):
            now = time.monotonic()
            if now - last > idle or now - start > limit:
                break
            for key, _ in sel.select(1.0):
                c = key.data
                try:
                    data = c.sock.recv(262144)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                if not data:
                    c.eof = True
                    sel.unregister(c.sock)
                    continue
                c.feed(data)
                last = time.monotonic()
    finally:
        sel.close()
        for c in consumers:
            c.sock.setblocking(True)
    return time.monotonic() - start


# -- 1. STOMP point-to-point --------------------------------------------------

class StompPointToPointTests(FlowCase):
    N = 200_000

    def test_full_queue_pauses_producer_without_loss_or_disconnect(self):
        # Would fail without flow control: the 1,001st put to the full queue
        # was refused at once with 2053, i.e. an ERROR frame and a closed
        # connection (p.failed, no final receipt) and messages missing at the
        # consumer. Without the 64-request cap and the paused socket, the
        # producer would not stall (wait_stalled) but pile its frames up in
        # the node.
        node = self.node("--default-max-depth", "1000",
                         "--put-wait", "unlimited")
        q = "FLOW.P2P"
        # A small send buffer, so that TCP pushes back within ~3 MB (the
        # 200,000 frames are ~7 MB).
        p = self.producer(node, f"/queue/{q}", self.N, sndbuf=16384)

        def blocked():
            try:
                return int(self.inquire(node, q)["blocked_count"]) > 0
            except RuntimeError:
                return False  # 2085: the first put has not defined it yet
        self.assertTrue(wait_for(blocked, TIMEOUT),
                        "the producer's puts never blocked")
        self.wait_stalled(p)
        held = self.inquire(node, q)
        self.assertLess(p.sent, self.N, "TCP did not push back")
        self.assertFalse(p.done.is_set() or p.failed.is_set(), p.describe())
        # Full: the next SEND batch did not fit. (A batch is the SENDs of
        # one 64 KiB read; one into an empty queue is taken whole, so the
        # depth may pass 1000 by at most one read's worth of ~30 B frames.)
        depth = int(held["current_depth"])
        self.assertGreater(depth, 0, held)
        self.assertLessEqual(depth, 1000 + 65536 // 30, held)
        self.assertEqual(held["enqueued_total"], str(depth), held)
        self.assertEqual(held["rejected_total"], "0", held)
        self.assertEqual(self.status(node)["paused_puts"],
                         held["blocked_count"])

        # A consumer that starts late and reads slowly at first: ~2 KiB
        # (about ten MESSAGEs) per 10 ms for a second.
        c = self.consumer(node, f"/queue/{q}")
        slow_until = time.monotonic() + 1.0
        while time.monotonic() < slow_until:
            c.read(TIMEOUT, size=2048)
            time.sleep(0.01)  # pacing, not synchronisation
        self.assertLess(c.count, self.N // 10)
        c.read_until(self.N, TIMEOUT)

        self.assert_consumer_ok(c, self.N)
        self.assert_producer_ok(p)
        done = wait_for(lambda: (lambda d: d if d["current_depth"] == "0"
                                 and d["blocked_count"] == "0" else None)(
            self.inquire(node, q)), TIMEOUT)
        self.assertTrue(done)
        self.assertEqual(done["enqueued_total"], str(self.N))
        self.assertEqual(done["dequeued_total"], str(self.N))
        self.assertEqual(done["rejected_total"], "0")
        self.assertEqual(done["dropped_total"], "0")
        self.assertGreater(int(done["blocked_total"]), 0)
        self.assertGreater(int(done["blocked_ms_total"]), 0)
        self.assertEqual(self.inquire(node, DLQ)["enqueued_total"], "0")


    def test_paused_producer_is_not_taken_for_silent(self):
        # Would fail if the heart-beat check judged a producer by the bytes
        # the node read: while its input is held back the node reads
        # nothing from it, and after twice the heart-beat interval (1 s
        # here) it would be closed with "heart-beat timeout" although it
        # kept sending all along.
        node = self.node("--default-max-depth", "100",
                         "--put-wait", "unlimited",
                         "--stomp-heartbeat", "500")
        q = "FLOW.HB"
        # Enough SENDs (~7 MB) that the node's 64 requests in flight fill
        # and it stops reading: a client that has sent everything and
        # waits is silent and must beat (this raw producer does not).
        n = 200_000
        p = self.producer(node, f"/queue/{q}", n, sndbuf=16384,
                          heartbeat="500,0")
        self.assertTrue(
            wait_for(lambda: int(self.inquire(node, q)["blocked_count"]) > 0,
                     TIMEOUT), "the producer's puts never blocked")
        self.wait_stalled(p)
        time.sleep(2.5)  # the pause to survive: 2.5 x the allowed silence
        self.assertFalse(p.failed.is_set(), p.describe())
        c = self.consumer(node, f"/queue/{q}")
        c.read_until(n, TIMEOUT)
        self.assert_consumer_ok(c, n)
        self.assert_producer_ok(p)


# -- 2. native client ----------------------------------------------------------

class NativeClientTests(FlowCase):
    def test_cli_puts_wait_for_room_while_slow_get_drains(self):
        # Would fail without flow control: puts beyond max_depth 100 were
        # refused with 2053 at once, so the producers would exit 1 and their
        # lines would be missing. Without the ordering of blocked puts
        # (FIFO), a producer's lines would come out of order.
        node = self.node()
        q = "FLOW.NATIVE"
        self.ok(node, "define-queue", q, "--max-depth", "100")
        lines = [f"stdin {i:05d}" for i in range(3000)]
        stdin_put = subprocess.Popen(
            [CLI, "--node", node.address, "put", q, "--put-wait",
             "unlimited"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True)

        def reap():
            if stdin_put.poll() is None:
                stdin_put.kill()
            stdin_put.wait(10)
            stdin_put.stdout.close()
            stdin_put.stderr.close()

        self.addCleanup(reap)
        stdin_put.stdin.write("\n".join(lines) + "\n")
        stdin_put.stdin.close()
        # Three more producers: 10 CLI puts of 20 messages each, one after
        # the other (the node's default put wait, 60 s).
        results = {}

        def worker(w):
            rcs = []
            for j in range(10):
                texts = [f"w{w} {j:02d} {k:02d}" for k in range(20)]
                r = subprocess.run([CLI, "--node", node.address, "put", q,
                                    *texts], capture_output=True, text=True,
                                   timeout=90)
                rcs.append((r.returncode, r.stderr.strip()))
            results[w] = rcs

        workers = [threading.Thread(target=worker, args=(w,), daemon=True)
                   for w in range(3)]
        for t in workers:
            t.start()
        self.assertTrue(
            wait_for(lambda: int(self.inquire(node, q)["blocked_count"]) > 0,
                     TIMEOUT), "no put ever waited")
        total = len(lines) + 3 * 10 * 20
        getter = self.background(CLI, "--node", node.address, "get", q,
                                 "--count", str(total), "--wait", "20000")
        self.assertEqual(getter.wait(90), 0, getter.rest("err"))
        got = getter.rest()
        for t in workers:
            t.join(90)
        self.assertEqual(stdin_put.wait(30), 0, stdin_put.stderr.read())
        self.assertEqual(results, {w: [(0, "")] * 10 for w in range(3)})
        # Every line exactly once, each producer's lines in its order.
        self.assertEqual(len(got), total)
        self.assertEqual(len(set(got)), total)
        self.assertEqual([x for x in got if x.startswith("stdin ")], lines)
        for w in range(3):
            mine = [x for x in got if x.startswith(f"w{w} ")]
            self.assertEqual(mine, sorted(mine))
            self.assertEqual(len(mine), 200)
        st = self.inquire(node, q)
        self.assertEqual(st["current_depth"], "0")
        self.assertEqual(st["enqueued_total"], str(total))
        self.assertEqual(st["rejected_total"], "0")
        self.assertGreater(int(st["blocked_total"]), 0)


# -- 3. pub/sub fan-out ----------------------------------------------------------

class FanOutTests(FlowCase):
    N = 1_000_000      # publications (each to 10 subscribers)
    SUBSCRIBERS = 10

    def test_fan_out_all_delivered_status_responsive(self):
        # Would fail without flow control: the subscriptions' queues
        # (100,000 deep) overflowed and the rest went to the dead-letter
        # queue (DLQ enqueued_total > 0, counts short); with unbounded
        # in-flight publications the node's mailboxes grew without bound
        # and `status` waited behind them for tens of seconds (the 5 s
        # bound: generous, since each sample starts a CLI process on a
        # machine the test loads fully). held_publications
        # > 0 shows the publisher really was held by subscription credit.
        node = self.node()
        topic = "/topic/FLOW.FAN"
        subs = [self.consumer(node, topic, sub_id=f"s{i}")
                for i in range(self.SUBSCRIBERS)]
        samples = []    # (seconds, status fields)
        failures = []
        stop = threading.Event()

        def sample():
            while not stop.is_set():
                try:
                    fields, took = cli_fields(CLI, node.address, "status",
                                              timeout=10)
                    samples.append((took, fields))
                except Exception as e:  # noqa: BLE001 (reported below)
                    failures.append(repr(e))
                stop.wait(0.5)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        self.addCleanup(lambda: (stop.set(), sampler.join(15)))
        p = self.producer(node, topic, self.N)
        elapsed = drain(subs, self.N)
        stop.set()
        sampler.join(15)

        for c in subs:
            self.assert_consumer_ok(c, self.N)
        self.assert_producer_ok(p)
        self.assertEqual(failures, [])
        self.assertGreaterEqual(len(samples), int(elapsed / 1.5))
        slowest = max(t for t, _ in samples)
        self.assertLess(slowest, 5.0, f"status took {slowest:.2f} s")
        st = self.status(node)
        self.assertGreater(int(st["held_publications_total"]), 0, st)
        self.assertEqual(st["held_publications"], "0", st)
        dlq = self.inquire(node, DLQ)
        self.assertEqual(dlq["current_depth"], "0", dlq)
        self.assertEqual(dlq["enqueued_total"], "0", dlq)
        print(f"\n  fan-out 1->{self.SUBSCRIBERS}, {self.N} publications: "
              f"{elapsed:.1f} s, status p50 "
              f"{sorted(t for t, _ in samples)[len(samples) // 2]:.3f} s "
              f"max {slowest:.3f} s over {len(samples)} samples",
              end=" ", flush=True)

    def test_sigterm_under_overload_exits_within_5s(self):
        # Would fail if a held publication, a blocked put or a paused
        # connection kept the node from stopping (e.g. an actor waiting on
        # a promise that is never delivered, a read loop that is never
        # resumed): terminate() would time out (None).
        depth = 20000
        node = self.node("--default-max-depth", str(depth))
        topic = "/topic/FLOW.STOP"
        # Subscribers that never read: their queues fill (a publication
        # batch then waits for room, so a queue stops a batch short of
        # max_depth), the publisher is held, and TCP holds the producer.
        for i in range(self.SUBSCRIBERS):
            self.consumer(node, topic, sub_id=f"s{i}", rcvbuf=65536)
        p = self.producer(node, topic, self.N, sndbuf=65536)

        def overloaded():
            st = self.status(node)
            queues = json.loads(node.cli("list-queues", "--json").stdout)
            full = [x for x in queues if x["name"] != DLQ
                    and x["current_depth"] >= depth // 2]
            return (int(st["held_publications"]) > 0
                    and len(full) == self.SUBSCRIBERS)

        self.assertTrue(wait_for(overloaded, TIMEOUT, 0.1),
                        "the subscriptions' queues never filled")
        self.wait_stalled(p)
        self.assertLess(p.sent, self.N)
        t0 = time.monotonic()
        rc = node.terminate(signal.SIGTERM, timeout=5)
        took = time.monotonic() - t0
        self.assertIsNotNone(rc, "the node did not exit within 5 s of "
                                 "SIGTERM")
        self.assertEqual(rc, 0, node.log_text()[-2000:])
        self.assertLess(took, 5.0)


# -- 4. --memory-limit ---------------------------------------------------------

class MemoryLimitTests(FlowCase):
    LIMIT = 200 * MiB
    # How far resident memory may go over --memory-limit. The limit is
    # soft: the monitor samples RSS every 100 ms, and on this loaded 2-core
    # machine it raised the alarm 100-150 ms after RSS crossed the limit.
    # Two full-speed STOMP producers of 1 KiB bodies push ~300 MiB/s into
    # the node, so 30-45 MiB land above the limit, plus 64 held SEND
    # batches per connection. When the consumers start, their MESSAGE
    # frames are built before the queues' memory is freed: another 10-20
    # MiB. Measured peaks over 12 runs: 213 to 270 MiB (13 to 70 MiB over).
    MARGIN = 96 * MiB
    # Per producer: 2 x 250,000 x ~1.2 KiB of node memory is ~600 MiB, far
    # above LIMIT + MARGIN, so a node without the alarm fails the check.
    N = 250_000
    PAD = 1016          # body: 8 digits + padding = 1 KiB

    def test_memory_alarm_holds_producers_then_everything_flows(self):
        # Would fail without the memory alarm: with max_depth out of the way
        # (10,000,000) nothing else stops the producers, so the node takes
        # all 500 MiB of bodies (RSS over LIMIT + MARGIN, no memory_alarm,
        # producers never stall). Would fail if the alarm never cleared
        # after the consumers drained (producers stuck: no final receipt).
        node = self.node("--memory-limit", "200M",
                         "--default-max-depth", "10000000",
                         "--put-wait", "unlimited")
        pid = node.proc.pid
        idle = rss_bytes(pid)
        self.assertLess(idle, self.LIMIT // 4, "idle node too large")
        self.assertEqual(int(self.status(node)["memory_limit"]), self.LIMIT)
        peak = [idle]
        stop = threading.Event()

        def watch():
            while not stop.is_set():
                peak[0] = max(peak[0], rss_bytes(pid))
                stop.wait(0.02)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        self.addCleanup(lambda: (stop.set(), watcher.join(5)))
        queues = ["FLOW.MEM.A", "FLOW.MEM.B"]
        producers = [self.producer(node, f"/queue/{q}", self.N, pad=self.PAD,
                                   sndbuf=65536) for q in queues]
        self.assertTrue(
            wait_for(lambda: self.status(node)["memory_alarm"] == "true",
                     TIMEOUT, 0.05), "no memory alarm")
        self.wait_stalled(*producers)
        st = self.status(node)
        self.assertEqual(st["memory_alarm"], "true", st)
        self.assertGreater(int(st["paused_puts"]), 0, st)
        self.assertGreaterEqual(int(st["memory_alarms_total"]), 1, st)
        for p in producers:
            self.assertLess(p.sent, self.N, "TCP did not push back")
            self.assertFalse(p.done.is_set() or p.failed.is_set(),
                             p.describe())
        # Held: nothing is taken while the alarm is up.
        before = [self.inquire(node, q)["enqueued_total"] for q in queues]
        time.sleep(0.5)  # absence of progress needs an interval
        self.assertEqual(before,
                         [self.inquire(node, q)["enqueued_total"]
                          for q in queues])
        # Every put is held, on any queue: one with a short wait fails.
        t0 = time.monotonic()
        r = node.cli("put", "FLOW.MEM.OTHER", "x", "--put-wait", "300")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertTrue(r.stderr.startswith("qmesh: 2053 "), r.stderr)
        self.assertLess(time.monotonic() - t0, 5)
        self.assertLessEqual(
            peak[0], self.LIMIT + self.MARGIN,
            f"RSS peak {peak[0] / MiB:.1f} MiB over the limit "
            f"{self.LIMIT / MiB:.0f} MiB + margin {self.MARGIN / MiB:.0f}")

        # The consumers read: everything flows, exactly once.
        consumers = [self.consumer(node, f"/queue/{q}") for q in queues]
        drain(consumers, self.N)
        for c in consumers:
            self.assert_consumer_ok(c, self.N)
        for p in producers:
            self.assert_producer_ok(p)
        self.assertTrue(
            wait_for(lambda: self.status(node)["memory_alarm"] == "false",
                     TIMEOUT), "the alarm never cleared")
        stop.set()
        watcher.join(5)
        self.assertLessEqual(peak[0], self.LIMIT + self.MARGIN,
                             f"RSS peak {peak[0] / MiB:.1f} MiB")
        st = self.status(node)
        self.assertEqual(st["paused_puts"], "0", st)
        self.assertEqual(self.inquire(node, DLQ)["enqueued_total"], "0")
        print(f"\n  memory: idle {idle / MiB:.1f} MiB, peak "
              f"{peak[0] / MiB:.1f} MiB, limit {self.LIMIT / MiB:.0f} MiB",
              end=" ", flush=True)


# -- 5. overflow policies and the put wait ----------------------------------------

def read_until_eof(conn, timeout=TIMEOUT):
    """Every frame a raw connection gets until the server closes it."""
    buf = conn.leftover
    frames = []
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no EOF in time; frames {frames}")
        conn.sock.settimeout(left)
        try:
            chunk = conn.sock.recv(65536)
        except OSError:
            chunk = b""
        if not chunk:
            return frames
        buf += chunk
        got, buf = parse_frames(buf)
        frames += got


class OverflowPolicyTests(FlowCase):
    @classmethod
    def setUpClass(cls):
        cls.shared = Node("--put-wait", "500")
        cls.addClassCleanup(cls.shared.stop)

    def send(self, destination, bodies, receipt="r"):
        """SENDs on a new raw connection, the last with a receipt; returns
        the connection."""
        c = Conn(self.shared.stomp_address)
        self.addCleanup(c.close)
        data = b"".join(
            f"SEND\ndestination:{destination}\n".encode()
            + (f"receipt:{receipt}\n".encode() if i == len(bodies) - 1
               else b"")
            + b"\n" + b.encode() + b"\0" for i, b in enumerate(bodies))
        c.sock.sendall(data)
        return c

    def assert_2053(self, frame, receipt="r"):
        cmd, headers, body = frame
        self.assertEqual(cmd, "ERROR", frame)
        self.assertTrue(headers.get("message", "").startswith("2053 q_full:"),
                        headers)
        self.assertEqual(headers.get("qmesh-reason"), "2053", headers)
        self.assertEqual(headers.get("receipt-id"), receipt, headers)

    def test_reject(self):
        # Would fail without the policy: the attribute is unknown (define
        # fails) or a full queue blocks instead of answering at once.
        node = self.shared
        self.ok(node, "define-queue", "FLOW.REJ", "--max-depth", "3",
                "--overflow-policy", "reject")
        self.assertEqual(self.inquire(node, "FLOW.REJ")["overflow_policy"],
                         "reject")
        for body in ("a", "b", "c"):
            self.ok(node, "put", "FLOW.REJ", body)
        t0 = time.monotonic()
        r = node.cli("put", "FLOW.REJ", "d", "--put-wait", "unlimited")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertTrue(r.stderr.startswith("qmesh: 2053 q_full"), r.stderr)
        self.assertLess(time.monotonic() - t0, 0.45, "reject waited")
        # STOMP: an ERROR with 2053 for the SEND, then the server closes.
        c = self.send("/queue/FLOW.REJ", ["e"])
        frames = read_until_eof(c)
        self.assertEqual(len(frames), 1, frames)
        self.assert_2053(frames[0])
        st = self.inquire(node, "FLOW.REJ")
        self.assertEqual(st["current_depth"], "3")
        self.assertEqual(st["rejected_total"], "2")
        self.assertEqual(st["blocked_total"], "0")
        self.assertEqual(self.ok(node, "get", "FLOW.REJ", "--all"),
                         "a\nb\nc\n")

    def test_drop_oldest(self):
        # Would fail without the policy: the 11th put got 2053 (or waited)
        # and the consumer would get 0..9 instead of the newest ten.
        node = self.shared
        self.ok(node, "define-queue", "FLOW.DROP", "--max-depth", "10",
                "--overflow-policy", "drop-oldest")
        c = self.send("/queue/FLOW.DROP", [str(i) for i in range(25)])
        frames, _ = [], None
        buf = c.leftover
        deadline = time.monotonic() + TIMEOUT
        while not frames and time.monotonic() < deadline:
            c.sock.settimeout(deadline - time.monotonic())
            chunk = c.sock.recv(65536)
            self.assertTrue(chunk, "closed instead of RECEIPT")
            buf += chunk
            frames, buf = parse_frames(buf)
        self.assertEqual(frames[0][0], "RECEIPT", frames)
        # The CLI too: five more lines on stdin.
        self.ok(node, "put", "FLOW.DROP", input="25\n26\n27\n28\n29\n")
        st = self.inquire(node, "FLOW.DROP")
        self.assertEqual(st["current_depth"], "10")
        self.assertEqual(st["dropped_total"], "20")
        self.assertEqual(st["enqueued_total"], "30")
        self.assertEqual(st["rejected_total"], "0")
        cons = self.consumer(node, "/queue/FLOW.DROP", first=20)
        cons.read_until(10, TIMEOUT)
        self.assert_consumer_ok(cons, 10)
        self.assertEqual(self.inquire(node, DLQ)["current_depth"], "0")

    def test_blocked_put_times_out_after_put_wait(self):
        # Would fail without the put wait: a put to a full queue failed at
        # once (elapsed < 0.45 s) or waited forever (no 2053 in time).
        node = self.shared
        self.ok(node, "define-queue", "FLOW.WAIT", "--max-depth", "1")
        self.ok(node, "put", "FLOW.WAIT", "first")
        # The node's --put-wait 500.
        t0 = time.monotonic()
        r = node.cli("put", "FLOW.WAIT", "second")
        took = time.monotonic() - t0
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertTrue(r.stderr.startswith("qmesh: 2053 q_full"), r.stderr)
        self.assertGreaterEqual(took, 0.45)
        self.assertLess(took, 5)
        # STOMP: the same, as an ERROR frame after the wait.
        t0 = time.monotonic()
        c = self.send("/queue/FLOW.WAIT", ["third"])
        frames = read_until_eof(c)
        took = time.monotonic() - t0
        self.assertEqual(len(frames), 1, frames)
        self.assert_2053(frames[0])
        self.assertGreaterEqual(took, 0.45)
        self.assertLess(took, 5)
        # Per put: a shorter wait, and an unlimited one that a get ends.
        t0 = time.monotonic()
        r = node.cli("put", "FLOW.WAIT", "fourth", "--put-wait", "200")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertTrue(r.stderr.startswith("qmesh: 2053"), r.stderr)
        self.assertLess(time.monotonic() - t0, 0.45)
        waiting = self.background(CLI, "--node", node.address, "put",
                                  "FLOW.WAIT", "fifth", "--put-wait",
                                  "unlimited")
        self.assertTrue(wait_for(lambda: self.inquire(
            node, "FLOW.WAIT")["blocked_count"] == "1", TIMEOUT))
        self.assertEqual(self.ok(node, "get", "FLOW.WAIT"), "first\n")
        self.assertEqual(waiting.wait(TIMEOUT), 0, waiting.rest("err"))
        st = self.inquire(node, "FLOW.WAIT")
        self.assertEqual(st["current_depth"], "1")
        self.assertEqual(st["blocked_count"], "0")
        self.assertEqual(st["blocked_total"], "4")
        self.assertEqual(st["rejected_total"], "3")
        self.assertEqual(self.ok(node, "get", "FLOW.WAIT"), "fifth\n")


# -- 6. a killed getter ----------------------------------------------------------

class KilledGetterTests(FlowCase):
    def test_killed_waiting_get_does_not_eat_next_message(self):
        # Would fail with the old waiter handling: the waiter of the killed
        # `qmesh get` stayed in the queue and took the next put (depth 0,
        # dequeued_total 2, and the last get finds nothing: 2033).
        node = self.node()
        q = "FLOW.GETTER"
        self.ok(node, "define-queue", q)

        def connections():
            return int(self.status(node)["connection_count"])

        base = connections()   # counts the status command itself
        getter = self.background(CLI, "--node", node.address, "get", q,
                                 "--count", "2", "--wait", "60000")
        self.assertTrue(wait_for(lambda: connections() == base + 1, TIMEOUT))
        # The first message proves the getter's gets reach the queue; right
        # after printing it the getter asks for the second one and waits.
        self.ok(node, "put", q, "first")
        getter.wait_line("^first$")
        # No field shows waiters: give the second get time to arrive (it is
        # sent as soon as the line is printed).
        time.sleep(0.3)
        self.assertIsNone(getter.proc.poll())
        getter.kill(signal.SIGKILL)
        self.assertTrue(wait_for(lambda: connections() == base, TIMEOUT),
                        "the node did not notice the getter going")
        self.ok(node, "put", q, "second")
        st = wait_for(lambda: (lambda d: d if d["current_depth"] == "1"
                               else None)(self.inquire(node, q)), 5)
        self.assertTrue(st, self.inquire(node, q))
        self.assertEqual(st["dequeued_total"], "1")   # `first` only
        self.assertEqual(self.ok(node, "get", q, "--wait", "5000"),
                         "second\n")


if __name__ == "__main__":
    unittest.main()
