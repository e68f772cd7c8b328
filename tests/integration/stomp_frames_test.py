"""The node's STOMP 1.2 server, frame by frame over raw sockets: every rule
of docs/protocol-stomp.md, every error path, hostile input, a frame delivered
one byte at a time, 1,000 frames in one write.

Nothing here sleeps to synchronise: tests wait on socket reads with
deadlines, on RECEIPT barriers, or with harness.wait_for. Every socket has a
timeout, so a test fails instead of hanging. The CLI (docs/client.md) checks
the node's state independently of STOMP.
"""
import collections
import itertools
import random
import re
import socket
import time
import unittest

from harness import Node, wait_for

DLQ = "SYSTEM.DEAD.LETTER.QUEUE"
READ_TIMEOUT = 10.0        # longest wait for one expected frame
HEX32 = re.compile(r"^[0-9a-f]{32}$")
_names = itertools.count(1)


def unique(prefix="FQ"):
    """A queue name (or topic level) no other test uses."""
    return f"{prefix}.{next(_names)}"


# -- the frame codec of the test side -----------------------------------------

def escape(text):
    return (text.replace("\\", "\\\\").replace("\r", "\\r")
            .replace("\n", "\\n").replace(":", "\\c"))


def header_decoder(table, what="escape"):
    """A decoder of header text by `table` (escape -> character); any
    other escape is the server's error."""
    def decode(text):
        def sub(m):
            if m.group(0) not in table:
                raise ValueError(f"bad {what} {m.group(0)!r} from the server")
            return table[m.group(0)]
        return re.sub(r"\\.?", sub, text, flags=re.S)
    return decode


unescape = header_decoder(
    {"\\\\": "\\", "\\r": "\r", "\\n": "\n", "\\c": ":"})


def as_bytes(x):
    return x if isinstance(x, (bytes, bytearray)) else str(x).encode()


def frame_bytes(command, headers=(), body=b"", *, content_length=False,
                raw=False, eol=b"\n"):
    """One wire frame. headers: a dict or (name, value) pairs, escaped unless
    raw or the command is CONNECT. content_length adds the header."""
    body = as_bytes(body)
    if isinstance(headers, dict):
        headers = list(headers.items())
    literal = raw or command == "CONNECT"
    out = bytearray(as_bytes(command) + eol)
    for name, value in headers:
        if value is None:
            continue
        if not literal and isinstance(name, str):
            name = escape(name)
        if not literal and isinstance(value, str):
            value = escape(value)
        out += as_bytes(name) + b":" + as_bytes(value) + eol
    if content_length:
        out += b"content-length:" + str(len(body)).encode() + eol
    out += eol + body + b"\0"
    return bytes(out)


class Frame:
    def __init__(self, command, headers, body):
        self.command = command
        self.headers = headers      # (name, value) pairs in wire order
        self.body = body

    def get(self, name, default=None):
        """First occurrence wins (STOMP 1.2)."""
        for k, v in self.headers:
            if k == name:
                return v
        return default

    def all(self, name):
        return [v for k, v in self.headers if k == name]

    def __getitem__(self, name):
        v = self.get(name)
        if v is None:
            raise KeyError(f"{self.command} frame has no {name!r} header: "
                           f"{self!r}")
        return v

    def __contains__(self, name):
        return self.get(name) is not None

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    def __repr__(self):
        body = self.body if len(self.body) < 200 else self.body[:200] + b"..."
        return f"Frame({self.command!r}, {self.headers!r}, {body!r})"


class Closed(Exception):
    """The server closed the connection."""


