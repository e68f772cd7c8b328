"""A real STOMP client library, stomp.py 8 (Debian's python3-stomp, as
`stomp.Connection12`), against a real qmesh-node, as docs/protocol-stomp.md
describes it: point-to-point with the message descriptor in headers,
pub/sub with wildcards, the three ack modes, NACK and redelivery,
transactions, receipts, heart-beats, temporary queues and request/reply,
binary bodies, a client that vanishes holding unacked messages, errors.

No sleeps: tests wait on listener events, receipts and `wait_for`, always
with deadlines. One node per class; every client is closed in cleanup."""
import os
import queue
import signal
import socket
import sys
import time
import unittest
import uuid

from client_harness import Background
from stomp_harness import (HEX32, TIMEOUT, StompTestCase, now_ms, unique,
                           wait_for)

HERE = os.path.dirname(os.path.abspath(__file__))


def bodies(frames):
    return [f.body for f in frames]


def collect(client, ends):
    """Reads MESSAGEs until each subscription in ends ({id: last body}) got
    its last body; returns {subscription id: [frames in arrival order]}."""
    got = {s: [] for s in ends}
    while any(not any(f.body == last for f in got[s])
              for s, last in ends.items()):
        f = client.message()
        got.setdefault(f.headers.get("subscription"), []).append(f)
    return got


class ConnectTests(StompTestCase):
    def test_connected_frame(self):
        c = self.client()
        h = c.rec.connected_frame.headers
        self.assertEqual(h.get("version"), "1.2", h)
        self.assertRegex(h.get("server", ""), r"^qmesh/\d+\.\d+\.\d+", h)
        self.assertTrue(h.get("session"), h)
        # Both values are the node's --stomp-heartbeat (default 10000).
        self.assertEqual(h.get("heart-beat"), "10000,10000", h)

    def test_stomp_command_connects_too_and_sessions_differ(self):
        a = self.client(use_connect_command=False)
        b = self.client(connect_headers={"login": "guest",
                                         "passcode": "ignored"})
        self.assertEqual(a.rec.connected_frame.headers["version"], "1.2")
        self.assertNotEqual(a.rec.connected_frame.headers["session"],
                            b.rec.connected_frame.headers["session"])

    def test_unknown_version_is_refused_with_version_header(self):
        r = self.raw(connect=False)
        r.send("CONNECT", {"accept-version": "2.0", "host": "x"})
        frames = r.read_until_eof()
        self.assertEqual(len(frames), 1, frames)
        cmd, headers, _ = frames[0]
        self.assertEqual(cmd, "ERROR")
        self.assertEqual(headers.get("version"), "1.0,1.1,1.2", headers)
        self.assertTrue(headers.get("message", "").startswith("2046 "),
                        headers)

    def test_first_frame_must_be_connect(self):
        r = self.raw(connect=False)
        r.send("SEND", {"destination": "/queue/EARLY"}, b"x")
        frames = r.read_until_eof()
        self.assertEqual([f[0] for f in frames], ["ERROR"], frames)
        self.assertTrue(frames[0][1].get("message", "").startswith("2046 "),
                        frames)
        self.assertNotEqual(self.cli("inquire", "EARLY").returncode, 0)

    def test_clean_disconnect_with_receipt(self):
        c = self.client()
        self.assertTrue(c.disconnect(receipt="bye-1"), c.rec.describe())
        self.assertTrue(c.rec.disconnected.wait(TIMEOUT),
                        "server did not close after the DISCONNECT receipt")
        self.assertEqual(c.rec.error_frames, [])


