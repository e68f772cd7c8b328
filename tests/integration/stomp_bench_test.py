"""qmesh-bench against a real node, small and quick: the load generator's
own checks (every message arrives, in order, exactly once; no ERROR) must
pass for every scenario. Figures are printed, never asserted. A scripted
STOMP server (FakeBroker) checks the headers qmesh-bench sends and that a
receipt out of order fails the persistent scenario."""
import os
import re
import socket
import subprocess
import threading
import unittest

from harness import Node

BENCH = os.environ.get("QMESH_BENCH", "build/qmesh-bench")


class BenchSmokeTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.node = Node()

    @classmethod
    def tearDownClass(cls):
        cls.node.stop()

    def bench(self, *args):
        r = subprocess.run([BENCH, "--port", str(self.node.stomp_port),
                            "--timeout", "60", *args],
                           capture_output=True, text=True, timeout=240)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIsNone(self.node.proc.poll(), "the node died")
        return r.stdout

    def test_point_to_point_both_ack_modes(self):
        for ack in ("auto", "client-individual", "client"):
            with self.subTest(ack=ack):
                out = self.bench("--scenario", "p2p", "--messages", "20000",
                                 "--ack", ack, "--size", "100")
                self.assertIn(f"p2p size=100 ack={ack}", out)
                self.assertIn("20000 msgs", out)

    def test_fanout_every_subscriber_gets_everything(self):
        out = self.bench("--scenario", "fanout", "--messages", "5000",
                         "--subscribers", "4")
        self.assertIn("fanout 1->4", out)
        self.assertIn("5000 msgs x 4 subscribers", out)

    def test_latency_at_a_fixed_rate(self):
        out = self.bench("--scenario", "latency", "--rate", "1000",
                         "--seconds", "1")
        self.assertRegex(out, r"p99 \d+ us")

    def test_persistent_confirmed_puts_with_drain(self):
        out = self.bench("--scenario", "persistent", "--messages", "3000",
                         "--producers", "2", "--in-flight", "8",
                         "--size", "100", "--runs", "2")
        print(out)
        self.assertRegex(
            out, r"\[median\] persistent size=100 in-flight=8 producers=2: "
                 r"[\d,]+ confirmed msg/s \([\d.]+ MB/s\), send->receipt "
                 r"p50 \d+ us, p99 \d+ us, max \d+ us; drain [\d,]+ msg/s; "
                 r"3000 msgs in [\d.]+ s")
        self.assertRegex(out, r"persistent size=100 in-flight=8 producers=2 +"
                              r"[\d,]+ +[\d,]+ +[\d.]+ +\d+ +\d+ ")

    def test_persistent_without_drain(self):
        out = self.bench("--scenario", "persistent", "--messages", "500",
                         "--drain", "off")
        self.assertRegex(out, r"persistent size=16 in-flight=1 producers=1 "
                              r"drain=off: [\d,]+ confirmed msg/s .* "
                              r"no drain; 500 msgs in ")

    def test_bad_options_are_usage_errors(self):
        for args in (["--scenario", "nope"], ["--size", "3"],
                     ["--messages", "x"], ["--bogus"],
                     ["--in-flight", "0"], ["--drain", "maybe"],
                     ["--scenario", "persistent", "--drain", "off",
                      "--messages", "100001"],
                     ["--scenario", "persistent", "--producers", "4",
                      "--messages", "3"]):
            with self.subTest(args=args):
                r = subprocess.run([BENCH, *args], capture_output=True,
                                   text=True, timeout=30)
                self.assertEqual(r.returncode, 2, r.stderr)


def read_frame(sock, buf):
    """One STOMP frame from `sock` (bytearray `buf` holds what was read
    ahead): (command, headers, body), or None at EOF. Honours
    content-length (bench bodies hold NULs)."""
    def fill():
        chunk = sock.recv(65536)
        if not chunk:
            return False
        buf.extend(chunk)
        return True
    while True:
        while buf[:1] in (b"\n", b"\r"):
            del buf[:1]
        end = buf.find(b"\n\n")
        if end >= 0:
            break
        if not fill():
            return None
    lines = bytes(buf[:end]).decode().split("\n")
    headers = {}
    for line in lines[1:]:
        key, _, value = line.partition(":")
        headers.setdefault(key, value)
    start = end + 2
    if "content-length" in headers:
        stop = start + int(headers["content-length"])
        while len(buf) < stop + 1:
            if not fill():
                return None
    else:
        while buf.find(b"\0", start) < 0:
            if not fill():
                return None
        stop = buf.find(b"\0", start)
    body = bytes(buf[start:stop])
    del buf[:stop + 1]
    return lines[0], headers, body


