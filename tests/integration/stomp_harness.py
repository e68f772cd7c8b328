"""Helpers for the STOMP integration tests (stomp_client_test.py,
stomp_interop_test.py): a stomp.py 8 client (`stomp.Connection12`) whose
listener records every frame in queues, so tests wait on events with
deadlines instead of sleeping; a tiny raw-socket STOMP client for what a
library will not do (go silent, vanish); a TestCase base with one node per
class and per-test cleanup.

Run as a script it is a client that holds messages and never acks (for the
SIGKILL test):  python3 stomp_harness.py hold HOST PORT DESTINATION ACKMODE
It prints `subscribed` once the SUBSCRIBE receipt came, then one line
`got <message-id> <ack>` per MESSAGE, and waits to be killed.
"""
import datetime
import os
import queue
import re
import socket
import struct
import subprocess
import sys
import threading
import time
import unittest
import uuid

import stomp

import harness
from harness import Node, wait_for

CLI = harness.CLI
REQUEST_REPLY = os.environ.get(
    "QMESH_REQUEST_REPLY",
    os.path.join(os.path.dirname(CLI) or ".", "qmesh-request-reply"))

# The longest any single wait in these tests may take.
TIMEOUT = 10.0

HEX32 = re.compile(r"^[0-9a-f]{32}$")
ERROR_MESSAGE = re.compile(r"^(\d{4}) ([a-z_]+): ")


def unique(prefix):
    """A queue or topic name no other test uses."""
    return f"{prefix}.{uuid.uuid4().hex[:10].upper()}"


def now_ms():
    return int(time.time() * 1000)


def iso_to_ms(text):
    """The CLI's put_time (`2026-11-27T17:08:51.123Z`) in ms since the
    epoch."""
    dt = datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ")
    dt = dt.replace(tzinfo=datetime.timezone.utc)
    return int(round(dt.timestamp() * 1000))


class Recorder(stomp.ConnectionListener):
    """Records everything a stomp.py connection receives."""

    def __init__(self):
        self.cond = threading.Condition()
        self.messages = queue.Queue()
        self.errors = queue.Queue()
        self.error_frames = []
        self.receipts = []          # receipt-ids in arrival order
        self.heartbeats = 0         # server heart-beats seen
        self.heartbeat_timeouts = 0  # stomp.py's own receive timeouts
        self.connected = threading.Event()
        self.connected_frame = None
        self.disconnected = threading.Event()

    def on_connected(self, frame):
        self.connected_frame = frame
        self.connected.set()

    def on_message(self, frame):
        self.messages.put(frame)

    def on_receipt(self, frame):
        with self.cond:
            self.receipts.append(frame.headers.get("receipt-id"))
            self.cond.notify_all()

    def on_error(self, frame):
        with self.cond:
            self.error_frames.append(frame)
            self.cond.notify_all()
        self.errors.put(frame)

    def on_heartbeat(self):
        with self.cond:
            self.heartbeats += 1
            self.cond.notify_all()

    def on_heartbeat_timeout(self):
        with self.cond:
            self.heartbeat_timeouts += 1
            self.cond.notify_all()

    def on_disconnected(self):
        self.disconnected.set()
        with self.cond:
            self.cond.notify_all()

    def wait(self, predicate, timeout=TIMEOUT):
        """Waits until predicate() (called under the lock) is true."""
        with self.cond:
            return self.cond.wait_for(predicate, timeout)

    def describe(self):
        errs = [(f.headers, f.body) for f in self.error_frames]
        return (f"receipts={self.receipts!r} errors={errs!r} "
                f"disconnected={self.disconnected.is_set()}")