class Stomp:
    """A raw STOMP connection with a frame reader: a byte buffer that yields
    complete frames (content-length honoured, heart-beat EOLs skipped and
    counted)."""

    # Decodes server header names and values: STOMP 1.2 escapes (a test of
    # another version replaces it on its connection).
    unescape = staticmethod(unescape)

    def __init__(self, address, timeout=READ_TIMEOUT):
        self.sock = socket.create_connection(address, timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.settimeout(timeout)
        self.buf = bytearray()
        self.heartbeats = 0
        self.eof = False
        self.stash = collections.deque()   # MESSAGEs read while waiting
        self.connected = None

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    # writing
    def raw(self, data):
        self.sock.sendall(as_bytes(data))

    def send(self, command, headers=(), body=b"", **kw):
        self.raw(frame_bytes(command, headers, body, **kw))

    # reading
    def _parse(self):
        buf = self.buf
        i = 0
        while True:
            if buf[i:i + 1] == b"\n":
                i += 1
            elif buf[i:i + 2] == b"\r\n":
                i += 2
            else:
                break
            self.heartbeats += 1
        if i:
            del buf[:i]
        if not buf or buf == b"\r":
            return None
        pos = 0
        lines = []
        while True:
            nl = buf.find(b"\n", pos)
            if nl < 0:
                return None
            line = bytes(buf[pos:nl])
            if line.endswith(b"\r"):
                line = line[:-1]
            pos = nl + 1
            if line == b"" and lines:
                break
            lines.append(line)
        command = lines[0].decode("utf-8", "replace")
        literal = command in ("CONNECT", "CONNECTED")
        headers = []
        for line in lines[1:]:
            name, sep, value = line.decode("utf-8").partition(":")
            if not sep:
                raise AssertionError(f"server sent a header without ':' "
                                     f"{line!r}")
            if not literal:
                name, value = self.unescape(name), self.unescape(value)
            headers.append((name, value))
        cl = next((v for k, v in headers if k == "content-length"), None)
        if cl is not None:
            n = int(cl)
            if len(buf) < pos + n + 1:
                return None
            body = bytes(buf[pos:pos + n])
            if buf[pos + n] != 0:
                raise AssertionError(f"server frame {command} not terminated "
                                     f"by NUL after content-length {n}")
            end = pos + n + 1
        else:
            nul = buf.find(b"\0", pos)
            if nul < 0:
                return None
            body = bytes(buf[pos:nul])
            end = nul + 1
        del buf[:end]
        return Frame(command, headers, body)

    def _fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout()
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(65536)
        except ConnectionResetError:
            data = b""
        if not data:
            self.eof = True
            raise Closed()
        self.buf += data

    def read(self, timeout=READ_TIMEOUT):
        """The next frame. AssertionError if none comes in time, Closed if
        the server closed first."""
        deadline = time.monotonic() + timeout
        while True:
            f = self._parse()
            if f is not None:
                return f
            if self.eof:
                raise Closed()
            try:
                self._fill(deadline)
            except socket.timeout:
                raise AssertionError(f"no frame within {timeout} s "
                                     f"(buffered {bytes(self.buf)[:200]!r})")

    def read_ok(self, timeout=READ_TIMEOUT):
        """read(), turning Closed into a test failure."""
        try:
            return self.read(timeout)
        except Closed:
            raise AssertionError("the server closed the connection "
                                 f"(buffered {bytes(self.buf)[:200]!r})")

    def expect(self, command, timeout=READ_TIMEOUT):
        f = self.read_ok(timeout)
        if f.command != command:
            raise AssertionError(f"expected {command}, got {f!r}")
        return f

    def message(self, timeout=READ_TIMEOUT):
        """The next MESSAGE (stashed ones first); any other frame fails."""
        if self.stash:
            return self.stash.popleft()
        return self.expect("MESSAGE", timeout)

    def messages(self, n, timeout=READ_TIMEOUT):
        return [self.message(timeout) for _ in range(n)]

    def receipt(self, rid, timeout=READ_TIMEOUT):
        """Waits for RECEIPT rid; MESSAGEs before it are stashed, anything
        else (another receipt, an ERROR) fails."""
        deadline = time.monotonic() + timeout
        while True:
            f = self.read_ok(max(0.01, deadline - time.monotonic()))
            if f.command == "MESSAGE":
                self.stash.append(f)
                continue
            if f.command != "RECEIPT" or f.get("receipt-id") != rid:
                raise AssertionError(f"expected RECEIPT {rid!r}, got {f!r}")
            return f

    def request(self, command, headers=(), body=b"", **kw):
        """Sends a frame with a fresh receipt and waits for it."""
        rid = unique("r")
        headers = list(headers.items() if isinstance(headers, dict)
                       else headers) + [("receipt", rid)]
        self.send(command, headers, body, **kw)
        return self.receipt(rid)

    def until_closed(self, timeout=5.0):
        """Reads until the server closes. Heart-beat EOLs are fine; a frame
        (other than MESSAGE, which may already be on the wire) fails."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                f = self.read(max(0.01, deadline - time.monotonic()))
            except Closed:
                return
            except AssertionError:
                raise AssertionError(f"the server did not close the "
                                     f"connection within {timeout} s")
            if f.command != "MESSAGE":
                raise AssertionError(f"frame after the end: {f!r}")

    def quiet(self, seconds):
        """Reads raw bytes for `seconds`; returns them (EOF ends early)."""
        deadline = time.monotonic() + seconds
        got = bytearray(self.buf)
        self.buf.clear()
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return bytes(got)
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                return bytes(got)
            except ConnectionResetError:
                data = b""
            if not data:
                self.eof = True
                return bytes(got)
            got += data


# -- test base ----------------------------------------------------------------

class StompCase(unittest.TestCase):
    """One node per class (node_args: extra node options)."""

    node_args = ()

    @classmethod
    def setUpClass(cls):
        cls.node = Node(*cls.node_args)
        cls.addClassCleanup(cls.node.stop)

    died_in = None

    def setUp(self):
        if self.node.proc.poll() is not None:
            self.fail(f"the node died earlier, in {type(self).died_in}")

    def tearDown(self):
        if self.node.proc.poll() is not None and type(self).died_in is None:
            type(self).died_in = self.id()
            self.fail(f"the node died (exit {self.node.proc.poll()}); "
                      "its log ends:\n" + self.node.log_text()[-1500:])

    # connections
    def open(self):
        c = Stomp(self.node.stomp_address)
        self.addCleanup(c.close)
        return c

    def connect(self, *extra, command="CONNECT", heart_beat=None):
        c = self.open()
        headers = [("accept-version", "1.2"), ("host", "localhost")]
        if heart_beat is not None:
            headers.append(("heart-beat", heart_beat))
        headers += list(extra)
        c.send(command, headers)
        c.connected = c.expect("CONNECTED")
        return c

    def subscribe(self, c, destination, sid=None, **headers):
        sid = sid or unique("s")
        hs = [("destination", destination), ("id", sid)]
        hs += [(k.replace("_", "-"), v) for k, v in headers.items()]
        c.request("SUBSCRIBE", hs)
        return sid

    def put(self, c, destination, body, *headers, **kw):
        return c.request("SEND", [("destination", destination)]
                         + list(headers), body, **kw)

    # errors
    def assert_error(self, c, code, receipt=None, contains=None,
                     closes=True):
        """The next frame (MESSAGEs skipped) is an ERROR `code` (an int, or a
        set of acceptable ints), then the server closes."""
        while True:
            f = c.read_ok()
            if f.command != "MESSAGE":
                break
        self.assertEqual(f.command, "ERROR", f)
        msg = f.get("message", "")
        self.assertNotIn("\n", msg)
        m = re.match(r"^(\d{4}) [a-z_]+: ", msg)
        self.assertTrue(m, f"message is not '<MQRC> <name>: <text>': {f!r}")
        codes = code if isinstance(code, (set, frozenset)) else {code}
        self.assertIn(int(m.group(1)), codes, f)
        self.assertEqual(f.get("qmesh-reason"), m.group(1), f)
        self.assertEqual(f.get("receipt-id"), receipt, f)
        self.assertEqual(f.get("content-type"), "text/plain", f)
        self.assertIn(msg, f.text, f)
        if contains:
            self.assertIn(contains, msg, f)
        if closes:
            c.until_closed()
        return f

    def bad_frame(self, code, command, headers, body=b"", *, setup=None,
                  contains=None, **kw):
        """A fresh connection sends one bad frame (with a receipt) and gets
        ERROR code with that receipt-id, then is closed."""
        c = self.connect()
        if setup:
            setup(c)
        rid = unique("bad")
        c.send(command, list(headers) + [("receipt", rid)], body, **kw)
        return self.assert_error(c, code, receipt=rid, contains=contains)

    # the CLI
    def cli_ok(self, *args):
        r = self.node.cli(*args)
        self.assertEqual(r.returncode, 0, f"qmesh {args}: {r.stderr}")
        return r.stdout

    def fields(self, text):
        out = {}
        for line in text.splitlines():
            k, sep, v = line.partition(": ")
            if sep:
                out[k] = v
        return out

    def depth(self, q):
        return int(self.fields(self.cli_ok("inquire", q))["current_depth"])

    def cli_bodies(self, q, browse=False):
        args = ["get", q, "--all"] + (["--browse"] if browse else [])
        return self.cli_ok(*args).splitlines()

    def descriptors(self, q, *extra):
        """get --show-descriptor: [(fields, body)]."""
        out = self.cli_ok("get", q, "--show-descriptor", *extra)
        result = []
        lines = out.split("\n")
        i = 0
        while i < len(lines):
            if not lines[i].startswith("msg_id: "):
                i += 1
                continue
            d = {}
            while lines[i].startswith(tuple(
                    k + ": " for k in (
                        "msg_id", "correl_id", "priority", "persistent",
                        "expiry", "reply_to_queue", "reply_to_qmgr",
                        "put_time", "origin_qmgr", "delivery_count",
                        "redelivered", "content_type"))) or \
                    lines[i].startswith("property "):
                k, _, v = lines[i].partition(": ")
                d[k] = v
                i += 1
            result.append((d, lines[i]))
            i += 1
        return result

    def cli_reason(self, r):
        """The MQRC of a failed CLI call."""
        self.assertEqual(r.returncode, 1, r.stderr)
        m = re.match(r"qmesh: (\d+) ", r.stderr.strip().splitlines()[-1])
        self.assertTrue(m, r.stderr)
        return int(m.group(1))


# -- connecting ---------------------------------------------------------------

class ConnectTests(StompCase):
    def test_connect_and_connected_headers(self):
        version = self.fields(self.cli_ok("status"))["version"]
        c = self.connect()
        f = c.connected
        self.assertEqual(f["version"], "1.2")
        self.assertEqual(f["server"], f"qmesh/{version}")
        # An opaque id: 16 hex digits, not the (small, sequential) actor id.
        self.assertRegex(f["session"], r"^[0-9a-f]{16}$")
        self.assertEqual(f["heart-beat"], "10000,10000")  # the default
        # A connected session works.
        self.put(c, "/queue/" + unique(), "x")

    def test_stomp_command_and_distinct_sessions(self):
        a = self.connect(command="STOMP")
        b = self.connect(command="STOMP")
        self.assertEqual(a.connected["version"], "1.2")
        self.assertNotEqual(a.connected["session"], b.connected["session"])
        self.put(a, "/queue/" + unique(), "via STOMP")

    def test_accept_version_list_with_12(self):
        c = self.open()
        c.send("CONNECT", [("accept-version", "1.0,1.1,1.2"),
                           ("host", "h"), ("login", "guest"),
                           ("passcode", "guest")])
        self.assertEqual(c.expect("CONNECTED")["version"], "1.2")

    def test_no_shared_version(self):
        c = self.open()
        c.send("CONNECT", [("accept-version", "2.0,0.9"), ("host", "h")])
        f = self.assert_error(c, 2046, contains="no STOMP version in common")
        self.assertEqual(f.get("version"), "1.0,1.1,1.2")

    def test_stomp_without_12(self):
        c = self.open()
        c.send("STOMP", [("accept-version", "1.1"), ("host", "h")])
        self.assertEqual(c.expect("CONNECTED")["version"], "1.1")

    def test_frame_before_connect(self):
        q = unique()
        for command, headers, body in [
                ("SEND", [("destination", f"/queue/{q}")], "early bird"),
                ("SUBSCRIBE", [("destination", f"/queue/{q}"), ("id", "0")],
                 ""),
                ("DISCONNECT", [], "")]:
            with self.subTest(command=command):
                c = self.open()
                c.send(command, headers + [("receipt", "early")], body)
                self.assert_error(c, 2046, receipt="early")
        # The SEND was not put.
        self.assertIn(self.cli_reason(self.node.cli("get", q)), (2033, 2085))

    def test_second_connect(self):
        c = self.connect()
        c.send("CONNECT", [("accept-version", "1.2"), ("host", "h")])
        self.assert_error(c, 2046)
        c = self.connect()
        c.send("STOMP", [("accept-version", "1.2"), ("host", "h")])
        self.assert_error(c, 2046)

    def test_connect_headers_are_not_unescaped(self):
        # `\t` is an undefined escape: an error in any frame but CONNECT
        # (and CONNECTED), whose headers are taken literally.
        c = self.open()
        c.send("CONNECT", [("accept-version", "1.2"), ("host", r"a\tb"),
                           ("login", "x\\"), ("passcode", r"p\cq")],
               raw=True)
        self.assertEqual(c.expect("CONNECTED")["version"], "1.2")
        self.put(c, "/queue/" + unique(), "after a literal CONNECT")
        # STOMP is unescaped like every other frame.
        c = self.open()
        c.send("STOMP", [("accept-version", "1.2"), ("host", r"a\tb")],
               raw=True)
        self.assert_error(c, 2046, contains="escape")


# -- frames, headers, bodies --------------------------------------------------

class FrameTests(StompCase):
    def test_send_subscribe_message_round_trip(self):
        q = unique()
        c = self.connect()
        before = int(time.time() * 1000)
        self.put(c, f"/queue/{q}", "hello")
        after = int(time.time() * 1000)
        self.assertEqual(self.depth(q), 1)
        sid = self.subscribe(c, f"/queue/{q}")
        m = c.message()
        self.assertEqual(m.body, b"hello")
        self.assertEqual(m["subscription"], sid)
        self.assertRegex(m["message-id"], HEX32)
        self.assertEqual(m["destination"], f"/queue/{q}")
        self.assertEqual(m["content-length"], "5")
        self.assertNotIn("ack", m)            # ack:auto
        self.assertNotIn("redelivered", m)
        self.assertNotIn("expires", m)
        self.assertEqual(m["priority"], "0")
        self.assertEqual(m["persistent"], "false")
        self.assertEqual(m["qmesh-origin-qmgr"], "QM1")
        ts = int(m["timestamp"])
        self.assertTrue(before - 1000 <= ts <= after + 1000,
                        (before, ts, after))
        # Consumed on delivery (auto): the queue is empty.
        self.assertTrue(wait_for(lambda: self.depth(q) == 0, 5))

    def test_message_headers(self):
        q = unique()
        mid = "0123456789abcdef0123456789abcdef"
        expires = int(time.time() * 1000) + 3_600_000
        c = self.connect()
        self.put(c, f"/queue/{q}", "payload",
                 ("message-id", mid), ("correlation-id", "corr-1"),
                 ("priority", "7"), ("persistent", "true"),
                 ("reply-to", "/queue/REPLIES"), ("expires", str(expires)),
                 ("content-type", "application/json"),
                 ("x-user", "value with spaces"), ("x-colon", "a:b:c"),
                 ("x-empty", ""), ("Mixed-Case", "Kept"))
        self.subscribe(c, f"/queue/{q}")
        m = c.message()
        self.assertEqual(m["message-id"], mid)
        self.assertEqual(m["correlation-id"], "corr-1")
        self.assertEqual(m["priority"], "7")
        self.assertEqual(m["persistent"], "true")
        self.assertEqual(m["reply-to"], "/queue/REPLIES")
        self.assertLessEqual(abs(int(m["expires"]) - expires), 2000)
        self.assertEqual(m["content-type"], "application/json")
        self.assertEqual(m["x-user"], "value with spaces")
        self.assertEqual(m["x-colon"], "a:b:c")
        self.assertEqual(m.get("x-empty"), "")
        self.assertEqual(m["Mixed-Case"], "Kept")
        self.assertNotIn("receipt", m)
        self.assertEqual(m.all("destination"), [f"/queue/{q}"])
        self.assertEqual(m.body, b"payload")

    def test_descriptor_mapping_seen_by_cli(self):
        q = unique()
        c = self.connect()
        self.put(c, f"/queue/{q}", "d1",
                 ("correlation-id", "c-9"), ("priority", "3"),
                 ("persistent", "false"), ("reply-to", "/queue/QMX/RQ"),
                 ("expires", str(int(time.time() * 1000) + 600_000)),
                 ("content-type", "text/plain"), ("color", "red"))
        self.put(c, f"/queue/{q}", "d2", ("reply-to", "/queue/RQ2"),
                 ("persistent", "true"))
        self.put(c, f"/queue/{q}", "d3", ("reply-to", "/exchange/x"))
        (d1, b1), = self.descriptors(q)
        self.assertEqual(b1, "d1")
        self.assertRegex(d1["msg_id"], HEX32)
        self.assertEqual(d1["correl_id"], "c-9")
        self.assertEqual(d1["priority"], "3")
        self.assertEqual(d1["persistent"], "false")
        self.assertEqual(d1["reply_to_queue"], "RQ")
        self.assertEqual(d1["reply_to_qmgr"], "QMX")
        self.assertTrue(590_000 <= int(d1["expiry"]) <= 600_000, d1)
        self.assertEqual(d1["content_type"], "text/plain")
        self.assertEqual(d1["property color"], "red")
        # Not stored: destination, receipt, content-length, the mapped ones.
        for k in ("destination", "receipt", "content-length", "priority",
                  "correlation-id", "reply-to", "expires", "persistent",
                  "content-type"):
            self.assertNotIn(f"property {k}", d1)
        (d2, b2), = self.descriptors(q)
        self.assertEqual((b2, d2["reply_to_queue"], d2["reply_to_qmgr"],
                          d2["persistent"], d2["expiry"]),
                         ("d2", "RQ2", "", "true", "0"))
        (d3, b3), = self.descriptors(q)
        self.assertEqual((b3, d3["reply_to_queue"]), ("d3", "/exchange/x"))

    def test_reply_to_forms_on_message(self):
        q = unique()
        c = self.connect()
        self.put(c, f"/queue/{q}", "a", ("reply-to", "/queue/QMX/RQ"))
        self.put(c, f"/queue/{q}", "b", ("reply-to", "/exchange/verbatim"))
        self.subscribe(c, f"/queue/{q}")
        a, b = c.messages(2)
        self.assertEqual(a["reply-to"], "/queue/QMX/RQ")
        self.assertEqual(b["reply-to"], "/exchange/verbatim")

    def test_cli_put_reaches_stomp_with_properties(self):
        q = unique()
        self.cli_ok("put", q, "from-cli", "--correl-id", "cc",
                    "--priority", "4", "--property", "k1=v1",
                    "--property", "destination=/queue/EVIL",
                    "--property", "subscription=evil",
                    "--property", "content-length=999",
                    "--property", "message-id=evil",
                    "--property", "ack=evil",
                    "--property", "redelivered=true",
                    "--property", "expires=1",
                    "--property", "timestamp=0",
                    "--property", "k2=a:b\\c")
        c = self.connect()
        sid = self.subscribe(c, f"/queue/{q}")
        m = c.message()
        self.assertEqual(m.body, b"from-cli")
        self.assertEqual(m["correlation-id"], "cc")
        self.assertEqual(m["priority"], "4")
        self.assertEqual(m["k1"], "v1")
        self.assertEqual(m["k2"], "a:b\\c")
        # A property named like a MESSAGE header is not sent.
        self.assertEqual(m.all("destination"), [f"/queue/{q}"])
        self.assertEqual(m.all("subscription"), [sid])
        self.assertEqual(m.all("content-length"), ["8"])
        self.assertEqual(len(m.all("message-id")), 1)
        self.assertRegex(m["message-id"], HEX32)
        self.assertEqual(m.all("ack"), [])
        self.assertEqual(m.all("redelivered"), [])
        self.assertEqual(m.all("expires"), [])
        self.assertEqual(len(m.all("timestamp")), 1)
        self.assertNotEqual(m["timestamp"], "0")

    def test_expired_on_arrival_is_never_delivered(self):
        q = unique()
        c = self.connect()
        self.put(c, f"/queue/{q}", "stale",
                 ("expires", str(int(time.time() * 1000) - 10_000)))
        self.put(c, f"/queue/{q}", "fresh", ("expires", "0"))
        self.subscribe(c, f"/queue/{q}")
        m = c.message()
        self.assertEqual(m.body, b"fresh")
        self.assertNotIn("expires", m)  # 0 = never

    def test_priority_order(self):
        q = unique()
        c = self.connect()
        for body, p in (("low", "1"), ("high", "9"), ("mid", "5")):
            self.put(c, f"/queue/{q}", body, ("priority", p))
        self.subscribe(c, f"/queue/{q}")
        self.assertEqual([m.body for m in c.messages(3)],
                         [b"high", b"mid", b"low"])

    def test_binary_body_with_nuls(self):
        q = unique()
        body = bytes(range(256)) * 8 + b"\0\0\0end\0"
        c = self.connect()
        self.put(c, f"/queue/{q}", body, content_length=True)
        self.subscribe(c, f"/queue/{q}")
        m = c.message()
        self.assertEqual(m["content-length"], str(len(body)))
        self.assertEqual(m.body, body)

    def test_large_binary_body(self):
        q = unique()
        body = random.Random(7).randbytes(1 << 20)
        c = self.connect()
        self.put(c, f"/queue/{q}", body, content_length=True)
        self.put(c, f"/queue/{q}", body[:1000] + b"tail", content_length=True)
        self.subscribe(c, f"/queue/{q}")
        a, b = c.messages(2)
        self.assertEqual(a.body, body)
        self.assertEqual(b.body, body[:1000] + b"tail")

    def test_body_without_content_length_and_empty_body(self):
        q = unique()
        c = self.connect()
        self.put(c, f"/queue/{q}", "up to the NUL")
        self.put(c, f"/queue/{q}", "")
        self.subscribe(c, f"/queue/{q}")
        a, b = c.messages(2)
        self.assertEqual((a.body, a["content-length"]),
                         (b"up to the NUL", "13"))
        self.assertEqual((b.body, b["content-length"]), (b"", "0"))

    def test_crlf_and_mixed_line_ends(self):
        q = unique()
        c = self.open()
        c.raw(b"CONNECT\r\naccept-version:1.2\r\nhost:h\r\n\r\n\0")
        c.expect("CONNECTED")
        c.raw(f"SEND\r\ndestination:/queue/{q}\r\nreceipt:c1\r\n"
              f"x-crlf:yes\r\n\r\nline1\r\nline2\0".encode())
        c.receipt("c1")
        c.raw(f"SEND\ndestination:/queue/{q}\r\nreceipt:c2\n"
              f"content-length:3\r\n\nabc\0".encode())
        c.receipt("c2")
        c.raw(f"SUBSCRIBE\r\nid:s\ndestination:/queue/{q}\r\n"
              f"receipt:c3\r\n\r\n\0".encode())
        c.receipt("c3")
        a, b = c.messages(2)
        self.assertEqual(a.body, b"line1\r\nline2")  # the body is untouched
        self.assertEqual(a["x-crlf"], "yes")
        self.assertEqual(b.body, b"abc")

    def test_heartbeat_eols_between_frames(self):
        q = unique()
        c = self.open()
        c.raw(b"\n\r\n\n" + frame_bytes(
            "CONNECT", [("accept-version", "1.2"), ("host", "h")]) + b"\n\n")
        c.expect("CONNECTED")
        c.raw(b"\r\n" + frame_bytes("SEND", [("destination", f"/queue/{q}"),
                                             ("receipt", "e1")], "one")
              + b"\n\r\n\n" +
              frame_bytes("SEND", [("destination", f"/queue/{q}"),
                                   ("receipt", "e2")], "two") + b"\n")
        c.receipt("e1")
        c.receipt("e2")
        self.assertEqual(self.cli_bodies(q), ["one", "two"])

    def test_header_escapes_round_trip(self):
        q = unique()
        value = "a\r\nb:c\\d\\n"
        c = self.connect()
        c.raw(f"SEND\ndestination:/queue/{q}\nreceipt:x1\n"
              f"x-esc:a\\r\\nb\\cc\\\\d\\\\n\n\nbody\0".encode())
        c.receipt("x1")
        self.subscribe(c, f"/queue/{q}")
        m = c.message()
        self.assertEqual(m["x-esc"], value)

    def test_escaped_header_name_round_trip(self):
        q = unique()
        c = self.connect()
        self.put(c, f"/queue/{q}", "n", ("x:name\\with", "v:1"))
        self.subscribe(c, f"/queue/{q}")
        self.assertEqual(c.message()["x:name\\with"], "v:1")

    def test_escaped_receipt_and_destination(self):
        # Receipt ids are unescaped on the way in and escaped on the way out.
        c = self.connect()
        q = unique()
        c.send("SEND", [("destination", f"/queue/{q}"),
                        ("receipt", "r:1\\x")], "e")
        self.assertEqual(c.expect("RECEIPT")["receipt-id"], "r:1\\x")

    def test_repeated_headers_first_wins(self):
        a, b = unique(), unique()
        c = self.connect()
        self.put(c, f"/queue/{a}", "first", ("destination", f"/queue/{b}"),
                 ("x-dup", "one"), ("x-dup", "two"), ("priority", "6"),
                 ("priority", "bad"))
        self.assertIn(self.cli_reason(self.node.cli("get", b)), (2033, 2085))
        self.subscribe(c, f"/queue/{a}")
        m = c.message()
        self.assertEqual((m.body, m["x-dup"], m["priority"]),
                         (b"first", "one", "6"))

    def test_bad_escape(self):
        q = unique()
        c = self.connect()
        c.raw(f"SEND\ndestination:/queue/{q}\nx-bad:a\\tb\n"
              f"receipt:be\n\nbody\0".encode())
        self.assert_error(c, 2046, receipt="be", contains="\\t")
        c = self.connect()
        c.raw(f"SEND\ndestination:/queue/{q}\nx-bad:ends\\\n"
              f"\nbody\0".encode())
        self.assert_error(c, 2046, contains="escape")
        self.assertIn(self.cli_reason(self.node.cli("get", q)), (2033, 2085))

    def test_local_qmgr_address(self):
        q = unique()
        c = self.connect()
        self.put(c, f"/queue/QM1/{q}", "local")
        self.assertEqual(self.cli_bodies(q), ["local"])

    def test_one_byte_at_a_time(self):
        q = unique()
        body = b"split\0body"
        data = (frame_bytes("CONNECT", [("accept-version", "1.2"),
                                        ("host", "h")])
                + frame_bytes("SEND", [("destination", f"/queue/{q}"),
                                       ("x-h", "a:b\\c"),
                                       ("receipt", "b1")],
                              body, content_length=True)
                + b"\r\n" +
                frame_bytes("SUBSCRIBE", [("destination", f"/queue/{q}"),
                                          ("id", "one"), ("ack", "client"),
                                          ("receipt", "b2")],
                            eol=b"\r\n"))
        c = self.open()
        for i in range(len(data)):
            c.raw(data[i:i + 1])
            # Pacing, not synchronisation: gives each byte its own segment.
            time.sleep(0.0005)
        c.expect("CONNECTED")
        c.receipt("b1")
        c.receipt("b2")
        m = c.message()
        self.assertEqual(m.body, body)
        self.assertEqual(m["x-h"], "a:b\\c")
        ack = frame_bytes("ACK", [("id", m["ack"]), ("receipt", "b3")])
        for i in range(len(ack)):
            c.raw(ack[i:i + 1])
        c.receipt("b3")
        self.assertEqual(self.depth(q), 0)

    def test_thousand_frames_in_one_write(self):
        q = unique()
        c = self.connect()
        bodies = [f"m{i:04d}" for i in range(1000)]
        data = b"".join(
            frame_bytes("SEND", [("destination", f"/queue/{q}")]
                        + ([("receipt", "last")] if i == 999 else []), b)
            for i, b in enumerate(bodies))
        c.raw(data)
        c.receipt("last")
        self.assertEqual(self.depth(q), 1000)
        self.subscribe(c, f"/queue/{q}")
        got = [m.body.decode() for m in c.messages(1000)]
        self.assertEqual(got, bodies)
        self.assertTrue(wait_for(lambda: self.depth(q) == 0, 10))

    def test_thousand_frames_with_receipts_in_one_write(self):
        q = unique()
        c = self.connect()
        c.raw(b"".join(frame_bytes("SEND", [("destination", f"/queue/{q}"),
                                            ("receipt", f"k{i}")], f"{i}")
                       for i in range(1000)))
        got = [c.expect("RECEIPT")["receipt-id"] for _ in range(1000)]
        self.assertEqual(got, [f"k{i}" for i in range(1000)])
        self.assertEqual(self.depth(q), 1000)


# -- receipts -----------------------------------------------------------------

class ReceiptTests(StompCase):
    def test_receipt_for_every_frame(self):
        q = unique()
        c = self.connect()
        c.request("SEND", [("destination", f"/queue/{q}")], "a")
        c.request("SEND", [("destination", f"/queue/{q}")], "b")
        sid = self.subscribe(c, f"/queue/{q}", ack="client-individual",
                             prefetch_count="10")
        a, b = c.messages(2)
        c.request("ACK", [("id", a["ack"])])
        c.request("NACK", [("id", b["ack"])])
        b2 = c.message()
        self.assertEqual((b2.body, b2.get("redelivered")), (b"b", "true"))
        c.request("BEGIN", [("transaction", "t1")])
        c.request("ACK", [("id", b2["ack"]), ("transaction", "t1")])
        c.request("COMMIT", [("transaction", "t1")])
        c.request("BEGIN", [("transaction", "t2")])
        c.request("ABORT", [("transaction", "t2")])
        c.request("UNSUBSCRIBE", [("id", sid)])
        c.send("DISCONNECT", [("receipt", "bye")])
        c.receipt("bye")
        c.until_closed()
        self.assertEqual(self.depth(q), 0)

    def test_receipts_in_frame_order(self):
        q, q2 = unique(), unique()
        frames = [
            ("SEND", [("destination", f"/queue/{q}")], "1"),
            ("BEGIN", [("transaction", "tx")], ""),
            ("SEND", [("destination", f"/queue/{q2}"),
                      ("transaction", "tx")], "2"),
            ("SUBSCRIBE", [("destination", f"/queue/{q}"), ("id", "s1"),
                           ("ack", "client")], ""),
            ("SEND", [("destination", "/topic/" + unique("t"))], "3"),
            ("COMMIT", [("transaction", "tx")], ""),
            ("SEND", [("destination", f"/queue/{q2}")], "4"),
            ("UNSUBSCRIBE", [("id", "s1")], ""),
            ("BEGIN", [("transaction", "ty")], ""),
            ("ABORT", [("transaction", "ty")], ""),
            ("SEND", [("destination", f"/queue/{q}")], "5"),
        ] * 3
        # Transaction names are reused after COMMIT/ABORT; subscription ids
        # after UNSUBSCRIBE.
        c = self.connect()
        c.raw(b"".join(frame_bytes(cmd, hs + [("receipt", f"o{i}")], body)
                       for i, (cmd, hs, body) in enumerate(frames)))
        got = []
        while len(got) < len(frames):
            f = c.read_ok()
            if f.command == "MESSAGE":
                continue
            self.assertEqual(f.command, "RECEIPT", f)
            got.append(f["receipt-id"])
        self.assertEqual(got, [f"o{i}" for i in range(len(frames))])

    def test_disconnect_receipt_after_everything_before_it(self):
        q = unique()
        c = self.connect()
        c.raw(b"".join(frame_bytes("SEND", [("destination", f"/queue/{q}")],
                                   f"{i}") for i in range(50))
              + frame_bytes("DISCONNECT", [("receipt", "d")]))
        c.receipt("d")
        # Done means done: all 50 are on the queue when the RECEIPT comes.
        self.assertEqual(self.depth(q), 50)
        c.until_closed()

    def test_disconnect_without_receipt_closes(self):
        c = self.connect()
        c.send("DISCONNECT")
        c.until_closed()

    def test_error_after_receipts_in_order(self):
        q = unique()
        c = self.connect()
        c.raw(frame_bytes("SEND", [("destination", f"/queue/{q}"),
                                   ("receipt", "ok1")], "x")
              + frame_bytes("SEND", [("destination", f"/queue/{q}"),
                                     ("priority", "10"),
                                     ("receipt", "bad")], "y")
              + frame_bytes("SEND", [("destination", f"/queue/{q}"),
                                     ("receipt", "never")], "z"))
        c.receipt("ok1")
        self.assert_error(c, 2050, receipt="bad")
        self.assertEqual(self.cli_bodies(q), ["x"])


# -- acknowledgement modes and flow control -----------------------------------

class SlowConsumerTests(StompCase):
    def test_a_consumer_that_does_not_read_holds_messages_on_the_queue(self):
        """ack:auto credit is held back while too much waits to be written
        to a consumer that does not read: the messages stay on the queue
        (bounded server memory) and all arrive, in order, once it reads."""
        q = unique("slow")
        consumer = self.open()
        consumer.send("CONNECT", [("accept-version", "1.2"),
                                  ("host", "localhost")])
        consumer.expect("CONNECTED")
        self.subscribe(consumer, f"/queue/{q}", prefetch_count="1000")
        producer = self.connect()
        n, body = 30000, b"x" * 1024
        one = frame_bytes("SEND", [("destination", f"/queue/{q}")], body)
        for _ in range(n // 1000):
            producer.raw(one * 1000)
        self.put(producer, f"/queue/{q}", "last")
        # Wait until the depth stops moving (three equal reads in a row).
        seen = []

        def settled():
            seen.append(self.depth(q))
            return len(seen) >= 3 and seen[-1] == seen[-2] == seen[-3]
        self.assertTrue(wait_for(settled, 30, 0.2), seen[-5:])
        # Without the hold-back the node would have drained the queue into
        # its own write buffer; socket buffers (a few MiB), the 4 MiB
        # backlog and the prefetch window hold about 10,000 of these.
        self.assertGreater(seen[-1], n // 2, seen[-5:])
        bodies = [m.body for m in consumer.messages(n + 1, timeout=60)]
        self.assertEqual(len(bodies), n + 1)
        self.assertTrue(all(b == body for b in bodies[:n]))
        self.assertEqual(bodies[n], b"last")
        self.assertEqual(self.depth(q), 0)


class AckTests(StompCase):
    def fill(self, c, q, n, prefix="m"):
        c.raw(b"".join(frame_bytes("SEND", [("destination", f"/queue/{q}")],
                                   f"{prefix}{i}") for i in range(n)))
        self.put(c, f"/queue/{q}", "end-of-fill")
        return [f"{prefix}{i}" for i in range(n)] + ["end-of-fill"]

    def test_auto(self):
        q = unique()
        c = self.connect()
        bodies = self.fill(c, q, 3)
        self.subscribe(c, f"/queue/{q}", ack="auto")
        ms = c.messages(4)
        self.assertEqual([m.text for m in ms], bodies)
        self.assertTrue(all("ack" not in m for m in ms))
        c.send("DISCONNECT", [("receipt", "d")])
        c.receipt("d")
        c.until_closed()
        # Consumed when written: nothing comes back after the disconnect.
        self.assertEqual(self.depth(q), 0)

    def test_client_individual(self):
        q = unique()
        c = self.connect()
        self.fill(c, q, 2)
        self.subscribe(c, f"/queue/{q}", ack="client-individual")
        m0, m1, end = c.messages(3)
        self.assertTrue(m0["ack"] and m1["ack"] and end["ack"])
        self.assertEqual(len({m0["ack"], m1["ack"], end["ack"]}), 3)
        c.request("ACK", [("id", m1["ack"])])
        c.request("ACK", [("id", end["ack"])])
        # Individual: m0 is still unacked.
        self.assertEqual(self.depth(q), 1)
        # Settled twice does nothing.
        c.request("ACK", [("id", m1["ack"])])
        c.close()
        # The unacked one returns, redelivered.
        d = self.connect()
        self.subscribe(d, f"/queue/{q}", ack="client-individual")
        m = d.message()
        self.assertEqual(m.body, b"m0")
        self.assertEqual(m["redelivered"], "true")
        self.assertEqual(m["message-id"], m0["message-id"])
        d.request("ACK", [("id", m["ack"])])
        self.assertEqual(self.depth(q), 0)

    def test_client_cumulative(self):
        q = unique()
        c = self.connect()
        self.fill(c, q, 3)     # m0 m1 m2 end-of-fill
        self.subscribe(c, f"/queue/{q}", ack="client")
        m0, m1, m2, end = c.messages(4)
        c.request("ACK", [("id", m1["ack"])])    # settles m0 and m1
        self.assertEqual(self.depth(q), 2)       # m2, end still unacked
        c.close()
        # They return to the queue when the node sees the connection go.
        self.assertTrue(wait_for(
            lambda: len(self.cli_bodies(q, browse=True)) == 2, 5))
        got = self.descriptors(q, "--all")
        self.assertEqual([b for _, b in got], ["m2", "end-of-fill"])
        self.assertTrue(all(d["redelivered"] == "true" for d, _ in got))

    def test_client_cumulative_nack(self):
        q = unique()
        c = self.connect()
        self.fill(c, q, 2)     # m0 m1 end-of-fill
        self.subscribe(c, f"/queue/{q}", ack="client")
        m0, m1, end = c.messages(3)
        c.request("NACK", [("id", m1["ack"])])   # m0 and m1 back
        r0, r1 = c.messages(2)
        self.assertEqual((r0.body, r1.body), (b"m0", b"m1"))
        self.assertEqual((r0["redelivered"], r1["redelivered"]),
                         ("true", "true"))
        self.assertNotIn("redelivered", end)
        c.request("ACK", [("id", r1["ack"])])    # everything delivered
        self.assertEqual(self.depth(q), 0)

    def test_nack_requeue(self):
        q = unique()
        c = self.connect()
        self.put(c, f"/queue/{q}", "again")
        self.subscribe(c, f"/queue/{q}", ack="client-individual")
        m = c.message()
        self.assertNotIn("redelivered", m)
        c.request("NACK", [("id", m["ack"])])
        r = c.message()
        self.assertEqual(r.body, b"again")
        self.assertEqual(r["redelivered"], "true")
        self.assertEqual(r["message-id"], m["message-id"])
        c.request("NACK", [("id", r["ack"]), ("requeue", "true")])
        self.assertEqual(c.message()["redelivered"], "true")

    def test_nack_without_requeue_dead_letters(self):
        q = unique()
        c = self.connect()
        self.put(c, f"/queue/{q}", "doomed")
        self.subscribe(c, f"/queue/{q}", ack="client-individual")
        m = c.message()
        c.request("NACK", [("id", m["ack"]), ("requeue", "false")])
        self.assertEqual(self.depth(q), 0)
        (d, body), = self.descriptors(DLQ, "--msg-id", m["message-id"])
        self.assertEqual(body, "doomed")
        self.assertEqual(d["property qmesh.dlq.reason"],
                         "nack_without_requeue")
        self.assertEqual(d["property qmesh.dlq.source"], q)
        # Nothing comes back to the subscription.
        self.put(c, f"/queue/{q}", "next")
        self.assertEqual(c.message().body, b"next")

    def test_nack_backout_threshold(self):
        q = unique()
        self.cli_ok("define-queue", q, "--backout-threshold", "2")
        c = self.connect()
        self.put(c, f"/queue/{q}", "poison")
        self.subscribe(c, f"/queue/{q}", ack="client-individual")
        m = c.message()
        c.request("NACK", [("id", m["ack"])])
        r = c.message()
        self.assertEqual(r["redelivered"], "true")
        # The second rollback reaches the threshold: off to the DLQ.
        c.request("NACK", [("id", r["ack"])])
        self.assertEqual(self.depth(q), 0)
        (d, body), = self.descriptors(DLQ, "--msg-id", m["message-id"])
        self.assertEqual(body, "poison")
        self.assertTrue(d["property qmesh.dlq.reason"].startswith("2362"), d)

    def test_prefetch_count_limits_unacked(self):
        q = unique()
        c = self.connect()
        self.fill(c, q, 4)     # 5 messages
        self.subscribe(c, f"/queue/{q}", ack="client-individual",
                       prefetch_count="2")
        # Barrier: a SEND to the same queue is answered after the queue has
        # dispatched what the window allows.
        self.put(c, f"/queue/{q}", "barrier-1")
        self.assertEqual(len(c.stash), 2, c.stash)
        a, b = c.messages(2)
        self.assertEqual((a.body, b.body), (b"m0", b"m1"))
        c.request("ACK", [("id", a["ack"])])
        self.put(c, f"/queue/{q}", "barrier-2")
        self.assertEqual(len(c.stash), 1, c.stash)
        m2 = c.message()
        self.assertEqual(m2.body, b"m2")
        self.assertEqual(self.depth(q), 7 - 1)
        # Acking the rest drains everything, two at a time.
        seen = []
        inflight = [b, m2]
        while inflight:
            m = inflight.pop(0)
            seen.append(m.text)
            c.send("ACK", [("id", m["ack"])])
            if len(seen) + len(inflight) < 6:
                inflight.append(c.message())
        self.assertEqual(seen, ["m1", "m2", "m3", "end-of-fill",
                                "barrier-1", "barrier-2"])
        c.request("ACK", [("id", m["ack"])])   # already settled: a no-op
        self.assertEqual(self.depth(q), 0)

    def test_default_prefetch_is_1000(self):
        q = unique()
        c = self.connect()
        self.fill(c, q, 1000)     # 1001 messages
        self.subscribe(c, f"/queue/{q}", ack="client-individual")
        self.put(c, f"/queue/{q}", "barrier")
        self.assertEqual(len(c.stash), 1000)
        ms = c.messages(1000)
        c.request("ACK", [("id", ms[0]["ack"])])
        self.put(c, f"/queue/{q}", "barrier-2")
        self.assertEqual([m.text for m in c.stash], ["end-of-fill"])

    def test_prefetch_bounds(self):
        for bad in ("0", "100001", "-1", "many"):
            with self.subTest(prefetch=bad):
                self.bad_frame(2046, "SUBSCRIBE",
                               [("destination", "/queue/" + unique()),
                                ("id", "p"), ("prefetch-count", bad)])
        for good in ("1", "100000"):
            c = self.connect()
            self.subscribe(c, "/queue/" + unique(), prefetch_count=good)

    def test_unsubscribe_returns_unacked(self):
        q = unique()
        c = self.connect()
        self.put(c, f"/queue/{q}", "held")
        sid = self.subscribe(c, f"/queue/{q}", ack="client")
        m = c.message()
        c.request("UNSUBSCRIBE", [("id", sid)])
        (d, body), = self.descriptors(q)
        self.assertEqual((body, d["redelivered"]), ("held", "true"))
        # Its ack id is now for a subscription that is gone.
        c.send("ACK", [("id", m["ack"]), ("receipt", "gone")])
        self.assert_error(c, 2019, receipt="gone")

    def test_two_subscriptions_share_a_queue(self):
        q = unique()
        c = self.connect()
        s1 = self.subscribe(c, f"/queue/{q}", ack="client-individual",
                            prefetch_count="1")
        s2 = self.subscribe(c, f"/queue/{q}", ack="client-individual",
                            prefetch_count="1")
        self.fill(c, q, 1)
        a, b = c.messages(2)
        self.assertEqual({a["subscription"], b["subscription"]}, {s1, s2})


# -- transactions -------------------------------------------------------------

class TransactionTests(StompCase):
    def test_sends_invisible_until_commit(self):
        q = unique()
        c = self.connect()
        c.request("BEGIN", [("transaction", "t")])
        for i in range(3):
            c.request("SEND", [("destination", f"/queue/{q}"),
                               ("transaction", "t")], f"tx{i}")
        # Not on the queue (which may not even exist yet).
        self.assertIn(self.cli_reason(self.node.cli("get", q, "--browse")),
                      (2033, 2085))
        watcher = self.connect()
        self.subscribe(watcher, f"/queue/{q}")
        self.put(c, f"/queue/{q}", "outside")
        self.assertEqual(watcher.message().body, b"outside")
        c.request("COMMIT", [("transaction", "t")])
        self.assertEqual([m.body for m in watcher.messages(3)],
                         [b"tx0", b"tx1", b"tx2"])

    def test_abort_discards(self):
        q = unique()
        c = self.connect()
        c.request("BEGIN", [("transaction", "t")])
        c.request("SEND", [("destination", f"/queue/{q}"),
                           ("transaction", "t")], "dropped")
        c.request("ABORT", [("transaction", "t")])
        self.put(c, f"/queue/{q}", "kept")
        self.assertEqual(self.cli_bodies(q), ["kept"])
        # The name is free again.
        c.request("BEGIN", [("transaction", "t")])
        c.request("COMMIT", [("transaction", "t")])

    def test_topic_send_published_at_commit(self):
        topic = unique("tt")
        sub = self.connect()
        self.subscribe(sub, f"/topic/{topic}")
        c = self.connect()
        c.request("BEGIN", [("transaction", "t")])
        c.request("SEND", [("destination", f"/topic/{topic}"),
                           ("transaction", "t")], "in-tx")
        self.put(c, f"/topic/{topic}", "marker")
        self.assertEqual(sub.message().body, b"marker")
        c.request("COMMIT", [("transaction", "t")])
        self.assertEqual(sub.message().body, b"in-tx")

    def test_ack_in_transaction_applied_at_commit(self):
        q = unique()
        c = self.connect()
        self.put(c, f"/queue/{q}", "m")
        self.subscribe(c, f"/queue/{q}", ack="client-individual")
        m = c.message()
        c.request("BEGIN", [("transaction", "t")])
        c.request("ACK", [("id", m["ack"]), ("transaction", "t")])
        self.assertEqual(self.depth(q), 1)
        c.request("COMMIT", [("transaction", "t")])
        self.assertEqual(self.depth(q), 0)
        c.send("DISCONNECT", [("receipt", "d")])
        c.receipt("d")
        c.until_closed()
        self.assertEqual(self.depth(q), 0)

    def test_ack_in_transaction_dropped_at_abort(self):
        q = unique()
        c = self.connect()
        self.put(c, f"/queue/{q}", "m")
        self.subscribe(c, f"/queue/{q}", ack="client-individual")
        m = c.message()
        c.request("BEGIN", [("transaction", "t")])
        c.request("ACK", [("id", m["ack"]), ("transaction", "t")])
        c.request("ABORT", [("transaction", "t")])
        self.assertEqual(self.depth(q), 1)
        c.send("DISCONNECT", [("receipt", "d")])
        c.receipt("d")
        c.until_closed()
        self.assertTrue(wait_for(lambda: self.node.cli(
            "get", q, "--browse").returncode == 0, 5))
        (d, body), = self.descriptors(q)
        self.assertEqual((body, d["redelivered"]), ("m", "true"))

    def test_nack_in_transaction(self):
        q = unique()
        c = self.connect()
        self.put(c, f"/queue/{q}", "n")
        self.subscribe(c, f"/queue/{q}", ack="client-individual")
        m = c.message()
        c.request("BEGIN", [("transaction", "t")])
        c.request("NACK", [("id", m["ack"]), ("transaction", "t")])
        self.put(c, f"/queue/{q}", "barrier")
        # Not applied yet: the barrier message is the next delivery.
        self.assertEqual(c.message().body, b"barrier")
        c.request("COMMIT", [("transaction", "t")])
        r = c.message()
        self.assertEqual((r.body, r["redelivered"]), (b"n", "true"))

    def test_unknown_transaction(self):
        q = unique()
        for command, headers in [
                ("SEND", [("destination", f"/queue/{q}"),
                          ("transaction", "nope")]),
                ("COMMIT", [("transaction", "nope")]),
                ("ABORT", [("transaction", "nope")])]:
            with self.subTest(command=command):
                self.bad_frame(2255, command, headers,
                               "x" if command == "SEND" else "")
        # ACK naming an unknown transaction.
        c = self.connect()
        self.put(c, f"/queue/{q}", "a")
        self.subscribe(c, f"/queue/{q}", ack="client")
        m = c.message()
        c.send("ACK", [("id", m["ack"]), ("transaction", "nope"),
                       ("receipt", "ua")])
        self.assert_error(c, 2255, receipt="ua")
        # A committed transaction has ended.
        c = self.connect()
        c.request("BEGIN", [("transaction", "done")])
        c.request("COMMIT", [("transaction", "done")])
        c.send("COMMIT", [("transaction", "done"), ("receipt", "again")])
        self.assert_error(c, 2255, receipt="again")
        # The refused ACK settled nothing: with its connection gone, "a" is
        # back on the queue, redelivered.
        r = wait_for(
            lambda: (lambda r: r if r.returncode == 0 else None)(
                self.node.cli("get", q)))
        self.assertIsNotNone(r)
        self.assertIn("a", r.stdout)

    def test_commit_is_all_or_nothing(self):
        full, other = unique(), unique()
        self.cli_ok("define-queue", full, "--max-depth", "1",
                     "--overflow-policy", "reject")
        c = self.connect()
        self.put(c, f"/queue/{full}", "already there")
        c.request("BEGIN", [("transaction", "t")])
        c.request("SEND", [("destination", f"/queue/{other}"),
                           ("transaction", "t")], "a")
        c.request("SEND", [("destination", f"/queue/{full}"),
                           ("transaction", "t")], "b")
        c.send("COMMIT", [("transaction", "t"), ("receipt", "all")])
        self.assert_error(c, 2053, receipt="all")
        # None of it was put.
        self.assertIn(self.cli_reason(self.node.cli("get", other)),
                      (2033, 2085))
        self.assertEqual(self.cli_bodies(full), ["already there"])

    def test_empty_transactions(self):
        c = self.connect()
        c.request("BEGIN", [("transaction", "e1")])
        c.request("COMMIT", [("transaction", "e1")])
        c.request("BEGIN", [("transaction", "e2")])
        c.request("ABORT", [("transaction", "e2")])
        self.put(c, "/queue/" + unique(), "still served")
        c.send("DISCONNECT", [("receipt", "d")])
        c.receipt("d")
        c.until_closed()
        self.put(self.connect(), "/queue/" + unique(), "node alive")

    def test_duplicate_begin(self):
        c = self.connect()
        c.request("BEGIN", [("transaction", "t")])
        c.send("BEGIN", [("transaction", "t"), ("receipt", "dup")])
        f = self.assert_error(c, {2046, 2255, 2100}, receipt="dup")
        self.assertTrue(f["qmesh-reason"])

    def test_transaction_header_missing(self):
        for command in ("BEGIN", "COMMIT", "ABORT"):
            with self.subTest(command=command):
                self.bad_frame(2046, command, [])

    def test_disconnect_aborts_open_transaction(self):
        q = unique()
        c = self.connect()
        self.put(c, f"/queue/{q}", "acked-in-tx")
        self.subscribe(c, f"/queue/{q}", ack="client-individual")
        m = c.message()
        c.request("BEGIN", [("transaction", "t")])
        c.request("SEND", [("destination", f"/queue/{q}"),
                           ("transaction", "t")], "never")
        c.request("ACK", [("id", m["ack"]), ("transaction", "t")])
        c.send("DISCONNECT", [("receipt", "d")])
        c.receipt("d")
        c.until_closed()
        self.assertTrue(wait_for(lambda: self.node.cli(
            "get", q, "--browse").returncode == 0, 5))
        got = self.descriptors(q, "--all")
        self.assertEqual([b for _, b in got], ["acked-in-tx"])
        self.assertEqual(got[0][0]["redelivered"], "true")

    def test_vanished_connection_aborts_open_transaction(self):
        q = unique()
        c = self.connect()
        c.request("BEGIN", [("transaction", "t")])
        c.request("SEND", [("destination", f"/queue/{q}"),
                           ("transaction", "t")], "never")
        c.close()
        d = self.connect()
        self.put(d, f"/queue/{q}", "after")
        self.assertEqual(self.cli_bodies(q), ["after"])
        self.assertEqual(self.fields(self.cli_ok("status"))
                         ["open_uow_count"], "0")

    def test_transaction_frame_limit(self):
        q = unique()
        c = self.connect()
        c.request("BEGIN", [("transaction", "big")])
        c.raw(b"".join(frame_bytes("SEND", [("destination", f"/queue/{q}"),
                                            ("transaction", "big")], "x")
                       for _ in range(10_000)))
        c.request("SEND", [("destination", f"/queue/{q}")], "outside")
        c.send("SEND", [("destination", f"/queue/{q}"),
                        ("transaction", "big"), ("receipt", "over")], "x")
        self.assert_error(c, 2024, receipt="over")
        self.assertEqual(self.cli_bodies(q), ["outside"])


# -- topics -------------------------------------------------------------------

class TopicTests(StompCase):
    def test_wildcards_reach_matching_subscriptions_only(self):
        root = unique("tp").replace(".", "")
        c = self.connect()
        subs = {
            "exact": f"/topic/{root}/a/b",
            "plus": f"/topic/{root}/+/b",
            "hash": f"/topic/{root}/#",
            "no1": f"/topic/{root}/a/+/c",
            "no2": f"/topic/{root}/x/#",
            "other": f"/topic/{root}x/#",
        }
        sid = {name: self.subscribe(c, dest, name) for name, dest in
               subs.items()}
        pubs = [("p1", f"{root}/a/b"), ("p2", f"{root}/a/z/c"),
                ("p3", f"{root}/x/y"), ("p4", f"{root}/x"),
                ("end1", f"{root}/a/b"), ("end2", f"{root}/a/z/c"),
                ("end3", f"{root}/x/y"), ("end4", f"{root}x")]
        for body, topic in pubs:
            self.put(c, f"/topic/{topic}", body)
        expected = {
            "exact": ["p1", "end1"],
            "plus": ["p1", "end1"],
            "hash": ["p1", "p2", "p3", "p4", "end1", "end2", "end3"],
            "no1": ["p2", "end2"],
            "no2": ["p3", "p4", "end3"],
            "other": ["end4"],
        }
        got = collections.defaultdict(list)
        for _ in range(sum(len(v) for v in expected.values())):
            m = c.message()
            got[m["subscription"]].append(m)
        self.assertEqual({s: [m.text for m in got[sid[s]]] for s in subs},
                         expected)
        topic_of = dict(pubs)
        for ms in got.values():
            for m in ms:
                # The published topic, not the filter.
                self.assertEqual(m["destination"],
                                 f"/topic/{topic_of[m.text]}")
                self.assertRegex(m["message-id"], HEX32)
        self.assertEqual(c.quiet(0.2).strip(b"\n"), b"")

    def test_subscribers_on_other_connections_and_cli(self):
        root = unique("tq").replace(".", "")
        a, b = self.connect(), self.connect()
        self.subscribe(a, f"/topic/{root}/#")
        self.subscribe(b, f"/topic/{root}/+")
        out = self.cli_ok("publish", f"{root}/news", "from-cli")
        self.assertIn("published to 2 subscriptions", out)
        for c in (a, b):
            m = c.message()
            self.assertEqual((m.body, m["destination"]),
                             (b"from-cli", f"/topic/{root}/news"))
        self.put(a, f"/topic/{root}/deep/er", "only-hash")
        self.assertEqual(a.message().body, b"only-hash")
        self.put(a, f"/topic/{root}/flat", "both")
        self.assertEqual(b.message().body, b"both")
        self.assertEqual(a.message().body, b"both")

    def test_publish_without_subscribers(self):
        c = self.connect()
        self.put(c, "/topic/" + unique("nobody").replace(".", ""), "void")

    def test_unsubscribe_topic(self):
        root = unique("tu").replace(".", "")
        c = self.connect()
        s = self.subscribe(c, f"/topic/{root}")
        keep = self.subscribe(c, f"/topic/{root}/#")
        c.request("UNSUBSCRIBE", [("id", s)])
        self.put(c, f"/topic/{root}", "after")
        m = c.message()
        self.assertEqual((m["subscription"], m.body), (keep, b"after"))
        self.assertEqual(c.quiet(0.2).strip(b"\n"), b"")

    def test_bad_topic_filter(self):
        self.bad_frame(2425, "SUBSCRIBE", [("destination", "/topic/a/#/b"),
                                           ("id", "x")])
        self.bad_frame(2425, "SUBSCRIBE", [("destination", "/topic/a/b+"),
                                           ("id", "x")])
        self.bad_frame(2425, "SEND", [("destination", "/topic/a/+")], "w")
        # Other brokers' dialects are refused with the qmesh spelling.
        self.bad_frame(2425, "SUBSCRIBE", [("destination", "/topic/news.*"),
                                           ("id", "x")],
                       contains="did you mean 'news/+'?")
        self.bad_frame(2425, "SUBSCRIBE", [("destination", "/topic/news.>"),
                                           ("id", "x")],
                       contains="did you mean 'news/#'?")


# -- temporary queues ---------------------------------------------------------

class TempQueueTests(StompCase):
    def temp_name(self, owner, tmp):
        """The real SYSTEM.TEMP.<n> name behind /temp-queue/tmp, found via a
        reply-to on a request that the CLI reads."""
        q = unique()
        self.put(owner, f"/queue/{q}", "probe", ("reply-to",
                                                 f"/temp-queue/{tmp}"))
        (d, _), = self.descriptors(q)
        self.assertRegex(d["reply_to_queue"], r"^SYSTEM\.TEMP\.\d+$")
        return d["reply_to_queue"]

    def test_send_and_subscribe_on_same_connection(self):
        c = self.connect()
        self.subscribe(c, "/temp-queue/mine")
        self.put(c, "/temp-queue/mine", "to myself")
        m = c.message()
        self.assertEqual(m.body, b"to myself")
        # Two names are two queues.
        other = self.connect()
        self.assertNotEqual(self.temp_name(c, "mine"),
                            self.temp_name(c, "other"))
        self.assertNotEqual(self.temp_name(c, "mine"),
                            self.temp_name(other, "mine"))

    def test_request_reply_through_temp_queue(self):
        service = unique()
        requester, responder = self.connect(), self.connect()
        self.subscribe(requester, "/temp-queue/replies")
        self.subscribe(responder, f"/queue/{service}")
        self.put(requester, f"/queue/{service}", "ping",
                 ("reply-to", "/temp-queue/replies"))
        req = responder.message()
        reply_to = req["reply-to"]
        self.assertRegex(reply_to, r"^/queue/SYSTEM\.TEMP\.\d+$")
        self.put(responder, reply_to, "pong",
                 ("correlation-id", req["message-id"]))
        rep = requester.message()
        self.assertEqual(rep.body, b"pong")
        self.assertEqual(rep["correlation-id"], req["message-id"])
        # Another connection may put to it but not consume from it.
        responder.send("SUBSCRIBE", [("destination", reply_to),
                                     ("id", "steal"), ("receipt", "st")])
        self.assert_error(responder, 2035, receipt="st")
        # Other clients (the CLI too) may put to it.
        real = reply_to[len("/queue/"):]
        self.cli_ok("put", real, "via cli")
        self.assertEqual(requester.message().body, b"via cli")
        # The owner goes: the queue goes with it.
        requester.send("DISCONNECT", [("receipt", "d")])
        requester.receipt("d")
        requester.until_closed()
        self.assertTrue(wait_for(lambda: self.node.cli(
            "inquire", real).returncode != 0, 5), "temp queue not deleted")
        self.assertEqual(self.cli_reason(self.node.cli("inquire", real)),
                         2085)

    def test_vanished_owner_deletes_temp_queue(self):
        c = self.connect()
        self.put(c, "/temp-queue/gone", "unread")
        real = self.temp_name(c, "gone")
        self.assertEqual(self.depth(real), 1)
        c.close()
        self.assertTrue(wait_for(lambda: self.node.cli(
            "inquire", real).returncode != 0, 5), "temp queue not deleted")
        self.assertEqual(self.cli_reason(self.node.cli("inquire", real)),
                         2085)

    def test_others_cannot_get_from_temp_queue(self):
        c = self.connect()
        self.put(c, "/temp-queue/priv", "secret")
        real = self.temp_name(c, "priv")
        self.assertEqual(self.depth(real), 1)
        self.assertEqual(self.cli_reason(self.node.cli("get", real)), 2035)
        other = self.connect()
        other.send("SUBSCRIBE", [("destination", f"/queue/{real}"),
                                 ("id", "x"), ("receipt", "n")])
        self.assert_error(other, 2035, receipt="n")
        self.assertEqual(self.depth(real), 1)


# -- errors -------------------------------------------------------------------

class ErrorTests(StompCase):
    def test_missing_destination(self):
        self.bad_frame(2046, "SEND", [], "x")
        self.bad_frame(2046, "SUBSCRIBE", [("id", "s")])

    def test_bad_destinations(self):
        for dest in ("/exchange/x", "/amq/queue/x", "queue/x", "x", "",
                     "/queue", "/topic", "/temp-queue/", "/queue/",
                     "/queue/a/b/c"):
            with self.subTest(destination=dest):
                # The contract names no code for an unsupported kind of
                # destination; any MQRC of the destination family will do.
                self.bad_frame({2046, 2085, 2087, 2152, 2425}, "SEND",
                               [("destination", dest)], "x")
        for dest in ("/queue/bad name", "/queue/bad!", "/queue/" + "Q" * 49,
                     "/temp-queue/bad name"):
            with self.subTest(destination=dest):
                self.bad_frame(2152, "SEND", [("destination", dest)], "x")
                self.bad_frame(2152, "SUBSCRIBE",
                               [("destination", dest), ("id", "s")])
        # 48 characters is fine.
        c = self.connect()
        self.put(c, "/queue/" + "Q" * 47 + "9", "x")

    def test_subscribe_to_remote_queue(self):
        self.bad_frame({2046, 2087, 2152}, "SUBSCRIBE",
                       [("destination", "/queue/QMX/Q"), ("id", "s")])

    def test_unknown_remote_qmgr(self):
        self.bad_frame(2087, "SEND", [("destination", "/queue/NOSUCHQM/Q")],
                       "x")

    def test_unknown_command(self):
        for command in ("FOO", "SENDX", "SUBSCRIBEX", "CONNECTX", "BEGINS"):
            with self.subTest(command=command):
                self.bad_frame(2046, command, [("destination", "/queue/X")])

    def test_lowercase_command(self):
        c = self.connect()
        c.raw(b"send\ndestination:/queue/X\n\nx\0")
        self.assert_error(c, 2046, contains="invalid command")

    def test_server_only_commands(self):
        for command in ("CONNECTED", "MESSAGE", "RECEIPT", "ERROR"):
            with self.subTest(command=command):
                self.bad_frame(2046, command, [("destination", "/queue/X"),
                                               ("message-id", "1")])

    def test_bad_priority(self):
        for p in ("10", "99", "-1"):
            with self.subTest(priority=p):
                self.bad_frame(2050, "SEND", [("destination", "/queue/" +
                                               unique()), ("priority", p)])
        for p in ("high", "", "5x", " 5"):
            with self.subTest(priority=p):
                self.bad_frame({2046, 2050}, "SEND",
                               [("destination", "/queue/" + unique()),
                                ("priority", p)])
        c = self.connect()
        self.put(c, "/queue/" + unique(), "ok", ("priority", "9"))
        self.put(c, "/queue/" + unique(), "ok", ("priority", "0"))

    def test_bad_persistent(self):
        for v in ("yes", "1", "TRUE", ""):
            with self.subTest(persistent=v):
                self.bad_frame(2046, "SEND", [("destination", "/queue/" +
                                               unique()), ("persistent", v)])

    def test_bad_message_id(self):
        for v in ("xyz", "0" * 31, "0" * 33, "g" * 32, ""):
            with self.subTest(message_id=v):
                self.bad_frame(2046, "SEND", [("destination", "/queue/" +
                                               unique()), ("message-id", v)])

    def test_bad_expires(self):
        for v in ("soon", "-5", "1.5"):
            with self.subTest(expires=v):
                self.bad_frame({2046, 2013}, "SEND",
                               [("destination", "/queue/" + unique()),
                                ("expires", v)])

    def test_bad_content_length(self):
        c = self.connect()
        c.raw(b"SEND\ndestination:/queue/X\ncontent-length:abc\n"
              b"receipt:cl\n\nx\0")
        self.assert_error(c, 2046, receipt="cl", contains="content-length")
        c = self.connect()
        c.raw(b"SEND\ndestination:/queue/X\ncontent-length:2\n\nabc\0")
        self.assert_error(c, 2046, contains="not terminated by NUL")

    def test_subscribe_id(self):
        q = unique()
        self.bad_frame(2046, "SUBSCRIBE", [("destination", f"/queue/{q}")])
        self.bad_frame({2046, 2019, 2100}, "SUBSCRIBE",
                       [("destination", f"/queue/{q}"), ("id", "dup")],
                       setup=lambda c: self.subscribe(c, f"/queue/{q}",
                                                      "dup"))
        self.bad_frame(2046, "SUBSCRIBE", [("destination", f"/queue/{q}"),
                                           ("id", "s"),
                                           ("ack", "sometimes")])

    def test_unknown_ack_id(self):
        q = unique()
        self.bad_frame(2019, "ACK", [("id", "no-such-ack")])
        self.bad_frame(2019, "NACK", [("id", "no-such-ack")])
        self.bad_frame(2046, "ACK", [])

        def consume(c):
            self.put(c, f"/queue/{q}", "x")
            self.subscribe(c, f"/queue/{q}", ack="client")
            m = c.message()
            # A plausible-looking but never sent id.
            c.forged = m["ack"] + "999"
        c = self.connect()
        consume(c)
        c.send("ACK", [("id", c.forged), ("receipt", "forged")])
        self.assert_error(c, 2019, receipt="forged")

    def test_ack_on_auto_subscription(self):
        q = unique()
        c = self.connect()
        self.put(c, f"/queue/{q}", "x")
        self.subscribe(c, f"/queue/{q}")
        m = c.message()
        self.assertNotIn("ack", m)
        c.send("ACK", [("id", m["message-id"]), ("receipt", "auto")])
        self.assert_error(c, 2019, receipt="auto")

    def test_unsubscribe_unknown_id(self):
        self.bad_frame(2019, "UNSUBSCRIBE", [("id", "never")])
        self.bad_frame(2046, "UNSUBSCRIBE", [])

    def test_put_to_full_queue(self):
        q = unique()
        self.cli_ok("define-queue", q, "--max-depth", "1",
                     "--overflow-policy", "reject")
        c = self.connect()
        self.put(c, f"/queue/{q}", "fits")
        c.send("SEND", [("destination", f"/queue/{q}"), ("receipt", "full")],
               "overflow")
        self.assert_error(c, 2053, receipt="full")
        self.assertEqual(self.cli_bodies(q, browse=True), ["fits"])

    def test_error_names_the_receipt_of_its_batch(self):
        # SENDs read in one go travel as batches ended by a receipt: the
        # first batch fits, the second does not; the ERROR names its receipt.
        q = unique()
        self.cli_ok("define-queue", q, "--max-depth", "2",
                     "--overflow-policy", "reject")
        c = self.connect()
        dest = ("destination", f"/queue/{q}")
        c.raw(frame_bytes("SEND", [dest], "a")
              + frame_bytes("SEND", [dest, ("receipt", "rb")], "b")
              + frame_bytes("SEND", [dest], "c")
              + frame_bytes("SEND", [dest, ("receipt", "rd")], "d"))
        c.receipt("rb")
        self.assert_error(c, 2053, receipt="rd")
        self.assertEqual(self.cli_bodies(q), ["a", "b"])

    def test_body_too_big_for_queue(self):
        q = unique()
        self.cli_ok("define-queue", q, "--max-msg-length", "10")
        self.bad_frame(2030, "SEND", [("destination", f"/queue/{q}")],
                       "x" * 11)
        c = self.connect()
        self.put(c, f"/queue/{q}", "x" * 10)

    def test_inhibited(self):
        q = unique()
        self.cli_ok("define-queue", q, "--put-inhibited", "true",
                    "--get-inhibited", "true")
        self.bad_frame(2051, "SEND", [("destination", f"/queue/{q}")], "x")
        self.bad_frame(2016, "SUBSCRIBE", [("destination", f"/queue/{q}"),
                                           ("id", "s")])

    def test_error_closes_and_later_frames_are_ignored(self):
        q = unique()
        c = self.connect()
        c.raw(frame_bytes("FOO", []) +
              frame_bytes("SEND", [("destination", f"/queue/{q}"),
                                   ("receipt", "after")], "x"))
        self.assert_error(c, 2046)
        self.assertIn(self.cli_reason(self.node.cli("get", q)), (2033, 2085))


class NoAutoDefineTests(StompCase):
    node_args = ("--auto-define-queues", "false")

    def test_unknown_queue(self):
        self.bad_frame(2085, "SEND", [("destination", "/queue/NOPE")], "x")
        self.bad_frame(2085, "SUBSCRIBE", [("destination", "/queue/NOPE"),
                                           ("id", "s")])
        self.cli_ok("define-queue", "YES")
        c = self.connect()
        self.put(c, "/queue/YES", "defined")
        # Temporary queues do not depend on auto-define.
        self.subscribe(c, "/temp-queue/t")
        self.put(c, "/temp-queue/t", "tmp")
        self.assertEqual(c.message().body, b"tmp")


# -- limits -------------------------------------------------------------------

class LimitTests(StompCase):
    node_args = ("--stomp-max-headers", "8", "--stomp-max-header-line",
                 "256", "--stomp-max-body", "1024")

    def test_max_headers(self):
        q = unique()
        c = self.connect()
        hs = [("destination", f"/queue/{q}"), ("receipt", "eight")] + [
            (f"h{i}", "v") for i in range(6)]
        c.send("SEND", hs, "x")             # 8 headers: the limit
        c.receipt("eight")
        c.send("SEND", hs[:1] + [("receipt", "nine")] + hs[2:] +
               [("h6", "v")], "x")
        self.assert_error(c, 2046, receipt="nine",
                          contains="too many headers (limit 8)")
        self.assertEqual(self.depth(q), 1)

    def test_max_header_line(self):
        q = unique()
        c = self.connect()
        line = "x-long:" + "v" * (256 - len("x-long:"))
        c.raw(f"SEND\ndestination:/queue/{q}\nreceipt:fits\n{line}\n\nx\0"
              .encode())
        c.receipt("fits")
        c.raw(f"SEND\nreceipt:long\ndestination:/queue/{q}\n{line}v\n\nx\0"
              .encode())
        self.assert_error(c, 2046, receipt="long",
                          contains="header line too long (limit 256 bytes)")
        # Without the LF: the error comes as soon as the line cannot fit.
        c = self.connect()
        c.raw(b"SEND\nx-long:" + b"v" * 400)
        self.assert_error(c, 2046, contains="header line too long")
        self.assertEqual(self.depth(q), 1)

    def test_max_body(self):
        q = unique()
        c = self.connect()
        self.put(c, f"/queue/{q}", b"b" * 1024, content_length=True)
        self.put(c, f"/queue/{q}", b"c" * 1024)
        # The ERROR comes without the claimed body being sent.
        c.raw(f"SEND\ndestination:/queue/{q}\nreceipt:big\n"
              f"content-length:1025\n\n".encode())
        # A body over the limit is a message too big (2030), not a
        # malformed frame.
        self.assert_error(c, 2030, receipt="big",
                          contains="content-length 1025 exceeds the body "
                                   "limit (1024 bytes)")
        c = self.connect()
        c.raw(f"SEND\ndestination:/queue/{q}\nreceipt:nul\n\n".encode()
              + b"d" * 1025)
        self.assert_error(c, 2030, receipt="nul",
                          contains="body too long (limit 1024 bytes)")
        c = self.connect()
        c.raw(f"SEND\ndestination:/queue/{q}\n"
              f"content-length:99999999999999999999999\n\n".encode())
        self.assert_error(c, 2046, contains="content-length")
        self.assertEqual(self.depth(q), 2)

    def test_limits_apply_before_connect(self):
        c = self.open()
        c.raw(b"CONNECT\n" + b"".join(f"h{i}:v\n".encode()
                                      for i in range(9)))
        self.assert_error(c, 2046, contains="too many headers")


# -- heart-beats --------------------------------------------------------------

class HeartbeatTests(StompCase):
    node_args = ("--stomp-heartbeat", "200")

    def test_connected_offers_node_interval(self):
        c = self.connect(heart_beat="0,0")
        self.assertEqual(c.connected["heart-beat"], "200,200")

    def test_silent_client_times_out(self):
        q = unique()
        c = self.connect(heart_beat="200,200")
        self.put(c, f"/queue/{q}", "held")
        self.subscribe(c, f"/queue/{q}", ack="client-individual")
        self.assertEqual(c.message().body, b"held")
        t0 = time.monotonic()
        f = self.assert_error(c, 2046, contains="heart-beat timeout",
                              closes=False)
        elapsed = time.monotonic() - t0
        c.until_closed()
        self.assertLess(elapsed, 3.0)
        self.assertGreaterEqual(elapsed, 0.3, f)
        # The server heart-beat the client meanwhile.
        self.assertGreaterEqual(c.heartbeats, 1)
        # As if it had vanished: the unacked message returns, redelivered.
        self.assertTrue(wait_for(lambda: self.node.cli(
            "get", q, "--browse").returncode == 0, 5))
        (d, body), = self.descriptors(q)
        self.assertEqual((body, d["redelivered"]), ("held", "true"))

    def test_server_sends_eols(self):
        c = self.connect(heart_beat="0,100")
        t0 = time.monotonic()
        # max(sx=200, cy=100) = 200 ms between EOLs: the first after about
        # 200 ms, 4 of them within about 800 ms (allow 4 s).
        deadline = t0 + 4.0
        got = b""
        first = None
        while got.count(b"\n") < 4 and time.monotonic() < deadline:
            got += c.quiet(0.05)
            if got and first is None:
                first = time.monotonic() - t0
            self.assertFalse(c.eof, "closed")
        self.assertGreaterEqual(got.count(b"\n"), 4, got)
        self.assertLess(first, 0.8, "the first EOL came too late")
        self.assertEqual(got.replace(b"\r\n", b"\n").strip(b"\n"), b"", got)
        self.assertGreaterEqual(time.monotonic() - t0, 0.5)
        # The client never promised to send: still connected.
        self.put(c, "/queue/" + unique(), "alive")

    def test_negotiated_intervals_are_the_larger(self):
        # Expect: max(cx=1000, sy=200) = 1 s, so the timeout is 2 s, not
        # 400 ms. Send: max(sx=200, cy=600) = 600 ms between EOLs.
        c = self.connect(heart_beat="1000,600")
        t0 = time.monotonic()
        early = c.quiet(1.2)
        self.assertFalse(c.eof, "closed before twice the client's interval")
        self.assertEqual(early.strip(b"\n"), b"", early)
        self.assertLessEqual(early.count(b"\n"), 2, early)
        self.assert_error(c, 2046, contains="heart-beat timeout")
        self.assertLess(time.monotonic() - t0, 5.0)

    def test_client_heartbeats_keep_it_alive(self):
        c = self.connect(heart_beat="200,0")
        end = time.monotonic() + 1.2
        while time.monotonic() < end:
            c.raw(b"\n")
            self.assertEqual(c.quiet(0.1), b"")  # cy = 0: no EOLs to us
            self.assertFalse(c.eof, "closed")
        self.put(c, "/queue/" + unique(), "alive")

    def test_no_heartbeats_when_client_declines(self):
        c = self.connect(heart_beat="0,0")
        self.assertEqual(c.quiet(1.0), b"")
        self.assertFalse(c.eof)
        self.put(c, "/queue/" + unique(), "alive")

    def test_missing_heartbeat_header_means_none(self):
        c = self.connect()
        self.assertEqual(c.quiet(1.0), b"")
        self.assertFalse(c.eof)
        self.put(c, "/queue/" + unique(), "alive")

    def test_bad_heartbeat_header(self):
        c = self.open()
        c.send("CONNECT", [("accept-version", "1.2"), ("host", "h"),
                           ("heart-beat", "fast")])
        self.assert_error(c, 2046)


# -- hostile input ------------------------------------------------------------

class HostileInputTests(StompCase):
    KEEP = "HOSTILE.KEEP"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        r = cls.node.cli("put", cls.KEEP, "k1", "k2", "k3")
        assert r.returncode == 0, r.stderr

    def attack(self, data, connect, contains=None, code=2046):
        c = self.connect() if connect else self.open()
        try:
            c.raw(data)
        except OSError:
            pass      # the server may close before it has read everything
        self.assert_error(c, code, contains=contains)
        self.assert_healthy()

    def assert_healthy(self):
        self.assertIsNone(self.node.proc.poll(), "the node died")
        c = self.connect()
        q = unique()
        self.put(c, f"/queue/{q}", "fresh")
        self.subscribe(c, f"/queue/{q}")
        self.assertEqual(c.message().body, b"fresh")
        self.assertEqual(self.cli_bodies(self.KEEP, browse=True),
                         ["k1", "k2", "k3"])

    def test_garbage_bytes(self):
        for connect in (False, True):
            with self.subTest(connect=connect):
                self.attack(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
                            connect, contains="invalid command")
                self.attack(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", connect,
                            contains="invalid command")

    def test_huge_command_line(self):
        for connect in (False, True):
            with self.subTest(connect=connect):
                self.attack(b"A" * 100_000, connect,
                            contains="command line too long")

    def test_nul_flood(self):
        for connect in (False, True):
            with self.subTest(connect=connect):
                self.attack(b"\0" * 100_000, connect)
                self.attack(b"SEND\ndestination:/queue/X" + b"\0" * 100_000,
                            connect, contains="NUL in a header line")

    def test_unterminated_header_section(self):
        for connect in (False, True):
            with self.subTest(connect=connect):
                self.attack(b"SEND\n" + b"h:v\n" * 10_000, connect,
                            contains="too many headers")
                self.attack(b"SEND\nh:" + b"v" * 100_000, connect,
                            contains="header line too long")

    def test_malformed_header_lines(self):
        self.attack(b"SEND\nno colon here\n\n\0", True, contains="':'")
        self.attack(b"SEND\n:empty\n\n\0", True, contains="empty header name")
        self.attack(b"SEND\nx:a\rb\n\n\0", True, contains="CR inside")

    def test_random_bytes(self):
        for seed in range(6):
            with self.subTest(seed=seed):
                rnd = random.Random(seed)
                data = bytearray(rnd.randbytes(8192))
                data[0] = 0x80 | data[0]     # never a valid command start
                self.attack(bytes(data), connect=bool(seed % 2))
        # Random bytes after a plausible command and headers.
        rnd = random.Random(42)
        self.attack(b"SEND\ndestination:/queue/X\n" + rnd.randbytes(8192),
                    connect=True)

    def test_half_a_frame_then_gone(self):
        c = self.connect()
        c.raw(b"SEND\ndestination:/queue/" + self.KEEP.encode()
              + b"\ncontent-length:100\n\nonly part")
        c.close()
        c = self.open()
        c.raw(b"CONN")
        c.close()
        self.assert_healthy()

    def test_many_connections_at_once(self):
        conns = [self.connect() for _ in range(50)]
        for i, c in enumerate(conns):
            c.send("SEND", [("destination", "/queue/" + unique()),
                            ("receipt", f"m{i}")], "x")
        for i, c in enumerate(conns):
            c.receipt(f"m{i}")
        for c in conns:
            c.close()
        self.assert_healthy()


if __name__ == "__main__":
    unittest.main()
