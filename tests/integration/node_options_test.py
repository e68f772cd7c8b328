"""qmesh-node as a process: options, config files, listeners, signals."""
import os
import socket
import signal
import subprocess
import threading
import unittest

import harness
from harness import NODE, Node, free_port


def run_node(*args, timeout=20):
    return subprocess.run([NODE, *args], capture_output=True, text=True,
                          timeout=timeout)


class OptionTests(unittest.TestCase):
    def test_help_lists_every_option(self):
        r = run_node("--help")
        self.assertEqual(r.returncode, 0)
        for opt in ["--config", "--qmgr", "--data-dir", "--listen",
                    "--log-level", "--log-file", "--auto-define-queues",
                    "--default-max-depth", "--default-max-msg-length",
                    "--default-persistence", "--default-priority",
                    "--max-uncommitted", "--version", "--max-connections",
                    "--max-connections-per-address", "--stomp-frame-timeout",
                    "--stomp-max-transaction-memory"]:
            self.assertIn(opt, r.stdout)

    def test_version(self):
        r = run_node("--version")
        self.assertEqual(r.returncode, 0)
        self.assertRegex(r.stdout, r"^qmesh-node \d+\.\d+\.\d+\n$")

    def assert_usage_error(self, *args, mentions=None):
        r = run_node(*args)
        self.assertEqual(r.returncode, 2, r.stderr)
        lines = r.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, r.stderr)
        self.assertTrue(lines[0].startswith("qmesh-node: "), r.stderr)
        self.assertNotIn("terminate", r.stderr)
        if mentions:
            self.assertIn(mentions, r.stderr)

    def test_bad_options_exit_2_with_one_line(self):
        self.assert_usage_error("--bogus", mentions="--bogus")
        self.assert_usage_error("--qmgr", "bad/name", mentions="--qmgr")
        self.assert_usage_error("--qmgr", "x" * 49, mentions="--qmgr")
        self.assert_usage_error("--qmgr", "", mentions="--qmgr")
        self.assert_usage_error("--listen", "nohostport", mentions="--listen")
        self.assert_usage_error("--listen", "127.0.0.1:0", mentions="--listen")
        self.assert_usage_error("--listen", "127.0.0.1:70000",
                                mentions="--listen")
        self.assert_usage_error("--listen", "127.0.0.1:12ab",
                                mentions="--listen")
        self.assert_usage_error("--log-level", "loud", mentions="--log-level")
        self.assert_usage_error("--default-priority", "10")
        self.assert_usage_error("--default-max-depth", "0")
        self.assert_usage_error("--default-max-depth", "-5")
        self.assert_usage_error("--default-max-depth", "many")
        self.assert_usage_error("--auto-define-queues", "maybe")
        self.assert_usage_error("--config", "/nonexistent/qmesh.ini",
                                mentions="--config")
        self.assert_usage_error("--qmgr")  # missing value
        self.assert_usage_error("--stomp-listen", "nohostport",
                                mentions="--stomp-listen")
        self.assert_usage_error("--stomp-listen", "127.0.0.1:0",
                                mentions="--stomp-listen")
        self.assert_usage_error("--stomp-listen", "", mentions="--stomp-listen")
        self.assert_usage_error("--stomp-heartbeat", "-1")
        self.assert_usage_error("--stomp-heartbeat", "999999999",
                                mentions="--stomp-heartbeat")
        self.assert_usage_error("--stomp-max-headers", "7",
                                mentions="--stomp-max-headers")
        self.assert_usage_error("--stomp-max-header-line", "10",
                                mentions="--stomp-max-header-line")
        self.assert_usage_error("--stomp-max-body", "999999999999",
                                mentions="--stomp-max-body")

    def test_bad_limit_options_exit_2_with_one_line(self):
        for opt in ["--max-connections", "--max-connections-per-address"]:
            self.assert_usage_error(opt, "0", mentions=opt)
            self.assert_usage_error(opt, "-1", mentions=opt)
            self.assert_usage_error(opt, "1000001", mentions=opt)
            self.assert_usage_error(opt, "lots", mentions=opt)
            self.assert_usage_error(opt)  # missing value
        self.assert_usage_error("--stomp-frame-timeout", "-1",
                                mentions="--stomp-frame-timeout")
        self.assert_usage_error("--stomp-frame-timeout", "86400001",
                                mentions="--stomp-frame-timeout")
        self.assert_usage_error("--stomp-frame-timeout", "1s",
                                mentions="--stomp-frame-timeout")
        self.assert_usage_error("--stomp-max-transaction-memory", "0",
                                mentions="--stomp-max-transaction-memory")
        self.assert_usage_error("--stomp-max-transaction-memory", "-1",
                                mentions="--stomp-max-transaction-memory")
        self.assert_usage_error("--stomp-max-transaction-memory", "256MiB",
                                mentions="--stomp-max-transaction-memory")

    def test_bad_limit_in_config_file_is_a_usage_error(self):
        path = os.path.join(self.tmp(), "limits.ini")
        with open(path, "w") as f:
            f.write("qmgr = QM1\nmax-connections = 0\n")
        self.assert_usage_error("--config", path, mentions="--max-connections")

    def test_unknown_key_in_config_file_is_a_usage_error(self):
        path = os.path.join(self.tmp(), "bad.ini")
        with open(path, "w") as f:
            f.write("qmgr = QM1\nno-such-option = 1\n")
        self.assert_usage_error("--config", path, mentions="no-such-option")

    def test_garbage_config_file_is_a_usage_error(self):
        path = os.path.join(self.tmp(), "garbage.ini")
        with open(path, "wb") as f:
            f.write(b"\x00\xff[[[ = = =\n" * 100)
        self.assert_usage_error("--config", path)

    def test_port_in_use_exits_2(self):
        with Node() as node:
            other = os.path.join(node.dir, "other")
            r = run_node("--listen", node.address, "--data-dir", other)
            self.assertEqual(r.returncode, 2)
            # One plain line, before anything was created or logged.
            self.assertEqual(
                r.stderr, "qmesh-node: cannot listen on %s (native): the "
                "address is already in use (another node or program "
                "listens there)\n" % node.address)
            self.assertFalse(os.path.exists(other))
            # The first node is unaffected.
            self.assertIsNone(node.proc.poll())

    def test_every_listener_is_checked_before_anything_is_created(self):
        with Node() as node:
            other = os.path.join(node.dir, "other")
            for flag, port, what in (
                    ("--http-listen", node.http_port, "http"),
                    ("--cluster-listen", node.stomp_port, "cluster")):
                r = run_node("--listen", f"127.0.0.1:{free_port()}",
                             "--stomp-listen", f"127.0.0.1:{free_port()}",
                             flag, f"127.0.0.1:{port}", "--data-dir", other)
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertEqual(len(r.stderr.splitlines()), 1, r.stderr)
                self.assertIn(f"cannot listen on 127.0.0.1:{port} ({what}): "
                              "the address is already in use", r.stderr)
                self.assertFalse(os.path.exists(other))

    def test_stomp_port_in_use_exits_2(self):
        with Node() as node:
            r = run_node("--listen", f"127.0.0.1:{free_port()}",
                         "--stomp-listen", "127.0.0.1:%d" % node.stomp_port,
                         "--data-dir", os.path.join(node.dir, "other"))
            self.assertEqual(r.returncode, 2)
            self.assertIn("cannot listen on 127.0.0.1:%d (stomp)"
                          % node.stomp_port, r.stderr)
            self.assertIsNone(node.proc.poll())

    def tmp(self):
        import tempfile
        d = tempfile.mkdtemp(prefix="qmesh-opt-")
        self.addCleanup(lambda: __import__("shutil").rmtree(d, True))
        return d


