"""TLS against real qmesh-node processes, with certificates made at test
time (tls_harness.py): STOMP over TLS with stomp.py, HTTPS with Python's
ssl, clients that do not trust the node's CA, garbage and plain text on
the TLS ports, a handshake that never completes; bad TLS options; BASP
over mutual TLS (a cluster of two, the CLI with and without a client
certificate, a BASP header claiming 4 GiB sent to the TLS port) and the
loopback rule of the native and cluster listeners."""
import http.client
import json
import os
import queue
import socket
import ssl
import struct
import subprocess
import time
import unittest
import uuid

import stomp

from cluster_harness import parse_cluster_json
from harness import CLI, NODE, Node, free_port, read_to_close, wait_for
from tls_harness import Certs

TIMEOUT = 10.0
# The nodes' handshake timeout in these tests (ms).
HANDSHAKE_MS = 1000


def unique(prefix):
    return f"{prefix}.{uuid.uuid4().hex[:10].upper()}"


def trusting(certs):
    """A client context that trusts the test CA (and checks the name)."""
    return ssl.create_default_context(cafile=certs.ca)


def read_until_closed(sock, timeout=TIMEOUT):
    """Everything the peer sends until it closes; raises socket.timeout if
    it does not close in time."""
    sock.settimeout(timeout)
    return read_to_close(sock, ConnectionResetError)


def https_get(port, certs, path):
    c = http.client.HTTPSConnection("127.0.0.1", port, timeout=TIMEOUT,
                                    context=trusting(certs))
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.read().decode()
    finally:
        c.close()


def http_get(port, path):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.read().decode()
    finally:
        c.close()


class Frames(stomp.ConnectionListener):
    """Records MESSAGE and ERROR frames for waiting on them."""

    def __init__(self):
        self.messages = queue.Queue()
        self.errors = queue.Queue()

    def on_message(self, frame):
        self.messages.put(frame)

    def on_error(self, frame):
        self.errors.put(frame)


def run_node(*args, timeout=30):
    """Runs qmesh-node expecting it to exit (bad options)."""
    return subprocess.run([NODE, *args], capture_output=True, text=True,
                          timeout=timeout)