class Client:
    """One stomp.py STOMP 1.2 connection with a Recorder. Every wait has a
    deadline; close() never hangs."""

    _counter = 0
    _counter_lock = threading.Lock()

    def __init__(self, address, heartbeats=(0, 0), binary=False,
                 receive_scale=1.5, connect_headers=None,
                 use_connect_command=True):
        self.conn = stomp.Connection12(
            [address], heartbeats=heartbeats, auto_decode=not binary,
            reconnect_attempts_max=1, heart_beat_receive_scale=receive_scale)
        self.rec = Recorder()
        self.conn.set_listener("recorder", self.rec)
        self.conn.connect(wait=False, headers=dict(connect_headers or {}),
                          with_connect_command=use_connect_command)
        # A server that stops reading must not block a send forever (a
        # socket timeout would also end stomp.py's idle reads, so only
        # sends get one).
        sock = self.conn.transport.socket
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO,
                            struct.pack("ll", int(TIMEOUT), 0))
        if not self.rec.connected.wait(TIMEOUT):
            self.close()
            raise AssertionError(
                f"no CONNECTED from {address}: {self.rec.describe()}")

    @classmethod
    def next_id(cls, prefix):
        with cls._counter_lock:
            cls._counter += 1
            return f"{prefix}-{cls._counter}"

    # -- frames -------------------------------------------------------------

    def send(self, destination, body, receipt=True, **headers):
        """SEND; with receipt=True waits for its RECEIPT. Header names with
        dashes go in as headers={...}."""
        extra = dict(headers.pop("headers", {}) or {})
        extra.update(headers)
        rid = self._receipt(extra, receipt)
        self.conn.send(destination, body, headers=extra)
        return self._maybe_wait(rid, receipt)

    def subscribe(self, destination, sub_id=None, ack="auto", receipt=True,
                  **headers):
        extra = dict(headers.pop("headers", {}) or {})
        extra.update(headers)
        sub_id = sub_id or self.next_id("sub")
        rid = self._receipt(extra, receipt)
        self.conn.subscribe(destination, sub_id, ack=ack, headers=extra)
        self._maybe_wait(rid, receipt)
        return sub_id

    def unsubscribe(self, sub_id, receipt=True):
        extra = {}
        rid = self._receipt(extra, receipt)
        self.conn.unsubscribe(sub_id, headers=extra)
        return self._maybe_wait(rid, receipt)

    def ack(self, frame_or_id, transaction=None, receipt=True):
        ack_id = self._ack_id(frame_or_id)
        rid = self.next_id("ack") if receipt else None
        self.conn.ack(ack_id, transaction=transaction, receipt=rid)
        return self._maybe_wait(rid, receipt)

    def nack(self, frame_or_id, transaction=None, receipt=True, **headers):
        ack_id = self._ack_id(frame_or_id)
        rid = self.next_id("nack") if receipt else None
        self.conn.nack(ack_id, transaction=transaction, receipt=rid,
                       **headers)
        return self._maybe_wait(rid, receipt)

    def begin(self, transaction, receipt=True):
        extra = {}
        rid = self._receipt(extra, receipt)
        self.conn.begin(transaction, headers=extra)
        return self._maybe_wait(rid, receipt)

    def commit(self, transaction, receipt=True):
        extra = {}
        rid = self._receipt(extra, receipt)
        self.conn.commit(transaction, headers=extra)
        return self._maybe_wait(rid, receipt)

    def abort(self, transaction, receipt=True):
        extra = {}
        rid = self._receipt(extra, receipt)
        self.conn.abort(transaction, headers=extra)
        return self._maybe_wait(rid, receipt)

    def frame(self, cmd, headers=None, body=""):
        """Any frame, as stomp.py would send it (escaped headers)."""
        self.conn.send_frame(cmd, dict(headers or {}), body)

    # -- waiting ------------------------------------------------------------

    def wait_receipt(self, rid, timeout=TIMEOUT):
        """Waits for RECEIPT rid; fails at once if an ERROR comes instead."""
        ok = self.rec.wait(
            lambda: rid in self.rec.receipts or self.rec.error_frames
            or self.rec.disconnected.is_set(), timeout)
        if rid not in self.rec.receipts:
            raise AssertionError(
                f"no RECEIPT {rid!r} ({'ended' if ok else 'timed out'}): "
                f"{self.rec.describe()}")
        return rid

    def message(self, timeout=TIMEOUT):
        """The next MESSAGE frame; fails after timeout."""
        try:
            return self.rec.messages.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(
                f"no MESSAGE within {timeout} s: {self.rec.describe()}"
            ) from None

    def messages(self, n, timeout=TIMEOUT):
        deadline = time.monotonic() + timeout
        return [self.message(max(0.01, deadline - time.monotonic()))
                for _ in range(n)]

    def pending_messages(self):
        """MESSAGE frames received and not yet taken, without waiting."""
        out = []
        while True:
            try:
                out.append(self.rec.messages.get_nowait())
            except queue.Empty:
                return out

    def error(self, timeout=TIMEOUT):
        """The next ERROR frame; fails after timeout."""
        try:
            return self.rec.errors.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(
                f"no ERROR within {timeout} s: {self.rec.describe()}"
            ) from None

    # -- ending -------------------------------------------------------------

    def disconnect(self, receipt="bye", timeout=TIMEOUT):
        """A clean DISCONNECT with a receipt; returns True if the receipt
        came (stomp.py then closes the socket)."""
        done = threading.Event()

        def run():
            try:
                self.conn.disconnect(receipt=receipt)
            except Exception:  # noqa: BLE001 (the result is the receipt)
                pass
            finally:
                done.set()

        threading.Thread(target=run, daemon=True).start()
        got = self.rec.wait(lambda: receipt in self.rec.receipts
                            or self.rec.disconnected.is_set(), timeout)
        done.wait(timeout)
        return bool(got) and receipt in self.rec.receipts

    def vanish(self):
        """Ends the TCP connection without DISCONNECT (as a crashed client
        would): a reset, no STOMP goodbye."""
        t = self.conn.transport
        sock = t.socket
        t.running = False
        if sock is not None:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                struct.pack("ii", 1, 0))
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.rec.disconnected.wait(TIMEOUT)
        self.force_close()

    def force_close(self):
        t = self.conn.transport
        t.running = False
        sock = t.socket
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                sock.close()
            except OSError:
                pass
        self.rec.disconnected.wait(2)

    def close(self):
        """Cleanup: a DISCONNECT if still connected (bounded), then the
        socket goes in any case."""
        try:
            if (self.conn.transport.socket is not None
                    and not self.rec.disconnected.is_set()
                    and self.conn.is_connected()):
                self.disconnect(receipt=self.next_id("close"), timeout=5)
        finally:
            self.force_close()

    # -- internals ----------------------------------------------------------

    def _receipt(self, headers, receipt):
        if not receipt:
            return None
        rid = receipt if isinstance(receipt, str) else self.next_id("r")
        headers["receipt"] = rid
        return rid

    def _maybe_wait(self, rid, receipt):
        if rid is None:
            return None
        return self.wait_receipt(rid)

    @staticmethod
    def _ack_id(frame_or_id):
        if isinstance(frame_or_id, str):
            return frame_or_id
        assert "ack" in frame_or_id.headers, frame_or_id.headers
        return frame_or_id.headers["ack"]


