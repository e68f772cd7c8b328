"""qmesh-bench against a real node, small and quick: the load generator's
own checks (every message arrives, in order, exactly once; no ERROR) must
pass for every scenario. Figures are printed, never asserted."""
import os
import subprocess
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

    def test_bad_options_are_usage_errors(self):
        for args in (["--scenario", "nope"], ["--size", "3"],
                     ["--messages", "x"], ["--bogus"]):
            with self.subTest(args=args):
                r = subprocess.run([BENCH, *args], capture_output=True,
                                   text=True, timeout=30)
                self.assertEqual(r.returncode, 2, r.stderr)


if __name__ == "__main__":
    unittest.main()
