"""package.completion: the bash completion of qmesh (packaging/
qmesh.bash-completion) against the built CLI and a real node: commands and
options as the binary lists them, queue names from the node --node names,
and nothing (quickly) from a node that is not there."""
import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "integration"))
from harness import CLI, SOURCE_DIR, Node, free_port  # noqa: E402

SCRIPT = os.path.join(SOURCE_DIR, "packaging", "qmesh.bash-completion")


def complete(*words):
    """COMPREPLY for the command line `words`, the cursor in the last."""
    words = [os.path.abspath(CLI), *words]
    quoted = " ".join("'" + w.replace("'", "'\\''") + "'" for w in words)
    script = (f"source '{SCRIPT}'; COMP_WORDS=({quoted}); "
              f"COMP_CWORD={len(words) - 1}; _qmesh; "
              "printf '%s\\n' \"${COMPREPLY[@]}\"")
    p = subprocess.run(["bash", "--norc", "--noprofile", "-c", script],
                       capture_output=True, text=True, timeout=30)
    if p.returncode != 0:
        raise AssertionError(p.stderr)
    return sorted(w for w in p.stdout.split("\n") if w)


class CompletionTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.node = Node()
        for q in ("ORDERS", "ORDERS.EU", "PAYMENTS"):
            cls.node.cli("define-queue", q).check_returncode()

    @classmethod
    def tearDownClass(cls):
        cls.node.stop()

    def test_commands(self):
        self.assertEqual(complete("list-"),
                         ["list-queues", "list-subscriptions"])
        self.assertIn("define-queue", complete(""))

    def test_command_options_from_its_help(self):
        self.assertEqual(complete("get", "--b"), ["--browse"])
        self.assertIn("--node", complete("get", "--"))
        self.assertEqual(complete("--ve"), ["--version"])

    def test_queue_names_from_the_node(self):
        addr = self.node.address
        self.assertEqual(complete("--node", addr, "inquire", "ORD"),
                         ["ORDERS", "ORDERS.EU"])
        self.assertEqual(complete("--node", addr, "put", "P"), ["PAYMENTS"])
        # --node after the command, and an option with a value before the
        # queue.
        self.assertEqual(complete("get", "--node", addr, "--wait", "10",
                                  "PAY"), ["PAYMENTS"])
        self.assertEqual(complete("--node=" + addr, "put", "X", "hi",
                                  "--reply-to", "ORDERS."), ["ORDERS.EU"])

    def test_no_queue_names_for_a_second_argument_or_a_value(self):
        addr = self.node.address
        self.assertEqual(complete("--node", addr, "put", "ORDERS", "O"), [])
        self.assertEqual(complete("--node", addr, "get", "--wait", "O"), [])

    def test_unreachable_node_completes_nothing_quickly(self):
        start = time.monotonic()
        self.assertEqual(complete("--node", f"127.0.0.1:{free_port()}",
                                  "inquire", "O"), [])
        self.assertLess(time.monotonic() - start, 10)


if __name__ == "__main__":
    unittest.main(verbosity=2)