# -- raw socket client -------------------------------------------------------

def escape(value):
    return (value.replace("\\", "\\\\").replace("\r", "\\r")
            .replace("\n", "\\n").replace(":", "\\c"))


def unescape(value):
    return re.sub(r"\\(.)", lambda m: {"\\": "\\", "r": "\r", "n": "\n",
                                       "c": ":"}.get(m.group(1), m.group(0)),
                  value)


class RawStomp:
    """A bare STOMP 1.2 socket client: writes frames, reads and parses them
    (EOL heart-beats are counted), every read with a deadline."""

    def __init__(self, address, timeout=TIMEOUT):
        self.sock = socket.create_connection(address, timeout=timeout)
        self.buf = b""
        self.heartbeats = 0
        self.eof = False
        self.last_header_lines = []  # of the last frame read, in order

    def send(self, cmd, headers=None, body=b""):
        lines = [cmd]
        for k, v in (headers or {}).items():
            lines.append(f"{escape(k)}:{escape(str(v))}"
                         if cmd not in ("CONNECT", "STOMP") else f"{k}:{v}")
        data = ("\n".join(lines) + "\n\n").encode() + body + b"\x00"
        self.sock.sendall(data)

    def _fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout("raw read deadline")
        self.sock.settimeout(left)
        try:
            chunk = self.sock.recv(65536)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            self.eof = True
            return False
        self.buf += chunk
        return True

    def read_frame(self, timeout=TIMEOUT):
        """(command, headers, body) of the next frame, or None at EOF.
        Raises socket.timeout if nothing complete comes in time."""
        deadline = time.monotonic() + timeout
        while True:
            # Heart-beats: EOLs between frames.
            while self.buf[:1] == b"\n" or self.buf[:2] == b"\r\n":
                self.heartbeats += 1
                self.buf = self.buf[1:] if self.buf[:1] == b"\n" \
                    else self.buf[2:]
            end = self.buf.find(b"\n\n")
            if end >= 0:
                head = self.buf[:end].decode("utf-8").replace("\r", "")
                lines = head.split("\n")
                self.last_header_lines = lines[1:]
                cmd, headers = lines[0], {}
                for line in lines[1:]:
                    k, _, v = line.partition(":")
                    headers.setdefault(unescape(k), unescape(v))
                start = end + 2
                if "content-length" in headers:
                    stop = start + int(headers["content-length"])
                    if len(self.buf) > stop:
                        body = self.buf[start:stop]
                        self.buf = self.buf[stop + 1:]
                        return cmd, headers, body
                else:
                    nul = self.buf.find(b"\x00", start)
                    if nul >= 0:
                        body = self.buf[start:nul]
                        self.buf = self.buf[nul + 1:]
                        return cmd, headers, body
            if self.eof or not self._fill(deadline):
                return None

    def read_until_eof(self, timeout=TIMEOUT):
        """Every frame until the server closes; raises socket.timeout if it
        does not close in time."""
        frames = []
        deadline = time.monotonic() + timeout
        while True:
            f = self.read_frame(max(0.01, deadline - time.monotonic()))
            if f is None:
                return frames
            frames.append(f)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