class TlsFrontEndTest(unittest.TestCase):
    """One node with STOMP over TLS and HTTPS beside its plain listeners."""

    @classmethod
    def setUpClass(cls):
        cls.certs = Certs()
        cls.stomp_tls = free_port()
        cls.https = free_port()
        try:
            cls.node = Node(
                "--tls-cert", cls.certs.server_cert,
                "--tls-key", cls.certs.server_key,
                "--stomp-tls-listen", f"127.0.0.1:{cls.stomp_tls}",
                "--http-tls-listen", f"127.0.0.1:{cls.https}",
                "--tls-handshake-timeout", str(HANDSHAKE_MS), qmgr="QMT")
        except Exception:
            cls.certs.cleanup()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.node.stop()
        cls.certs.cleanup()

    def stomp_connect(self, port=None, tls=True):
        host_port = ("127.0.0.1", port or self.stomp_tls)
        conn = stomp.Connection12([host_port], heartbeats=(0, 0))
        if tls:
            conn.set_ssl(for_hosts=[host_port], ca_certs=self.certs.ca)
        frames = Frames()
        conn.set_listener("frames", frames)
        conn.connect(wait=True)
        self.addCleanup(lambda: conn.is_connected() and conn.disconnect())
        return conn, frames

    def assert_all_listeners_answer(self):
        self.assertIsNone(self.node.proc.poll(), "the node exited")
        self.assertEqual(https_get(self.https, self.certs, "/healthz")[0], 200)
        self.assertEqual(http_get(self.node.http_port, "/healthz")[0], 200)
        for port, tls in ((self.stomp_tls, True),
                          (self.node.stomp_port, False)):
            conn, _ = self.stomp_connect(port, tls)
            self.assertTrue(conn.is_connected())
            conn.disconnect()
        r = self.node.cli("status")
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_stomp_over_tls_sends_and_receives(self):
        q = unique("TLS")
        conn, frames = self.stomp_connect()
        conn.subscribe(f"/queue/{q}", id="1", ack="auto")
        conn.send(f"/queue/{q}", "over tls", receipt="r1")
        msg = frames.messages.get(timeout=TIMEOUT)
        self.assertEqual(msg.body, "over tls")
        # The same queue seen by a plain-TCP STOMP client and the CLI:
        # one node, one STOMP actor behind both listeners.
        self.node.cli("put", q, "from the cli")
        msg = frames.messages.get(timeout=TIMEOUT)
        self.assertEqual(msg.body, "from the cli")

    def test_stomp_tls_version_is_at_least_1_2(self):
        raw = socket.create_connection(("127.0.0.1", self.stomp_tls))
        with trusting(self.certs).wrap_socket(
                raw, server_hostname="localhost") as s:
            self.assertIn(s.version(), ("TLSv1.2", "TLSv1.3"))
            self.assertIsNone(s.compression())
        # A client that offers TLS 1.1 at most is refused.
        ctx = trusting(self.certs)
        ctx.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
        ctx.maximum_version = ssl.TLSVersion.TLSv1_1
        with self.assertRaises((ssl.SSLError, ConnectionError)):
            raw = socket.create_connection(("127.0.0.1", self.stomp_tls))
            with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                s.sendall(b"CONNECT\n\n\0")
                s.recv(100)

    def test_https_health_and_api(self):
        status, body = https_get(self.https, self.certs, "/healthz")
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body)["status"], "ok")
        status, body = https_get(self.https, self.certs, "/api/overview")
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body)["status"]["qmgr"], "QMT")

    def test_client_without_the_ca_fails_verification(self):
        ctx = ssl.create_default_context()  # the system's CAs only
        for port in (self.stomp_tls, self.https):
            raw = socket.create_connection(("127.0.0.1", port))
            with self.assertRaises(ssl.SSLCertVerificationError):
                ctx.wrap_socket(raw, server_hostname="localhost")
            raw.close()
        # A certificate from another CA is not trusted by a client of ours.
        ctx = ssl.create_default_context(cafile=self.certs.other_ca)
        raw = socket.create_connection(("127.0.0.1", self.stomp_tls))
        with self.assertRaises(ssl.SSLCertVerificationError):
            ctx.wrap_socket(raw, server_hostname="localhost")
        raw.close()
        self.assert_all_listeners_answer()

    def test_garbage_and_plain_stomp_on_the_tls_port(self):
        for data in (os.urandom(4096), b"\x16\x03\x01\xff\xff" + b"\0" * 600,
                     b"CONNECT\naccept-version:1.2\nhost:QMT\n\n\0"):
            with socket.create_connection(("127.0.0.1", self.stomp_tls)) as s:
                s.sendall(data)
                answer = read_until_closed(s)
                # No STOMP frame ever comes back in the clear.
                self.assertNotIn(b"CONNECTED", answer)
                self.assertNotIn(b"ERROR", answer)
        with socket.create_connection(("127.0.0.1", self.https)) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            self.assertNotIn(b"HTTP/1.1", read_until_closed(s))
        self.assert_all_listeners_answer()

    def test_a_handshake_that_never_completes_is_closed(self):
        for port in (self.stomp_tls, self.https):
            with socket.create_connection(("127.0.0.1", port)) as s:
                t0 = time.monotonic()
                # Silence, then half a ClientHello: neither completes.
                self.assertEqual(read_until_closed(s), b"")
                waited = time.monotonic() - t0
                self.assertGreaterEqual(waited, HANDSHAKE_MS / 1000 * 0.8)
                self.assertLess(waited, TIMEOUT)
            with socket.create_connection(("127.0.0.1", port)) as s:
                s.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
                t0 = time.monotonic()
                read_until_closed(s)
                self.assertGreaterEqual(time.monotonic() - t0,
                                        HANDSHAKE_MS / 1000 * 0.8)
        self.assert_all_listeners_answer()


