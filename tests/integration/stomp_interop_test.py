"""STOMP and the native protocol see the same messages: a message put with
the qmesh CLI is received over STOMP (stomp.py 8, `stomp.Connection12`) with
its descriptor intact, and the other way round; topics both ways; binary
bodies both ways where the CLI allows it; request/reply between a STOMP
requester and the native qmesh-request-reply responder.

The mapping tested is the one in docs/protocol-stomp.md (SEND headers ->
descriptor, MESSAGE headers <- descriptor); the CLI's view is
`qmesh get --show-descriptor` (docs/client.md)."""
import os
import unittest
import uuid

from client_harness import Background
from stomp_harness import (CLI, HEX32, REQUEST_REPLY, StompTestCase,
                           iso_to_ms, now_ms, unique)


def properties(fields):
    """The `property K: V` lines of a descriptor as a dict."""
    return {k[len("property "):]: v for k, v in fields.items()
            if k.startswith("property ")}


class CliToStompTests(StompTestCase):
    def test_put_descriptor_arrives_as_headers(self):
        q = unique("C2S")
        self.ok("put", q, "hello from the cli", "--priority", "7",
                "--persistent", "--expiry", "600000", "--correl-id", "c-1",
                "--reply-to", "REPLIES", "--content-type", "text/plain",
                "--property", "color=red", "--property", "size=L",
                "--property", "odd=a:b")
        d = self.fields(self.ok("get", q, "--browse", "--show-descriptor"))
        self.assertRegex(d["msg_id"], HEX32)
        c = self.client()
        sub = c.subscribe(f"/queue/{q}")
        m = c.message()
        h = m.headers
        self.assertEqual(m.body, "hello from the cli")
        self.assertEqual(h.get("message-id"), d["msg_id"])
        self.assertEqual(h.get("subscription"), sub)
        self.assertEqual(h.get("destination"), f"/queue/{q}")
        self.assertEqual(h.get("correlation-id"), "c-1")
        self.assertEqual(h.get("priority"), "7")
        self.assertEqual(h.get("reply-to"), "/queue/REPLIES")
        self.assertEqual(h.get("content-type"), "text/plain")
        self.assertEqual(h.get("persistent"), "true")
        self.assertEqual(h.get("qmesh-origin-qmgr"), self.qmgr)
        for k, v in {"color": "red", "size": "L", "odd": "a:b"}.items():
            self.assertEqual(h.get(k), v, f"property {k}: {h}")
        put_ms = iso_to_ms(d["put_time"])
        self.assertEqual(int(h.get("timestamp", "0")), put_ms, h)
        self.assertLess(abs(put_ms - now_ms()), 60000)
        # expires is absolute: put time + the 600000 ms the CLI gave.
        self.assertLessEqual(
            abs(int(h.get("expires", "0")) - (put_ms + 600000)), 1000, h)
        self.assertNotIn("redelivered", h)

    def test_properties_named_like_headers_are_not_sent(self):
        q = unique("C2SRES")
        self.ok("put", q, "x", "--priority", "3", "--correl-id", "real",
                "--property", "priority=9", "--property", "destination=evil",
                "--property", "correlation-id=fake", "--property",
                "content-length=999", "--property", "ok=yes")
        raw = self.raw()
        raw.send("SUBSCRIBE", {"destination": f"/queue/{q}", "id": "s"})
        cmd, h, body = raw.read_frame()
        self.assertEqual((cmd, body), ("MESSAGE", b"x"))
        names = [line.partition(":")[0] for line in raw.last_header_lines]
        self.assertEqual(len(names), len(set(names)), names)
        self.assertEqual((h["priority"], h["destination"],
                          h["correlation-id"], h["content-length"], h["ok"]),
                         ("3", f"/queue/{q}", "real", "1", "yes"))

    def test_reply_to_with_queue_manager(self):
        q = unique("C2SQM")
        self.ok("put", q, "x", "--reply-to", "QMX/REPLIES")
        c = self.client()
        c.subscribe(f"/queue/{q}")
        self.assertEqual(c.message().headers.get("reply-to"),
                         "/queue/QMX/REPLIES")

    def test_non_persistent_without_expiry(self):
        q = unique("C2SNP")
        self.ok("put", q, "plain", "--non-persistent", "--priority", "0")
        c = self.client()
        c.subscribe(f"/queue/{q}")
        h = c.message().headers
        self.assertEqual(h.get("persistent"), "false")
        self.assertEqual(h.get("priority"), "0")
        self.assertNotIn("expires", h)
        self.assertNotIn("redelivered", h)

    def test_unacked_over_stomp_comes_back_to_the_cli_redelivered(self):
        q = unique("C2SBACK")
        self.ok("put", q, "try again")
        c = self.client()
        c.subscribe(f"/queue/{q}", ack="client-individual",
                    headers={"prefetch-count": "1"})
        f = c.message()
        self.wait_queue(q, unacked_count=1)
        c.unsubscribe(f.headers["subscription"])
        d = self.fields(self.ok("get", q, "--show-descriptor"))
        self.assertEqual(d["msg_id"], f.headers["message-id"])
        self.assertEqual(d["delivery_count"], "1")
        self.assertEqual(d["redelivered"], "true")

    def test_binary_body_from_cli_stdin(self):
        q = unique("C2SBIN")
        # One message from stdin: no newline in it, no trailing \r.
        body = bytes(b for b in range(256) if b != 0x0A) + b"\x00\x00z"
        r = self.cli_bytes("put", q, input=body)
        self.assertEqual(r.returncode, 0, r.stderr)
        c = self.client(binary=True)
        c.subscribe(f"/queue/{q}")
        f = c.message()
        self.assertEqual(f.body, body)
        self.assertEqual(f.headers.get("content-length"), str(len(body)))