# -- test case base ---------------------------------------------------------

class StompTestCase(unittest.TestCase):
    """One node per TestCase class (node_args), cleaned up with the class;
    every client a test opens is closed in the test's cleanup."""

    node_args = ()
    qmgr = "QM1"

    @classmethod
    def setUpClass(cls):
        cls.node = Node(*cls.node_args, qmgr=cls.qmgr)
        cls.addClassCleanup(cls.node.stop)

    def client(self, **kwargs):
        c = Client(self.node.stomp_address, **kwargs)
        self.addCleanup(c.close)
        return c

    def raw(self, connect=True, **headers):
        r = RawStomp(self.node.stomp_address)
        self.addCleanup(r.close)
        if connect:
            h = {"accept-version": "1.2", "host": "localhost"}
            h.update(headers)
            r.send("CONNECT", h)
            f = r.read_frame()
            self.assertIsNotNone(f, "server closed instead of CONNECTED")
            self.assertEqual(f[0], "CONNECTED", f)
        return r

    # -- CLI ----------------------------------------------------------------

    def cli(self, *args, input=None, timeout=60):
        return self.node.cli(*args, input=input, timeout=timeout)

    def ok(self, *args, input=None):
        r = self.cli(*args, input=input)
        self.assertEqual(r.returncode, 0,
                         f"qmesh {' '.join(args)}: {r.stderr}")
        return r.stdout

    def cli_bytes(self, *args, input=None, timeout=60):
        """The CLI with binary stdin/stdout."""
        return subprocess.run([CLI, "--node", self.node.address, *args],
                              input=input, capture_output=True,
                              timeout=timeout)

    fields = staticmethod(harness.fields)

    def inquire(self, name):
        return self.fields(self.ok("inquire", name))

    def wait_queue(self, name, timeout=TIMEOUT, **expected):
        """Waits until `inquire name` shows every key=value of expected;
        returns the last inquiry."""
        want = {k: str(v) for k, v in expected.items()}
        last = {}

        def check():
            nonlocal last
            last = self.inquire(name)
            return all(last.get(k) == v for k, v in want.items())

        self.assertTrue(wait_for(check, timeout),
                        f"queue {name}: wanted {want}, last {last}")
        return last

    # -- assertions -----------------------------------------------------------

    def assert_error(self, frame, code, name=None):
        """An ERROR frame as docs/protocol-stomp.md describes it."""
        self.assertEqual(frame.cmd, "ERROR")
        msg = frame.headers.get("message", "")
        prefix = f"{code} " + (f"{name}:" if name else "")
        self.assertTrue(msg.startswith(prefix),
                        f"ERROR message {msg!r} should start with {prefix!r}"
                        f" (headers {frame.headers})")
        self.assertRegex(msg, ERROR_MESSAGE)
        self.assertEqual(frame.headers.get("qmesh-reason"), str(code),
                         frame.headers)
        return msg


# -- the holder: a client that gets messages and never acks ------------------

def _hold(host, port, destination, ack):
    rec = Recorder()
    conn = stomp.Connection12([(host, int(port))], reconnect_attempts_max=1)
    out_lock = threading.Lock()

    def say(line):
        # Whole lines only: the receiver thread and the main thread write.
        with out_lock:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()

    class Printer(stomp.ConnectionListener):
        def on_message(self, frame):
            say(f"got {frame.headers.get('message-id')} "
                f"{frame.headers.get('ack')}")

    conn.set_listener("recorder", rec)
    conn.set_listener("printer", Printer())
    conn.connect(wait=False, with_connect_command=True)
    if not rec.connected.wait(TIMEOUT):
        say("no CONNECTED")
        return 1
    conn.subscribe(destination, "hold", ack=ack,
                   headers={"receipt": "subscribed"})
    if not rec.wait(lambda: "subscribed" in rec.receipts):
        say("no receipt")
        return 1
    say("subscribed")
    threading.Event().wait(120)  # until killed; never forever
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "hold":
        sys.exit(_hold(*sys.argv[2:]))
    print(__doc__)
    sys.exit(2)