class PointToPointTests(StompTestCase):
    def test_send_receive_with_headers(self):
        q = unique("P2P")
        c = self.client()
        body = "hello, w\u00f6rld"
        user = {"x-color": "red", "x-colon": "a:b\\c",
                "x-lines": "one\ntwo", "Mixed-Case": "Keep"}
        c.send(f"/queue/{q}", body, headers={
            "correlation-id": "corr-1", "persistent": "true",
            "content-type": "text/plain;charset=utf-8", **user})
        sub = c.subscribe(f"/queue/{q}")
        m = c.message()
        h = m.headers
        self.assertEqual(m.body, body)
        self.assertEqual(h.get("destination"), f"/queue/{q}")
        self.assertEqual(h.get("subscription"), sub)
        self.assertRegex(h.get("message-id", ""), HEX32)
        self.assertEqual(h.get("correlation-id"), "corr-1")
        self.assertEqual(h.get("persistent"), "true")
        self.assertEqual(h.get("content-type"), "text/plain;charset=utf-8")
        self.assertEqual(h.get("content-length"),
                         str(len(body.encode("utf-8"))))
        for k, v in user.items():
            self.assertEqual(h.get(k), v, f"user header {k}: {h}")
        self.assertEqual(h.get("qmesh-origin-qmgr"), self.qmgr)
        self.assertLess(abs(int(h.get("timestamp", "0")) - now_ms()), 60000)
        self.assertRegex(h.get("priority", ""), r"^[0-9]$")
        for absent in ("redelivered", "ack", "expires", "receipt",
                       "transaction", "reply-to"):
            self.assertNotIn(absent, h)
        # Consumed: nothing left.
        self.wait_queue(q, current_depth=0, unacked_count=0)

    def test_repeated_headers_first_wins(self):
        q = unique("REP")
        raw = self.raw()
        raw.sock.sendall(
            (f"SEND\ndestination:/queue/{q}\npriority:7\npriority:2\n"
             "x-k:first\nx-k:second\nreceipt:r\n\nbody").encode()
            + b"\x00")
        f = raw.read_frame()
        self.assertEqual((f[0], f[1].get("receipt-id")), ("RECEIPT", "r"), f)
        c = self.client()
        c.subscribe(f"/queue/{q}")
        h = c.message().headers
        self.assertEqual((h.get("priority"), h.get("x-k")), ("7", "first"))

    def test_header_values_escaped_unicode_and_empty(self):
        q = unique("ESC")
        c = self.client()
        user = {"x-uni": "gr\u00fc\u00dfe \u2713", "x-cr": "a\rb",
                "x-all": "c:d\\e\nf\rg", "x-empty": ""}
        c.send(f"/queue/{q}", "e", headers=dict(user))
        c.subscribe(f"/queue/{q}")
        h = c.message().headers
        for k, v in user.items():
            self.assertEqual(h.get(k), v, f"header {k}")

    def test_message_id_given_by_sender_is_kept(self):
        q = unique("MID")
        c = self.client()
        mid = uuid.uuid4().hex
        c.send(f"/queue/{q}", "with id", headers={"message-id": mid})
        c.send(f"/queue/{q}", "without id")
        c.subscribe(f"/queue/{q}")
        a, b = c.messages(2)
        self.assertEqual((a.body, b.body), ("with id", "without id"))
        self.assertEqual(a.headers["message-id"], mid)
        self.assertRegex(b.headers["message-id"], HEX32)
        self.assertNotEqual(b.headers["message-id"], mid)

    def test_local_qmgr_address(self):
        q = unique("LOCAL")
        c = self.client()
        c.send(f"/queue/{self.qmgr}/{q}", "via QM/Q")
        self.assertEqual(self.ok("get", q), "via QM/Q\n")
        # A consumer on QM/Q when QM is this queue manager.
        c.send(f"/queue/{q}", "again")
        c.subscribe(f"/queue/{self.qmgr}/{q}")
        self.assertEqual(c.message().body, "again")

    def test_priority_order_when_queued_before_subscribing(self):
        q = unique("PRIO")
        c = self.client()
        for body, prio in [("p1", 1), ("p9a", 9), ("p5", 5), ("p0", 0),
                           ("p9b", 9)]:
            c.send(f"/queue/{q}", body, headers={"priority": str(prio)})
        c.subscribe(f"/queue/{q}")
        got = c.messages(5)
        self.assertEqual(bodies(got), ["p9a", "p9b", "p5", "p1", "p0"])
        self.assertEqual([f.headers["priority"] for f in got],
                         ["9", "9", "5", "1", "0"])

    def test_queue_defaults_apply_when_headers_are_absent(self):
        q = unique("DEFS")
        self.ok("define-queue", q, "--persistent", "--default-priority", "4")
        c = self.client()
        c.send(f"/queue/{q}", "defaults")
        c.send(f"/queue/{q}", "explicit",
               headers={"persistent": "false", "priority": "2"})
        c.subscribe(f"/queue/{q}")
        a, b = c.messages(2)
        self.assertEqual(a.body, "defaults")
        self.assertEqual(a.headers["persistent"], "true")
        self.assertEqual(a.headers["priority"], "4")
        self.assertEqual(b.body, "explicit")
        self.assertEqual(b.headers["persistent"], "false")
        self.assertEqual(b.headers["priority"], "2")

    def test_expires(self):
        q = unique("EXP")
        c = self.client()
        # A subscriber is already waiting: nothing delays the delivery.
        c.subscribe(f"/queue/{q}")
        soon = now_ms() + 600000
        c.send(f"/queue/{q}", "past",
               headers={"expires": str(now_ms() - 60000)})
        c.send(f"/queue/{q}", "future", headers={"expires": str(soon)})
        c.send(f"/queue/{q}", "never", headers={"expires": "0"})
        a, b = c.messages(2)
        # The one already past was stored but is never delivered.
        self.assertEqual(bodies([a, b]), ["future", "never"])
        self.assertLessEqual(abs(int(a.headers.get("expires", 0)) - soon),
                             1000, a.headers)
        self.assertNotIn("expires", b.headers)

    def test_thousand_messages_in_order_with_client_acks(self):
        q = unique("BULK")
        sender = self.client()
        want = [f"m{i:04d}" for i in range(1000)]
        for i, body in enumerate(want):
            sender.send(f"/queue/{q}", body, receipt=(i == len(want) - 1))
        self.assertEqual(self.inquire(q)["current_depth"], "1000")
        c = self.client()
        c.subscribe(f"/queue/{q}", ack="client-individual",
                    headers={"prefetch-count": "50"})
        got = []
        for _ in want:
            f = c.message()
            got.append(f.body)
            c.ack(f, receipt=False)
        self.assertEqual(got, want)
        self.wait_queue(q, current_depth=0, unacked_count=0)

    def test_competing_consumers_share_a_queue(self):
        q = unique("COMP")
        c1, c2 = self.client(), self.client()
        c1.subscribe(f"/queue/{q}", headers={"prefetch-count": "1"},
                     ack="client-individual")
        c2.subscribe(f"/queue/{q}", headers={"prefetch-count": "1"},
                     ack="client-individual")
        sender = self.client()
        want = [f"m{i}" for i in range(10)]
        for body in want:
            sender.send(f"/queue/{q}", body, receipt=False)
        sender.send(f"/queue/{q}", "last")
        want.append("last")
        got = {1: [], 2: []}
        deadline = time.monotonic() + TIMEOUT
        while len(got[1]) + len(got[2]) < len(want):
            self.assertLess(time.monotonic(), deadline, got)
            for n, c in ((1, c1), (2, c2)):
                try:
                    f = c.rec.messages.get(timeout=0.05)
                except queue.Empty:
                    continue
                got[n].append(f.body)
                c.ack(f, receipt=False)
        self.assertEqual(sorted(got[1] + got[2]), sorted(want))
        self.assertTrue(got[1] and got[2],
                        f"prefetch-count 1: both consumers work {got}")
        self.wait_queue(q, current_depth=0, unacked_count=0)


class PubSubTests(StompTestCase):
    def test_wildcards_several_subscribers_only_matching_get_it(self):
        base = unique("t").lower()
        a, b, c = self.client(), self.client(), self.client()
        sa = a.subscribe(f"/topic/{base}/news/+")
        sd = a.subscribe(f"/topic/{base}/+/uk")   # a second on a's connection
        sb = b.subscribe(f"/topic/{base}/news/#")
        sc = c.subscribe(f"/topic/{base}/sport/#")
        pub = self.client()
        for topic in ["news/uk", "news/uk/london", "sport/x", "news",
                      "weather/fr"]:
            pub.send(f"/topic/{base}/{topic}", f"on {topic}",
                     headers={"x-topic": topic})
        # Markers: once one arrives, every earlier matching publication has.
        for topic in ["news/end", "sport/end", "end/uk"]:
            pub.send(f"/topic/{base}/{topic}", f"on {topic}")
        got = collect(a, {sa: "on news/end", sd: "on end/uk"})
        got_a, rest_d = got[sa], got[sd]
        got_b = collect(b, {sb: "on news/end"})[sb]
        got_c = collect(c, {sc: "on sport/end"})[sc]
        self.assertEqual(bodies(got_a), ["on news/uk", "on news/end"])
        self.assertEqual(bodies(got_b), ["on news/uk", "on news/uk/london",
                                         "on news", "on news/end"])
        self.assertEqual(bodies(got_c), ["on sport/x", "on sport/end"])
        self.assertEqual(bodies(rest_d), ["on news/uk", "on end/uk"])
        # destination is the topic it was published on; headers travel.
        for f in got_a + got_b + got_c + rest_d:
            topic = f.body[len("on "):]
            self.assertEqual(f.headers["destination"],
                             f"/topic/{base}/{topic}")
            self.assertRegex(f.headers["message-id"], HEX32)
        self.assertEqual(got_b[1].headers.get("x-topic"), "news/uk/london")

    def test_topic_subscription_with_client_ack_and_nack(self):
        base = unique("n").lower()
        c = self.client()
        c.subscribe(f"/topic/{base}/#", ack="client-individual")
        self.client().send(f"/topic/{base}/a/b", "pub",
                           headers={"correlation-id": "t-1"})
        first = c.message()
        self.assertTrue(first.headers.get("ack"))
        c.nack(first)
        again = c.message()
        self.assertEqual(again.body, "pub")
        self.assertEqual(again.headers.get("redelivered"), "true")
        # Still the topic it was published on, and its headers.
        self.assertEqual(again.headers.get("destination"),
                         f"/topic/{base}/a/b")
        self.assertEqual(again.headers.get("correlation-id"), "t-1")
        c.ack(again)

    def test_publish_with_no_subscriber_and_unsubscribe(self):
        base = unique("u").lower()
        c = self.client()
        c.send(f"/topic/{base}/nobody", "lost")  # receipt: fine, no one
        sub = c.subscribe(f"/topic/{base}/#")
        c.send(f"/topic/{base}/a", "one")
        self.assertEqual(c.message().body, "one")
        c.unsubscribe(sub)
        c.send(f"/topic/{base}/a", "two")
        sub2 = c.subscribe(f"/topic/{base}/b")
        c.send(f"/topic/{base}/a", "three")
        c.send(f"/topic/{base}/b", "four")
        f = c.message()
        # "two" and "three" went nowhere: the first after is "four".
        self.assertEqual((f.body, f.headers["subscription"]), ("four", sub2))

    def test_topic_subscriber_gets_descriptor_headers(self):
        base = unique("d").lower()
        c = self.client()
        c.subscribe(f"/topic/{base}/x")
        c.send(f"/topic/{base}/x", "hdrs", headers={
            "correlation-id": "c-9", "priority": "7", "x-k": "v",
            "content-type": "application/json"})
        h = c.message().headers
        self.assertEqual((h.get("correlation-id"), h.get("priority"),
                          h.get("x-k"), h.get("content-type")),
                         ("c-9", "7", "v", "application/json"))


