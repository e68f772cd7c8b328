"""Connection-level limits of the node's network front-end, probed the way a
hostile client would (docs/protocol-stomp.md, "Limits"; docs/operations.md):

- caps on open connections per listener and per remote address (2025);
- the accept loop backs off instead of spinning when the process runs out
  of file descriptors;
- a frame, once started, must arrive in full within --stomp-frame-timeout;
- the open transactions of all connections share one memory budget (2024).

Real node processes on free loopback ports, raw sockets. Waits are on
socket reads with deadlines or harness.wait_for; the only sleeps pace a
deliberately slow sender or measure CPU time over a fixed interval.
"""
import collections
import os
import resource
import select
import shutil
import socket
import tempfile
import time
import unittest

from harness import Node, wait_for
from stomp_frames_test import Closed, Stomp, frame_bytes

READ_TIMEOUT = 10.0


class Client(Stomp):
    """A raw STOMP connection (stomp_frames_test.Stomp) from a chosen local
    loopback address, so one machine can play several remote hosts."""

    def __init__(self, address, source="127.0.0.1"):
        # Stomp.__init__, with a source address.
        self.sock = socket.create_connection(address, timeout=READ_TIMEOUT,
                                             source_address=(source, 0))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.heartbeats = 0
        self.eof = False
        self.stash = collections.deque()
        self.connected = None


def connect_frame():
    return frame_bytes("CONNECT", [("accept-version", "1.2"),
                                   ("host", "localhost")])


class LimitCase(unittest.TestCase):
    """Helpers; every test starts the node it needs."""

    def node(self, *args, **kw):
        n = Node(*args, **kw)
        self.addCleanup(n.stop)
        return n

    def open(self, node, source="127.0.0.1"):
        c = Client(node.stomp_address, source)
        self.addCleanup(c.close)
        return c

    def connect(self, node, source="127.0.0.1"):
        """A connection that got CONNECTED."""
        c = self.open(node, source)
        c.raw(connect_frame())
        c.connected = c.expect("CONNECTED")
        return c

    def try_connect(self, node, source="127.0.0.1"):
        """CONNECT on a fresh connection: the connection if CONNECTED came,
        else the ERROR frame the server answered with (it then closed)."""
        c = self.open(node, source)
        c.raw(connect_frame())
        f = c.read_ok()
        if f.command == "CONNECTED":
            c.connected = f
            return c
        return f

    def assert_error(self, f, code, contains=None):
        """`f` is an ERROR frame with reason `code` in the documented form."""
        self.assertEqual(f.command, "ERROR", f)
        msg = f.get("message", "")
        self.assertRegex(msg, r"^\d{4} [a-z_]+: ")
        self.assertTrue(msg.startswith(f"{code} "), f)
        self.assertEqual(f.get("qmesh-reason"), str(code), f)
        self.assertEqual(f.get("content-type"), "text/plain", f)
        self.assertIn(msg, f.text)
        if contains:
            self.assertIn(contains, msg)
        return msg

    def assert_closed(self, c, timeout=5.0):
        """Nothing but EOF (or a reset) follows."""
        try:
            f = c.read(timeout)
        except Closed:
            return
        self.fail(f"frame after the end: {f!r}")

    def works(self, c, queue):
        """A SEND with a receipt round-trips on `c`."""
        c.request("SEND", [("destination", f"/queue/{queue}")], b"ping")


# -- connection caps ------------------------------------------------------------