def frame(command, headers, body=b""):
    head = command + "\n" + "".join(f"{k}:{v}\n" for k, v in headers.items())
    return head.encode() + b"\n" + body + b"\0"


class FakeBroker:
    """A scripted STOMP 1.2 server for one destination: records every SEND's
    headers, delivers SENDs to the subscriber (if any), answers receipts;
    `swap_receipts`: the receipts of the 2nd and 3rd receipted SEND of a
    connection come back in the wrong order."""

    def __init__(self, swap_receipts=False):
        self.swap = swap_receipts
        self.sends = []
        self.lock = threading.Lock()
        self.subscriber = None
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(16)
        self.port = self.server.getsockname()[1]
        threading.Thread(target=self.accept, daemon=True).start()

    def close(self):
        self.server.close()

    def accept(self):
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(conn,),
                             daemon=True).start()

    def serve(self, conn):
        try:
            self.converse(conn)
        except OSError:
            pass  # qmesh-bench gave up on the connection
        finally:
            with self.lock:
                if self.subscriber and self.subscriber[0] is conn:
                    self.subscriber = None
            conn.close()

    def converse(self, conn):
        buf = bytearray()
        receipted = 0
        held = None
        msg_id = 0
        while True:
            f = read_frame(conn, buf)
            if f is None:
                return
            command, headers, body = f
            out = b""
            if command == "CONNECT":
                out = frame("CONNECTED", {"version": "1.2"})
            elif command == "SUBSCRIBE":
                with self.lock:
                    self.subscriber = (conn, headers["id"])
            elif command == "SEND":
                with self.lock:
                    self.sends.append(headers)
                    if self.subscriber:
                        msg_id += 1
                        sub, sid = self.subscriber
                        sub.sendall(frame("MESSAGE", {
                            "subscription": sid,
                            "message-id": f"{id(conn)}-{msg_id}",
                            "destination": headers["destination"],
                            "content-length": str(len(body))}, body))
            if "receipt" in headers:
                receipt = frame("RECEIPT",
                                {"receipt-id": headers["receipt"]})
                receipted += 1
                if self.swap and receipted == 2:
                    held = receipt
                    receipt = b""
                elif held is not None:
                    receipt, held = receipt + held, None
                out += receipt
            if out:
                with self.lock:  # the producers write MESSAGEs to it too
                    conn.sendall(out)
            if command == "DISCONNECT":
                return


class BenchAgainstFakeTests(unittest.TestCase):
    def run_bench(self, broker, *args):
        return subprocess.run([BENCH, "--port", str(broker.port),
                               "--timeout", "20", *args],
                              capture_output=True, text=True, timeout=60)

    def test_persistent_header_only_on_persistent_sends(self):
        broker = FakeBroker()
        self.addCleanup(broker.close)
        r = self.run_bench(broker, "--scenario", "p2p", "--messages", "300")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(len(broker.sends), 300)
        self.assertFalse([h for h in broker.sends if "persistent" in h])
        broker.sends.clear()
        r = self.run_bench(broker, "--scenario", "persistent", "--messages",
                           "300", "--in-flight", "4", "--producers", "3")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(len(broker.sends), 300)
        for h in broker.sends:
            self.assertEqual(h.get("persistent"), "true", h)
            self.assertIn("receipt", h)
        self.assertTrue(re.match(r"/queue/bench\.persistent\.",
                                 broker.sends[0]["destination"]))

    def test_receipts_out_of_order_fail(self):
        broker = FakeBroker(swap_receipts=True)
        self.addCleanup(broker.close)
        r = self.run_bench(broker, "--scenario", "persistent", "--messages",
                           "50", "--in-flight", "8", "--drain", "off")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("expected receipt-id 2, got 3", r.stderr)


if __name__ == "__main__":
    unittest.main()