class TlsCapsTest(unittest.TestCase):
    """The connection caps count TLS connections; a refused one gets the
    protocol's refusal over TLS."""

    def test_over_the_cap_gets_error_2025_over_tls(self):
        certs = Certs()
        self.addCleanup(certs.cleanup)
        port = free_port()
        https = free_port()
        node = Node("--tls-cert", certs.server_cert, "--tls-key",
                    certs.server_key, "--stomp-tls-listen",
                    f"127.0.0.1:{port}", "--http-tls-listen",
                    f"127.0.0.1:{https}", "--max-connections-per-address",
                    "1", qmgr="QTC")
        self.addCleanup(node.stop)
        ctx = trusting(certs)

        def connected():
            s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)),
                                server_hostname="localhost")
            s.sendall(b"CONNECT\naccept-version:1.2\nhost:QTC\n\n\0")
            return s

        first = connected()
        first.settimeout(TIMEOUT)
        self.assertTrue(first.recv(1000).startswith(b"CONNECTED"))
        second = connected()
        answer = read_until_closed(second)
        second.close()
        self.assertTrue(answer.startswith(b"ERROR"), answer)
        self.assertIn(b"2025", answer)
        # HTTPS over its own cap: a 503 with the reason, over TLS.
        h1 = ctx.wrap_socket(socket.create_connection(("127.0.0.1", https)),
                             server_hostname="localhost")
        h2 = ctx.wrap_socket(socket.create_connection(("127.0.0.1", https)),
                             server_hostname="localhost")
        h2.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = read_until_closed(h2)
        h1.close()
        h2.close()
        self.assertTrue(answer.startswith(b"HTTP/1.1 503"), answer)
        self.assertIn(b"2025", answer)
        # The first one's end frees its slot.
        first.close()

        def admitted():
            try:
                s = connected()
                s.settimeout(TIMEOUT)
                ok = s.recv(1000).startswith(b"CONNECTED")
                s.close()
                return ok
            except OSError:
                return False
        self.assertTrue(wait_for(admitted, timeout=TIMEOUT))