class ConnectionCapTests(LimitCase):
    def test_listener_cap(self):
        node = self.node("--max-connections", "3", "--stomp-heartbeat", "0")
        first = [self.connect(node) for _ in range(3)]
        # The fourth is refused with 2025 and closed; it never gets a
        # session.
        c = self.open(node)
        c.raw(connect_frame())
        msg = self.assert_error(c.read_ok(), 2025, "max_conns_limit_reached")
        self.assertIn("limit 3", msg)
        self.assert_closed(c)
        # The first three are unaffected.
        for i, c in enumerate(first):
            self.works(c, f"CAP.{i}")
        # One goes: a new connection is admitted once the node has noticed.
        first.pop().close()
        admitted = wait_for(lambda: self.admitted(node), timeout=READ_TIMEOUT)
        self.assertTrue(admitted, "no connection admitted after one closed")
        self.works(admitted, "CAP.new")
        # Still three at most.
        f = self.try_connect(node)
        self.assertNotIsInstance(f, Stomp)
        self.assert_error(f, 2025)
        self.assertIn("refused", node.log_text())


    def test_per_address_cap_from_the_config_file(self):
        d = tempfile.mkdtemp(prefix="qmesh-limits-")
        self.addCleanup(shutil.rmtree, d, True)
        ini = os.path.join(d, "node.ini")
        with open(ini, "w") as f:
            f.write("qmgr = QM1\nmax-connections-per-address = 2\n"
                    "stomp-heartbeat = 0\n")
        node = self.node(config=ini)
        a = [self.connect(node, "127.0.0.1") for _ in range(2)]
        f = self.try_connect(node, "127.0.0.1")
        self.assertNotIsInstance(f, Stomp)
        msg = self.assert_error(f, 2025)
        self.assertIn("from 127.0.0.1", msg)
        # Another address still gets in: the cap is per address, not per
        # listener.
        b = [self.connect(node, "127.0.0.2") for _ in range(2)]
        f = self.try_connect(node, "127.0.0.2")
        self.assertNotIsInstance(f, Stomp)
        self.assert_error(f, 2025)
        for i, c in enumerate(a + b):
            self.works(c, f"ADDR.{i}")
        # A slot of 127.0.0.1 frees up when one of its connections ends.
        a[0].close()
        admitted = wait_for(lambda: self.admitted(node, "127.0.0.1"),
                            timeout=READ_TIMEOUT)
        self.assertTrue(admitted)
        self.works(admitted, "ADDR.new")

    def admitted(self, node, source="127.0.0.1"):
        """A connected client, or None if the node still refuses."""
        r = self.try_connect(node, source)
        if isinstance(r, Stomp):
            return r
        self.assert_error(r, 2025)
        return None


# -- running out of descriptors ---------------------------------------------------