class AckModeTests(StompTestCase):
    def fill(self, q, n, prefix="m"):
        c = self.client()
        for i in range(n):
            c.send(f"/queue/{q}", f"{prefix}{i}", receipt=(i == n - 1))
        return [f"{prefix}{i}" for i in range(n)]

    def test_auto(self):
        q = unique("AUTO")
        want = self.fill(q, 3)
        c = self.client()
        c.subscribe(f"/queue/{q}", ack="auto")
        got = c.messages(3)
        self.assertEqual(bodies(got), want)
        for f in got:
            self.assertNotIn("ack", f.headers)
        self.wait_queue(q, current_depth=0, unacked_count=0)
        c.disconnect()
        # Consumed on delivery: nothing comes back when the client goes.
        self.assertEqual(self.inquire(q)["current_depth"], "0")

    def test_client_ack_is_cumulative(self):
        q = unique("CLI")
        want = self.fill(q, 5)
        c = self.client()
        sub = c.subscribe(f"/queue/{q}", ack="client")
        got = c.messages(5)
        self.assertEqual(bodies(got), want)
        for f in got:
            self.assertTrue(f.headers.get("ack"), f.headers)
        # Unacked messages still count in the queue's depth.
        self.wait_queue(q, unacked_count=5, current_depth=5)
        c.ack(got[2])  # settles m0, m1, m2
        self.wait_queue(q, unacked_count=2, current_depth=2)
        # The unacked rest returns with UNSUBSCRIBE, redelivered.
        c.unsubscribe(sub)
        c.subscribe(f"/queue/{q}", ack="client")
        again = c.messages(2)
        self.assertEqual(bodies(again), ["m3", "m4"])
        for f, orig in zip(again, got[3:]):
            self.assertEqual(f.headers.get("redelivered"), "true")
            self.assertEqual(f.headers["message-id"],
                             orig.headers["message-id"])
        c.ack(again[1])
        self.wait_queue(q, unacked_count=0, current_depth=0)

    def test_client_individual_ack_settles_only_its_message(self):
        q = unique("IND")
        self.fill(q, 3)
        c = self.client()
        sub = c.subscribe(f"/queue/{q}", ack="client-individual")
        got = c.messages(3)
        c.ack(got[1])
        self.wait_queue(q, unacked_count=2, current_depth=2)
        c.unsubscribe(sub)
        c.subscribe(f"/queue/{q}", ack="client-individual")
        again = c.messages(2)
        self.assertEqual(bodies(again), ["m0", "m2"])
        self.assertEqual([f.headers.get("redelivered") for f in again],
                         ["true", "true"])
        for f in again:
            c.ack(f)
        self.wait_queue(q, unacked_count=0, current_depth=0)

    def test_auto_with_prefetch_one_delivers_everything_in_order(self):
        q = unique("AUTO1")
        want = self.fill(q, 100)
        c = self.client()
        c.subscribe(f"/queue/{q}", headers={"prefetch-count": "1"})
        self.assertEqual(bodies(c.messages(100)), want)
        self.wait_queue(q, current_depth=0, unacked_count=0)

    def test_clean_disconnect_returns_unacked_messages(self):
        q = unique("DISCU")
        self.fill(q, 2)
        c = self.client()
        c.subscribe(f"/queue/{q}", ack="client")
        got = c.messages(2)
        c.ack(got[0])
        self.assertTrue(c.disconnect())
        d = self.client()
        d.subscribe(f"/queue/{q}")
        f = d.message()
        self.assertEqual((f.body, f.headers.get("redelivered")),
                         ("m1", "true"))
        self.wait_queue(q, current_depth=0, unacked_count=0)

    def test_ack_twice_does_nothing(self):
        q = unique("TWICE")
        self.fill(q, 1)
        c = self.client()
        c.subscribe(f"/queue/{q}", ack="client-individual")
        f = c.message()
        c.ack(f)
        c.ack(f)  # already settled: a RECEIPT, no ERROR
        c.nack(f)  # nor does a NACK bring it back
        self.assertEqual(c.rec.error_frames, [])
        self.wait_queue(q, unacked_count=0, current_depth=0)
        self.client().send(f"/queue/{q}", "marker")
        self.assertEqual(c.message().body, "marker")

    def test_nack_redelivers(self):
        q = unique("NACK")
        self.fill(q, 1)
        c = self.client()
        c.subscribe(f"/queue/{q}", ack="client-individual")
        first = c.message()
        self.assertNotIn("redelivered", first.headers)
        c.nack(first)
        again = c.message()
        self.assertEqual(again.body, "m0")
        self.assertEqual(again.headers.get("redelivered"), "true")
        self.assertEqual(again.headers["message-id"],
                         first.headers["message-id"])
        self.assertNotEqual(again.headers["ack"], first.headers["ack"])
        c.ack(again)
        self.wait_queue(q, unacked_count=0, current_depth=0)

    def test_nack_is_cumulative_in_client_mode(self):
        q = unique("NACKC")
        self.fill(q, 3)
        c = self.client()
        c.subscribe(f"/queue/{q}", ack="client")
        got = c.messages(3)
        c.nack(got[1])  # m0 and m1 go back; m2 stays with us
        self.client().send(f"/queue/{q}", "marker")
        again = c.messages(3)
        self.assertEqual(bodies(again), ["m0", "m1", "marker"])
        self.assertEqual([f.headers.get("redelivered") for f in again],
                         ["true", "true", None])
        c.ack(again[2])  # cumulative: m2 too
        self.wait_queue(q, unacked_count=0, current_depth=0)

    def test_nack_requeue_false_dead_letters(self):
        q = unique("DLQ")
        corr = uuid.uuid4().hex
        self.client().send(f"/queue/{q}", "to the dlq",
                           headers={"correlation-id": corr})
        c = self.client()
        c.subscribe(f"/queue/{q}", ack="client-individual")
        f = c.message()
        c.nack(f, requeue="false")
        self.wait_queue(q, unacked_count=0, current_depth=0)
        r = self.cli("get", "SYSTEM.DEAD.LETTER.QUEUE", "--correl-id", corr,
                     "--wait", "10000", "--show-descriptor")
        self.assertEqual(r.returncode, 0, r.stderr)
        d = self.fields(r.stdout)
        self.assertEqual(d["msg_id"], f.headers["message-id"])
        self.assertEqual(d.get("property qmesh.dlq.source"), q, r.stdout)
        self.assertIn("\nto the dlq\n", r.stdout)
        # And it did not come back to the subscriber: the next is a marker.
        self.client().send(f"/queue/{q}", "marker")
        self.assertEqual(c.message().body, "marker")

    def test_backout_threshold_applies_to_nack(self):
        q, boq = unique("BO"), unique("BOQ")
        self.ok("define-queue", boq)
        self.ok("define-queue", q, "--backout-threshold", "2",
                "--backout-queue", boq)
        self.client().send(f"/queue/{q}", "poison")
        c = self.client()
        c.subscribe(f"/queue/{q}", ack="client-individual")
        first = c.message()
        c.nack(first)  # delivery count 1: back on the queue
        again = c.message()
        self.assertEqual(again.headers.get("redelivered"), "true")
        c.nack(again)  # delivery count 2 = threshold: to the backout queue
        r = self.cli("get", boq, "--wait", "10000", "--show-descriptor")
        self.assertEqual(r.returncode, 0, r.stderr)
        d = self.fields(r.stdout)
        self.assertEqual(d["msg_id"], first.headers["message-id"])
        self.assertEqual(d.get("property qmesh.dlq.source"), q, r.stdout)
        self.client().send(f"/queue/{q}", "marker")
        self.assertEqual(c.message().body, "marker")

    def test_ack_for_a_subscription_that_is_gone_is_an_error(self):
        q = unique("GONE")
        self.fill(q, 1)
        c = self.client()
        sub = c.subscribe(f"/queue/{q}", ack="client-individual")
        f = c.message()
        c.unsubscribe(sub)
        c.ack(f, receipt=False)
        self.assert_error(c.error(), 2019, "hobj_error")
        self.assertTrue(c.rec.disconnected.wait(TIMEOUT))

    def test_ack_of_an_id_never_sent_is_an_error(self):
        q = unique("NEVER")
        self.fill(q, 1)
        c = self.client()
        c.subscribe(f"/queue/{q}", ack="client")
        f = c.message()
        consumer, _, tag = f.headers["ack"].rpartition("-")
        c.ack(f"{consumer}-{int(tag) + 1000}", receipt=False)
        self.assert_error(c.error(), 2019, "hobj_error")
        # The connection ended: the real delivery returns to the queue.
        self.wait_queue(q, current_depth=1, unacked_count=0)

    def test_prefetch_count_limits_unacked_in_flight(self):
        q = unique("PREF")
        self.fill(q, 5)
        c = self.client()
        c.subscribe(f"/queue/{q}", ack="client-individual",
                    headers={"prefetch-count": "2"})
        got = c.messages(2)
        # Unacked messages count in the depth: 2 in flight, 3 waiting.
        self.wait_queue(q, unacked_count=2, current_depth=5)
        self.assertEqual(c.pending_messages(), [])
        c.ack(got[0])
        self.assertEqual(c.message().body, "m2")
        self.wait_queue(q, unacked_count=2, current_depth=4)
        self.assertEqual(c.pending_messages(), [])