class LifecycleTests(unittest.TestCase):
    def test_startup_line_names_qmgr_version_and_listener(self):
        with Node(qmgr="ALPHA") as node:
            log = harness.wait_for(
                lambda: "started" in node.log_text() and node.log_text())
            self.assertIn("queue manager ALPHA", log)
            self.assertIn(node.address, log)
            self.assertRegex(log, r"qmesh-node \d+\.\d+\.\d+")

    def test_startup_line_names_the_stomp_listener(self):
        with Node() as node:
            self.assertIn("stomp on 127.0.0.1:%d" % node.stomp_port,
                          node.first_line)
            with socket.create_connection(node.stomp_address, timeout=5):
                pass
        with Node("--stomp-listen", "none") as node:
            self.assertIn("stomp off", node.first_line)

    def test_sigterm_with_stomp_clients_connected_exits_0(self):
        with Node() as node:
            clients = []
            for _ in range(3):
                s = socket.create_connection(node.stomp_address, timeout=10)
                s.sendall(b"CONNECT\naccept-version:1.2\nhost:x\n\n\0")
                self.assertTrue(s.recv(4096).startswith(b"CONNECTED"))
                clients.append(s)
            self.assertEqual(node.terminate(timeout=10), 0)
            # Every client sees its connection end (EOF or reset).
            for s in clients:
                try:
                    while s.recv(4096):
                        pass
                except ConnectionResetError:
                    pass
                s.close()

    def test_sigterm_and_sigint_exit_0(self):
        for sig in (signal.SIGTERM, signal.SIGINT):
            with Node() as node:
                self.assertEqual(node.terminate(sig, timeout=10), 0)
                self.assertIn("stopping", node.log_text())

    def test_sigterm_during_traffic_exits_0_promptly(self):
        with Node() as node:
            # Fewer than the default max_depth (100,000), so only the stop
            # can end the producer early.
            lines = "".join(f"message {i}\n" for i in range(90000))
            producer = subprocess.Popen(
                [harness.CLI, "--node", node.address, "put", "LOAD"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, text=True)
            waiter = subprocess.Popen(
                [harness.CLI, "--node", node.address, "get", "IDLE",
                 "--wait", "60000"],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            try:
                def feed():
                    try:
                        producer.stdin.write(lines)
                        producer.stdin.close()
                    except (BrokenPipeError, ValueError, OSError):
                        pass  # the producer ended when the node stopped
                feeder = threading.Thread(target=feed, daemon=True)
                feeder.start()

                def depth():
                    r = node.cli("inquire", "LOAD")
                    for line in r.stdout.splitlines():
                        if line.startswith("current_depth:"):
                            return int(line.split(":")[1])
                    return 0
                self.assertTrue(harness.wait_for(lambda: depth() > 0))

                def connections():
                    r = node.cli("status")
                    for line in r.stdout.splitlines():
                        if line.startswith("connection_count:"):
                            return int(line.split(":")[1])
                    return 0
                # producer + waiter + the status call itself
                self.assertTrue(harness.wait_for(lambda: connections() >= 3))
                self.assertEqual(node.terminate(timeout=10), 0)
                self.assertIn("stopping", node.log_text())
                # Connected clients learn at once: one line, exit 1.
                self.assertEqual(waiter.wait(timeout=10), 1)
                err = waiter.stderr.read()
                self.assertEqual(len(err.strip().splitlines()), 1, err)
                self.assertIn("2009", err)
                # The producer was cut off mid-stream (or had just finished).
                self.assertIn(producer.wait(timeout=10), (0, 1))
                feeder.join(timeout=10)
            finally:
                for p in (producer, waiter):
                    if p.poll() is None:
                        p.kill()
                        p.wait()
                    for stream in (p.stdin, p.stdout, p.stderr):
                        if stream:
                            stream.close()

    def test_example_configs_start(self):
        for name in sorted(os.listdir(os.path.join(harness.SOURCE_DIR,
                                                   "config"))):
            if not name.endswith(".ini"):
                continue
            with self.subTest(config=name):
                path = os.path.join(harness.SOURCE_DIR, "config", name)
                # The file's own listen address and data dir are overridden
                # so tests never collide with a running node.
                with Node(config=path) as node:
                    expected = name[:-4].upper()
                    log = harness.wait_for(lambda: "started" in node.log_text()
                                           and node.log_text())
                    self.assertIn("queue manager " + expected, log)
                    self.assertEqual(node.terminate(), 0)


if __name__ == "__main__":
    unittest.main()