def cpu_seconds(pid):
    """User + system CPU time of process `pid` so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # After the command: state is field 3, utime 14 and stime 15 (1-based).
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class DescriptorTests(LimitCase):
    def test_accept_backs_off_when_out_of_descriptors(self):
        node = self.node("--stomp-heartbeat", "0")
        resource.prlimit(node.proc.pid, resource.RLIMIT_NOFILE, (64, 64))
        # More connections than descriptors: the node accepts until it has
        # none left; the rest wait in the listen backlog.
        socks = []
        self.addCleanup(lambda: [s.close() for s in socks])
        for _ in range(80):
            socks.append(socket.create_connection(node.stomp_address,
                                                  timeout=READ_TIMEOUT))
        self.assertTrue(
            wait_for(lambda: "cannot accept" in node.log_text(),
                     timeout=READ_TIMEOUT),
            "the node never ran out of descriptors:\n" + node.log_text())
        # Out of descriptors, the node must not spin on accept().
        wall = 2.0
        before = cpu_seconds(node.proc.pid)
        time.sleep(wall)  # measuring, not waiting for anything
        used = cpu_seconds(node.proc.pid) - before
        self.assertLess(used, 0.3 * wall,
                        f"the node used {used:.2f} s CPU in {wall} s")
        # Descriptors come back: new clients are served again.
        for s in socks:
            s.close()
        socks.clear()
        c = self.open(node)
        c.raw(connect_frame())
        c.expect("CONNECTED", timeout=READ_TIMEOUT)
        self.works(c, "FD.after")
        self.assertTrue(wait_for(lambda: "accepting again" in node.log_text(),
                                 timeout=READ_TIMEOUT), node.log_text())
        self.assertIsNone(node.proc.poll())


# -- the frame deadline -------------------------------------------------------------

PARTIAL_SEND = (b"SEND\ndestination:/queue/X\ncontent-length:1000000\n\n"
                + b"abc")


class FrameTimeoutTests(LimitCase):
    timeout_ms = 800

    def setUp(self):
        self.n = self.node("--stomp-frame-timeout", str(self.timeout_ms),
                           "--stomp-heartbeat", "0")

    def expect_timeout_error(self, c, started):
        f = c.read_ok(timeout=READ_TIMEOUT)
        elapsed = time.monotonic() - started
        self.assert_error(f, 2046, f"frame not completed within "
                                   f"{self.timeout_ms} ms")
        self.assert_closed(c)
        return elapsed

    def test_partial_frame_is_closed_after_the_deadline(self):
        idle = self.connect(self.n)   # heart-beats off, sends nothing
        c = self.connect(self.n)
        started = time.monotonic()
        c.raw(PARTIAL_SEND)
        elapsed = self.expect_timeout_error(c, started)
        deadline = self.timeout_ms / 1000
        self.assertGreaterEqual(elapsed, deadline * 0.9)
        self.assertLess(elapsed, deadline + 2.0)
        # A connection that sends nothing is not held to the deadline:
        # it outlived a whole deadline and more, and still works.
        self.assertEqual(idle.quiet(deadline / 2), b"")
        self.assertFalse(idle.eof)
        self.works(idle, "FT.idle")

    def test_trickling_bytes_do_not_extend_the_deadline(self):
        c = self.connect(self.n)
        started = time.monotonic()
        c.raw(PARTIAL_SEND)
        # A byte every 100 ms, never idle, never done, until the server
        # answers (an idle timer would never fire while we trickle).
        deadline = self.timeout_ms / 1000
        answered = False
        try:
            while time.monotonic() - started < deadline + 3.0:
                c.raw(b"x")
                readable, _, _ = select.select([c.sock], [], [], 0.1)
                if readable:
                    answered = True
                    break
        except OSError:
            answered = True  # the server closed while we were sending
        self.assertTrue(answered, "no answer while the frame trickled in")
        elapsed = self.expect_timeout_error(c, started)
        self.assertGreaterEqual(elapsed, deadline * 0.9)
        self.assertLess(elapsed, deadline + 3.0)

    def test_heartbeats_and_a_frame_in_pieces_within_the_deadline(self):
        c = self.connect(self.n)
        # Heart-beat EOLs are not a frame.
        for _ in range(3):
            c.raw(b"\n")
        wire = frame_bytes("SEND", [("destination", "/queue/FT.pieces"),
                                    ("receipt", "pieces")], b"body",
                           content_length=True)
        third = len(wire) // 3
        for part in (wire[:third], wire[third:2 * third], wire[2 * third:]):
            c.raw(part)
            time.sleep(0.05)  # pacing: three separate reads
        c.receipt("pieces")
        # A later partial frame gets its own full deadline.
        started = time.monotonic()
        c.raw(PARTIAL_SEND)
        elapsed = self.expect_timeout_error(c, started)
        self.assertGreaterEqual(elapsed, self.timeout_ms / 1000 * 0.9)


# -- node-wide transaction memory -------------------------------------------------

class TransactionMemoryTests(LimitCase):
    budget = 1_000_000
    body = b"t" * 600_000   # one fits in the budget, two do not

    def setUp(self):
        self.n = self.node("--stomp-max-transaction-memory", str(self.budget),
                           "--stomp-heartbeat", "0")

    def hold(self, c, tx, queue):
        """BEGIN tx and a SEND of `body` in it; the SEND's answer."""
        c.request("BEGIN", [("transaction", tx)])
        c.send("SEND", [("destination", f"/queue/{queue}"),
                        ("transaction", tx), ("receipt", f"{tx}-send")],
               self.body, content_length=True)
        return c.read_ok()

    def holds(self, c, tx, queue):
        f = self.hold(c, tx, queue)
        self.assertEqual((f.command, f.get("receipt-id")),
                         ("RECEIPT", f"{tx}-send"), f)

    def refused(self, c, tx, queue):
        f = self.hold(c, tx, queue)
        msg = self.assert_error(f, 2024, "syncpoint_limit_reached")
        self.assertIn("--stomp-max-transaction-memory", msg)
        self.assertIn(str(self.budget), msg)
        self.assertEqual(f.get("receipt-id"), f"{tx}-send")
        self.assert_closed(c)

    def test_two_connections_share_the_budget(self):
        a = self.connect(self.n)
        self.holds(a, "ta", "TM.a")
        # Under the 64 MiB of one connection, over the node's budget.
        self.refused(self.connect(self.n), "tb", "TM.b")
        # ABORT gives the bytes back.
        a.request("ABORT", [("transaction", "ta")])
        c = self.connect(self.n)
        self.holds(c, "tc", "TM.c")
        # So does COMMIT (the message is then on its queue).
        c.request("COMMIT", [("transaction", "tc")])
        d = self.connect(self.n)
        self.holds(d, "td", "TM.d")
        self.refused(self.connect(self.n), "te", "TM.e")

    def test_a_connection_that_ends_gives_its_bytes_back(self):
        a = self.connect(self.n)
        self.holds(a, "ta", "TM.end")
        a.close()   # vanishes with the transaction open

        def fits():
            c = self.connect(self.n)
            f = self.hold(c, "tn", "TM.end")
            if f.command == "RECEIPT":
                return c
            self.assert_error(f, 2024)
            return None

        c = wait_for(fits, timeout=READ_TIMEOUT)
        self.assertTrue(c, "the ended connection's bytes were not released")
        c.request("ABORT", [("transaction", "tn")])


if __name__ == "__main__":
    unittest.main()