class TransactionTests(StompTestCase):
    def test_commit_makes_sends_visible_at_once(self):
        q = unique("TXC")
        c = self.client()
        listener = self.client()
        listener.subscribe(f"/queue/{q}")
        c.begin("tx1")
        c.send(f"/queue/{q}", "t1", headers={"transaction": "tx1"})
        c.send(f"/queue/{q}", "t2", headers={"transaction": "tx1"})
        # Not visible yet: a later plain SEND overtakes them.
        c.send(f"/queue/{q}", "plain")
        self.assertEqual(listener.message().body, "plain")
        self.assertEqual(self.inquire(q)["current_depth"], "0")
        c.commit("tx1")
        self.assertEqual(bodies(listener.messages(2)), ["t1", "t2"])

    def test_commit_is_all_or_nothing(self):
        q = unique("TXALL")
        self.ok("define-queue", q, "--max-depth", "2",
                "--overflow-policy", "reject")
        c = self.client()
        c.begin("all")
        for body in ("x1", "x2", "x3"):
            c.send(f"/queue/{q}", body, headers={"transaction": "all"})
        c.conn.commit("all", headers={"receipt": "commit"})
        e = c.error()
        self.assert_error(e, 2053)
        self.assertEqual(e.headers.get("receipt-id"), "commit")
        self.wait_queue(q, current_depth=0, uncommitted_count=0)

    def test_abort_discards(self):
        q = unique("TXA")
        c = self.client()
        c.begin("tx2")
        c.send(f"/queue/{q}", "gone1", headers={"transaction": "tx2"})
        c.send(f"/queue/{q}", "gone2", headers={"transaction": "tx2"})
        c.abort("tx2")
        c.send(f"/queue/{q}", "kept")
        c.subscribe(f"/queue/{q}")
        self.assertEqual(c.message().body, "kept")
        self.wait_queue(q, current_depth=0, unacked_count=0,
                        uncommitted_count=0)

    def test_ack_in_a_transaction(self):
        q = unique("TXACK")
        c = self.client()
        c.send(f"/queue/{q}", "a")
        c.subscribe(f"/queue/{q}", ack="client-individual")
        f = c.message()
        c.begin("tx3")
        c.ack(f, transaction="tx3")
        self.assertEqual(self.inquire(q)["unacked_count"], "1")
        c.abort("tx3")  # the held ACK is dropped: still unacked
        self.wait_queue(q, unacked_count=1)
        c.begin("tx4")
        c.ack(f, transaction="tx4")
        c.commit("tx4")
        self.wait_queue(q, unacked_count=0, current_depth=0)
        # Settled: closing the connection brings nothing back.
        c.disconnect()
        self.assertEqual(self.inquire(q)["current_depth"], "0")

    def test_nack_in_a_transaction_waits_for_commit(self):
        q = unique("TXNACK")
        c = self.client()
        c.send(f"/queue/{q}", "n")
        c.subscribe(f"/queue/{q}", ack="client-individual")
        f = c.message()
        c.begin("txn")
        c.nack(f, transaction="txn")
        # Held: still ours, unacked, not redelivered yet.
        self.assertEqual(self.inquire(q)["unacked_count"], "1")
        self.assertEqual(c.pending_messages(), [])
        c.commit("txn")
        again = c.message()
        self.assertEqual((again.body, again.headers.get("redelivered")),
                         ("n", "true"))
        c.ack(again)
        self.wait_queue(q, unacked_count=0, current_depth=0)

    def test_transaction_holds_at_most_10000_frames(self):
        q = unique("TXMAX")
        raw = self.raw()
        raw.send("BEGIN", {"transaction": "big"})
        one = (f"SEND\ndestination:/queue/{q}\ntransaction:big\n"
               "content-length:1\n\nx\x00").encode()
        raw.sock.sendall(one * 9999)
        raw.send("SEND", {"destination": f"/queue/{q}",
                          "transaction": "big", "receipt": "10000"}, b"x")
        f = raw.read_frame(timeout=30)
        self.assertIsNotNone(f)
        self.assertEqual((f[0], f[1].get("receipt-id")), ("RECEIPT", "10000"),
                         f)
        raw.send("SEND", {"destination": f"/queue/{q}",
                          "transaction": "big", "receipt": "10001"}, b"x")
        frames = raw.read_until_eof()
        self.assertEqual(len(frames), 1, frames)
        cmd, headers, _ = frames[0]
        self.assertEqual(cmd, "ERROR")
        self.assertTrue(headers.get("message", "").startswith(
            "2024 syncpoint_limit_reached"), headers)
        self.assertEqual(headers.get("receipt-id"), "10001")
        # The connection ended: the transaction was aborted, nothing put.
        r = self.cli("inquire", q)
        if r.returncode == 0:
            self.assertEqual(self.fields(r.stdout)["current_depth"], "0")

    def test_at_most_100_open_transactions(self):
        raw = self.raw()
        data = b"".join(f"BEGIN\ntransaction:t{i}\n\n".encode() + b"\x00"
                        for i in range(99))
        raw.sock.sendall(data)
        raw.send("BEGIN", {"transaction": "t99", "receipt": "100th"})
        f = raw.read_frame()
        self.assertEqual((f[0], f[1].get("receipt-id")), ("RECEIPT", "100th"),
                         f)
        raw.send("BEGIN", {"transaction": "t100", "receipt": "101st"})
        frames = raw.read_until_eof()
        self.assertEqual(len(frames), 1, frames)
        self.assertEqual(frames[0][0], "ERROR")
        self.assertTrue(frames[0][1].get("message", "").startswith(
            "2024 syncpoint_limit_reached"), frames[0][1])
        self.assertEqual(frames[0][1].get("receipt-id"), "101st")

    def test_at_most_64_mib_of_bodies_held(self):
        q = unique("TXMIB")
        raw = self.raw()
        raw.send("BEGIN", {"transaction": "a"})
        raw.send("BEGIN", {"transaction": "b"})
        body = b"m" * 4_000_000
        # 16 x 4,000,000 bytes < 64 MiB, over two transactions; the 17th
        # is over.
        for i in range(1, 18):
            raw.send("SEND", {"destination": f"/queue/{q}",
                              "transaction": "a" if i % 2 else "b",
                              "receipt": str(i)}, body)
        frames = raw.read_until_eof(timeout=30)
        self.assertEqual([f[1].get("receipt-id") for f in frames],
                         [str(i) for i in range(1, 18)],
                         [(f[0], f[1]) for f in frames])
        self.assertEqual({f[0] for f in frames[:16]}, {"RECEIPT"})
        self.assertEqual(frames[16][0], "ERROR")
        self.assertTrue(frames[16][1].get("message", "").startswith(
            "2024 syncpoint_limit_reached"), frames[16][1])

    def test_topic_publication_in_a_transaction(self):
        topic = unique("tx").lower()
        sub = self.client()
        sub.subscribe(f"/topic/{topic}/#")
        c = self.client()
        c.begin("tx5")
        c.send(f"/topic/{topic}/held", "held", headers={"transaction": "tx5"})
        c.send(f"/topic/{topic}/now", "now")
        self.assertEqual(sub.message().body, "now")
        c.commit("tx5")
        f = sub.message()
        self.assertEqual((f.body, f.headers["destination"]),
                         ("held", f"/topic/{topic}/held"))

    def test_connection_end_aborts_open_transaction(self):
        q = unique("TXEND")
        c = self.client()
        c.begin("tx6")
        c.send(f"/queue/{q}", "never", headers={"transaction": "tx6"})
        self.assertTrue(c.disconnect())
        d = self.client()
        d.send(f"/queue/{q}", "after")
        d.subscribe(f"/queue/{q}")
        self.assertEqual(d.message().body, "after")
        self.wait_queue(q, current_depth=0, uncommitted_count=0)