class StompToCliTests(StompTestCase):
    def test_send_headers_become_the_descriptor(self):
        q = unique("S2C")
        mid = uuid.uuid4().hex
        expires = now_ms() + 600000
        c = self.client()
        c.send(f"/queue/{q}", "hello from stomp", headers={
            "message-id": mid, "correlation-id": "c-2", "priority": "6",
            "persistent": "true", "expires": str(expires),
            "reply-to": "/queue/QMX/REPLIES",
            "content-type": "application/json", "x-user": "v",
            "odd": "a:b", "Mixed-Case": "Keep"})
        browsed = self.ok("get", q, "--browse", "--show-descriptor")
        out = self.ok("get", q, "--show-descriptor")
        # Browse and get show the same descriptor and body.
        self.assertEqual(browsed, out)
        d = self.fields(out)
        self.assertEqual(d["msg_id"], mid)
        self.assertEqual(d["correl_id"], "c-2")
        self.assertEqual(d["priority"], "6")
        self.assertEqual(d["persistent"], "true")
        self.assertEqual(d["reply_to_queue"], "REPLIES")
        self.assertEqual(d["reply_to_qmgr"], "QMX")
        self.assertEqual(d["content_type"], "application/json")
        self.assertEqual(d["origin_qmgr"], self.qmgr)
        self.assertEqual(d["delivery_count"], "0")
        self.assertEqual(d["redelivered"], "false")
        put_ms = iso_to_ms(d["put_time"])
        self.assertLess(abs(put_ms - now_ms()), 60000)
        # expires (absolute) became a time to live from the put.
        self.assertLessEqual(abs(put_ms + int(d["expiry"]) - expires), 1000,
                             d)
        # Exactly the user headers are properties; destination, receipt,
        # content-length and the mapped headers are not.
        self.assertEqual(properties(d), {"x-user": "v", "odd": "a:b",
                                         "Mixed-Case": "Keep"})
        self.assertTrue(out.endswith("\nhello from stomp\n\n"), out)

    def test_defaults_when_headers_are_absent(self):
        q = unique("S2CDEF")
        self.ok("define-queue", q, "--default-priority", "3")
        c = self.client()
        c.send(f"/queue/{q}", "bare")
        d = self.fields(self.ok("get", q, "--show-descriptor"))
        self.assertRegex(d["msg_id"], HEX32)
        self.assertEqual(d["priority"], "3")
        self.assertEqual(d["persistent"], "false")
        self.assertEqual(d["expiry"], "0")
        self.assertEqual(d["correl_id"], "")
        self.assertEqual(d["reply_to_queue"], "")
        self.assertEqual(d["reply_to_qmgr"], "")
        self.assertEqual(properties(d), {})

    def test_reply_to_plain_and_verbatim(self):
        q = unique("S2CRT")
        c = self.client()
        c.send(f"/queue/{q}", "a", headers={"reply-to": "/queue/REPLIES"})
        c.send(f"/queue/{q}", "b",
               headers={"reply-to": "http://example.org/replies"})
        out = self.ok("get", q, "--count", "2", "--show-descriptor")
        blocks = [self.fields(b) for b in out.split("\n\n") if b.strip()]
        self.assertEqual(len(blocks), 2, out)
        self.assertEqual((blocks[0]["reply_to_queue"],
                          blocks[0]["reply_to_qmgr"]), ("REPLIES", ""))
        self.assertEqual((blocks[1]["reply_to_queue"],
                          blocks[1]["reply_to_qmgr"]),
                         ("http://example.org/replies", ""))
        # And back out over STOMP unchanged.
        c.send(f"/queue/{q}", "c",
               headers={"reply-to": "http://example.org/replies"})
        c.subscribe(f"/queue/{q}")
        self.assertEqual(c.message().headers.get("reply-to"),
                         "http://example.org/replies")

    def test_temp_queue_reply_to_and_a_cli_reply(self):
        q = unique("S2CTMP")
        c = self.client()
        c.subscribe("/temp-queue/answers", sub_id="answers")
        c.send(f"/queue/{q}", "question",
               headers={"reply-to": "/temp-queue/answers"})
        d = self.fields(self.ok("get", q, "--show-descriptor"))
        self.assertRegex(d["reply_to_queue"], r"^SYSTEM\.TEMP\.\d+$")
        self.assertEqual(d["reply_to_qmgr"], "")
        self.ok("put", d["reply_to_queue"], "answer", "--correl-id",
                d["msg_id"])
        f = c.message()
        self.assertEqual(f.body, "answer")
        self.assertEqual(f.headers.get("correlation-id"), d["msg_id"])
        self.assertEqual(f.headers.get("subscription"), "answers")

    @unittest.skipUnless(os.path.exists(REQUEST_REPLY),
                         f"{REQUEST_REPLY} not built")
    def test_stomp_requester_native_responder(self):
        svc = unique("SVC")
        responder = Background([REQUEST_REPLY, "responder", "--node",
                                self.node.address, "--queue", svc,
                                "--count", "2", "--wait", "20000"])
        self.addCleanup(responder.kill)
        c = self.client()
        c.subscribe("/temp-queue/r")
        ids = []
        for text in ("hello", "world"):
            mid = uuid.uuid4().hex
            ids.append(mid)
            c.send(f"/queue/{svc}", text, headers={
                "message-id": mid, "reply-to": "/temp-queue/r"})
        replies = {f.headers.get("correlation-id"): f.body
                   for f in c.messages(2, timeout=20)}
        self.assertEqual(replies, {ids[0]: "HELLO", ids[1]: "WORLD"})
        self.assertEqual(responder.wait(), 0, responder.rest("err"))

    def test_binary_body_to_cli(self):
        q = unique("S2CBIN")
        body = bytes(range(256)) * 2
        c = self.client(binary=True)
        c.send(f"/queue/{q}", body)
        r = self.cli_bytes("get", q)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, body + b"\n")

    def test_consumer_registered_and_gone_with_the_receipts(self):
        q = unique("S2CCONS")
        self.ok("define-queue", q)
        c = self.client()
        sub = c.subscribe(f"/queue/{q}")
        # The SUBSCRIBE receipt means the consumer is registered...
        self.assertEqual(self.inquire(q)["consumer_count"], "1")
        c.unsubscribe(sub)
        # ...and the UNSUBSCRIBE receipt that it is gone.
        self.assertEqual(self.inquire(q)["consumer_count"], "0")


