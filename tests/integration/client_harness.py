"""Helpers for the client-side integration tests (CLI, client library,
request/reply example), on top of harness.py (nodes, free ports).

Binaries come from the environment (set by ctest): QMESH_NODE, QMESH_CLI,
QMESH_REQUEST_REPLY, QMESH_CLIENT_CHECK.
"""
import os
import queue
import re
import signal
import subprocess
import threading
import time
import unittest

import harness
from harness import Node, free_port, wait_for  # noqa: F401 (re-exported)

CLI = harness.CLI
REQUEST_REPLY = os.environ.get("QMESH_REQUEST_REPLY",
                               "build/qmesh-request-reply")
CLIENT_CHECK = os.environ.get("QMESH_CLIENT_CHECK", "build/qmesh-client-check")


class Background:
    """A process whose stdout and stderr lines are read by threads, so a test
    can wait for a line with a deadline instead of sleeping."""

    def __init__(self, cmd, stdin=None):
        self.cmd = cmd
        self.proc = subprocess.Popen(cmd, stdin=stdin, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.lines = {"out": queue.Queue(), "err": queue.Queue()}
        self.seen = {"out": [], "err": []}
        self.threads = [
            threading.Thread(target=self._pump, args=(self.proc.stdout, "out"),
                             daemon=True),
            threading.Thread(target=self._pump, args=(self.proc.stderr, "err"),
                             daemon=True),
        ]
        for t in self.threads:
            t.start()

    def _pump(self, stream, key):
        for line in stream:
            self.lines[key].put(line.rstrip("\n"))
        self.lines[key].put(None)  # end of stream

    def wait_line(self, pattern, stream="out", timeout=20.0):
        """Returns the first new line matching pattern (a regex); raises
        AssertionError with everything seen if none comes in time."""
        deadline = time.monotonic() + timeout
        q = self.lines[stream]
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                line = q.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                q.put(None)
                break
            self.seen[stream].append(line)
            if re.search(pattern, line):
                return line
        raise AssertionError(
            f"no line matching {pattern!r} on std{stream} of {self.cmd}: "
            f"saw {self.seen[stream]!r}, exit code {self.proc.poll()}")

    def rest(self, stream="out", timeout=20.0):
        """Every remaining line of a stream, once the process has ended."""
        self.wait(timeout)
        for t in self.threads:
            t.join(timeout)
        out = []
        q = self.lines[stream]
        while True:
            line = q.get(timeout=timeout)
            if line is None:
                q.put(None)
                return out
            self.seen[stream].append(line)
            out.append(line)

    def wait(self, timeout=20.0):
        return self.proc.wait(timeout=timeout)

    def kill(self, sig=signal.SIGKILL):
        """Sends sig (if still running), reaps it and closes its pipes."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for t in self.threads:
            t.join(10)
        for stream in (self.proc.stdout, self.proc.stderr):
            stream.close()


class ClientTestCase(unittest.TestCase):
    """Starts one node per test; every process a test starts is killed in
    cleanup, even when the test fails."""

    qmgr = "QMT"

    def setUp(self):
        self.node = Node(qmgr=self.qmgr)
        self.addCleanup(self.node.stop)

    def background(self, *cmd, stdin=None):
        p = Background(list(cmd), stdin=stdin)
        self.addCleanup(p.kill)
        return p

    def cli(self, *args, input=None, timeout=60):
        return self.node.cli(*args, input=input, timeout=timeout)

    def ok(self, *args, input=None):
        """Runs the CLI; it must exit 0. Returns stdout."""
        r = self.cli(*args, input=input)
        self.assertEqual(r.returncode, 0,
                         f"qmesh {' '.join(args)}: {r.stderr}")
        return r.stdout

    def assert_reason(self, r, code, name=None, only_line=True):
        """Exit 1 and the stderr line `qmesh: CODE NAME...` (the only one,
        or with only_line=False the last one)."""
        self.assertEqual(r.returncode, 1, r.stderr)
        lines = r.stderr.strip().splitlines()
        if only_line:
            self.assertEqual(len(lines), 1, r.stderr)
        prefix = f"qmesh: {code} " + (name or "")
        self.assertTrue(lines and lines[-1].startswith(prefix),
                        f"expected {prefix!r}: {r.stderr!r}")

    def assert_usage(self, r, mentions=None):
        """Exit 2 and one stderr line; no stack dump."""
        self.assertEqual(r.returncode, 2, r.stderr)
        lines = r.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, r.stderr)
        self.assertTrue(lines[0].startswith("qmesh: "), r.stderr)
        if mentions:
            self.assertIn(mentions, lines[0])

    fields = staticmethod(harness.fields)

    def inquire(self, name):
        return self.fields(self.ok("inquire", name))
