"""STOMP over WebSocket (issue 11) against a real qmesh-node: ws://HOST:PORT/ws
on the HTTP listener with Debian's python3-websockets as the client.

Covers the subprotocols, the STOMP verbs, WebSocket and TCP clients talking
to each other, text and binary messages, a missing final NUL, heart-beats,
receipts; and hostile input: oversized and fragmented messages, a client
that never reads, bad upgrades, garbage after the upgrade, thousands of idle
WebSockets; after each the node still answers. The same over TLS
(wss://HOST:PORT/ws on --http-tls-listen, certificates made at test time):
logins allowed and refused, clients that do not trust the node's CA,
plain ws:// bytes on the TLS port, caps and shutdown."""
import asyncio
import base64
import http.client
import json
import os
import resource
import shutil
import socket
import ssl
import tempfile
import time
import unittest
import urllib.request

import websockets
from websockets.exceptions import ConnectionClosed, WebSocketException

from auth_test import hash_password, users_text
from harness import Node, free_port, read_to_close, wait_for
from stomp_harness import RawStomp
from tls_harness import Certs

TIMEOUT = 10


# -- helpers -----------------------------------------------------------------

def frame(cmd, headers=None, body=b"", nul=True):
    """One STOMP frame as bytes (header values escaped as 1.2 wants except
    in CONNECT)."""
    lines = [cmd]
    for k, v in (headers or {}).items():
        v = str(v)
        if cmd != "CONNECT":
            v = v.replace("\\", "\\\\").replace("\n", "\\n").replace(":", "\\c")
        lines.append(f"{k}:{v}")
    if isinstance(body, str):
        body = body.encode()
    return ("\n".join(lines) + "\n\n").encode() + body + (b"\x00" if nul else b"")


def connect_frame(heartbeat="0,0", login=None):
    headers = {"accept-version": "1.2", "host": "/", "heart-beat": heartbeat}
    if login:
        headers["login"], headers["passcode"] = login
    return frame("CONNECT", headers)


def parse(msg):
    """(command, headers, body bytes) of one WebSocket message holding one
    frame; ("HEARTBEAT", {}, b"") for EOLs alone."""
    data = msg.encode() if isinstance(msg, str) else msg
    if data.strip(b"\r\n") == b"":
        return "HEARTBEAT", {}, b""
    head, _, rest = data.partition(b"\n\n")
    lines = head.decode().replace("\r", "").split("\n")
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers.setdefault(k, v.replace("\\c", ":").replace("\\n", "\n")
                           .replace("\\\\", "\\"))
    if "content-length" in headers:
        body = rest[:int(headers["content-length"])]
        assert rest[len(body):] == b"\x00", rest[len(body):]
    else:
        assert rest.endswith(b"\x00"), rest
        body = rest[:-1]
    return lines[0], headers, body


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 120))


def http_get(node, path):
    with urllib.request.urlopen(
            f"http://127.0.0.1:{node.http_port}{path}", timeout=10) as r:
        return r.status, r.read().decode()


def queue_depth(node, name):
    status, body = http_get(node, f"/api/queues/{name}")
    return json.loads(body)["current_depth"]


def raw_http(node, data, timeout=5):
    """Sends raw bytes to the HTTP port; returns what comes back until the
    node closes or the timeout."""
    with socket.create_connection(("127.0.0.1", node.http_port)) as s:
        s.settimeout(timeout)
        s.sendall(data)
        return read_to_close(s, (socket.timeout, ConnectionResetError))


def upgrade_request(key=True, version="13", protocols=None, method="GET",
                    upgrade=True, path="/ws"):
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    if upgrade:
        lines += ["Connection: Upgrade", "Upgrade: websocket"]
    if key:
        lines.append("Sec-WebSocket-Key: "
                     + base64.b64encode(os.urandom(16)).decode())
    if version is not None:
        lines.append(f"Sec-WebSocket-Version: {version}")
    if protocols:
        lines.append(f"Sec-WebSocket-Protocol: {protocols}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def status_and_json(answer):
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1])
    return status, json.loads(body.decode()) if body else None


class Ws:
    """One STOMP-over-WebSocket client (asyncio)."""

    def __init__(self, conn):
        self.conn = conn

    @classmethod
    async def open(cls, node, subprotocols=("v12.stomp",), connect=True,
                   heartbeat="0,0", tls=None, login=None, **kwargs):
        """`tls`: (port, ssl context) for wss:// on that port; else ws://
        on the node's HTTP port. `login`: (login, passcode) for CONNECT."""
        kwargs.setdefault("max_size", None)
        kwargs.setdefault("ping_interval", None)
        if tls:
            url = f"wss://localhost:{tls[0]}/ws"
            kwargs["ssl"] = tls[1]
        else:
            url = f"ws://127.0.0.1:{node.http_port}/ws"
        conn = await websockets.connect(
            url, subprotocols=list(subprotocols) if subprotocols else None,
            **kwargs)
        ws = cls(conn)
        if connect:
            await ws.send(connect_frame(heartbeat, login))
            cmd, headers, _ = await ws.recv()
            assert cmd == "CONNECTED", (cmd, headers)
            ws.connected = headers
        return ws

    async def send(self, data):
        await self.conn.send(data)

    async def recv(self, timeout=TIMEOUT, heartbeats=False):
        """The next frame (skipping heart-beats unless asked for)."""
        while True:
            msg = await asyncio.wait_for(self.conn.recv(), timeout)
            f = parse(msg)
            if f[0] != "HEARTBEAT" or heartbeats:
                return f

    async def recv_raw(self, timeout=TIMEOUT):
        return await asyncio.wait_for(self.conn.recv(), timeout)

    async def receipt(self, rid, timeout=TIMEOUT):
        cmd, headers, body = await self.recv(timeout)
        assert (cmd, headers.get("receipt-id")) == ("RECEIPT", rid), \
            (cmd, headers, body)

    async def closed(self, timeout=TIMEOUT):
        """Reads until the server closes; returns the close code."""
        try:
            while True:
                await asyncio.wait_for(self.conn.recv(), timeout)
        except ConnectionClosed as e:
            return e.rcvd.code if e.rcvd else None

    async def close(self):
        await self.conn.close()