class TopicInteropTests(StompTestCase):
    def test_cli_publish_to_stomp_subscriber(self):
        base = unique("i").lower()
        c = self.client()
        sub = c.subscribe(f"/topic/{base}/+")
        out = self.ok("publish", f"{base}/x", "from the cli", "--correl-id",
                      "c-3", "--priority", "3", "--property", "k=v",
                      "--content-type", "text/plain")
        self.assertIn("published to 1 subscription", out)
        self.assertIn("published to 0 subscriptions",
                      self.ok("publish", f"{base}/x/y", "deeper"))
        f = c.message()
        h = f.headers
        self.assertEqual(f.body, "from the cli")
        self.assertEqual(h.get("destination"), f"/topic/{base}/x")
        self.assertEqual(h.get("subscription"), sub)
        self.assertEqual(h.get("correlation-id"), "c-3")
        self.assertEqual(h.get("priority"), "3")
        self.assertEqual(h.get("k"), "v")
        self.assertEqual(h.get("content-type"), "text/plain")
        self.assertRegex(h.get("message-id", ""), HEX32)

    def test_stomp_publish_to_cli_subscriber(self):
        base = unique("j").lower()
        sub = Background([CLI, "--node", self.node.address, "subscribe",
                          f"{base}/#", "--count", "2", "--wait", "20000",
                          "--show-descriptor"])
        self.addCleanup(sub.kill)
        sub.wait_line(r"^qmesh: subscribed to ", stream="err")
        c = self.client()
        c.send(f"/topic/{base}/a", "one", headers={
            "correlation-id": "c-4", "x-p": "q", "priority": "8"})
        c.send(f"/topic/{unique('other').lower()}", "not for it")
        c.send(f"/topic/{base}/b/c", "two")
        self.assertEqual(sub.wait(), 0, sub.rest("err"))
        out = "\n".join(sub.rest()) + "\n"
        blocks = [b for b in out.split("\n\n") if b.strip()]
        self.assertEqual(len(blocks), 2, out)
        first, second = blocks
        d = self.fields(first)
        self.assertEqual(d["correl_id"], "c-4")
        self.assertEqual(d["priority"], "8")
        props = properties(d)
        props.pop("qmesh.topic", None)  # the core's own mark of the topic
        self.assertEqual(props, {"x-p": "q"})
        self.assertTrue(first.endswith("\none"), first)
        self.assertTrue(second.endswith("\ntwo"), second)
        self.assertNotIn("not for it", out)

    def test_both_kinds_of_subscriber_get_a_copy(self):
        base = unique("k").lower()
        cli_sub = Background([CLI, "--node", self.node.address, "subscribe",
                              f"{base}/+", "--count", "1", "--wait",
                              "20000"])
        self.addCleanup(cli_sub.kill)
        cli_sub.wait_line(r"^qmesh: subscribed to ", stream="err")
        c = self.client()
        c.subscribe(f"/topic/{base}/#")
        out = self.ok("publish", f"{base}/z", "for both")
        self.assertIn("published to 2 subscriptions", out)
        self.assertEqual(c.message().body, "for both")
        self.assertEqual(cli_sub.wait(), 0, cli_sub.rest("err"))
        self.assertEqual(cli_sub.rest(), ["for both"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
