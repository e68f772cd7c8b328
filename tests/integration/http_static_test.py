"""Static files on the HTTP listener against a real qmesh-node: the web
console and chat pages from the default web root (the source tree's web/),
the vendored STOMP bundle, revalidation, and hostile paths sent as raw
bytes (traversal, encoded dots, backslashes, NUL, absolute targets, long
paths, symlinks out of the root), after which the node still answers."""
import http.client
import json
import os
import shutil
import socket
import subprocess
import tempfile
import unittest

from harness import NODE, SOURCE_DIR, Node, read_to_close


def request(node, path, method="GET", headers=None):
    c = http.client.HTTPConnection("127.0.0.1", node.http_port, timeout=10)
    try:
        c.request(method, path, headers=headers or {})
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        c.close()


def raw_status(node, target):
    """Sends `GET <target>` byte for byte; returns (status, body)."""
    s = socket.create_connection(("127.0.0.1", node.http_port), timeout=10)
    try:
        s.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n"
                  b"Connection: close\r\n\r\n")
        out = read_to_close(s)
    finally:
        s.close()
    head, _, body = out.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), body


class StaticDefaultRootTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.node = Node(qmgr="QMS")

    @classmethod
    def tearDownClass(cls):
        cls.node.stop()

    def assert_alive(self):
        status, _, body = request(self.node, "/healthz")
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body), {"status": "ok"})

    def test_console_at_root(self):
        status, headers, body = request(self.node, "/")
        self.assertEqual(status, 200)
        self.assertEqual(headers["content-type"], "text/html; charset=utf-8")
        self.assertIn(b"qmesh console", body)
        self.assertEqual(headers["cache-control"], "no-cache")
        self.assertIn("etag", headers)
        self.assertIn("last-modified", headers)
        with open(os.path.join(SOURCE_DIR, "web", "index.html"), "rb") as f:
            self.assertEqual(body, f.read())
        status, headers, _ = request(self.node, "/console.js")
        self.assertEqual(status, 200)
        self.assertEqual(headers["content-type"],
                         "text/javascript; charset=utf-8")
        status, headers, _ = request(self.node, "/style.css")
        self.assertEqual(headers["content-type"], "text/css; charset=utf-8")

    def test_chat_redirects_to_its_directory(self):
        status, headers, _ = request(self.node, "/chat?room=lobby")
        self.assertEqual(status, 301)
        self.assertEqual(headers["location"], "/chat/?room=lobby")
        status, headers, body = request(self.node, "/chat/")
        self.assertEqual(status, 200)
        self.assertIn(b"<html", body)

    def test_vendored_stomp_bundle(self):
        status, headers, body = request(
            self.node, "/vendor/@stomp/stompjs/bundles/stomp.umd.min.js")
        self.assertEqual(status, 200, body[:200])
        self.assertEqual(headers["content-type"],
                         "text/javascript; charset=utf-8")
        self.assertIn(b"StompJs", body)
        # Only the packages the pages need, and only under /vendor/.
        status, _, _ = request(
            self.node, "/vendor/playwright-core/package.json")
        self.assertEqual(status, 404)
        status, _, _ = request(
            self.node,
            "/node_modules/@stomp/stompjs/bundles/stomp.umd.min.js")
        self.assertEqual(status, 404)

    def test_revalidation_and_head(self):
        status, headers, _ = request(self.node, "/style.css")
        etag = headers["etag"]
        status, headers, body = request(self.node, "/style.css",
                                        headers={"If-None-Match": etag})
        self.assertEqual(status, 304)
        self.assertEqual(body, b"")
        status, headers, body = request(self.node, "/style.css", "HEAD")
        self.assertEqual(status, 200)
        self.assertEqual(body, b"")
        self.assertGreater(int(headers["content-length"]), 100)

    def test_other_methods(self):
        status, headers, body = request(self.node, "/", "POST")
        self.assertEqual(status, 405)
        self.assertEqual(headers["allow"], "GET, HEAD")
        self.assertEqual(json.loads(body)["reason"], 2046)

    def test_unknown_and_hidden(self):
        for path in ["/missing.html", "/package.json", "/package-lock.json",
                     "/.gitignore", "/chat/.hidden.js", "/nothing/"]:
            status, headers, body = request(self.node, path)
            self.assertEqual(status, 404, path)
            self.assertEqual(headers["content-type"], "application/json")
            j = json.loads(body)
            self.assertEqual(j["reason"], 2085)
            self.assertTrue(j["error"].startswith("2085 unknown_object_name"))

    def test_hostile_paths(self):
        cases = [
            (b"/../../../../etc/passwd", 400),
            (b"/%2e%2e/%2e%2e/%2e%2e/etc/passwd", 400),
            (b"/%2E%2E%2f%2E%2E%2fetc%2fpasswd", 400),
            (b"/.%2e/.%2e/etc/passwd", 400),
            (b"/vendor/@stomp/stompjs/../../../README.md", 400),
            (b"/..\\..\\etc\\passwd", 400),
            (b"/%5c..%5c..%5cetc%5cpasswd", 400),
            (b"/index.html%00.png", 400),
            (b"/%zz", 400),
            (b"http://evil.example/../etc/passwd", 400),
            (b"/" + b"a/" * 700, 400),
            (b"//etc/passwd", 404),
            (b"/etc/passwd", 404),
        ]
        for target, expected in cases:
            status, body = raw_status(self.node, target)
            self.assertEqual(status, expected, target)
            j = json.loads(body)
            self.assertIn(j["reason"], (2046, 2085), target)
            self.assertNotIn(b"root:", body)
        self.assert_alive()