class WsTestCase(unittest.TestCase):
    node_args = ()

    @classmethod
    def setUpClass(cls):
        cls.node = Node(*cls.node_args, qmgr="QMWS")
        cls.addClassCleanup(cls.node.stop)

    def assert_alive(self):
        self.assertEqual(http_get(self.node, "/healthz")[0], 200)

        async def check():
            ws = await Ws.open(self.node)
            await ws.send(frame("DISCONNECT", {"receipt": "bye"}))
            await ws.receipt("bye")
            await ws.close()
        run(check())
        raw = RawStomp(self.node.stomp_address)
        try:
            raw.send("CONNECT", {"accept-version": "1.2", "host": "/"})
            self.assertEqual(raw.read_frame()[0], "CONNECTED")
        finally:
            raw.close()


# -- the protocol ------------------------------------------------------------

class WsStompTest(WsTestCase):

    def test_each_subprotocol_connects(self):
        # The subprotocol caps the version CONNECT negotiates: a client
        # accepting every version speaks the subprotocol's.
        async def go():
            for offered, chosen, version in [
                    (["v12.stomp"], "v12.stomp", "1.2"),
                    (["v11.stomp"], "v11.stomp", "1.1"),
                    (["v10.stomp"], "v10.stomp", "1.0"),
                    (["v10.stomp", "v11.stomp", "v12.stomp"], "v12.stomp",
                     "1.2"),
                    (["mqtt", "v11.stomp"], "v11.stomp", "1.1"),
                    (None, None, "1.2")]:
                ws = await Ws.open(self.node, subprotocols=offered,
                                   connect=False)
                self.assertEqual(ws.conn.subprotocol, chosen, offered)
                await ws.send(frame("CONNECT", {
                    "accept-version": "1.0,1.1,1.2", "host": "/"}))
                cmd, headers, _ = await ws.recv()
                self.assertEqual((cmd, headers.get("version")),
                                 ("CONNECTED", version), offered)
                self.assertTrue(
                    ws.conn.response_headers["Server"].startswith("qmesh"))
                await ws.send(frame("SEND", {"destination": "/queue/WSV",
                                             "receipt": "s"}, "x"))
                await ws.receipt("s")
                await ws.close()
        run(go())

    def test_v11_subprotocol_speaks_11(self):
        async def go():
            # A 1.1 client: ACK by message-id and subscription.
            ws = await Ws.open(self.node, subprotocols=["v11.stomp"],
                               connect=False)
            await ws.send(frame("CONNECT", {"accept-version": "1.1",
                                            "host": "/"}))
            cmd, headers, _ = await ws.recv()
            self.assertEqual((cmd, headers.get("version")),
                             ("CONNECTED", "1.1"))
            await ws.send(frame("SEND", {"destination": "/queue/WS11",
                                         "receipt": "s"}, "eleven"))
            await ws.receipt("s")
            await ws.send(frame("SUBSCRIBE", {
                "destination": "/queue/WS11", "id": "a",
                "ack": "client-individual"}))
            cmd, headers, body = await ws.recv()
            self.assertEqual((cmd, body), ("MESSAGE", b"eleven"))
            self.assertNotIn("ack", headers)
            await ws.send(frame("ACK", {"message-id": headers["message-id"],
                                        "subscription": "a",
                                        "receipt": "a"}))
            await ws.receipt("a")
            self.assertEqual(queue_depth(self.node, "WS11"), 0)
            await ws.close()
            # A client that picked v11.stomp but accepts only 1.2 is told
            # which versions this WebSocket speaks.
            ws = await Ws.open(self.node, subprotocols=["v11.stomp"],
                               connect=False)
            await ws.send(frame("CONNECT", {"accept-version": "1.2",
                                            "host": "/"}))
            cmd, headers, _ = await ws.recv()
            self.assertEqual((cmd, headers.get("version")),
                             ("ERROR", "1.0,1.1"))
            self.assertTrue(headers["message"].startswith("2046 "), headers)
            await ws.closed()
        run(go())

    def test_send_subscribe_message_ack_with_receipts(self):
        async def go():
            ws = await Ws.open(self.node)
            await ws.send(frame("SUBSCRIBE", {"id": "s1",
                                              "destination": "/queue/WS.RT",
                                              "ack": "client-individual",
                                              "receipt": "r-sub"}))
            await ws.receipt("r-sub")
            for i in range(3):
                await ws.send(frame("SEND", {"destination": "/queue/WS.RT",
                                             "receipt": f"r-send-{i}",
                                             "colour": "bl:ue"},
                                    f"hello {i}"))
            got = []
            while len(got) < 3:
                cmd, headers, body = await ws.recv()
                if cmd == "RECEIPT":
                    continue
                self.assertEqual(cmd, "MESSAGE", (headers, body))
                self.assertEqual(headers["destination"], "/queue/WS.RT")
                self.assertEqual(headers["colour"], "bl:ue")
                got.append((body.decode(), headers["ack"]))
            self.assertEqual([b for b, _ in got],
                             ["hello 0", "hello 1", "hello 2"])
            for _, ack in got:
                await ws.send(frame("ACK", {"id": ack, "receipt": "a-" + ack}))
                await ws.receipt("a-" + ack)
            await ws.send(frame("DISCONNECT", {"receipt": "bye"}))
            await ws.receipt("bye")
            self.assertEqual(await ws.closed(), 1000)
        run(go())
        self.assertEqual(queue_depth(self.node, "WS.RT"), 0)

    def test_websocket_and_tcp_clients_exchange_both_ways(self):
        raw = RawStomp(self.node.stomp_address)
        self.addCleanup(raw.close)
        raw.send("CONNECT", {"accept-version": "1.2", "host": "/"})
        self.assertEqual(raw.read_frame()[0], "CONNECTED")
        raw.send("SUBSCRIBE", {"id": "t", "destination": "/topic/chat/room",
                               "receipt": "r"})
        self.assertEqual(raw.read_frame()[0], "RECEIPT")

        async def go():
            ws = await Ws.open(self.node)
            await ws.send(frame("SUBSCRIBE", {"id": "w",
                                              "destination": "/queue/TO.WS",
                                              "receipt": "r"}))
            await ws.receipt("r")
            # TCP to WebSocket, point to point.
            raw.send("SEND", {"destination": "/queue/TO.WS"}, b"from tcp")
            cmd, headers, body = await ws.recv()
            self.assertEqual((cmd, body), ("MESSAGE", b"from tcp"))
            # WebSocket to TCP, publish/subscribe.
            await ws.send(frame("SEND", {"destination": "/topic/chat/room",
                                         "receipt": "p"}, "from ws"))
            await ws.receipt("p")
            await ws.close()
        run(go())
        cmd, headers, body = raw.read_frame()
        self.assertEqual((cmd, headers["destination"], body),
                         ("MESSAGE", "/topic/chat/room", b"from ws"))

    def test_text_and_binary_both_ways(self):
        async def go():
            ws = await Ws.open(self.node)
            await ws.send(frame("SUBSCRIBE", {"id": "s",
                                              "destination": "/queue/WS.TB",
                                              "receipt": "r"}))
            await ws.receipt("r")
            # In: a text message and a binary one with NULs in its body.
            await ws.send(frame("SEND", {"destination": "/queue/WS.TB"},
                                "grüße").decode())
            await ws.send(frame("SEND", {"destination": "/queue/WS.TB",
                                         "content-length": 5}, b"a\x00b\xff\xfe"))
            # Out: valid UTF-8 as text, anything else as binary.
            msg = await ws.recv_raw()
            self.assertIsInstance(msg, str)
            self.assertEqual(parse(msg)[2], "grüße".encode())
            msg = await ws.recv_raw()
            self.assertIsInstance(msg, bytes)
            self.assertEqual(parse(msg)[2], b"a\x00b\xff\xfe")
            await ws.close()
        run(go())

    def test_missing_final_nul_is_tolerated(self):
        async def go():
            ws = await Ws.open(self.node)
            await ws.send(frame("SUBSCRIBE", {"id": "s",
                                              "destination": "/queue/WS.NUL",
                                              "receipt": "r"}, nul=False))
            await ws.receipt("r")
            await ws.send(frame("SEND", {"destination": "/queue/WS.NUL",
                                         "receipt": "s"}, "no nul",
                                nul=False).decode())
            await ws.send(frame("SEND", {"destination": "/queue/WS.NUL",
                                         "content-length": 4}, b"four",
                                nul=False))
            bodies = []
            while len(bodies) < 2:
                cmd, _, body = await ws.recv()
                if cmd == "MESSAGE":
                    bodies.append(body)
            self.assertEqual(bodies, [b"no nul", b"four"])
            await ws.close()
        run(go())

    def test_one_frame_per_message_out(self):
        # Many deliveries in one batch still leave as one message each.
        async def go():
            ws = await Ws.open(self.node)
            for i in range(50):
                await ws.send(frame("SEND", {"destination": "/queue/WS.BATCH"},
                                    f"m{i}"))
            await ws.send(frame("SUBSCRIBE", {"id": "s",
                                              "destination": "/queue/WS.BATCH"}))
            bodies = []
            while len(bodies) < 50:
                cmd, _, body = await ws.recv()  # parse() checks one frame
                self.assertEqual(cmd, "MESSAGE")
                bodies.append(body.decode())
            self.assertEqual(bodies, [f"m{i}" for i in range(50)])
            await ws.close()
        run(go())

    def test_errors_carry_reason_codes_and_close(self):
        async def go():
            ws = await Ws.open(self.node)
            await ws.send(frame("SEND", {"receipt": "x"}, "no destination"))
            cmd, headers, body = await ws.recv()
            self.assertEqual(cmd, "ERROR")
            self.assertEqual(headers["receipt-id"], "x")
            self.assertTrue(headers["qmesh-reason"].isdigit(), headers)
            self.assertEqual(await ws.closed(), 1000)
        run(go())


    def test_listed_as_ws_and_closed_by_an_administrator(self):
        async def go():
            ws = await Ws.open(self.node)
            local = "127.0.0.1:%d" % ws.conn.local_address[1]
            with urllib.request.urlopen(
                    f"http://127.0.0.1:{self.node.http_port}"
                    "/api/connections", timeout=10) as r:
                conns = json.loads(r.read())
            mine = [c for c in conns if c["peer"] == local]
            self.assertEqual([c["protocol"] for c in mine], ["ws"], conns)
            req = urllib.request.Request(
                f"http://127.0.0.1:{self.node.http_port}/api/connections/"
                f"{mine[0]['id']}", method="DELETE")
            with urllib.request.urlopen(req, timeout=10) as r:
                self.assertEqual(r.status, 200)
            cmd, headers, body = await ws.recv()
            self.assertEqual((cmd, headers["qmesh-reason"]),
                             ("ERROR", "2009"))
            self.assertIn("administrator", headers["message"])
            self.assertEqual(await ws.closed(), 1000)
        run(go())
        self.assert_alive()


