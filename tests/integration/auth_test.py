"""Users and permissions against real qmesh-node processes: a users file
made with `qmesh-node --hash-password`, logins and refusals (2035) over
STOMP, the CLI and HTTP, the slow-down of repeated failures, SIGHUP reloads
that close a removed user's connections, the refusal of non-loopback
listeners without users, and hostile users files and credentials."""
import base64
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

from harness import CLI, NODE, Node, free_port, wait_for

TIMEOUT = 15


def hash_password(password):
    out = subprocess.run([NODE, "--hash-password"], input=password + "\n",
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    line = out.stdout.strip()
    assert line.startswith("pbkdf2-sha256$"), line
    return line


def users_text(users):
    """users: name -> (hash, {permission: patterns})."""
    text = ""
    for name, (hashed, perms) in users.items():
        text += f"[user {name}]\npassword = {hashed}\n"
        for key, value in perms.items():
            text += f"{key} = {value}\n"
        text += "\n"
    return text


class Stomp:
    """A raw STOMP 1.2 connection: frames as (command, headers, body)."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port),
                                             timeout=TIMEOUT)
        self.buf = b""

    def send(self, command, headers=None, body=""):
        data = command + "\n"
        for k, v in (headers or {}).items():
            data += f"{k}:{v}\n"
        self.sock.sendall(data.encode() + b"\n" + body.encode() + b"\0")

    def frame(self):
        """The next frame, or None if the connection closed."""
        while True:
            self.buf = self.buf.lstrip(b"\r\n")
            end = self.buf.find(b"\0")
            if end >= 0:
                raw, self.buf = self.buf[:end], self.buf[end + 1:]
                head, _, body = raw.partition(b"\n\n")
                lines = head.decode(errors="replace").split("\n")
                headers = {}
                for line in lines[1:]:
                    k, _, v = line.partition(":")
                    headers.setdefault(k, v)
                return lines[0], headers, body.decode(errors="replace")
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self.buf += chunk

    def closed(self):
        """True once the node closed the connection (frames skipped)."""
        while True:
            try:
                if self.frame() is None:
                    return True
            except (ConnectionResetError, socket.timeout):
                return True

    def connect(self, login=None, passcode=None):
        headers = {"accept-version": "1.2", "host": "qmesh"}
        if login is not None:
            headers["login"] = login
        if passcode is not None:
            headers["passcode"] = passcode
        self.send("CONNECT", headers)
        return self.frame()

    def close(self):
        self.sock.close()


def basic(user, password):
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": "Basic " + token}


def http_get(port, path, headers=None, method="GET"):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
    try:
        c.request(method, path, headers=headers or {})
        r = c.getresponse()
        return r.status, dict(r.getheaders()), r.read().decode()
    finally:
        c.close()


class AuthTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="qmesh-auth-")
        cls.hashes = {name: hash_password(name + "-pw")
                      for name in ("alice", "bob", "root", "carol")}
        cls.users = {
            "alice": (cls.hashes["alice"], {
                "admin": "ORDERS*", "put": "ORDERS", "get": "ORDERS"}),
            "bob": (cls.hashes["bob"], {"get": "news/+"}),
            "root": (cls.hashes["root"], {
                "admin": "*", "put": "*", "get": "*"}),
            "carol": (cls.hashes["carol"], {"get": "*"}),
        }
        cls.users_file = os.path.join(cls.dir, "users.ini")
        with open(cls.users_file, "w") as f:
            f.write(users_text(cls.users))
        for name in cls.hashes:
            with open(os.path.join(cls.dir, name + ".pw"), "w") as f:
                f.write(name + "-pw\n")
        cls.node = Node("--users-file", cls.users_file, qmgr="QMA")

    @classmethod
    def tearDownClass(cls):
        cls.node.stop()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def stomp(self, user=None, password=None):
        s = Stomp(self.node.stomp_port)
        self.addCleanup(s.close)
        return s, s.connect(user, password)

    def cli(self, user, *args, env_password=None):
        cmd = [CLI, "--node", self.node.address]
        env = dict(os.environ)
        env.pop("QMESH_USER", None)
        env.pop("QMESH_PASSWORD", None)
        if env_password is not None:
            env["QMESH_USER"] = user
            env["QMESH_PASSWORD"] = env_password
        elif user:
            cmd += ["--user", user, "--password-file",
                    os.path.join(self.dir, user + ".pw")]
        return subprocess.run(cmd + list(args), capture_output=True,
                              text=True, timeout=60, env=env)

    # -- STOMP ---------------------------------------------------------------

    def test_stomp_login(self):
        s, f = self.stomp("alice", "alice-pw")
        self.assertEqual(f[0], "CONNECTED", f)
        for login, passcode in (("alice", "nope"), ("mallory", "x"),
                                (None, None)):
            s, f = self.stomp(login, passcode)
            self.assertEqual(f[0], "ERROR", f)
            self.assertIn("2035", f[1].get("message", "") + f[2])
            self.assertTrue(s.closed())
        # Nothing about the password in the log.
        self.assertNotIn("alice-pw", self.node.log_text())
        self.assertNotIn("nope", self.node.log_text())

    def send_frame(self, user, destination):
        s, f = self.stomp(user, user + "-pw")
        self.assertEqual(f[0], "CONNECTED", f)
        s.send("SEND", {"destination": destination, "receipt": "r1"}, "x")
        return s, s.frame()

    def test_stomp_put_allowed_and_refused(self):
        _, f = self.send_frame("alice", "/queue/ORDERS")
        self.assertEqual(f[0], "RECEIPT", f)
        s, f = self.send_frame("alice", "/queue/PAYMENTS")
        self.assertEqual(f[0], "ERROR", f)
        self.assertIn("2035", f[1].get("message", ""))
        self.assertIn("alice may not put to PAYMENTS", f[1]["message"] + f[2])
        self.assertTrue(s.closed())
        _, f = self.send_frame("bob", "/topic/news/today")
        self.assertEqual(f[0], "ERROR", f)
        self.assertIn("2035", f[1].get("message", ""))
        self.assertIn("may not put", self.node.log_text())

    def subscribe_frame(self, user, destination):
        s, f = self.stomp(user, user + "-pw")
        self.assertEqual(f[0], "CONNECTED", f)
        s.send("SUBSCRIBE", {"destination": destination, "id": "1",
                             "receipt": "r1"})
        return s.frame()

    def test_stomp_get_allowed_and_refused(self):
        self.assertEqual(self.subscribe_frame("bob", "/topic/news/+")[0],
                         "RECEIPT")
        f = self.subscribe_frame("bob", "/topic/news/#")
        self.assertEqual(f[0], "ERROR", f)
        self.assertIn("2035", f[1].get("message", ""))
        self.assertEqual(self.subscribe_frame("alice", "/queue/ORDERS")[0],
                         "RECEIPT")
        f = self.subscribe_frame("alice", "/queue/PAYMENTS")
        self.assertEqual(f[0], "ERROR", f)
        self.assertIn("may not get from PAYMENTS", f[1]["message"] + f[2])

    def test_huge_passcode_is_refused_by_the_frame_limit(self):
        s = Stomp(self.node.stomp_port)
        self.addCleanup(s.close)
        try:
            s.send("CONNECT", {"accept-version": "1.2", "login": "alice",
                               "passcode": "p" * (1024 * 1024)})
            f = s.frame()
        except (ConnectionResetError, BrokenPipeError):
            f = None
        if f is not None:
            self.assertEqual(f[0], "ERROR", f)
        _, f = self.stomp("alice", "alice-pw")
        self.assertEqual(f[0], "CONNECTED", f)

    # -- CLI -----------------------------------------------------------------

    def test_cli_permissions(self):
        r = self.cli("alice", "put", "ORDERS", "one")
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.cli("alice", "put", "PAYMENTS", "one")
        self.assertEqual(r.returncode, 1)
        self.assertIn("2035", r.stderr)
        self.assertIn("may not put to PAYMENTS", r.stderr)
        r = self.cli("alice", "get", "ORDERS")
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.cli("alice", "get", "PAYMENTS")
        self.assertIn("2035", r.stderr)
        r = self.cli("alice", "define-queue", "ORDERS.EU")
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.cli("alice", "define-queue", "PAY.EU")
        self.assertIn("2035", r.stderr)
        r = self.cli("alice", "connections")
        self.assertIn("2035", r.stderr)
        r = self.cli("root", "connections")
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.cli("root", "status")
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_cli_credentials(self):
        r = self.cli("alice", "put", "ORDERS", "env", env_password="alice-pw")
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.cli("alice", "put", "ORDERS", "env", env_password="wrong")
        self.assertEqual(r.returncode, 1)
        self.assertIn("2035", r.stderr)
        r = self.cli(None, "status")
        self.assertEqual(r.returncode, 1)
        self.assertIn("2035", r.stderr)

    def test_connections_show_the_user(self):
        s, f = self.stomp("carol", "carol-pw")
        self.assertEqual(f[0], "CONNECTED", f)
        r = self.cli("root", "connections", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn('"carol"', r.stdout)

    def test_status_shows_who_is_connected_as_whom(self):
        s, f = self.stomp("carol", "carol-pw")
        self.assertEqual(f[0], "CONNECTED", f)
        r = self.cli("root", "status", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        j = json.loads(r.stdout)
        self.assertEqual(j["user"], "root")
        self.assertGreaterEqual(j["connections_by_user"].get("carol", 0), 1)
        self.assertGreaterEqual(j["connections_by_user"].get("root", 0), 1)
        self.assertEqual(j["anonymous_connections"], 0)
        self.assertEqual(sum(j["connections_by_user"].values()),
                         j["connection_count"])
        r = self.cli("alice", "status")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("connected as: alice\n", r.stdout)
        self.assertRegex(r.stdout, r"connections by user: .*carol=[1-9]")
        # Connect, refusal and disconnect are logged with user and address.
        peer = "127.0.0.1:%d" % s.sock.getsockname()[1]
        s.close()
        r = self.cli("alice", "status", env_password="wrong")
        self.assertEqual(r.returncode, 1)
        log = lambda: self.node.log_text()
        self.assertTrue(wait_for(
            lambda: "user carol from %s): ended" % peer in log()),
            log()[-2000:])
        self.assertIn("user carol authenticated from %s" % peer, log())
        self.assertIn("user carol from %s): client connected" % peer, log())
        self.assertRegex(log(), r"connect from [^ ]+ pid \d+ \(native, "
                                r"host as reported\) as 'alice' refused")

    def test_status_of_an_anonymous_connection(self):
        with Node() as node:
            r = node.cli("status")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("connected as: anonymous\n", r.stdout)
            r = node.cli("status", "--json")
            j = json.loads(r.stdout)
            self.assertIsNone(j["user"])
            self.assertGreaterEqual(j["anonymous_connections"], 1)
            self.assertEqual(j["connections_by_user"], {})

    # -- HTTP ----------------------------------------------------------------

    def test_http_basic_auth(self):
        port = self.node.http_port
        status, headers, body = http_get(port, "/api/queues/ORDERS")
        self.assertEqual(status, 401, body)
        self.assertEqual(headers.get("WWW-Authenticate"),
                         'Basic realm="qmesh"')
        self.assertIn("2035", body)
        status, _, body = http_get(port, "/api/queues/ORDERS",
                                   basic("alice", "wrong"))
        self.assertEqual(status, 401, body)
        self.assertIn("2035", body)
        self.cli("alice", "put", "ORDERS", "for http")
        status, _, body = http_get(port, "/api/queues/ORDERS",
                                   basic("alice", "alice-pw"))
        self.assertEqual(status, 200, body)
        status, _, body = http_get(port, "/api/queues/PAYMENTS",
                                   basic("alice", "alice-pw"))
        self.assertEqual(status, 403, body)
        self.assertIn("2035", body)
        status, _, body = http_get(port, "/metrics")
        self.assertEqual(status, 401, body)
        status, _, body = http_get(port, "/metrics", basic("root", "root-pw"))
        self.assertEqual(status, 200, body)
        self.assertEqual(http_get(port, "/healthz")[0], 200)
        self.assertEqual(http_get(port, "/readyz")[0], 200)

    # -- hostile users files ------------------------------------------------

    def start_fails(self, *args):
        r = subprocess.run([NODE, "--listen", f"127.0.0.1:{free_port()}",
                            "--stomp-listen", f"127.0.0.1:{free_port()}",
                            "--http-listen", "none",
                            "--data-dir", os.path.join(self.dir, "x"),
                            *args], capture_output=True, text=True,
                           timeout=30)
        self.assertEqual(r.returncode, 2, r.stderr)
        return r.stderr

    def test_bad_users_files_stop_the_node(self):
        huge = os.path.join(self.dir, "huge.ini")
        with open(huge, "w") as f:
            f.write("#" * (2 * 1024 * 1024))
        self.assertIn("larger than", self.start_fails("--users-file", huge))
        bad = os.path.join(self.dir, "bad.ini")
        with open(bad, "w") as f:
            f.write(f"[user a]\npassword = {self.hashes['alice']}\n"
                    "colour = red\n")
        err = self.start_fails("--users-file", bad)
        self.assertIn("line 3", err)
        self.assertIn("unknown key", err)
        self.assertIn("cannot open",
                      self.start_fails("--users-file",
                                       os.path.join(self.dir, "missing")))
        self.assertEqual(http_get(self.node.http_port, "/healthz")[0], 200)


class ReloadTest(unittest.TestCase):
    def test_sighup_closes_a_removed_users_connections(self):
        d = tempfile.mkdtemp(prefix="qmesh-auth-")
        self.addCleanup(shutil.rmtree, d, True)
        hashes = {n: hash_password(n + "-pw") for n in ("keep", "gone")}
        users = {n: (h, {"get": "*", "put": "*"}) for n, h in hashes.items()}
        path = os.path.join(d, "users.ini")
        with open(path, "w") as f:
            f.write(users_text(users))
        node = Node("--users-file", path)
        self.addCleanup(node.stop)
        keep = Stomp(node.stomp_port)
        self.addCleanup(keep.close)
        self.assertEqual(keep.connect("keep", "keep-pw")[0], "CONNECTED")
        gone = Stomp(node.stomp_port)
        self.addCleanup(gone.close)
        self.assertEqual(gone.connect("gone", "gone-pw")[0], "CONNECTED")
        # A bad file keeps the old users.
        with open(path, "w") as f:
            f.write("[user broken\n")
        node.proc.send_signal(signal.SIGHUP)
        self.assertTrue(wait_for(lambda: "keeping the" in node.log_text()))
        s = Stomp(node.stomp_port)
        self.addCleanup(s.close)
        self.assertEqual(s.connect("gone", "gone-pw")[0], "CONNECTED")
        s.close()
        del users["gone"]
        with open(path, "w") as f:
            f.write(users_text(users))
        node.proc.send_signal(signal.SIGHUP)
        f = gone.frame()
        self.assertIsNotNone(f)
        self.assertEqual(f[0], "ERROR", f)
        self.assertIn("2009", f[1].get("message", "") + f[2])
        self.assertTrue(gone.closed())
        keep.send("SEND", {"destination": "/queue/Q", "receipt": "r"}, "x")
        self.assertEqual(keep.frame()[0], "RECEIPT")
        s = Stomp(node.stomp_port)
        self.addCleanup(s.close)
        self.assertEqual(s.connect("gone", "gone-pw")[0], "ERROR")
        self.assertIsNone(node.proc.poll())


class SlowdownTest(unittest.TestCase):
    def test_repeated_failures_take_longer(self):
        d = tempfile.mkdtemp(prefix="qmesh-auth-")
        self.addCleanup(shutil.rmtree, d, True)
        path = os.path.join(d, "users.ini")
        with open(path, "w") as f:
            f.write(users_text({"u": (hash_password("u-pw"), {"get": "*"})}))
        node = Node("--users-file", path)
        self.addCleanup(node.stop)
        durations = []
        for _ in range(5):
            s = Stomp(node.stomp_port)
            start = time.monotonic()
            f = s.connect("u", "wrong")
            durations.append(time.monotonic() - start)
            s.close()
            self.assertEqual(f[0], "ERROR", f)
        # Doubling from 100 ms: the fifth waits 1.6 s, the first 0.1 s.
        self.assertGreater(durations[4], durations[0] + 0.5, durations)
        s = Stomp(node.stomp_port)
        self.addCleanup(s.close)
        self.assertEqual(s.connect("u", "u-pw")[0], "CONNECTED")


class AnonymousListenTest(unittest.TestCase):
    def test_non_loopback_stomp_needs_users_or_allow_anonymous(self):
        d = tempfile.mkdtemp(prefix="qmesh-auth-")
        self.addCleanup(shutil.rmtree, d, True)
        stomp = free_port()
        r = subprocess.run([NODE, "--listen", f"127.0.0.1:{free_port()}",
                            "--stomp-listen", f"0.0.0.0:{stomp}",
                            "--http-listen", "none",
                            "--data-dir", os.path.join(d, "data")],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("not a loopback address", r.stderr)
        self.assertIn("--allow-anonymous", r.stderr)
        node = Node("--allow-anonymous", "--stomp-listen",
                    f"0.0.0.0:{stomp}", stomp_port=stomp)
        self.addCleanup(node.stop)
        self.assertTrue(wait_for(lambda: "--allow-anonymous" in
                                 node.log_text()))
        s = Stomp(stomp)
        self.addCleanup(s.close)
        self.assertEqual(s.connect()[0], "CONNECTED")


if __name__ == "__main__":
    unittest.main()