class TlsOptionsTest(unittest.TestCase):
    """Bad TLS options refuse start with exit 2 and a clear message."""

    @classmethod
    def setUpClass(cls):
        cls.certs = Certs()

    @classmethod
    def tearDownClass(cls):
        cls.certs.cleanup()

    def node_args(self, *extra):
        d = os.path.join(self.certs.dir, "data-" + uuid.uuid4().hex[:8])
        return ["--data-dir", d, "--listen", f"127.0.0.1:{free_port()}",
                "--stomp-listen", "none", "--http-listen", "none", *extra]

    def assert_refused(self, *extra, mentions):
        r = run_node(*self.node_args(*extra))
        self.assertEqual(r.returncode, 2, r.stderr)
        for word in mentions:
            self.assertIn(word, r.stderr)
        self.assertNotIn("listening on", r.stdout)

    def test_tls_listener_needs_cert_and_key(self):
        port = f"127.0.0.1:{free_port()}"
        self.assert_refused("--stomp-tls-listen", port,
                            mentions=["--stomp-tls-listen", "--tls-cert"])
        self.assert_refused("--http-tls-listen", port,
                            mentions=["--http-tls-listen", "--tls-cert"])
        self.assert_refused("--stomp-tls-listen", port, "--tls-cert",
                            self.certs.server_cert,
                            mentions=["--tls-key"])

    def test_unreadable_or_mismatched_files(self):
        port = f"127.0.0.1:{free_port()}"
        missing = os.path.join(self.certs.dir, "no-such.pem")
        self.assert_refused("--stomp-tls-listen", port, "--tls-cert", missing,
                            "--tls-key", self.certs.server_key,
                            mentions=["--tls-cert", missing])
        self.assert_refused("--stomp-tls-listen", port, "--tls-cert",
                            self.certs.server_cert, "--tls-key", missing,
                            mentions=["--tls-key", missing])
        self.assert_refused("--stomp-tls-listen", port, "--tls-cert",
                            self.certs.server_cert, "--tls-key",
                            self.certs.client_key,
                            mentions=["does not match"])
        # A key is no certificate.
        self.assert_refused("--http-tls-listen", port, "--tls-cert",
                            self.certs.server_key, "--tls-key",
                            self.certs.server_key, mentions=["--tls-cert"])
        self.assert_refused("--tls-cert", self.certs.server_cert,
                            "--tls-key", self.certs.server_key,
                            "--tls-ca", missing, mentions=["--tls-ca"])
        self.assert_refused("--tls-ca", self.certs.ca,
                            mentions=["--tls-ca", "--tls-cert"])

    def test_basp_off_loopback_needs_mutual_tls(self):
        r = run_node("--data-dir", os.path.join(self.certs.dir, "d1"),
                     "--listen", f"0.0.0.0:{free_port()}",
                     "--stomp-listen", "none", "--http-listen", "none")
        self.assertEqual(r.returncode, 2, r.stderr)
        for word in ("--listen", "loopback", "--tls-cert", "--tls-key",
                     "--tls-ca"):
            self.assertIn(word, r.stderr)
        r = run_node("--data-dir", os.path.join(self.certs.dir, "d2"),
                     "--cluster-listen", f"0.0.0.0:{free_port()}",
                     "--listen", f"127.0.0.1:{free_port()}",
                     "--stomp-listen", "none", "--http-listen", "none")
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("--cluster-listen", r.stderr)
        # A certificate alone is not mutual TLS.
        r = run_node("--data-dir", os.path.join(self.certs.dir, "d3"),
                     "--listen", f"0.0.0.0:{free_port()}",
                     "--tls-cert", self.certs.server_cert,
                     "--tls-key", self.certs.server_key,
                     "--stomp-listen", "none", "--http-listen", "none")
        self.assertEqual(r.returncode, 2, r.stderr)
        # Mutual TLS proves the peer's certificate, not who the client is:
        # without users, a non-loopback client listener still needs
        # --allow-anonymous.
        r = run_node("--data-dir", os.path.join(self.certs.dir, "d5"),
                     "--listen", f"0.0.0.0:{free_port()}",
                     "--tls-cert", self.certs.server_cert,
                     "--tls-key", self.certs.server_key,
                     "--tls-ca", self.certs.ca,
                     "--stomp-listen", "none", "--http-listen", "none")
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("--users-file", r.stderr)
        # With mutual TLS (and anonymous clients allowed) it starts, and
        # answers a client with a certificate.
        port = free_port()
        proc = subprocess.Popen(
            [NODE, "--data-dir", os.path.join(self.certs.dir, "d4"),
             "--listen", f"0.0.0.0:{port}",
             "--tls-cert", self.certs.server_cert,
             "--tls-key", self.certs.server_key, "--tls-ca", self.certs.ca,
             "--allow-anonymous",
             "--stomp-listen", "none", "--http-listen", "none"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            line = proc.stdout.readline()
            self.assertIn("listening on 0.0.0.0", line)
            self.assertIn("mutual TLS", line)
            r = subprocess.run(
                [CLI, "--node", f"127.0.0.1:{port}", "--tls-cert",
                 self.certs.client_cert, "--tls-key", self.certs.client_key,
                 "--tls-ca", self.certs.ca, "status"],
                capture_output=True, text=True, timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
        finally:
            proc.kill()
            proc.communicate()


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class BaspTlsTest(unittest.TestCase):
    """Two nodes clustered over mutual TLS; the CLI against them."""

    @classmethod
    def setUpClass(cls):
        cls.certs = Certs()
        c = cls.certs
        tls = ("--tls-cert", c.server_cert, "--tls-key", c.server_key,
               "--tls-ca", c.ca)
        cls.nodes = []
        try:
            p1 = free_port()
            cls.qm1 = Node(*tls, qmgr="QTA", cluster_port=p1)
            cls.nodes.append(cls.qm1)
            cls.qm2 = Node(*tls, qmgr="QTB", cluster_port=free_port(),
                           seeds=[f"127.0.0.1:{p1}"])
            cls.nodes.append(cls.qm2)
        except Exception:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        for n in cls.nodes:
            n.stop()
        cls.certs.cleanup()

    def cli(self, node, *args, cert=True, env_tls=False, timeout=60):
        c = self.certs
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("QMESH_TLS_")}
        tls = []
        if cert and env_tls:
            env.update(QMESH_TLS_CERT=c.client_cert,
                       QMESH_TLS_KEY=c.client_key, QMESH_TLS_CA=c.ca)
        elif cert:
            tls = ["--tls-cert", c.client_cert, "--tls-key", c.client_key,
                   "--tls-ca", c.ca]
        return subprocess.run([CLI, "--node", node.address, *tls, *args],
                              capture_output=True, text=True,
                              timeout=timeout, env=env)

    def ok(self, node, *args, **kw):
        r = self.cli(node, *args, **kw)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout

    def members_up(self):
        r = self.cli(self.qm1, "cluster", "--json", timeout=20)
        if r.returncode != 0:
            return False
        members = parse_cluster_json(r.stdout)["members"]
        return "QTB" in members and members["QTB"]["up"]

    def test_members_exchange_a_message_over_mutual_tls(self):
        self.assertTrue(wait_for(self.members_up, timeout=30),
                        self.qm1.log_text() + self.qm2.log_text())
        self.assertIn("(mutual TLS)", self.qm1.first_line)
        q = unique("CROSS")
        self.ok(self.qm2, "define-queue", q)
        self.ok(self.qm1, "put", f"QTB/{q}", "across tls")
        got = wait_for(lambda: self.ok(self.qm2, "get", q).strip(),
                       timeout=TIMEOUT)
        self.assertEqual(got, "across tls")

    def test_cli_needs_a_certificate_from_the_ca(self):
        # From the environment as well as from options.
        self.assertIn("qmgr: QTA", self.ok(self.qm1, "status", env_tls=True))
        r = self.cli(self.qm1, "--timeout", "5000", "status", cert=False)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("2059", r.stderr)
        self.assertIn("--tls-cert", r.stderr)
        c = self.certs
        r = subprocess.run(
            [CLI, "--node", self.qm1.address, "--tls-cert", c.other_cert,
             "--tls-key", c.other_key, "--tls-ca", c.ca, "status"],
            capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("2059", r.stderr)
        # A partial set is a usage error.
        r = subprocess.run(
            [CLI, "--node", self.qm1.address, "--tls-cert", c.client_cert,
             "status"], capture_output=True, text=True, timeout=60,
            env={k: v for k, v in os.environ.items()
                 if not k.startswith("QMESH_TLS_")})
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("--tls-ca", r.stderr)
        self.assertIn("qmgr: QTA", self.ok(self.qm1, "status"))

    def test_bad_peers_do_not_cut_the_cluster_link(self):
        self.assertTrue(wait_for(self.members_up, timeout=30))
        # Failed handshakes on both BASP ports: a client without a
        # certificate, garbage, a plain BASP peer.
        r = self.cli(self.qm1, "--timeout", "5000", "status", cert=False)
        self.assertEqual(r.returncode, 1, r.stderr)
        for port in (self.qm1.port, self.qm1.cluster_port):
            with socket.create_connection(("127.0.0.1", port)) as s:
                s.sendall(b"\x16\x03\x01" + b"\xff" * 200)
                read_until_closed(s)
        # The link between the members carries on at once.
        q = unique("AFTER")
        self.ok(self.qm2, "define-queue", q)
        self.ok(self.qm1, "put", f"QTB/{q}", "still linked")
        self.assertEqual(self.ok(self.qm1, "get", f"QTB/{q}").strip(),
                         "still linked")
        for n in self.nodes:
            self.assertNotRegex(n.log_text(), r"member \w+ down")

    def test_basp_header_claiming_4_gib_allocates_nothing(self):
        pid = self.qm1.proc.pid
        before = rss_kib(pid)
        for port in (self.qm1.port, self.qm1.cluster_port):
            with socket.create_connection(("127.0.0.1", port)) as s:
                # operation, 3 bytes padding, payload length 0xFFFFFFFF,
                # then what would be the rest of a BASP header.
                header = (struct.pack(">B3xI", 0, 0xFFFFFFFF)
                          + struct.pack(">Q", 1) + b"\0" * 64)
                s.sendall(header)
                try:
                    s.sendall(b"\0" * 65536)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                read_until_closed(s)
        after = rss_kib(pid)
        self.assertLess(after - before, 64 * 1024, (before, after))
        self.assertLess(after, 512 * 1024, after)
        self.assertIn("qmgr: QTA", self.ok(self.qm1, "status"))


if __name__ == "__main__":
    unittest.main()