class WsHeartbeatTest(WsTestCase):
    node_args = ("--stomp-heartbeat", "200")

    def test_heartbeats_both_ways_and_timeout(self):
        async def go():
            # We send every 500 ms at most (the server gives up after 1 s
            # of silence) and want the server's every 200 ms.
            ws = await Ws.open(self.node, heartbeat="500,200")
            self.assertEqual(ws.connected["heart-beat"], "200,200")
            # The server's heart-beats: EOL-only messages.
            beats = 0
            deadline = time.monotonic() + 1.5
            while time.monotonic() < deadline:
                await ws.send("\n")  # ours keep the connection up
                msg = await ws.recv_raw(timeout=1)
                if parse(msg)[0] == "HEARTBEAT":
                    beats += 1
            self.assertGreaterEqual(beats, 3)
            await ws.send(frame("SEND", {"destination": "/queue/WS.HB",
                                         "receipt": "alive"}, "x"))
            await ws.receipt("alive")
            # Silence: the server gives up after twice our interval.
            cmd, headers, _ = await ws.recv(timeout=10)
            self.assertEqual(cmd, "ERROR")
            self.assertIn("heart-beat timeout", headers["message"])
            await ws.closed()
        run(go())


# -- hostile input -----------------------------------------------------------

class WsHostileTest(WsTestCase):
    # Small frame limits, so that the largest message is ~75 KB.
    node_args = ("--stomp-max-headers", "8", "--stomp-max-header-line", "1024",
                 "--stomp-max-body", "65536")

    def test_oversized_message_closes_with_1009(self):
        async def go():
            ws = await Ws.open(self.node)
            await ws.send(frame("SEND", {"destination": "/queue/WS.BIG"},
                                b"x" * 200_000))
            self.assertEqual(await ws.closed(), 1009)
        run(go())
        self.assert_alive()

    def test_body_over_the_limit_within_a_message_is_an_error_frame(self):
        async def go():
            ws = await Ws.open(self.node)
            await ws.send(frame("SEND", {"destination": "/queue/WS.BIG2"},
                                b"x" * 70_000))
            cmd, headers, _ = await ws.recv()
            self.assertEqual(cmd, "ERROR", headers)
            self.assertEqual(await ws.closed(), 1000)
        run(go())
        self.assert_alive()

    def test_fragmented_frame_is_reassembled(self):
        data = frame("SEND", {"destination": "/queue/WS.FRAG",
                              "receipt": "frag"}, b"y" * 50_000)

        async def go():
            ws = await Ws.open(self.node)
            await ws.send([data[i:i + 100] for i in range(0, len(data), 100)])
            await ws.receipt("frag")
            await ws.close()
        run(go())
        self.assertEqual(queue_depth(self.node, "WS.FRAG"), 1)

    def test_oversized_fragmented_message_is_refused(self):
        data = frame("SEND", {"destination": "/queue/WS.FRAG2"}, b"z" * 300_000)

        async def fragments():
            for i in range(0, len(data), 1000):
                yield data[i:i + 1000]
                # Time for the client to read the close frame: without
                # it the client's own writes race the close, and the
                # client sees a reset instead.
                await asyncio.sleep(0.001)

        async def go():
            ws = await Ws.open(self.node)
            try:
                await ws.send(fragments())
            except WebSocketException:  # closed, or closing meanwhile
                pass
            self.assertEqual(await ws.closed(), 1009)
        run(go())
        self.assert_alive()

    def test_bad_upgrades_get_json_errors(self):
        cases = [
            (upgrade_request(key=False), 400, "Sec-WebSocket-Key"),
            (upgrade_request(version="8"), 400, "Sec-WebSocket-Version"),
            (upgrade_request(version=None), 400, "Sec-WebSocket-Version"),
            (upgrade_request(protocols="mqtt, v13.stomp"), 400, "subprotocol"),
            (upgrade_request(method="POST"), 405, "GET"),
            (upgrade_request(upgrade=False), 400, "upgrade"),
        ]
        for request, status, words in cases:
            got, body = status_and_json(raw_http(self.node, request))
            self.assertEqual(got, status, request)
            self.assertEqual(body["reason"], 2046, body)
            self.assertTrue(body["error"].startswith("2046 options_error: "),
                            body)
            self.assertIn(words, body["error"])
        self.assert_alive()

    def test_garbage_after_the_upgrade(self):
        # Garbage in place of WebSocket frames: the node closes.
        with socket.create_connection(("127.0.0.1", self.node.http_port)) as s:
            # Close frame 1002 (protocol error), then the node closes.
            self.assertEqual(garbage_after_upgrade(self, s),
                             b"\x88\x02\x03\xea")
        # Garbage glued to the request itself.
        answer = raw_http(self.node, upgrade_request() + b"\x81\x05junk!")
        self.assertTrue(answer == b"" or b" 400 " in answer.split(b"\r\n")[0],
                        answer)
        self.assert_alive()

    def test_client_that_never_reads_holds_credit_back(self):
        # A subscriber that reads nothing while 20,000 messages of 4 KB
        # (80 MB) are put: the node writes until its write backlog is
        # high, then holds the subscription's credit back, as on TCP; the
        # rest stays on the queue.
        n, size = 20_000, 4096

        async def go():
            slow = await Ws.open(self.node, max_queue=1, read_limit=4096,
                                 write_limit=4096)
            await slow.send(frame("SUBSCRIBE", {"id": "s",
                                                "destination": "/queue/WS.SLOW",
                                                "receipt": "r"}))
            await slow.receipt("r")
            raw = RawStomp(self.node.stomp_address)
            try:
                raw.send("CONNECT", {"accept-version": "1.2", "host": "/"})
                assert raw.read_frame()[0] == "CONNECTED"
                body = b"m" * size
                batch = frame("SEND", {"destination": "/queue/WS.SLOW"}, body)
                for i in range(0, n, 1000):
                    raw.sock.sendall(batch * 1000)
                raw.send("SEND", {"destination": "/queue/WS.SLOW",
                                  "receipt": "last"}, body)
                cmd, headers, _ = raw.read_frame(timeout=60)
                assert (cmd, headers.get("receipt-id")) == ("RECEIPT", "last")
            finally:
                raw.close()
            # Most messages wait on the queue: credit is held back.
            depth = queue_depth(self.node, "WS.SLOW")
            self.assertGreater(depth, n // 2, depth)
            await asyncio.get_running_loop().run_in_executor(
                None, self.assert_alive)
            # The slow client, reading at last, gets them in order.
            for i in range(20):
                cmd, _, body = await slow.recv()
                self.assertEqual((cmd, len(body)), ("MESSAGE", size))
            await slow.close()
        run(go())


class WsManyIdleTest(WsTestCase):
    count = 2000
    node_args = ("--max-connections", "5000",
                 "--max-connections-per-address", "5000")

    @classmethod
    def setUpClass(cls):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        want = min(hard, 3 * cls.count + 1000)
        if soft < want:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
            cls.addClassCleanup(resource.setrlimit, resource.RLIMIT_NOFILE,
                                (soft, hard))
        if want < 2 * cls.count + 200:
            raise unittest.SkipTest(f"RLIMIT_NOFILE hard limit {hard} too low")
        super().setUpClass()

    def test_thousands_of_idle_websockets(self):
        async def go():
            conns = []
            try:
                for start in range(0, self.count, 200):
                    conns += await asyncio.gather(*[
                        Ws.open(self.node, connect=False)
                        for _ in range(min(200, self.count - start))])
                self.assertEqual(len(conns), self.count)
                # The node still answers HTTP, STOMP on TCP and new
                # WebSockets (in a thread: assert_alive runs its own loop).
                await asyncio.get_running_loop().run_in_executor(
                    None, self.assert_alive)
                # Every idle one still works.
                for ws in (conns[0], conns[-1]):
                    await ws.send(frame("CONNECT", {"accept-version": "1.2",
                                                    "host": "/"}))
                    self.assertEqual((await ws.recv())[0], "CONNECTED")
            finally:
                await asyncio.gather(*[c.close() for c in conns],
                                     return_exceptions=True)
        run(go())


class WsCapsTest(WsTestCase):
    node_args = ("--max-connections-per-address", "5")

    def healthz_status(self):
        answer = raw_http(self.node, b"GET /healthz HTTP/1.1\r\n"
                                     b"Host: x\r\nConnection: close\r\n\r\n")
        return status_and_json(answer) if answer else (None, None)

    def test_websockets_count_against_the_http_listeners_caps(self):
        async def go():
            conns = [await Ws.open(self.node) for _ in range(5)]
            try:
                # A sixth connection from this address is over the cap.
                status, body = await asyncio.get_running_loop() \
                    .run_in_executor(None, self.healthz_status)
                self.assertEqual((status, body["reason"]), (503, 2025))
                # One WebSocket ends: its slot is free again.
                await conns.pop().close()
                ok = await asyncio.get_running_loop().run_in_executor(
                    None, lambda: wait_for(
                        lambda: self.healthz_status()[0] == 200, TIMEOUT))
                self.assertTrue(ok)
            finally:
                for ws in conns:
                    await ws.close()
        run(go())


class WsShutdownTest(unittest.TestCase):
    def test_node_shutdown_closes_websockets(self):
        node = Node(qmgr="QMWSX")
        self.addCleanup(node.stop)

        async def go():
            ws = await Ws.open(node)
            code = await asyncio.get_running_loop().run_in_executor(
                None, node.terminate)
            self.assertEqual(code, 0)
            await ws.closed(timeout=5)
        run(go())



# -- over TLS (wss://) -------------------------------------------------------

def https_get(port, ctx, path, headers=None):
    c = http.client.HTTPSConnection("127.0.0.1", port, timeout=TIMEOUT,
                                    context=ctx)
    try:
        c.request("GET", path, headers=headers or {})
        r = c.getresponse()
        return r.status, r.read().decode()
    finally:
        c.close()


def garbage_after_upgrade(test, s):
    """Upgrades socket `s` (plain or TLS), sends a masked frame with the
    reserved opcode 0xF and returns all the node sends until it closes."""
    s.settimeout(TIMEOUT)
    s.sendall(upgrade_request())
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(4096)
    test.assertIn(b" 101 ", head.split(b"\r\n")[0])
    s.sendall(b"\x8f\x80\x01\x02\x03\x04")
    return read_to_close(s, (ConnectionResetError, ssl.SSLError))


class WssTestCase(unittest.TestCase):
    """A node with an HTTPS listener (certificates made for the test) and
    users: alice may put and get WSS.*; root is the administrator."""
    node_args = ()

    @classmethod
    def setUpClass(cls):
        cls.certs = Certs()
        cls.addClassCleanup(cls.certs.cleanup)
        cls.ctx = ssl.create_default_context(cafile=cls.certs.ca)
        cls.dir = tempfile.mkdtemp(prefix="qmesh-wss-")
        cls.addClassCleanup(shutil.rmtree, cls.dir, True)
        users = os.path.join(cls.dir, "users.ini")
        with open(users, "w") as f:
            f.write(users_text({
                "alice": (hash_password("alice-pw"),
                          {"put": "WSS.*", "get": "WSS.*"}),
                "root": (hash_password("root-pw"),
                         {"admin": "*", "put": "*", "get": "*"})}))
        cls.https = free_port()
        cls.node = Node("--tls-cert", cls.certs.server_cert,
                        "--tls-key", cls.certs.server_key,
                        "--http-tls-listen", f"127.0.0.1:{cls.https}",
                        "--users-file", users, *cls.node_args, qmgr="QMWSS")
        cls.addClassCleanup(cls.node.stop)

    def wss(self, login=("alice", "alice-pw"), **kwargs):
        return Ws.open(self.node, tls=(self.https, self.ctx), login=login,
                       **kwargs)

    def admin(self, path, method="GET"):
        """The admin API (plain HTTP) as root: (status, JSON body)."""
        token = base64.b64encode(b"root:root-pw").decode()
        c = http.client.HTTPConnection("127.0.0.1", self.node.http_port,
                                       timeout=TIMEOUT)
        try:
            c.request(method, path,
                      headers={"Authorization": "Basic " + token})
            r = c.getresponse()
            return r.status, json.loads(r.read() or b"null")
        finally:
            c.close()

    def assert_alive(self):
        self.assertIsNone(self.node.proc.poll(), "the node exited")
        self.assertEqual(https_get(self.https, self.ctx, "/healthz")[0], 200)

        async def check():
            ws = await self.wss()
            await ws.send(frame("DISCONNECT", {"receipt": "bye"}))
            await ws.receipt("bye")
            await ws.close()
        run(check())


class WssStompTest(WssTestCase):
    # Small frame limits, so that the largest message is ~75 KB.
    node_args = ("--stomp-max-headers", "8", "--stomp-max-header-line", "1024",
                 "--stomp-max-body", "65536")

    def https_get_as(self, path, login=None):
        """GET over HTTPS, with Basic credentials if given: (status, body)."""
        c = http.client.HTTPSConnection("127.0.0.1", self.https,
                                        context=self.ctx, timeout=TIMEOUT)
        headers = {}
        if login:
            token = base64.b64encode(":".join(login).encode()).decode()
            headers["Authorization"] = "Basic " + token
        try:
            c.request("GET", path, headers=headers)
            r = c.getresponse()
            return r.status, r.read()
        finally:
            c.close()

    def test_https_serves_the_api_with_users_and_the_console(self):
        # The HTTPS listener has the same users and static files as HTTP.
        status, body = self.https_get_as("/api/overview", ("root", "root-pw"))
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body)["status"]["qmgr"], "QMWSS")
        status, body = self.https_get_as("/api/overview")
        self.assertEqual(status, 401, body)
        self.assertEqual(json.loads(body)["reason"], 2035)
        status, body = self.https_get_as("/api/overview", ("root", "wrong"))
        self.assertEqual(status, 401, body)
        status, body = self.https_get_as("/")
        self.assertEqual(status, 200)
        self.assertIn(b"<html", body.lower())

    def test_round_trip_over_wss_and_to_ws(self):
        async def go():
            ws = await self.wss()
            self.assertEqual(ws.conn.subprotocol, "v12.stomp")
            self.assertIn(ws.conn.transport.get_extra_info("ssl_object")
                          .version(), ("TLSv1.2", "TLSv1.3"))
            self.assertTrue(
                ws.conn.response_headers["Server"].startswith("qmesh"))
            await ws.send(frame("SUBSCRIBE", {"id": "s",
                                              "destination": "/queue/WSS.RT",
                                              "ack": "client-individual",
                                              "receipt": "r-sub"}))
            await ws.receipt("r-sub")
            for i in range(3):
                await ws.send(frame("SEND", {"destination": "/queue/WSS.RT",
                                             "receipt": f"r-send-{i}"},
                                    f"hello {i}"))
            got = []
            while len(got) < 3:
                cmd, headers, body = await ws.recv()
                if cmd == "RECEIPT":
                    continue
                self.assertEqual(cmd, "MESSAGE", (headers, body))
                got.append((body.decode(), headers["ack"]))
            self.assertEqual([b for b, _ in got],
                             ["hello 0", "hello 1", "hello 2"])
            for _, ack in got:
                await ws.send(frame("ACK", {"id": ack, "receipt": "a-" + ack}))
                await ws.receipt("a-" + ack)
            # A plain ws:// client on the HTTP listener reaches the same
            # queues: one STOMP actor kind behind both.
            plain = await Ws.open(self.node, login=("alice", "alice-pw"))
            await plain.send(frame("SEND", {"destination": "/queue/WSS.RT",
                                            "receipt": "p"}, b"\xff binary"))
            await plain.receipt("p")
            cmd, headers, body = await ws.recv()
            self.assertEqual((cmd, body), ("MESSAGE", b"\xff binary"))
            await plain.close()
            await ws.send(frame("DISCONNECT", {"receipt": "bye"}))
            await ws.receipt("bye")
            self.assertEqual(await ws.closed(), 1000)
        run(go())

    def test_login_allowed_and_refused(self):
        async def refused(login):
            ws = await self.wss(connect=False)
            await ws.send(connect_frame(login=login))
            cmd, headers, body = await ws.recv()
            self.assertEqual(cmd, "ERROR", (login, headers, body))
            self.assertEqual(headers.get("qmesh-reason"), "2035", headers)
            self.assertEqual(await ws.closed(), 1000)

        async def go():
            await refused(("alice", "wrong"))
            await refused(("mallory", "x"))
            await refused(None)
            # Logged in, alice may put to WSS.* only.
            ws = await self.wss()
            await ws.send(frame("SEND", {"destination": "/queue/WSS.OK",
                                         "receipt": "ok"}, "x"))
            await ws.receipt("ok")
            await ws.send(frame("SEND", {"destination": "/queue/OTHER",
                                         "receipt": "no"}, "x"))
            cmd, headers, body = await ws.recv()
            self.assertEqual((cmd, headers.get("qmesh-reason")),
                             ("ERROR", "2035"), (headers, body))
            self.assertEqual(await ws.closed(), 1000)
        run(go())
        self.assertNotIn("alice-pw", self.node.log_text())
        self.assert_alive()

    def test_client_without_the_ca_is_refused(self):
        async def go():
            for ctx in (ssl.create_default_context(),  # system CAs only
                        ssl.create_default_context(cafile=self.certs.other_ca)):
                with self.assertRaises(ssl.SSLCertVerificationError):
                    await Ws.open(self.node, tls=(self.https, ctx),
                                  connect=False)
        run(go())
        self.assert_alive()

    def test_plain_ws_on_the_tls_port(self):
        # A ws:// upgrade sent in the clear to the TLS port: no HTTP answer
        # (no 101), the connection closes, the node stays up.
        with socket.create_connection(("127.0.0.1", self.https)) as s:
            s.settimeout(TIMEOUT)
            s.sendall(upgrade_request() + frame("CONNECT", {"host": "/"}))
            out = read_to_close(s, ConnectionResetError)
            self.assertNotIn(b"HTTP/1.1", out)
            self.assertNotIn(b"CONNECTED", out)
        self.assert_alive()

    def test_oversized_message_closes_with_1009(self):
        async def go():
            ws = await self.wss()
            await ws.send(frame("SEND", {"destination": "/queue/WSS.BIG"},
                                b"x" * 200_000))
            self.assertEqual(await ws.closed(), 1009)
        run(go())
        self.assertEqual(self.admin("/api/queues/WSS.BIG")[0], 404)
        self.assert_alive()

    def test_garbage_after_the_upgrade_over_tls(self):
        # A frame with the reserved opcode 0xF inside TLS: close 1002.
        raw = socket.create_connection(("127.0.0.1", self.https))
        with self.ctx.wrap_socket(raw, server_hostname="localhost") as s:
            self.assertEqual(garbage_after_upgrade(self, s),
                             b"\x88\x02\x03\xea")
        self.assert_alive()

    def test_pipelined_request_before_the_upgrade(self):
        # GET /healthz and the upgrade in one write, on either listener:
        # the answer to the first is written in full before the connection
        # changes hands, then the 101.
        def both(s):
            s.settimeout(TIMEOUT)
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                      + upgrade_request())
            out = b""
            while out.count(b"\r\n\r\n") < 2 or b" 101 " not in out:
                chunk = s.recv(65536)
                if not chunk:
                    break
                out += chunk
            self.assertTrue(out.startswith(b"HTTP/1.1 200 "), out)
            self.assertIn(b"\"ok\"}\nHTTP/1.1 101 ", out)
            s.sendall(b"\x8f\x80\x01\x02\x03\x04")  # then: close 1002
            self.assertEqual(s.recv(4), b"\x88\x02\x03\xea")

        raw = socket.create_connection(("127.0.0.1", self.https))
        with self.ctx.wrap_socket(raw, server_hostname="localhost") as s:
            both(s)
        with socket.create_connection(("127.0.0.1",
                                       self.node.http_port)) as s:
            both(s)
        self.assert_alive()

    def test_listed_and_closed_by_an_administrator(self):
        async def go():
            ws = await self.wss()
            local = "127.0.0.1:%d" % ws.conn.local_address[1]
            status, conns = await asyncio.get_running_loop().run_in_executor(
                None, self.admin, "/api/connections")
            self.assertEqual(status, 200, conns)
            mine = [c for c in conns if c["peer"] == local]
            self.assertEqual([c["protocol"] for c in mine], ["ws"], conns)
            status, _ = await asyncio.get_running_loop().run_in_executor(
                None, self.admin, f"/api/connections/{mine[0]['id']}",
                "DELETE")
            self.assertEqual(status, 200)
            cmd, headers, body = await ws.recv()
            self.assertEqual((cmd, headers["qmesh-reason"]),
                             ("ERROR", "2009"))
            self.assertEqual(await ws.closed(), 1000)
        run(go())
        self.assert_alive()

    def test_client_that_never_reads_holds_credit_back(self):
        # As over ws://: a wss subscriber that reads nothing while 20,000
        # messages of 4 KB are put; the node holds its credit back.
        n, size = 20_000, 4096

        async def go():
            slow = await self.wss(max_queue=1, read_limit=4096,
                                  write_limit=4096)
            await slow.send(frame("SUBSCRIBE", {"id": "s",
                                                "destination": "/queue/WSS.SLOW",
                                                "receipt": "r"}))
            await slow.receipt("r")
            fast = await self.wss()
            body = b"m" * size
            for i in range(n):
                await fast.send(frame("SEND", {"destination":
                                               "/queue/WSS.SLOW"}, body))
            await fast.send(frame("SEND", {"destination": "/queue/WSS.SLOW",
                                           "receipt": "last"}, body))
            await fast.receipt("last", timeout=60)
            await fast.close()
            status, q = await asyncio.get_running_loop().run_in_executor(
                None, self.admin, "/api/queues/WSS.SLOW")
            self.assertGreater(q["current_depth"], n // 2, q)
            await asyncio.get_running_loop().run_in_executor(
                None, self.assert_alive)
            for i in range(20):
                cmd, _, got = await slow.recv()
                self.assertEqual((cmd, len(got)), ("MESSAGE", size))
            await slow.close()
        run(go())


class WssCapsTest(unittest.TestCase):
    """The TLS listener's caps count WebSockets; a node stopping closes
    them."""

    def setUp(self):
        self.certs = Certs()
        self.addCleanup(self.certs.cleanup)
        self.ctx = ssl.create_default_context(cafile=self.certs.ca)
        self.https = free_port()
        self.node = Node("--tls-cert", self.certs.server_cert,
                         "--tls-key", self.certs.server_key,
                         "--http-tls-listen", f"127.0.0.1:{self.https}",
                         "--max-connections-per-address", "3", qmgr="QMWSC")
        self.addCleanup(self.node.stop)

    def wss(self):
        return Ws.open(self.node, tls=(self.https, self.ctx))

    def healthz(self):
        try:
            status, body = https_get(self.https, self.ctx, "/healthz")
            return status, json.loads(body)
        except (ConnectionError, ssl.SSLError, http.client.HTTPException):
            return None, None

    def test_websockets_count_against_the_tls_listeners_caps(self):
        async def go():
            conns = [await self.wss() for _ in range(3)]
            try:
                loop = asyncio.get_running_loop()
                status, body = await loop.run_in_executor(None, self.healthz)
                self.assertEqual((status, body["reason"]), (503, 2025))
                # The plain HTTP listener counts its own connections.
                self.assertEqual(http_get(self.node, "/healthz")[0], 200)
                await conns.pop().close()
                ok = await loop.run_in_executor(None, lambda: wait_for(
                    lambda: self.healthz()[0] == 200, TIMEOUT))
                self.assertTrue(ok)
            finally:
                for ws in conns:
                    await ws.close()
        run(go())

    def test_node_shutdown_closes_websockets(self):
        async def go():
            ws = await self.wss()
            code = await asyncio.get_running_loop().run_in_executor(
                None, self.node.terminate)
            self.assertEqual(code, 0)
            await ws.closed(timeout=5)
        run(go())


if __name__ == "__main__":
    unittest.main()
