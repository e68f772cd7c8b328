"""Persistence (issue 9) against real qmesh-node processes killed with
SIGKILL: a confirmed persistent message is never lost and never delivered
twice, whatever moment the node dies.

- Confirmed puts: 4 STOMP producers put 100,000 persistent messages with a
  receipt each (64 in flight per producer); the node is killed at a random
  moment (several seeds); after a restart on the same data dir every
  confirmed message is there exactly once, in order per producer, and
  nothing appears that was never sent.
- Consumption with acks: acked messages never come back; delivered but
  unacked ones come back redelivered; the rest come back once.
- Transactions: a kill inside a transaction leaves none of its puts; a
  kill right after its commit receipt leaves all of them.
- Queue attributes, durable subscriptions and what they hold survive.
- The journal on disk: a torn tail is truncated and logged; a flipped bit
  before the tail refuses the start naming segment and offset, unless
  --recover-truncate; a second node on the same data dir is refused.
- The disk guard on a small tmpfs: below --disk-free-limit persistent puts
  answer 2102, gets still work, puts resume when space returns.

Every node runs on free loopback ports and is killed and removed in
cleanup; every socket read and wait has a deadline.
"""
import glob
import json
import os
import random
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import unittest
from collections import deque

from flow_stomp import NUL, Conn, parse_frames
from harness import Node, fields, wait_for

MiB = 1024 * 1024


def send_frame(dest, body, receipt=None, persistent=True, extra=None):
    head = f"SEND\ndestination:/queue/{dest}\n"
    if persistent:
        head += "persistent:true\n"
    if receipt:
        head += f"receipt:{receipt}\n"
    for k, v in (extra or {}).items():
        head += f"{k}:{v}\n"
    data = body.encode()
    head += f"content-length:{len(data)}\n\n"
    return head.encode() + data + NUL


class Reader:
    """Frames from a raw connection, with a deadline per read; EOF or a
    reset ends it (the node was killed)."""

    def __init__(self, conn):
        self.conn = conn
        self.buf = conn.leftover
        self.closed = False

    def frames(self, timeout=10.0):
        if self.closed:
            return []
        self.conn.sock.settimeout(timeout)
        try:
            chunk = self.conn.sock.recv(1 << 20)
        except (ConnectionError, OSError):
            chunk = b""
        if not chunk:
            self.closed = True
            return []
        frames, self.buf = parse_frames(self.buf + chunk)
        return frames


class ConfirmedProducer(threading.Thread):
    """Puts persistent messages `P<k>-<n>` with a receipt each, up to
    `window` in flight; `confirmed` holds the n whose RECEIPT came, `sent`
    how many SENDs went out. Stops when done or the connection ends."""

    def __init__(self, address, queue, k, n, window=64):
        super().__init__(daemon=True)
        self.address, self.queue, self.k, self.n = address, queue, k, n
        self.window = window
        self.confirmed = []
        self.sent = 0
        self.errors = []

    def run(self):
        conn = Conn(self.address)
        reader = Reader(conn)
        in_flight = 0
        try:
            while self.sent < self.n or in_flight:
                batch = b""
                while self.sent < self.n and in_flight < self.window:
                    batch += send_frame(self.queue,
                                        f"P{self.k}-{self.sent}",
                                        receipt=f"r{self.sent}")
                    self.sent += 1
                    in_flight += 1
                if batch:
                    conn.sock.sendall(batch)
                frames = reader.frames()
                if reader.closed:
                    return
                for cmd, headers, body in frames:
                    if cmd == "RECEIPT":
                        self.confirmed.append(int(headers["receipt-id"][1:]))
                        in_flight -= 1
                    elif cmd == "ERROR":
                        self.errors.append(headers.get("message", ""))
                        return
        except (ConnectionError, OSError):
            return
        finally:
            conn.close()


def drain(node, queue, expected, timeout=60.0, ack_receipts=False):
    """Consumes `expected` messages from `queue` over STOMP (ack:auto);
    returns [(body, headers)] in delivery order. Fails on fewer."""
    conn = Conn(node.stomp_address)
    conn.sock.sendall(f"SUBSCRIBE\nid:d\ndestination:/queue/{queue}\n"
                      f"ack:auto\n\n".encode() + NUL)
    reader = Reader(conn)
    out = []
    deadline = time.monotonic() + timeout
    while len(out) < expected:
        if time.monotonic() > deadline or reader.closed:
            break
        for cmd, headers, body in reader.frames(timeout=5.0):
            if cmd == "MESSAGE":
                out.append((body.decode(), headers))
    conn.close()
    return out


def depth(node, queue):
    r = node.cli("inquire", queue)
    if r.returncode != 0:
        raise AssertionError(f"inquire {queue}: {r.stderr}")
    return int(fields(r.stdout)["current_depth"])


class PersistenceTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="qmesh-persist-")
        self.data = os.path.join(self.dir, "data")
        self.nodes = []

    def tearDown(self):
        for n in self.nodes:
            n.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def start(self, *args, data=None):
        node = Node(*args, data_dir=data or self.data)
        self.nodes.append(node)
        return node

    def kill9(self, node):
        node.proc.send_signal(signal.SIGKILL)
        node.proc.wait(timeout=10)

    # -- confirmed puts -------------------------------------------------------

    def test_kill9_during_confirmed_puts(self):
        for seed in (1, 2, 3):
            with self.subTest(seed=seed):
                self.run_confirmed_puts(seed)
                shutil.rmtree(self.data, ignore_errors=True)

    def run_confirmed_puts(self, seed):
        rnd = random.Random(seed)
        node = self.start()
        self.assertEqual(node.cli("define-queue", "ORDERS").returncode, 0)
        per_producer = 25_000
        producers = [ConfirmedProducer(node.stomp_address, "ORDERS", k,
                                       per_producer) for k in range(4)]
        for p in producers:
            p.start()
        # A random moment: after 1,000 to 60,000 confirmations.
        threshold = rnd.randint(1_000, 60_000)
        wait_for(lambda: sum(len(p.confirmed) for p in producers)
                 >= threshold or not any(p.is_alive() for p in producers),
                 timeout=120)
        self.kill9(node)
        for p in producers:
            p.join(timeout=30)
            self.assertFalse(p.is_alive())
            self.assertEqual(p.errors, [])
        confirmed = sum(len(p.confirmed) for p in producers)
        self.assertGreaterEqual(confirmed, min(threshold, 4 * per_producer))
        node = self.start()
        stored = depth(node, "ORDERS")
        got = drain(node, "ORDERS", stored)
        self.assertEqual(len(got), stored)
        by_producer = {k: [] for k in range(4)}
        for body, _ in got:
            k, n = body[1:].split("-")
            by_producer[int(k)].append(int(n))
        for p in producers:
            seen = by_producer[p.k]
            # In order, exactly once.
            self.assertEqual(seen, sorted(set(seen)),
                             f"producer {p.k}: out of order or duplicated")
            # Every confirmed one is there.
            missing = set(p.confirmed) - set(seen)
            self.assertEqual(missing, set(),
                             f"producer {p.k}: confirmed but lost")
            # Nothing that was never sent.
            self.assertTrue(all(n < p.sent for n in seen))
        self.kill9(node)

    # -- consumption with acks ------------------------------------------------

    def test_kill9_during_consumption_with_acks(self):
        node = self.start()
        total = 400
        p = ConfirmedProducer(node.stomp_address, "WORK", 0, total)
        p.run()
        self.assertEqual(len(p.confirmed), total)
        conn = Conn(node.stomp_address)
        conn.sock.sendall(b"SUBSCRIBE\nid:w\ndestination:/queue/WORK\n"
                          b"ack:client-individual\n\n" + NUL)
        reader = Reader(conn)
        received = []
        deadline = time.monotonic() + 20
        while len(received) < 100 and time.monotonic() < deadline:
            for cmd, headers, body in reader.frames():
                if cmd == "MESSAGE":
                    received.append((body.decode(), headers["ack"]))
        self.assertGreaterEqual(len(received), 100)
        acked = received[:50]
        batch = b"".join(f"ACK\nid:{ack}\nreceipt:a{i}\n\n".encode() + NUL
                         for i, (_, ack) in enumerate(acked))
        conn.sock.sendall(batch)
        receipts = set()
        while len(receipts) < len(acked) and time.monotonic() < deadline:
            for cmd, headers, body in reader.frames():
                if cmd == "RECEIPT":
                    receipts.add(headers["receipt-id"])
        self.assertEqual(len(receipts), len(acked))
        self.kill9(node)
        conn.close()
        node = self.start()
        stored = depth(node, "WORK")
        self.assertEqual(stored, total - len(acked))
        got = drain(node, "WORK", stored)
        bodies = [b for b, _ in got]
        self.assertEqual(len(bodies), len(set(bodies)))
        acked_bodies = {b for b, _ in acked}
        self.assertEqual(acked_bodies & set(bodies), set())
        unacked = {b for b, _ in received[50:]}
        redelivered = {b for b, h in got if h.get("redelivered") == "true"}
        self.assertEqual(unacked - redelivered, set(),
                         "delivered but unacked came back not redelivered")
        self.assertEqual(set(bodies) | acked_bodies,
                         {f"P0-{n}" for n in range(total)})

    # -- transactions ---------------------------------------------------------

    def test_kill9_inside_and_right_after_a_transaction(self):
        node = self.start()
        conn = Conn(node.stomp_address)
        reader = Reader(conn)
        frames = b"BEGIN\ntransaction:t1\n\n" + NUL
        for i in range(10):
            frames += send_frame("TX", f"t1-{i}",
                                 receipt="last" if i == 9 else None,
                                 extra={"transaction": "t1"})
        conn.sock.sendall(frames)
        self.wait_receipt(reader, "last")
        self.kill9(node)
        conn.close()
        node = self.start()
        self.assertIn(node.cli("inquire", "TX").returncode, (0, 1))
        r = node.cli("inquire", "TX")
        if r.returncode == 0:
            self.assertEqual(int(fields(r.stdout)["current_depth"]), 0)
        conn = Conn(node.stomp_address)
        reader = Reader(conn)
        frames = b"BEGIN\ntransaction:t2\n\n" + NUL
        for i in range(10):
            frames += send_frame("TX", f"t2-{i}",
                                 extra={"transaction": "t2"})
        frames += b"COMMIT\ntransaction:t2\nreceipt:c\n\n" + NUL
        conn.sock.sendall(frames)
        self.wait_receipt(reader, "c")
        self.kill9(node)
        conn.close()
        node = self.start()
        self.assertEqual(depth(node, "TX"), 10)
        got = drain(node, "TX", 10)
        self.assertEqual([b for b, _ in got], [f"t2-{i}" for i in range(10)])

    def wait_receipt(self, reader, rid, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for cmd, headers, body in reader.frames():
                if cmd == "RECEIPT" and headers.get("receipt-id") == rid:
                    return
                if cmd == "ERROR":
                    self.fail(f"ERROR: {headers} {body!r}")
            if reader.closed:
                break
        self.fail(f"no RECEIPT {rid}")

    # -- catalog --------------------------------------------------------------

    def test_attributes_and_durable_subscriptions_survive(self):
        node = self.start()
        r = node.cli("define-queue", "ATTRS", "--max-depth", "123",
                     "--default-priority", "4", "--backout-threshold", "3",
                     "--backout-queue", "BO", "--description", "kept")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(node.cli("define-queue", "NEWSQ",
                                  "--persistent").returncode, 0)
        node.cli("subscribe", "news/#", "--durable", "NEWS", "--queue",
                 "NEWSQ", "--count", "1", "--wait", "1")
        r = node.cli("publish", "news/today", "hello")
        self.assertEqual(r.returncode, 0, r.stderr)
        wait_for(lambda: depth(node, "NEWSQ") == 1, timeout=10)
        r = node.cli("set", "ATTRS", "--max-depth", "124")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.kill9(node)
        node = self.start()
        a = fields(node.cli("inquire", "ATTRS").stdout)
        self.assertEqual(a["max_depth"], "124")
        self.assertEqual(a["default_priority"], "4")
        self.assertEqual(a["backout_threshold"], "3")
        self.assertEqual(a["backout_queue"], "BO")
        self.assertEqual(a["description"], "kept")
        subs = node.cli("list-subscriptions").stdout
        self.assertIn("NEWS", subs)
        self.assertIn("news/#", subs)
        self.assertEqual(depth(node, "NEWSQ"), 1)
        # The subscription works after the restart.
        node.cli("publish", "news/tomorrow", "again")
        wait_for(lambda: depth(node, "NEWSQ") == 2, timeout=10)
        # A deleted queue stays deleted.
        self.assertEqual(node.cli("delete-queue", "ATTRS").returncode, 0)
        self.kill9(node)
        node = self.start()
        self.assertNotEqual(node.cli("inquire", "ATTRS").returncode, 0)
        self.assertIn("NEWS", node.cli("list-subscriptions").stdout)

    def test_stomp_durable_subscription_survives_a_restart(self):
        node = self.start()
        conn = Conn(node.stomp_address)
        reader = Reader(conn)
        conn.sock.sendall(b"SUBSCRIBE\nid:feed\ndestination:/topic/prices/eu"
                          b"\ndurable:true\nreceipt:s\n\n" + NUL)
        self.wait_receipt(reader, "s")
        conn.close()
        pub = Conn(node.stomp_address)
        preader = Reader(pub)
        pub.sock.sendall(b"SEND\ndestination:/topic/prices/eu\n"
                         b"persistent:true\nreceipt:p\n\nEUR 1.08" + NUL)
        self.wait_receipt(preader, "p")
        pub.close()
        # The copy is visible on the subscription's queue, so on disk.
        subs = json.loads(node.cli("list-subscriptions", "--json").stdout)
        queue = [s["queue"] for s in subs if "feed" in s["name"]]
        self.assertEqual(len(queue), 1, subs)
        wait_for(lambda: depth(node, queue[0]) == 1, timeout=10)
        self.kill9(node)
        node = self.start()
        self.assertIn("feed", node.cli("list-subscriptions").stdout)
        conn = Conn(node.stomp_address)
        conn.sock.sendall(b"SUBSCRIBE\nid:feed\ndestination:/topic/prices/eu"
                          b"\ndurable:true\n\n" + NUL)
        got = []
        reader = Reader(conn)
        deadline = time.monotonic() + 10
        while not got and time.monotonic() < deadline:
            got += [b for c, h, b in reader.frames() if c == "MESSAGE"]
        self.assertEqual(got, [b"EUR 1.08"], queue)
        conn.close()

    # -- the journal on disk --------------------------------------------------

    def segments(self):
        return sorted(glob.glob(os.path.join(self.data, "journal", "*.qlog")))

    def put_confirmed(self, node, queue, n):
        p = ConfirmedProducer(node.stomp_address, queue, 0, n)
        p.run()
        self.assertEqual(len(p.confirmed), n)

    def test_torn_tail_is_truncated_and_logged(self):
        node = self.start()
        self.put_confirmed(node, "TORN", 50)
        self.kill9(node)
        last = self.segments()[-1]
        with open(last, "ab") as f:
            # The start of a record whose length runs past the end.
            f.write(b"\x40\x00\x00\x00\x01\x02\x03")
        node = self.start()
        self.assertEqual(depth(node, "TORN"), 50)
        wait_for(lambda: "torn" in node.log_text().lower()
                 or "truncat" in node.log_text().lower(), timeout=5)
        self.put_confirmed(node, "TORN", 1)
        self.assertEqual(depth(node, "TORN"), 51)

    def test_corruption_before_the_tail_refuses_the_start(self):
        node = self.start()
        self.put_confirmed(node, "BAD", 200)
        self.kill9(node)
        seg = max(self.segments(), key=os.path.getsize)
        with open(seg, "rb") as f:
            data = f.read()
        # A bit of a message body in the middle: a CRC mismatch with intact
        # records after it (a flipped length could read as a torn tail).
        at = data.find(b"P0-100")
        self.assertGreater(at, 0)
        with open(seg, "r+b") as f:
            f.seek(at + 3)
            f.write(bytes([data[at + 3] ^ 0x10]))
        r = subprocess.run([os.environ["QMESH_NODE"], "--data-dir", self.data,
                            "--listen", "127.0.0.1:1", "--stomp-listen",
                            "none", "--http-listen", "none"],
                           capture_output=True, text=True,
                           timeout=30)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn(os.path.basename(seg), r.stderr)
        self.assertIn("offset", r.stderr)
        node = self.start("--recover-truncate")
        left = depth(node, "BAD")
        self.assertEqual(left, 100)  # everything before the bad record
        got = drain(node, "BAD", left)
        self.assertEqual([b for b, _ in got],
                         [f"P0-{n}" for n in range(left)])

    def test_a_second_node_on_the_same_data_dir_is_refused(self):
        self.start()
        with self.assertRaises(RuntimeError) as ctx:
            self.start()
        self.assertIn("in use", str(ctx.exception))

    # -- disk guard -----------------------------------------------------------

    def test_disk_guard_on_a_small_filesystem(self):
        mnt = os.path.join(self.dir, "small")
        os.makedirs(mnt)
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48m",
                            "tmpfs", mnt], capture_output=True, text=True)
        if r.returncode != 0:
            self.skipTest(f"cannot mount a tmpfs here: {r.stderr.strip()}")
        self.addCleanup(subprocess.run, ["umount", "-l", mnt])
        data = os.path.join(mnt, "data")
        node = self.start("--disk-free-limit", "24M",
                          "--journal-segment-size", "1M", data=data)
        self.put_confirmed(node, "GUARD", 10)
        filler = os.path.join(mnt, "filler")
        with open(filler, "wb") as f:
            f.write(b"\0" * (30 * MiB))

        def refused():
            r = node.cli("put", "GUARD", "x", "--persistent")
            return r.returncode != 0 and "2102" in r.stderr
        wait_for(refused, timeout=10)
        self.assertIn("resource_problem", node.cli(
            "put", "GUARD", "x", "--persistent").stderr)
        # Non-persistent puts and gets keep working.
        self.assertEqual(node.cli("put", "GUARD", "np").returncode, 0)
        r = node.cli("get", "GUARD")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("disk", node.log_text().lower())
        status = fields(node.cli("status").stdout)
        self.assertEqual(status["disk_alarm"], "true")
        os.remove(filler)
        wait_for(lambda: node.cli("put", "GUARD", "y",
                                  "--persistent").returncode == 0,
                 timeout=10)
        self.assertEqual(fields(node.cli("status").stdout)["disk_alarm"],
                         "false")
        node.stop()


if __name__ == "__main__":
    unittest.main()