class ReceiptTests(StompTestCase):
    def test_receipts_come_in_frame_order(self):
        q = unique("RCPT")
        c = self.client()
        order = []
        for i in range(10):
            rid = f"send-{i}"
            order.append(rid)
            c.conn.send(f"/queue/{q}", f"b{i}", headers={"receipt": rid})
        c.conn.subscribe(f"/queue/{q}", "s1", ack="client",
                         headers={"receipt": "sub"})
        c.conn.begin("t", headers={"receipt": "begin"})
        c.conn.send(f"/queue/{q}", "tx", headers={"receipt": "send-tx",
                                                  "transaction": "t"})
        c.conn.commit("t", headers={"receipt": "commit"})
        c.conn.unsubscribe("s1", headers={"receipt": "unsub"})
        order += ["sub", "begin", "send-tx", "commit", "unsub"]
        c.wait_receipt("unsub")
        self.assertEqual(c.rec.receipts, order)
        self.assertEqual(c.rec.error_frames, [])

    def test_send_receipt_means_the_message_is_on_its_queue(self):
        q = unique("ONQ")
        c = self.client()
        for i in range(20):
            c.send(f"/queue/{q}", f"b{i}", receipt=False)
        c.send(f"/queue/{q}", "last")
        # No waiting: the RECEIPT already means all 21 are there.
        self.assertEqual(self.inquire(q)["current_depth"], "21")

    def test_disconnect_receipt_comes_after_everything_before_it(self):
        q = unique("DISC")
        c = self.client()
        for i in range(50):
            c.send(f"/queue/{q}", f"b{i}", receipt=False)
        self.assertTrue(c.disconnect(receipt="done"), c.rec.describe())
        self.assertEqual(self.inquire(q)["current_depth"], "50")
        self.assertTrue(c.rec.disconnected.wait(TIMEOUT))

    def test_receipts_then_the_error_in_frame_order(self):
        q = unique("ORD")
        c = self.client()
        for i in range(5):
            c.conn.send(f"/queue/{q}", f"b{i}", headers={"receipt": f"ok-{i}"})
        c.conn.send("/queue/bad name!", "x", headers={"receipt": "bad"})
        e = c.error()
        self.assertEqual(e.headers.get("receipt-id"), "bad")
        self.assertEqual(c.rec.receipts, [f"ok-{i}" for i in range(5)])
        self.assertEqual(self.inquire(q)["current_depth"], "5")

    def test_error_in_a_batch_names_the_receipt_that_ends_it(self):
        q = unique("BATCH")
        self.ok("define-queue", q, "--max-depth", "3",
                "--overflow-policy", "reject")
        raw = self.raw()
        frames = b""
        for body, receipt in [("a", "r1"), ("b", "r2"), ("c", None),
                              ("d", None), ("e", "r5")]:
            h = f"SEND\ndestination:/queue/{q}\n"
            if receipt:
                h += f"receipt:{receipt}\n"
            frames += (h + "\n" + body).encode() + b"\x00"
        raw.sock.sendall(frames)  # read by the server in one go
        got = raw.read_until_eof()
        self.assertEqual([(f[0], f[1].get("receipt-id")) for f in got],
                         [("RECEIPT", "r1"), ("RECEIPT", "r2"),
                          ("ERROR", "r5")], got)
        self.assertTrue(got[-1][1].get("message", "").startswith("2053 "),
                        got[-1])
        # a and b are there; c, d, e went as one batch: all or nothing
        # (c without a receipt may or may not have been put on its own).
        self.assertIn(self.inquire(q)["current_depth"], ("2", "3"))

    def test_error_carries_the_receipt_id(self):
        c = self.client()
        c.conn.send("/queue/bad name!", "x", headers={"receipt": "bad-1"})
        e = c.error()
        self.assertEqual(e.headers.get("receipt-id"), "bad-1")
        self.assert_error(e, 2152, "object_name_error")


