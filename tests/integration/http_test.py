"""The HTTP listener (issue 11, first part) against a real qmesh-node:
/healthz, /readyz, /metrics with Python's http.client, errors as JSON with
the reason code, and hostile input (malformed and oversized requests,
garbage, pipelining, a client that never reads) after which the node still
answers."""
import http.client
import json
import os
import re
import socket
import subprocess
import unittest

from harness import CLI, NODE, Node, free_port, read_to_close, wait_for


def get(node, path, method="GET", body=None, headers=None):
    c = http.client.HTTPConnection("127.0.0.1", node.http_port, timeout=10)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        return r.status, dict(r.getheaders()), r.read().decode()
    finally:
        c.close()


def raw(node, data, read=True, timeout=5):
    """Sends raw bytes; returns everything the node answers until it
    closes (or the timeout)."""
    s = socket.create_connection(("127.0.0.1", node.http_port))
    s.settimeout(timeout)
    try:
        s.sendall(data)
        if not read:
            return b""
        return read_to_close(s, socket.timeout)
    finally:
        s.close()


class HttpTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.node = Node(qmgr="QMH")

    @classmethod
    def tearDownClass(cls):
        cls.node.stop()

    def assert_alive(self):
        status, _, body = get(self.node, "/healthz")
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body), {"status": "ok"})

    def test_healthz(self):
        status, headers, body = get(self.node, "/healthz")
        self.assertEqual(status, 200)
        self.assertEqual(headers["Content-Type"], "application/json")
        self.assertEqual(json.loads(body)["status"], "ok")

    def test_readyz_when_ready(self):
        status, _, body = get(self.node, "/readyz")
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body)["status"], "ready")

    def test_metrics_name_queues_and_node_figures(self):
        self.node.cli("define-queue", "METRICS.Q")
        self.node.cli("put", "METRICS.Q", "one")
        self.node.cli("put", "METRICS.Q", "two")
        status, headers, body = get(self.node, "/metrics")
        self.assertEqual(status, 200)
        self.assertTrue(headers["Content-Type"].startswith("text/plain"))
        lines = body.splitlines()
        self.assertIn('qmesh_queue_depth_messages{queue="METRICS.Q"} 2',
                      lines)
        self.assertIn(
            'qmesh_queue_messages_put_total{queue="METRICS.Q"} 2', lines)
        self.assertIn("# TYPE qmesh_journal_fsyncs_total counter", lines)
        self.assertIn("# TYPE qmesh_memory_used_bytes gauge", lines)
        # Every sample line belongs to a family announced before it, and
        # every name has the prefix; counters end in _total.
        families = {}
        for line in lines:
            if line.startswith("# TYPE "):
                _, _, name, kind = line.split(" ")
                families[name] = kind
            elif line and not line.startswith("#"):
                name = line.split("{")[0].split(" ")[0]
                self.assertIn(name, families, line)
                self.assertTrue(name.startswith("qmesh_"), line)
                float(line.rsplit(" ", 1)[1])
        for name, kind in families.items():
            if kind == "counter":
                self.assertTrue(name.endswith("_total"), name)

    def test_unknown_path_is_404_with_a_reason(self):
        status, headers, body = get(self.node, "/nothing/here")
        self.assertEqual(status, 404)
        j = json.loads(body)
        self.assertEqual(j["reason"], 2085)
        self.assertIn("2085 unknown_object_name", j["error"])

    def test_wrong_method_is_405(self):
        status, headers, body = get(self.node, "/metrics", method="POST",
                                    body="x")
        self.assertEqual(status, 405)
        self.assertEqual(headers["Allow"], "GET, HEAD")
        self.assertEqual(json.loads(body)["reason"], 2046)

    def test_head_has_no_body(self):
        c = http.client.HTTPConnection("127.0.0.1", self.node.http_port,
                                       timeout=10)
        c.request("HEAD", "/healthz")
        r = c.getresponse()
        self.assertEqual(r.status, 200)
        self.assertEqual(r.read(), b"")
        self.assertEqual(r.getheader("Content-Length"), "16")
        c.close()

    def test_keep_alive_and_pipelining_answer_in_order(self):
        reqs = (b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n"
                b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        out = raw(self.node, reqs)
        statuses = re.findall(rb"HTTP/1\.1 (\d{3}) ", out)
        self.assertEqual(statuses, [b"200", b"404", b"200"], out[:500])

    def test_thousands_of_pipelined_requests_in_one_write(self):
        n = 5000
        reqs = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" * (n - 1) + (
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        out = raw(self.node, reqs, timeout=20)
        self.assertEqual(len(re.findall(rb"HTTP/1\.1 200 ", out)), n)
        self.assert_alive()

    def test_oversized_body_is_413_and_closes(self):
        head = (b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: "
                + str(2 << 20).encode() + b"\r\n\r\n")
        out = raw(self.node, head + b"x" * 65536)
        self.assertTrue(out.startswith(b"HTTP/1.1 413"), out[:200])
        self.assertIn(b'"reason":2046', out)
        self.assert_alive()

    def test_oversized_head_is_431(self):
        out = raw(self.node, b"GET /healthz HTTP/1.1\r\nX-Big: "
                  + b"a" * 40000 + b"\r\n\r\n")
        self.assertTrue(out.startswith(b"HTTP/1.1 431"), out[:200])
        self.assert_alive()

    def test_malformed_requests_are_400(self):
        for junk in [b"HELLO\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n",
                     b"GET /healthz HTTP/1.1\r\nBad Header\r\n\r\n",
                     b"\x00\x01\x02\x03garbage\r\n\r\n"]:
            out = raw(self.node, junk)
            self.assertTrue(out.startswith(b"HTTP/1.1 400"), (junk, out[:200]))
            self.assertIn(b'"reason":2046', out)
        self.assert_alive()

    def test_random_bytes_and_clients_that_never_read(self):
        # A burst of random bytes, and clients that pipeline thousands of
        # requests and never read the answers: the node goes on answering.
        raw(self.node, os.urandom(200000), timeout=2)
        socks = []
        for _ in range(3):
            s = socket.create_connection(("127.0.0.1", self.node.http_port))
            s.setblocking(False)
            try:
                s.send(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n" * 20000)
            except BlockingIOError:
                pass
            socks.append(s)
        try:
            self.assert_alive()
            status, _, _ = get(self.node, "/metrics")
            self.assertEqual(status, 200)
        finally:
            for s in socks:
                s.close()
        self.assert_alive()


def api(node, method, path, body=None):
    data = None if body is None else (
        body if isinstance(body, (bytes, str)) else json.dumps(body))
    status, headers, text = get(node, path, method=method, body=data)
    return status, json.loads(text) if text else None


class AdminApiTest(unittest.TestCase):
    """The JSON admin API: the CLI's operations over HTTP."""

    @classmethod
    def setUpClass(cls):
        cls.node = Node(qmgr="QMAPI", *("--auto-define-queues", "false"))

    @classmethod
    def tearDownClass(cls):
        cls.node.stop()

    def test_queue_lifecycle(self):
        s, j = api(self.node, "PUT", "/api/queues/API.Q",
                   {"max_depth": 3, "description": "made over http",
                    "default_persistence": True})
        self.assertEqual(s, 201, j)
        self.assertEqual(j["max_depth"], 3)
        self.assertTrue(j["default_persistence"])
        # The CLI sees what the API defined.
        out = self.node.cli("inquire", "API.Q").stdout
        self.assertIn("made over http", out)
        s, j = api(self.node, "PUT", "/api/queues/API.Q", {})
        self.assertEqual((s, j["reason"]), (409, 2100))
        s, j = api(self.node, "PATCH", "/api/queues/API.Q",
                   {"max_depth": 10})
        self.assertEqual((s, j["max_depth"]), (200, 10))
        for i in range(3):
            s, j = api(self.node, "POST", "/api/queues/API.Q/messages",
                       {"body": "m%d" % i, "priority": 1,
                        "properties": {"n": str(i)}})
            self.assertEqual(s, 201, j)
            self.assertEqual(len(j["msg_id"]), 32)
        s, j = api(self.node, "GET", "/api/queues/API.Q")
        self.assertEqual(j["current_depth"], 3)
        # Browse leaves them; get takes them, in order.
        s, j = api(self.node, "GET", "/api/queues/API.Q/messages?count=2")
        self.assertEqual([m["body"] for m in j], ["m0", "m1"])
        self.assertTrue(all(m["persistent"] for m in j))
        s, j = api(self.node, "POST", "/api/queues/API.Q/get?count=2")
        self.assertEqual([m["body"] for m in j], ["m0", "m1"])
        self.assertEqual(j[0]["properties"], {"n": "0"})
        s, j = api(self.node, "GET", "/api/queues/API.Q")
        self.assertEqual(j["current_depth"], 1)
        s, j = api(self.node, "DELETE", "/api/queues/API.Q")
        self.assertEqual((s, j["reason"]), (409, 2055))
        s, j = api(self.node, "POST", "/api/queues/API.Q/purge")
        self.assertEqual((s, j["purged"]), (200, 1))
        s, j = api(self.node, "DELETE", "/api/queues/API.Q")
        self.assertEqual(s, 200)
        s, j = api(self.node, "GET", "/api/queues/API.Q")
        self.assertEqual((s, j["reason"]), (404, 2085))

    def test_lists_overview_subscriptions_cluster(self):
        api(self.node, "PUT", "/api/queues/LIST.A", {})
        api(self.node, "PUT", "/api/queues/LIST.B", {})
        s, j = api(self.node, "GET", "/api/queues?pattern=LIST.*")
        self.assertEqual([q["name"] for q in j], ["LIST.A", "LIST.B"])
        s, j = api(self.node, "GET", "/api/overview")
        self.assertEqual(j["status"]["qmgr"], "QMAPI")
        self.assertFalse(j["cluster"]["enabled"])
        s, j = api(self.node, "GET", "/api/subscriptions")
        self.assertEqual((s, j), (200, []))
        s, j = api(self.node, "GET", "/api/cluster")
        self.assertEqual(j["self"], "QMAPI")

    def test_bad_input_answers_with_reasons(self):
        cases = [
            ("PUT", "/api/queues/BAD.Q", b"{not json", 400, 2046),
            ("PUT", "/api/queues/BAD.Q", [1, 2], 400, 2046),
            ("PUT", "/api/queues/BAD.Q", {"max_depth": -1}, 400, 2046),
            ("PUT", "/api/queues/BAD.Q", {"bogus": 1}, 400, 2067),
            ("PUT", "/api/queues/bad%20name", {}, 400, 2152),
            ("PUT", "/api/queues/BAD%zz", {}, 400, 2046),
            ("GET", "/api/queues/NONE", None, 404, 2085),
            ("POST", "/api/queues/NONE/messages", {"body": "x"}, 404, 2085),
            ("POST", "/api/queues/NONE/messages", {"priority": 12}, 400,
             2046),
            ("POST", "/api/queues/NONE/messages", {"body": 5}, 400, 2046),
            ("GET", "/api/queues/NONE/messages?count=0", None, 400, 2046),
            ("GET", "/api/queues/QMX%2FQ", None, 404, 2087),
            ("DELETE", "/api/queues/SYSTEM.DEAD.LETTER.QUEUE", None, 403,
             2035),
            ("POST", "/api/overview", {}, 405, 2046),
            ("GET", "/api/nothing", None, 404, 2085),
        ]
        for method, path, body, status, reason in cases:
            s, j = api(self.node, method, path, body)
            self.assertEqual((s, j["reason"]), (status, reason),
                             (method, path, j))
        status, _, _ = get(self.node, "/healthz")
        self.assertEqual(status, 200)


class SubscriptionsAndConnectionsApiTest(unittest.TestCase):
    """Subscriptions, publications and connections over the admin API, as
    the CLI has them."""

    @classmethod
    def setUpClass(cls):
        cls.node = Node(qmgr="QMCONN")

    @classmethod
    def tearDownClass(cls):
        cls.node.stop()

    def test_durable_subscription_feeds_a_drop_oldest_queue(self):
        s, j = api(self.node, "PUT", "/api/queues/HIST.R1",
                   {"max_depth": 2, "overflow_policy": "drop-oldest"})
        self.assertEqual(s, 201, j)
        s, j = api(self.node, "POST", "/api/subscriptions",
                   {"filter": "chat/r1", "durable": "HIST.SUB",
                    "queue": "HIST.R1"})
        self.assertEqual(s, 201, j)
        self.assertEqual((j["name"], j["queue"], j["durable"]),
                         ("HIST.SUB", "HIST.R1", True))
        for body in ("a", "b", "c"):
            s, j = api(self.node, "POST", "/api/publish",
                       {"topic": "chat/r1", "body": body})
            self.assertEqual((s, j["subscriptions"]), (200, 1), j)
        s, j = api(self.node, "GET", "/api/queues/HIST.R1/messages?count=10")
        self.assertEqual([m["body"] for m in j], ["b", "c"])
        self.assertIn("HIST.SUB",
                      self.node.cli("list-subscriptions").stdout)
        s, j = api(self.node, "DELETE", "/api/subscriptions/HIST.SUB")
        self.assertEqual((s, j["unsubscribed"]), (200, "HIST.SUB"))
        s, j = api(self.node, "POST", "/api/publish",
                   {"topic": "chat/r1", "body": "d"})
        self.assertEqual((s, j["subscriptions"]), (200, 0))

    def test_subscription_and_publish_bad_input(self):
        cases = [
            ("POST", "/api/subscriptions", {"filter": "x/#"}, 400, 2046),
            ("POST", "/api/subscriptions", {"durable": "D"}, 400, 2046),
            ("POST", "/api/subscriptions", b"[", 400, 2046),
            ("POST", "/api/subscriptions", {"filter": 7, "durable": "D"},
             400, 2046),
            ("PUT", "/api/subscriptions", {}, 405, 2046),
            ("GET", "/api/subscriptions/X", None, 405, 2046),
            ("POST", "/api/publish", {"body": "no topic"}, 400, 2046),
            ("POST", "/api/publish", {"topic": "a/b", "priority": 99}, 400,
             2046),
            ("GET", "/api/publish", None, 405, 2046),
            ("DELETE", "/api/connections/abc", None, 400, 2046),
            ("DELETE", "/api/connections/99999999", None, 404, 2085),
            ("POST", "/api/connections", None, 405, 2046),
        ]
        for method, path, body, status, reason in cases:
            s, j = api(self.node, method, path, body)
            self.assertEqual((s, j["reason"]), (status, reason),
                             (method, path, j))

    def stomp_connect(self):
        s = socket.create_connection(self.node.stomp_address)
        s.settimeout(10)
        s.sendall(b"CONNECT\naccept-version:1.2\nhost:x\n\n\0")
        data = b""
        while b"\0" not in data:
            chunk = s.recv(4096)
            self.assertTrue(chunk, "closed before CONNECTED")
            data += chunk
        self.assertTrue(data.startswith(b"CONNECTED"), data)
        return s

    def connections(self):
        s, j = api(self.node, "GET", "/api/connections")
        self.assertEqual(s, 200, j)
        return j

    def test_list_and_close_a_stomp_connection(self):
        sock = self.stomp_connect()
        try:
            local = "127.0.0.1:%d" % sock.getsockname()[1]
            mine = [c for c in self.connections() if c["peer"] == local]
            self.assertEqual(len(mine), 1, self.connections())
            conn = mine[0]
            self.assertEqual(conn["protocol"], "stomp")
            self.assertGreater(conn["connected_at_ms"], 0)
            # The asking HTTP connection is listed too.
            self.assertIn("http", [c["protocol"] for c in self.connections()])
            out = self.node.cli("connections").stdout
            self.assertIn("%d  stomp  %s" % (conn["id"], local), out)
            status, _, text = get(self.node, "/metrics")
            self.assertRegex(text, r'qmesh_connections\{protocol="stomp"\} '
                                   r'[1-9]')
            s, j = api(self.node, "DELETE", "/api/connections/%d"
                       % conn["id"])
            self.assertEqual((s, j["closed"]), (200, conn["id"]))
            # The client gets an ERROR with the reason, then the close.
            data = read_to_close(sock)
            self.assertTrue(data.startswith(b"ERROR\n"), data)
            self.assertIn(b"qmesh-reason:2009", data)
            self.assertIn(b"administrator", data)
            self.assertTrue(wait_for(lambda: all(
                c["peer"] != local for c in self.connections())))
            s, j = api(self.node, "DELETE", "/api/connections/%d"
                       % conn["id"])
            self.assertEqual((s, j["reason"]), (404, 2085))
        finally:
            sock.close()

    def test_close_a_native_client_waiting_in_a_get(self):
        self.node.cli("define", "KICK.Q")
        before = {c["id"] for c in self.connections()}
        proc = subprocess.Popen(
            [CLI, "--node", self.node.address, "get",
             "KICK.Q", "--wait", "60000"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            self.assertTrue(wait_for(lambda: any(
                c["protocol"] == "native" and c["id"] not in before
                for c in self.connections())))
            conn = [c for c in self.connections()
                    if c["protocol"] == "native" and c["id"] not in before][0]
            self.assertIn("pid %d" % proc.pid, conn["peer"])
            out = self.node.cli("disconnect", str(conn["id"])).stdout
            self.assertIn("closed", out)
            _, err = proc.communicate(timeout=20)
            self.assertNotEqual(proc.returncode, 0)
            self.assertIn("2009", err)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        r = self.node.cli("disconnect", "99999999")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("2085", r.stderr)


class HttpOptionTest(unittest.TestCase):
    def test_none_turns_http_off(self):
        with Node("--http-listen", "none") as node:
            self.assertIn("http off", node.first_line)
            port = node.http_port
            with self.assertRaises(OSError):
                socket.create_connection(("127.0.0.1", port), timeout=2)

    def test_startup_line_names_the_listener(self):
        with Node() as node:
            self.assertIn("http on 127.0.0.1:%d" % node.http_port,
                          node.first_line)

    def test_bad_value_is_a_usage_error(self):
        r = subprocess.run([NODE, "--http-listen", "nohostport"],
                           capture_output=True, text=True, timeout=20)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("--http-listen", r.stderr)

    def test_readyz_503_while_no_cluster_member_is_reachable(self):
        a_port = free_port()
        with Node(qmgr="QMR1", cluster_port=a_port) as a:
            # Alone and knowing nobody: ready.
            self.assertEqual(get(a, "/readyz")[0], 200)
            b = Node(qmgr="QMR2", cluster_port=free_port(),
                     seeds=["127.0.0.1:%d" % a_port])
            try:
                wait_for(lambda: "QMR2" in a.cli("cluster").stdout
                         and get(a, "/readyz")[0] == 200, timeout=15)
                b.proc.kill()
                b.proc.wait()
                ok = wait_for(lambda: get(a, "/readyz")[0] == 503,
                              timeout=15)
                self.assertTrue(ok)
                status, _, body = get(a, "/readyz")
                j = json.loads(body)
                self.assertTrue(any("cluster" in r for r in j["reasons"]),
                                j)
            finally:
                b.stop()

    def test_disk_alarm_makes_readyz_503(self):
        with Node("--disk-free-limit", "900T") as node:
            status, _, body = get(node, "/readyz")
            self.assertEqual(status, 503, body)
            j = json.loads(body)
            self.assertEqual(j["status"], "not ready")
            self.assertTrue(any("disk" in r for r in j["reasons"]), j)
            status, _, _ = get(node, "/healthz")
            self.assertEqual(status, 200)


if __name__ == "__main__":
    unittest.main()
