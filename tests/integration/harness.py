"""Helpers for integration tests: real qmesh-node processes on free loopback
ports, always cleaned up.

Binaries come from the environment (set by ctest): QMESH_NODE, QMESH_CLI.
"""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

NODE = os.environ.get("QMESH_NODE", "build/qmesh-node")
CLI = os.environ.get("QMESH_CLI", "build/qmesh")
SOURCE_DIR = os.environ.get(
    "QMESH_SOURCE_DIR",
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def read_to_close(sock, ends=()):
    """Everything `sock` receives until the peer closes it, or until one of
    the exceptions `ends` is raised (others, a timeout included unless it
    is in `ends`, go to the caller)."""
    out = b""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            out += chunk
    except ends:
        pass
    return out


def wait_for(predicate, timeout=10.0, interval=0.02):
    """Polls predicate until it returns a true value or the time runs out."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            return value
        time.sleep(interval)


def fields(text):
    """`key: value` lines (qmesh status / inquire) as a dict."""
    out = {}
    for line in text.splitlines():
        key, sep, value = line.partition(": ")
        if sep:
            out[key] = value
    return out


class Node:
    """One qmesh-node process. Use as a context manager, or call stop()."""

    def __init__(self, *args, qmgr="QM1", port=None, config=None,
                 stomp_port=None, data_dir=None, cluster_port=None,
                 seeds=None):
        """`data_dir`: the node's data directory (kept at stop, for a
        restart); default: one inside the node's own temporary dir.
        `cluster_port`: listen for the cluster on 127.0.0.1:cluster_port;
        `seeds`: cluster addresses (`host:port`) to join through."""
        self.port = port or free_port()
        # Every node gets its own STOMP port unless the caller passes
        # --stomp-listen itself (e.g. `none`).
        self.stomp_port = stomp_port or free_port()
        self.qmgr = qmgr
        self.dir = tempfile.mkdtemp(prefix="qmesh-test-")
        self.log = os.path.join(self.dir, "node.log")
        cmd = [NODE]
        if config:
            cmd += ["--config", config]
        else:
            cmd += ["--qmgr", qmgr]
        cmd += ["--listen", f"127.0.0.1:{self.port}",
                "--data-dir", data_dir or os.path.join(self.dir, "data"),
                "--log-file", self.log, "--log-level", "info"]
        if "--stomp-listen" not in args:
            cmd += ["--stomp-listen", f"127.0.0.1:{self.stomp_port}"]
        # Likewise an HTTP port of its own (tests run nodes side by side).
        self.http_port = free_port()
        if "--http-listen" not in args:
            cmd += ["--http-listen", f"127.0.0.1:{self.http_port}"]
        self.cluster_port = cluster_port
        if cluster_port:
            cmd += ["--cluster-listen", f"127.0.0.1:{cluster_port}"]
        if seeds:
            cmd += ["--seeds", ",".join(seeds)]
        cmd += list(args)
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        self.first_line = line
        if "listening on" not in line:
            # stdout ended: the node is exiting; wait for it, so that its
            # stderr is complete.
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
            err = self.proc.stderr.read() if self.proc.poll() is not None else ""
            self.stop()
            raise RuntimeError(f"node did not start: {line!r} {err!r}")

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    @property
    def cluster_address(self):
        """`host:port` of the node's cluster listener (None if off)."""
        if not self.cluster_port:
            return None
        return f"127.0.0.1:{self.cluster_port}"

    @property
    def stomp_address(self):
        """(host, port) of the node's STOMP listener."""
        return ("127.0.0.1", self.stomp_port)

    def cli(self, *args, input=None, timeout=60):
        """Runs the qmesh CLI against this node; returns CompletedProcess."""
        return subprocess.run([CLI, "--node", self.address, *args],
                              input=input, capture_output=True, text=True,
                              timeout=timeout)

    def log_text(self):
        try:
            with open(self.log) as f:
                return f.read()
        except OSError:
            return ""

    def terminate(self, sig=signal.SIGTERM, timeout=10):
        """Sends sig and waits; returns the exit code (None if it hung)."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream:
                stream.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