class HeartbeatTests(StompTestCase):
    node_args = ("--stomp-heartbeat", "200")

    def test_connected_offers_the_node_interval(self):
        c = self.client()
        self.assertEqual(c.rec.connected_frame.headers.get("heart-beat"),
                         "200,200")

    def test_idle_heart_beating_client_stays_connected(self):
        q = unique("HB")
        # stomp.py gives up when nothing came for 1.5 (its default) times
        # the interval, the first time twice that; 2.0 leaves room for a
        # loaded machine and still needs a beat every max(sx, cy) ms.
        c = self.client(heartbeats=(200, 200), receive_scale=2.0)
        t0 = time.monotonic()
        # Several intervals without a frame either way; the server beats.
        c.rec.wait(lambda: c.rec.heartbeats >= 8 or c.rec.heartbeat_timeouts
                   or c.rec.disconnected.is_set())
        elapsed = time.monotonic() - t0
        self.assertEqual(c.rec.heartbeat_timeouts, 0,
                         f"stomp.py saw no server heart-beat in time "
                         f"({c.rec.heartbeats} beats in {elapsed:.2f} s)")
        self.assertFalse(c.rec.disconnected.is_set())
        self.assertGreaterEqual(c.rec.heartbeats, 8)
        self.assertLess(elapsed, 6.0)
        self.assertEqual(c.rec.error_frames, [])
        c.subscribe(f"/queue/{q}")
        c.send(f"/queue/{q}", "still here")
        self.assertEqual(c.message().body, "still here")

    def test_client_without_heart_beats_gets_none_and_is_kept(self):
        quiet = self.client(heartbeats=(0, 0))
        # Only a clock here: lenient about late beats.
        clock = self.client(heartbeats=(200, 200), receive_scale=5.0)
        start = quiet.rec.heartbeats
        # The heart-beating client is the clock: 5 beats >= 2 intervals.
        self.assertTrue(clock.rec.wait(lambda: clock.rec.heartbeats >= 5))
        self.assertEqual(quiet.rec.heartbeats, start)
        self.assertFalse(quiet.rec.disconnected.is_set())
        quiet.send(f"/queue/{unique('HBQ')}", "alive")

    def test_server_beats_every_interval_from_the_start(self):
        raw = self.raw(**{"heart-beat": "0,200"})  # wants beats, sends none
        t0 = time.monotonic()
        arrivals = []
        while len(arrivals) < 5:
            raw.sock.settimeout(TIMEOUT)
            chunk = raw.sock.recv(64)
            self.assertTrue(chunk, "connection closed")
            self.assertEqual(chunk.strip(b"\r\n"), b"", chunk)
            arrivals.append(time.monotonic() - t0)
        gaps = sorted(b - a for a, b in zip([0.0] + arrivals, arrivals))
        # max(sx, cy) = 200 ms. The typical gap shows the interval; one
        # late beat on a busy machine is tolerated (but the old 1 s start
        # is not).
        self.assertLess(gaps[len(gaps) // 2], 0.4,
                        f"heart-beat arrivals after CONNECTED: {arrivals}")
        self.assertLess(gaps[-1], 0.9,
                        f"heart-beat arrivals after CONNECTED: {arrivals}")

    def test_silent_client_is_dropped_after_twice_the_interval(self):
        raw = self.raw(**{"heart-beat": "200,0"})
        t0 = time.monotonic()
        frames = raw.read_until_eof(timeout=TIMEOUT)
        elapsed = time.monotonic() - t0
        self.assertEqual([f[0] for f in frames], ["ERROR"], frames)
        self.assertIn("heart-beat timeout", frames[0][1].get("message", ""))
        # Silent for 2 * max(200, 200) ms = 400 ms; 400 ms of slack.
        self.assertGreater(elapsed, 0.35)
        self.assertLess(elapsed, 0.8, f"dropped after {elapsed:.3f} s")

    def test_silent_client_is_dropped_and_its_messages_return(self):
        q = unique("HBDROP")
        self.client().send(f"/queue/{q}", "held")
        raw = self.raw(**{"heart-beat": "200,0"})
        raw.send("SUBSCRIBE", {"destination": f"/queue/{q}", "id": "s",
                               "ack": "client-individual", "receipt": "r"})
        seen = []
        while not ({"RECEIPT", "MESSAGE"} <= {f[0] for f in seen}):
            f = raw.read_frame()
            self.assertIsNotNone(f, seen)
            seen.append(f)
        msg = next(f for f in seen if f[0] == "MESSAGE")
        t0 = time.monotonic()
        # Now silent: promised a beat every 200 ms, the server drops it
        # after twice max(200, 200) ms.
        frames = raw.read_until_eof(timeout=TIMEOUT)
        elapsed = time.monotonic() - t0
        self.assertTrue(frames, "closed without an ERROR")
        cmd, headers, body = frames[-1]
        self.assertEqual(cmd, "ERROR", frames)
        self.assertTrue(headers.get("message", "").startswith(
            "2046 options_error: heart-beat timeout"), headers)
        self.assertEqual(headers.get("qmesh-reason"), "2046")
        self.assertGreater(elapsed, 0.3)
        # As if it had vanished: its unacked message comes back.
        c = self.client()
        c.subscribe(f"/queue/{q}")
        f = c.message()
        self.assertEqual(f.body, "held")
        self.assertEqual(f.headers.get("redelivered"), "true")
        self.assertEqual(f.headers["message-id"], msg[1]["message-id"])


class HeartbeatOffTests(StompTestCase):
    node_args = ("--stomp-heartbeat", "0")

    def test_zero_means_no_heart_beats_either_way(self):
        c = self.client()
        self.assertEqual(c.rec.connected_frame.headers.get("heart-beat"),
                         "0,0")
        raw = self.raw(**{"heart-beat": "100,100"})
        # A bounded look at the wire: neither a beat nor a drop comes.
        with self.assertRaises(socket.timeout):
            raw.read_frame(timeout=1.0)
        self.assertEqual(raw.heartbeats, 0)
        raw.send("BEGIN", {"transaction": "t", "receipt": "alive"})
        f = raw.read_frame()
        self.assertEqual((f[0], f[1].get("receipt-id")), ("RECEIPT", "alive"))


class TempQueueTests(StompTestCase):
    def test_request_reply(self):
        svc = unique("SVC")
        requester, responder = self.client(), self.client()
        requester.subscribe("/temp-queue/replies", sub_id="replies")
        responder.subscribe(f"/queue/{svc}")
        requester.send(f"/queue/{svc}", "what time is it", headers={
            "reply-to": "/temp-queue/replies", "correlation-id": "req-1"})
        req = responder.message()
        reply_to = req.headers.get("reply-to", "")
        self.assertRegex(reply_to, r"^/queue/SYSTEM\.TEMP\.\d+$")
        responder.send(reply_to, "noon", headers={
            "correlation-id": req.headers["correlation-id"]})
        rep = requester.message()
        self.assertEqual(rep.body, "noon")
        self.assertEqual(rep.headers.get("correlation-id"), "req-1")
        self.assertEqual(rep.headers.get("subscription"), "replies")
        # The temporary queue is a real queue while the connection lives...
        tmp = reply_to[len("/queue/"):]
        self.assertEqual(self.inquire(tmp)["name"], tmp)
        # ...and goes with it.
        self.assertTrue(requester.disconnect())
        self.assertTrue(self.wait_gone(tmp), f"{tmp} still exists")

    def wait_gone(self, name):
        return wait_for(lambda: self.cli("inquire", name).returncode == 1,
                        TIMEOUT)

    def test_reply_to_creates_the_temp_queue_before_any_subscribe(self):
        svc = unique("SVC")
        requester, responder = self.client(), self.client()
        responder.subscribe(f"/queue/{svc}")
        requester.send(f"/queue/{svc}", "q",
                       headers={"reply-to": "/temp-queue/later"})
        reply_to = responder.message().headers.get("reply-to", "")
        self.assertRegex(reply_to, r"^/queue/SYSTEM\.TEMP\.\d+$")
        responder.send(reply_to, "a")
        requester.subscribe("/temp-queue/later")
        self.assertEqual(requester.message().body, "a")

    def test_temp_queue_is_private(self):
        owner, other = self.client(), self.client()
        owner.subscribe("/temp-queue/mine")
        probe = unique("PROBE")
        other.subscribe(f"/queue/{probe}")
        owner.send(f"/queue/{probe}", "who",
                   headers={"reply-to": "/temp-queue/mine"})
        tmp_dest = other.message().headers["reply-to"]
        tmp = tmp_dest[len("/queue/"):]
        # Others may put to it...
        other.send(tmp_dest, "for the owner")
        self.assertEqual(owner.message().body, "for the owner")
        # ...but not consume from it (STOMP or CLI).
        intruder = self.client()
        intruder.conn.subscribe(tmp_dest, "steal")
        self.assert_error(intruder.error(), 2035, "not_authorized")
        r = self.cli("get", tmp)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("2035", r.stderr)

    def test_two_connections_same_temp_name_are_different_queues(self):
        a, b = self.client(), self.client()
        a.subscribe("/temp-queue/r")
        b.subscribe("/temp-queue/r")
        a.send("/temp-queue/r", "for a")
        b.send("/temp-queue/r", "for b")
        self.assertEqual(a.message().body, "for a")
        self.assertEqual(b.message().body, "for b")


class BinaryTests(StompTestCase):
    def test_all_byte_values_and_embedded_nuls(self):
        q = unique("BIN")
        c = self.client(binary=True)
        body = bytes(range(256)) * 4 + b"\x00\x00end\x00"
        c.send(f"/queue/{q}", body)
        c.send(f"/queue/{q}", b"\x00")
        c.subscribe(f"/queue/{q}")
        a, b = c.messages(2)
        self.assertEqual(a.body, body)
        self.assertEqual(a.headers.get("content-length"), str(len(body)))
        self.assertEqual(b.body, b"\x00")

    def test_one_mib_body(self):
        q = unique("BIG")
        c = self.client(binary=True)
        body = os.urandom(1 << 20)
        c.send(f"/queue/{q}", body)
        c.subscribe(f"/queue/{q}")
        f = c.message()
        self.assertEqual(len(f.body), len(body))
        self.assertEqual(f.body, body)

    def test_empty_body(self):
        q = unique("EMPTY")
        c = self.client(binary=True)
        c.send(f"/queue/{q}", b"")
        c.subscribe(f"/queue/{q}")
        f = c.message()
        self.assertEqual(f.body, b"")
        self.assertIn(f.headers.get("content-length"), ("0", None))


class RestrictedNodeTests(StompTestCase):
    node_args = ("--auto-define-queues", "false", "--stomp-max-body", "1000")

    def test_unknown_queue_without_auto_define(self):
        c = self.client()
        c.conn.send("/queue/NOT.DEFINED", "x")
        self.assert_error(c.error(), 2085, "unknown_object_name")
        c = self.client()
        c.conn.subscribe("/queue/NOT.DEFINED", "s")
        self.assert_error(c.error(), 2085, "unknown_object_name")
        # Temporary queues need no auto-define.
        c = self.client()
        c.subscribe("/temp-queue/t")
        c.send("/temp-queue/t", "fine")
        self.assertEqual(c.message().body, "fine")

    def test_stomp_max_body(self):
        q = unique("MAXB")
        self.ok("define-queue", q)
        c = self.client(binary=True)
        c.send(f"/queue/{q}", b"x" * 1000)
        c.subscribe(f"/queue/{q}")
        self.assertEqual(len(c.message().body), 1000)
        c.conn.send(f"/queue/{q}", b"x" * 1001)
        e = c.error()
        # A frame over the codec's limit (2046) or a body too big (2030).
        self.assertIn(e.headers.get("qmesh-reason"), ("2046", "2030"),
                      e.headers)
        self.assertTrue(c.rec.disconnected.wait(TIMEOUT))
        self.assertEqual(self.inquire(q)["current_depth"], "0")


class VanishTests(StompTestCase):
    def test_killed_client_messages_come_back_redelivered(self):
        q = unique("KILL")
        sender = self.client()
        for i in range(3):
            sender.send(f"/queue/{q}", f"k{i}")
        host, port = self.node.stomp_address
        holder = Background([sys.executable, os.path.join(HERE,
                             "stomp_harness.py"), "hold", host, str(port),
                             f"/queue/{q}", "client-individual"])
        self.addCleanup(holder.kill)
        # MESSAGEs may come before the SUBSCRIBE's RECEIPT: take both.
        lines = [holder.wait_line(r"^(got |subscribed$)") for _ in range(4)]
        ids = [line.split()[1] for line in lines if line.startswith("got ")]
        self.assertEqual(len(ids), 3, lines)
        self.wait_queue(q, unacked_count=3, current_depth=3)
        holder.kill(signal.SIGKILL)  # no DISCONNECT, no ACK
        c = self.client()
        c.subscribe(f"/queue/{q}", ack="client-individual")
        got = c.messages(3)
        self.assertEqual(bodies(got), ["k0", "k1", "k2"])
        self.assertEqual([f.headers["message-id"] for f in got], ids)
        self.assertEqual([f.headers.get("redelivered") for f in got],
                         ["true"] * 3)
        for f in got:
            c.ack(f)
        self.wait_queue(q, unacked_count=0, current_depth=0)

    def test_reset_connection_in_client_mode(self):
        q = unique("RST")
        c = self.client()
        c.send(f"/queue/{q}", "r0")
        c.send(f"/queue/{q}", "r1")
        c.subscribe(f"/queue/{q}", ack="client")
        c.messages(2)
        c.begin("open-tx")
        c.send(f"/queue/{q}", "uncommitted", headers={"transaction":
                                                      "open-tx"})
        c.vanish()
        d = self.client()
        d.subscribe(f"/queue/{q}", ack="client")
        got = d.messages(2)
        self.assertEqual(bodies(got), ["r0", "r1"])
        self.assertEqual([f.headers.get("redelivered") for f in got],
                         ["true", "true"])
        d.ack(got[1])
        d.send(f"/queue/{q}", "marker")
        self.assertEqual(d.message().body, "marker")  # no "uncommitted"


class ErrorTests(StompTestCase):
    def expect_error(self, code, name, action):
        c = self.client()
        action(c)
        e = c.error()
        msg = self.assert_error(e, code, name)
        self.assertEqual(e.headers.get("content-type"), "text/plain")
        body = e.body.decode() if isinstance(e.body, bytes) else e.body
        self.assertEqual(body.strip(), msg)
        # After an ERROR the server closes the connection.
        self.assertTrue(c.rec.disconnected.wait(TIMEOUT),
                        "connection still open after ERROR")
        return e

    def test_bad_destinations(self):
        # A name that breaks the name rules: 2152.
        for dest in ["/queue/bad name!", "/queue/" + "X" * 49,
                     "/queue/QM1/bad name", "/temp-queue/bad name"]:
            with self.subTest(dest=dest):
                self.expect_error(2152, "object_name_error",
                                  lambda c: c.conn.send(dest, "x"))
        # A destination kind qmesh does not have: 2085.
        for dest in ["/exchange/x", "/amq/queue/x", "noslash"]:
            with self.subTest(dest=dest):
                self.expect_error(2085, "unknown_object_name",
                                  lambda c: c.conn.send(dest, "x"))
            with self.subTest(dest=dest, frame="SUBSCRIBE"):
                self.expect_error(2085, "unknown_object_name",
                                  lambda c: c.conn.subscribe(dest, "s"))

    def test_unknown_remote_qmgr(self):
        self.expect_error(2087, None,
                          lambda c: c.conn.send("/queue/NOSUCHQM/Q", "x"))

    def test_bad_topic_filter(self):
        self.expect_error(2425, "topic_string_error",
                          lambda c: c.conn.subscribe("/topic/a/#/b", "s"))

    def test_subscribe_to_another_queue_managers_queue(self):
        self.expect_error(2087, None, lambda c: c.conn.subscribe(
            f"/queue/{self.qmgr}X/Q", "s"))

    def test_priority_out_of_range(self):
        self.expect_error(2050, "priority_error", lambda c: c.conn.send(
            f"/queue/{unique('P')}", "x", headers={"priority": "10"}))

    def test_bad_header_values(self):
        # A bad value is a bad header (2046); a priority that is not 0-9
        # may also be reported as a priority error (2050).
        cases = [({"persistent": "maybe"}, ("2046",)),
                 ({"message-id": "xyz"}, ("2046",)),
                 ({"expires": "soon"}, ("2046",)),
                 ({"priority": "high"}, ("2046", "2050"))]
        for headers, codes in cases:
            with self.subTest(headers=headers):
                c = self.client()
                c.conn.send(f"/queue/{unique('H')}", "x", headers=headers)
                e = c.error()
                self.assertIn(e.headers.get("qmesh-reason"), codes,
                              e.headers)
                self.assertTrue(c.rec.disconnected.wait(TIMEOUT))

    def test_bad_subscribe_headers(self):
        for headers in ({"prefetch-count": "0"},
                        {"prefetch-count": "100001"},
                        {"prefetch-count": "many"}):
            with self.subTest(headers=headers):
                self.expect_error(2046, "options_error",
                                  lambda c: c.conn.subscribe(
                                      f"/queue/{unique('S')}", "s",
                                      headers=headers))
        self.expect_error(2046, "options_error", lambda c: c.conn.subscribe(
            f"/queue/{unique('S')}", "s", ack="sometimes"))

    def test_duplicate_subscription_id(self):
        c = self.client()
        c.subscribe(f"/queue/{unique('D')}", sub_id="same")
        c.conn.subscribe(f"/queue/{unique('D')}", "same")
        e = c.error()
        self.assertRegex(e.headers.get("message", ""), r"^\d{4} [a-z_]+: ")
        self.assertTrue(c.rec.disconnected.wait(TIMEOUT))

    def test_header_limits(self):
        q = unique("HL")
        c = self.client()
        # 128 header lines: 125 + destination, receipt, content-length.
        c.send(f"/queue/{q}", "at the limits",
               headers={f"x-h{i}": "v" for i in range(125)})
        # One line of 16384 bytes.
        c.send(f"/queue/{q}", "long line",
               headers={"x-long": "v" * (16384 - len("x-long:"))})
        # 129 lines: 127 + destination, content-length.
        self.expect_error(2046, "options_error", lambda c: c.conn.send(
            f"/queue/{q}", "x", headers={f"x-h{i}": "v"
                                         for i in range(127)}))
        self.expect_error(2046, "options_error", lambda c: c.conn.send(
            f"/queue/{q}", "x",
            headers={"x-long": "v" * (16385 - len("x-long:"))}))
        self.assertEqual(self.inquire(q)["current_depth"], "2")

    def test_missing_headers(self):
        self.expect_error(2046, "options_error", lambda c: c.frame(
            "SEND", {}, "no destination"))
        self.expect_error(2046, "options_error", lambda c: c.frame(
            "SUBSCRIBE", {"destination": "/queue/X"}))

    def test_unknown_ack_id_and_transaction(self):
        self.expect_error(2019, "hobj_error",
                          lambda c: c.conn.ack("no-such-ack"))
        self.expect_error(2255, "uow_not_available",
                          lambda c: c.conn.commit("no-such-tx"))

    def test_unknown_subscription_and_duplicate_transaction(self):
        self.expect_error(2019, "hobj_error",
                          lambda c: c.conn.unsubscribe("never-subscribed"))
        c = self.client()
        c.begin("twice")
        c.conn.begin("twice")
        self.assertRegex(c.error().headers.get("message", ""),
                         r"^\d{4} [a-z_]+: ")

    def test_at_most_1000_subscriptions_and_temp_queues(self):
        for kind in ("subscriptions", "temp queues"):
            with self.subTest(kind=kind):
                raw = self.raw()

                def sub(i, receipt=None):
                    dest = (f"/topic/lim/{i}" if kind == "subscriptions"
                            else f"/temp-queue/t{i}")
                    h = f"SUBSCRIBE\ndestination:{dest}\nid:s{i}\n"
                    if receipt:
                        h += f"receipt:{receipt}\n"
                    return (h + "\n").encode() + b"\x00"

                raw.sock.sendall(b"".join(sub(i) for i in range(999))
                                 + sub(999, "1000th"))
                f = raw.read_frame(timeout=30)
                self.assertEqual((f[0], f[1].get("receipt-id")),
                                 ("RECEIPT", "1000th"), f)
                raw.sock.sendall(sub(1000, "1001st"))
                frames = raw.read_until_eof(timeout=30)
                self.assertEqual(len(frames), 1, frames)
                self.assertEqual(frames[0][0], "ERROR")
                self.assertTrue(frames[0][1].get("message", "").startswith(
                    "2046 options_error"), frames[0][1])
                self.assertEqual(frames[0][1].get("receipt-id"), "1001st")

    def test_limits_and_inhibited_queues(self):
        small = unique("SMALL")
        self.ok("define-queue", small, "--max-depth", "1",
                "--max-msg-length", "10", "--overflow-policy", "reject")
        self.expect_error(2030, None, lambda c: c.conn.send(
            f"/queue/{small}", "x" * 11))

        def fill(c):
            c.send(f"/queue/{small}", "one")
            c.conn.send(f"/queue/{small}", "two")
        self.expect_error(2053, None, fill)
        noput = unique("NOPUT")
        self.ok("define-queue", noput, "--put-inhibited", "true")
        self.expect_error(2051, None,
                          lambda c: c.conn.send(f"/queue/{noput}", "x"))
        noget = unique("NOGET")
        self.ok("define-queue", noget, "--get-inhibited", "true")
        self.expect_error(2016, None,
                          lambda c: c.conn.subscribe(f"/queue/{noget}", "s"))

    def test_second_connect_and_server_frames(self):
        self.expect_error(2046, None, lambda c: c.frame(
            "CONNECT", {"accept-version": "1.2", "host": "x"}))
        self.expect_error(2046, None, lambda c: c.frame(
            "MESSAGE", {"destination": "/queue/X"}))
        self.expect_error(2046, None, lambda c: c.frame("FROBNICATE", {}))

    def test_node_unaffected_by_errors(self):
        q = unique("SAFE")
        good = self.client()
        good.send(f"/queue/{q}", "precious")
        bad = self.client()
        bad.conn.send("/queue/bad name!", "x")
        bad.error()
        good.subscribe(f"/queue/{q}")
        self.assertEqual(good.message().body, "precious")


if __name__ == "__main__":
    unittest.main(verbosity=2)
