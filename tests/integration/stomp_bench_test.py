"""qmesh-bench against a real node, small and quick: the load generator's
own checks (every message arrives, in order, exactly once; no ERROR) must
pass for every scenario. Figures are printed, never asserted. A scripted
STOMP server (FakeBroker) checks the headers qmesh-bench sends and that a
receipt out of order fails the persistent scenario."""
import json
import os
import re
import socket
import subprocess
import threading
import time
import unittest

from cluster_harness import Cluster
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

    def test_json_line_per_scenario(self):
        r = subprocess.run([BENCH, "--port", str(self.node.stomp_port),
                            "--timeout", "60", "--scenario", "p2p",
                            "--messages", "2000", "--ack", "client-individual",
                            "--runs", "3", "--json", "-"],
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        lines = r.stdout.splitlines()
        self.assertEqual(len(lines), 1, r.stdout)  # the table went to stderr
        self.assertIn("p2p size=16 ack=client-individual", r.stderr)
        j = json.loads(lines[0])
        self.assertEqual(j["tool"], "qmesh-bench")
        self.assertEqual(j["id"], "p2p-16-client-individual")
        self.assertEqual(j["scenario"], "p2p")
        self.assertEqual(j["transport"], "stomp")
        self.assertEqual(j["broker"], "qmesh")
        self.assertEqual(j["params"]["size"], 16)
        self.assertEqual(j["params"]["ack"], "client-individual")
        self.assertEqual(j["params"]["messages"], 2000)
        self.assertEqual(len(j["runs"]), 3)
        for figures in j["runs"] + [j["median"], j["min"], j["max"]]:
            self.assertGreater(figures["msgs_per_s"], 0)
            self.assertIn("mb_per_s", figures)
        self.assertLessEqual(j["min"]["msgs_per_s"], j["median"]["msgs_per_s"])
        self.assertLessEqual(j["median"]["msgs_per_s"], j["max"]["msgs_per_s"])
        self.assertEqual(j["check"], {"expected": 6000, "received": 6000,
                                      "lost": 0, "duplicates": 0,
                                      "reordered": 0})
        self.assertIs(j["ok"], True)

    def test_compare_set_writes_every_scenario(self):
        path = os.path.join(self.node.dir, "compare.json")
        self.bench("--scenario", "compare", "--scale", "0.005", "--rate",
                   "2000", "--json", path, "--quiet")
        with open(path) as f:
            lines = [json.loads(line) for line in f]
        self.assertEqual([j["id"] for j in lines], [
            "p2p-16-auto", "p2p-16-client-individual", "p2p-1024-auto",
            "persistent-1", "persistent-8", "persistent-64", "fanout-10-16",
            "mxm-4-16", "latency-2000-16"])
        for j in lines:
            self.assertTrue(j["ok"], j)
            self.assertEqual(j["check"]["lost"], 0)
            self.assertEqual(j["check"]["received"], j["check"]["expected"])
        persistent = lines[5]
        self.assertEqual(persistent["params"]["in_flight"], 64)
        for key in ("confirmed_per_s", "p50_us", "p99_us", "p999_us",
                    "max_us"):
            self.assertIn(key, persistent["median"])
        fanout = lines[6]
        self.assertEqual(fanout["check"]["expected"],
                         10 * fanout["params"]["messages"])
        self.assertIn("deliveries_per_s", fanout["median"])
        latency = lines[8]
        for key in ("p50_us", "p90_us", "p99_us", "p999_us", "max_us"):
            self.assertGreater(latency["median"][key], 0)

    def test_mxm_every_pair_complete(self):
        out = self.bench("--scenario", "mxm", "--producers", "3",
                         "--messages", "9001")
        self.assertIn("mxm 3x3 size=16 ack=auto", out)
        self.assertIn("9001 msgs", out)

    def bench_json(self, *args):
        """Runs qmesh-bench with --json -; its JSON lines, parsed."""
        r = subprocess.run([BENCH, "--port", str(self.node.stomp_port),
                            "--native-port", str(self.node.port),
                            "--timeout", "60", "--json", "-", *args],
                           capture_output=True, text=True, timeout=240)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIsNone(self.node.proc.poll(), "the node died")
        return [json.loads(line) for line in r.stdout.splitlines()]

    def assert_clean(self, j, expected):
        self.assertTrue(j["ok"], j)
        self.assertEqual(j["check"], {"expected": expected,
                                      "received": expected, "lost": 0,
                                      "duplicates": 0, "reordered": 0})

    def test_native_transport_scenarios(self):
        cases = [
            (["--scenario", "p2p", "--messages", "3000"],
             "native-p2p-16-auto", 3000),
            (["--scenario", "p2p", "--messages", "300", "--ack",
              "client-individual", "--size", "100"],
             "native-p2p-100-client-individual", 300),
            (["--scenario", "persistent", "--messages", "400",
              "--in-flight", "8"], "native-persistent-8", 400),
            (["--scenario", "fanout", "--messages", "200",
              "--subscribers", "3"], "native-fanout-3-16", 600),
            (["--scenario", "mxm", "--messages", "4001"],
             "native-mxm-4-16", 4001),
            (["--scenario", "latency", "--rate", "500", "--seconds", "1"],
             "native-latency-500-16", 500),
        ]
        for args, id, expected in cases:
            with self.subTest(id=id):
                [j] = self.bench_json("--transport", "native", "--quiet",
                                      *args)
                self.assertEqual(j["id"], id)
                self.assertEqual(j["transport"], "native")
                self.assert_clean(j, expected)
                self.assertGreater(j["median"]["msgs_per_s"], 0)
        [j] = self.bench_json("--transport", "native", "--scenario",
                              "persistent", "--messages", "50", "--quiet")
        self.assertGreater(j["median"]["p50_us"], 0)
        self.assertGreaterEqual(j["median"]["max_us"],
                                j["median"]["p99_us"])

    def test_idle_queues_and_subscriptions(self):
        lines = self.bench_json("--scenario", "idle", "--queues", "1200",
                                "--subscriptions", "1500", "--node-pid",
                                str(self.node.proc.pid))
        self.assertEqual([j["id"] for j in lines],
                         ["idle-queues", "idle-subscriptions"])
        queues, subs = lines
        self.assert_clean(queues, 1200)
        self.assert_clean(subs, 1500)
        # 1500 subscriptions need two connections (1000 per connection)
        self.assertGreaterEqual(subs["params"]["connections"], 4)
        for j, key in ((queues, "bytes_per_queue"),
                       (subs, "bytes_per_subscription")):
            run = j["runs"][0]
            self.assertIn(key, run)
            self.assertGreater(run["rss_before"], 0)
            self.assertAlmostEqual(
                run[key] * j["params"].get("queues",
                                           j["params"].get("subscriptions")),
                run["rss_after"] - run["rss_before"], delta=1)
        # the queues are there, empty
        cli = self.node.cli("list-queues", "BENCH.idle.*")
        self.assertEqual(cli.returncode, 0, cli.stderr)
        self.assertGreaterEqual(cli.stdout.count("BENCH.idle."), 1200,
                                cli.stdout[:500])

    def test_idle_needs_the_node_pid(self):
        r = subprocess.run([BENCH, "--scenario", "idle"], capture_output=True,
                           text=True, timeout=30)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("--node-pid", r.stderr)

    def test_bad_options_are_usage_errors(self):
        for args in (["--scenario", "nope"], ["--size", "3"],
                     ["--messages", "x"], ["--bogus"],
                     ["--in-flight", "0"], ["--drain", "maybe"],
                     ["--scenario", "persistent", "--drain", "off",
                      "--messages", "100001"],
                     ["--scenario", "persistent", "--producers", "4",
                      "--messages", "3"],
                     ["--broker", "kafka"], ["--scale", "0"],
                     ["--transport", "amqp"],
                     ["--transport", "native", "--broker", "rabbitmq"],
                     ["--scenario", "cluster"],
                     ["--scenario", "cluster", "--remote-port", "1",
                      "--broker", "activemq"],
                     ["--scenario", "compare", "--size", "100"]):
            with self.subTest(args=args):
                r = subprocess.run([BENCH, *args], capture_output=True,
                                   text=True, timeout=30)
                self.assertEqual(r.returncode, 2, r.stderr)


class BenchClusterTests(unittest.TestCase):
    """Remote puts: a producer on QM1 puts to QM2/<queue>, the consumer
    takes it on QM2; over STOMP and over the native client."""

    @classmethod
    def setUpClass(cls):
        cls.cluster = Cluster(("QM1", "QM2"))

    @classmethod
    def tearDownClass(cls):
        cls.cluster.close()

    def run_cluster(self, *args):
        a, b = self.cluster["QM1"], self.cluster["QM2"]
        r = subprocess.run([BENCH, "--scenario", "cluster", "--remote-qm",
                            "QM2", "--messages", "3000", "--timeout", "60",
                            "--json", "-", "--quiet", *args],
                           capture_output=True, text=True, timeout=240)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertTrue(a.running and b.running)
        return json.loads(r.stdout)

    def test_stomp_remote_put(self):
        a, b = self.cluster["QM1"], self.cluster["QM2"]
        j = self.run_cluster("--port", str(a.stomp_port), "--remote-port",
                             str(b.stomp_port))
        self.assertEqual(j["id"], "cluster-remote-put")
        self.assertEqual(j["params"]["remote_qm"], "QM2")
        self.assertTrue(j["ok"], j)
        self.assertEqual(j["check"]["received"], 3000)

    def test_native_remote_put(self):
        a, b = self.cluster["QM1"], self.cluster["QM2"]
        j = self.run_cluster("--transport", "native", "--native-port",
                             str(a.port), "--remote-port", str(b.port))
        self.assertEqual(j["id"], "native-cluster-remote-put")
        self.assertTrue(j["ok"], j)
        self.assertEqual(j["check"]["received"], 3000)


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
    headers, delivers SENDs to every subscriber, answers receipts;
    `swap_receipts`: the receipts of the 2nd and 3rd receipted SEND of a
    connection come back in the wrong order. Deliveries (counted from 1):
    `drop` is never delivered, `swap` comes after the next one,
    `duplicate` is delivered twice, `stall` waits `stall_s` seconds
    before it is delivered (and reads nothing meanwhile). `frames` records every frame's
    command and headers."""

    def __init__(self, swap_receipts=False, drop=0, swap=0, duplicate=0,
                 stall=0, stall_s=0.0):
        self.swap = swap_receipts
        self.drop, self.swap_msg, self.duplicate = drop, swap, duplicate
        self.stall, self.stall_s = stall, stall_s
        self.delivered = 0
        self.held = None
        self.frames = []
        self.sends = []
        self.lock = threading.Lock()
        self.subscribers = []
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
                self.subscribers = [s for s in self.subscribers
                                    if s[0] is not conn]
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
            with self.lock:
                self.frames.append((command, headers))
            out = b""
            if command == "CONNECT":
                out = frame("CONNECTED", {"version": "1.2"})
            elif command == "SUBSCRIBE":
                with self.lock:
                    self.subscribers.append((conn, headers["id"]))
            elif command == "SEND":
                with self.lock:
                    self.sends.append(headers)
                    for sub, sid in self.subscribers:
                        msg_id += 1
                        self.deliver(sub, frame("MESSAGE", {
                            "subscription": sid,
                            "message-id": f"{id(conn)}-{msg_id}",
                            "ack": f"{id(conn)}-{msg_id}",
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


    def deliver(self, sub, msg):
        """Under self.lock: one delivery, faults applied."""
        self.delivered += 1
        n = self.delivered
        if n == self.stall:
            time.sleep(self.stall_s)  # the fault under test, not a sync
        if n == self.drop:
            return
        if n == self.swap_msg:
            self.held = msg
            return
        out = msg * 2 if n == self.duplicate else msg
        if self.held is not None:
            out, self.held = out + self.held, None
        sub.sendall(out)


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

    def faulty_run(self, ack="auto", **faults):
        broker = FakeBroker(**faults)
        self.addCleanup(broker.close)
        r = self.run_bench(broker, "--scenario", "p2p", "--messages", "300",
                           "--ack", ack, "--timeout", "2", "--json", "-")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        j = json.loads(r.stdout.splitlines()[-1])
        self.assertIs(j["ok"], False)
        self.assertIn("error", j)
        self.assertEqual(j["runs"], [])
        self.assertEqual(j["check"]["expected"], 300)
        return j["check"], r.stderr

    def test_lost_message_fails_and_is_counted(self):
        check, err = self.faulty_run(drop=7)
        self.assertEqual(check, {"expected": 300, "received": 299, "lost": 1,
                                 "duplicates": 0, "reordered": 0})
        self.assertIn("no progress", err)

    def test_reordered_message_fails_and_is_counted(self):
        check, err = self.faulty_run(ack="client-individual", swap=10)
        self.assertEqual(check, {"expected": 300, "received": 300, "lost": 0,
                                 "duplicates": 0, "reordered": 1})
        self.assertIn("1 reordered", err)

    def test_duplicate_fails_and_is_counted(self):
        for n in (20, 300):  # in the middle, and after the last one
            with self.subTest(duplicate=n):
                check, err = self.faulty_run(duplicate=n)
                self.assertEqual(check, {"expected": 300, "received": 300,
                                         "lost": 0, "duplicates": 1,
                                         "reordered": 0})
                self.assertIn("1 duplicates", err)

    def test_latency_stall_shows_in_the_percentiles(self):
        # 1000 msg/s for 1 s; delivery 200 waits 300 ms, so messages due
        # meanwhile (200 .. ~500) arrive up to 300 ms late: about 10% of
        # all later than 200 ms. Measured from the intended send times.
        broker = FakeBroker(stall=200, stall_s=0.3)
        self.addCleanup(broker.close)
        r = self.run_bench(broker, "--scenario", "latency", "--rate", "1000",
                           "--seconds", "1", "--json", "-")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        m = json.loads(r.stdout)["median"]
        self.assertGreaterEqual(m["max_us"], 290_000, m)
        self.assertGreaterEqual(m["p99_us"], 250_000, m)
        self.assertGreater(m["p90_us"], 120_000, m)
        self.assertLess(m["p90_us"], 280_000, m)
        self.assertLess(m["p50_us"], 100_000, m)

    def test_rabbitmq_dialect(self):
        broker = FakeBroker()
        self.addCleanup(broker.close)
        r = self.run_bench(broker, "--broker", "rabbitmq", "--login", "guest",
                           "--passcode", "secret", "--scenario", "fanout",
                           "--subscribers", "2", "--messages", "50")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        connects = [h for c, h in broker.frames if c == "CONNECT"]
        self.assertEqual(len(connects), 3)
        for h in connects:
            self.assertEqual((h["host"], h["login"], h["passcode"]),
                             ("/", "guest", "secret"))
        subs = [h for c, h in broker.frames if c == "SUBSCRIBE"]
        self.assertEqual(len(subs), 2)
        for h in subs:
            self.assertRegex(h["destination"], r"^/topic/bench\.\d+\.\d+$")
            self.assertEqual(h["prefetch-count"], "1000")
        self.assertFalse([h for h in broker.sends if "persistent" in h])

    def test_activemq_dialect(self):
        broker = FakeBroker()
        self.addCleanup(broker.close)
        r = self.run_bench(broker, "--broker", "activemq", "--scenario",
                           "persistent", "--messages", "40", "--prefetch",
                           "77", "--json", "-")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(json.loads(r.stdout)["broker"], "activemq")
        subs = [h for c, h in broker.frames if c == "SUBSCRIBE"]
        self.assertEqual(subs[0]["activemq.prefetchSize"], "77")
        self.assertNotIn("prefetch-count", subs[0])
        self.assertEqual(len(broker.sends), 40)
        for h in broker.sends:
            self.assertEqual(h["persistent"], "true")
            self.assertRegex(h["destination"],
                             r"^/queue/bench\.persistent\.\d+\.\d+$")

    def test_receipts_out_of_order_fail(self):
        broker = FakeBroker(swap_receipts=True)
        self.addCleanup(broker.close)
        r = self.run_bench(broker, "--scenario", "persistent", "--messages",
                           "50", "--in-flight", "8", "--drain", "off")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("expected receipt-id 2, got 3", r.stderr)


if __name__ == "__main__":
    unittest.main()