class StaticOwnRootTest(unittest.TestCase):
    """A web root of our own: symlinks, directories without an index, a
    file over the size limit."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="qmesh-web-")
        root = os.path.join(cls.dir, "root")
        os.makedirs(os.path.join(root, "noindex"))
        with open(os.path.join(root, "index.html"), "w") as f:
            f.write("<h1>own root</h1>")
        with open(os.path.join(root, "noindex", "a.txt"), "w") as f:
            f.write("a")
        with open(os.path.join(cls.dir, "secret.txt"), "w") as f:
            f.write("secret outside the root")
        os.symlink(os.path.join(cls.dir, "secret.txt"),
                   os.path.join(root, "leak.txt"))
        os.symlink(cls.dir, os.path.join(root, "up"))
        os.symlink(os.path.join(root, "index.html"),
                   os.path.join(root, "inside.html"))
        with open(os.path.join(root, "huge.txt"), "w") as f:
            f.write("x" * (9 * 1024 * 1024))
        cls.node = Node("--web-root", root, qmgr="QMR")

    @classmethod
    def tearDownClass(cls):
        cls.node.stop()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def test_own_root(self):
        status, _, body = request(self.node, "/")
        self.assertEqual((status, body), (200, b"<h1>own root</h1>"))
        status, _, body = request(self.node, "/inside.html")
        self.assertEqual(status, 200)

    def test_symlinks_out_of_the_root(self):
        for path in ["/leak.txt", "/up/secret.txt"]:
            status, _, body = request(self.node, path)
            self.assertEqual(status, 404, path)
            self.assertNotIn(b"outside the root", body)

    def test_directory_without_index(self):
        status, _, body = request(self.node, "/noindex/")
        self.assertEqual(status, 404)
        self.assertIn(b"without index.html", body)
        status, _, _ = request(self.node, "/noindex/a.txt")
        self.assertEqual(status, 200)

    def test_file_over_the_limit(self):
        status, _, body = request(self.node, "/huge.txt")
        self.assertEqual(status, 404)
        self.assertIn(b"limit", body)


class WebRootOptionTest(unittest.TestCase):
    def test_none_serves_nothing(self):
        with Node("--web-root", "none", qmgr="QMN") as node:
            status, _, body = request(node, "/")
            self.assertEqual(status, 404)
            self.assertEqual(json.loads(body)["reason"], 2085)
            status, _, _ = request(node, "/healthz")
            self.assertEqual(status, 200)

    def test_missing_directory_is_a_usage_error(self):
        p = subprocess.run([NODE, "--web-root", "/nonexistent/qmesh-web"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("--web-root", p.stderr)


if __name__ == "__main__":
    unittest.main()
