"""Durable topic subscriptions over STOMP (docs/protocol-stomp.md, "Durable
subscriptions"), with stomp.py 8 and raw frames against a real qmesh-node:
ActiveMQ's convention (client-id + activemq.subscriptionName or
durable-subscription-name) and RabbitMQ's (durable:true / persistent:true
+ id); disconnect, publish meanwhile, reconnect and receive; UNSUBSCRIBE
detaches, UNSUBSCRIBE with the durable header deletes; refused SUBSCRIBE
headers; bad persistent values; hostile names.

No sleeps: every wait has a deadline. One node for the class; every client
is closed in cleanup."""
import json
import unittest
import uuid

from stomp_harness import TIMEOUT, StompTestCase, unique, wait_for


def tag(prefix):
    """A name part without characters that the durable mapping encodes."""
    return f"{prefix}{uuid.uuid4().hex[:8].upper()}"


class DurableTests(StompTestCase):

    # -- helpers --------------------------------------------------------------

    def subscriptions(self):
        return json.loads(self.ok("list-subscriptions", "--json"))

    def durable_names(self):
        return {s["name"] for s in self.subscriptions() if s["durable"]}

    def subscription(self, name):
        for s in self.subscriptions():
            if s["name"] == name:
                return s
        return None

    def publisher(self):
        return self.client()

    def unsubscribe(self, c, sub_id, **headers):
        rid = c.next_id("unsub")
        headers["receipt"] = rid
        c.conn.unsubscribe(sub_id, headers=headers)
        return c.wait_receipt(rid)

    def expect_error(self, code, name, action, **client_kwargs):
        """A fresh client does `action`; an ERROR `code name:` comes and the
        connection closes. Returns the ERROR's message."""
        c = self.client(**client_kwargs)
        action(c)
        e = c.error()
        msg = self.assert_error(e, code, name)
        self.assertTrue(c.rec.disconnected.wait(TIMEOUT))
        return msg

    def raw_error(self, r, cmd, headers, code):
        """Sends a raw frame; the answer is ERROR `code`, then EOF."""
        r.send(cmd, headers)
        frames = r.read_until_eof()
        self.assertEqual([f[0] for f in frames], ["ERROR"], frames)
        h = frames[0][1]
        self.assertEqual(h.get("qmesh-reason"), str(code), h)
        return h["message"]

    # -- ActiveMQ ---------------------------------------------------------------

    def test_activemq_disconnect_publish_meanwhile_reconnect(self):
        cid, base = tag("APP"), unique("amq").lower()
        name = f"{cid}.audit"
        hdrs = {"client-id": cid}
        c = self.client(connect_headers=hdrs)
        sid = c.subscribe(f"/topic/{base}/#", ack="client-individual",
                          headers={"activemq.subscriptionName": "audit"})
        pub = self.publisher()
        pub.send(f"/topic/{base}/a", "one")
        f = c.message()
        self.assertEqual((f.body, f.headers["subscription"]), ("one", sid))
        c.ack(f)
        self.assertTrue(c.disconnect())
        # The subscription outlives the connection, under its mapped name.
        s = self.subscription(name)
        self.assertIsNotNone(s, self.subscriptions())
        self.assertTrue(s["durable"])
        self.assertEqual(s["filter"], f"{base}/#")
        for body in ("two", "three"):
            pub.send(f"/topic/{base}/b", body, headers={"x-k": body})
        self.wait_queue(s["queue"], current_depth=2)
        # Reconnect, same client-id and name (another SUBSCRIBE id): the
        # messages published meanwhile arrive, in order, headers intact.
        c2 = self.client(connect_headers=hdrs)
        sid2 = c2.subscribe(f"/topic/{base}/#", ack="client-individual",
                            headers={"activemq.subscriptionName": "audit"})
        got = c2.messages(2)
        self.assertEqual([g.body for g in got], ["two", "three"])
        for g in got:
            self.assertEqual(g.headers["subscription"], sid2)
            self.assertEqual(g.headers["destination"], f"/topic/{base}/b")
            self.assertEqual(g.headers["x-k"], g.body)
            c2.ack(g)
        # Same subscription, not a new one.
        self.assertEqual(self.subscription(name)["queue"], s["queue"])

    def test_old_header_is_the_same_subscription(self):
        cid, base = tag("OLD"), unique("old").lower()
        c = self.client(connect_headers={"client-id": cid})
        c.subscribe(f"/topic/{base}", headers={
            "durable-subscription-name": "feed"})
        self.assertTrue(c.disconnect())
        self.assertIn(f"{cid}.feed", self.durable_names())
        self.publisher().send(f"/topic/{base}", "while away")
        c2 = self.client(connect_headers={"client-id": cid})
        c2.subscribe(f"/topic/{base}", headers={
            "activemq.subscriptionName": "feed"})
        self.assertEqual(c2.message().body, "while away")

    def test_client_id_scopes_the_name(self):
        # The same subscription name under two client-ids: two
        # subscriptions, each gets every publication.
        base = unique("scope").lower()
        a, b = tag("A"), tag("B")
        ca = self.client(connect_headers={"client-id": a})
        cb = self.client(connect_headers={"client-id": b})
        for c in (ca, cb):
            c.subscribe(f"/topic/{base}",
                        headers={"activemq.subscriptionName": "s"})
        self.publisher().send(f"/topic/{base}", "x")
        self.assertEqual(ca.message().body, "x")
        self.assertEqual(cb.message().body, "x")
        self.assertTrue({f"{a}.s", f"{b}.s"} <= self.durable_names())

    def test_unacked_return_and_are_redelivered(self):
        cid, base = tag("RED"), unique("red").lower()
        hdrs = {"client-id": cid}
        c = self.client(connect_headers=hdrs)
        c.subscribe(f"/topic/{base}", ack="client",
                    headers={"activemq.subscriptionName": "r"})
        self.publisher().send(f"/topic/{base}", "held")
        self.assertEqual(c.message().body, "held")
        c.vanish()  # no ACK, no DISCONNECT
        c2 = self.client(connect_headers=hdrs)
        c2.subscribe(f"/topic/{base}", ack="client",
                     headers={"activemq.subscriptionName": "r"})
        f = c2.message()
        self.assertEqual((f.body, f.headers.get("redelivered")),
                         ("held", "true"))
        c2.ack(f)

    # -- RabbitMQ ---------------------------------------------------------------

    def test_rabbitmq_durable_true_without_client_id(self):
        sid, base = tag("rq"), unique("rmq").lower()
        c = self.client()
        c.subscribe(f"/topic/{base}/#", sub_id=sid, headers={"durable": "true"})
        self.publisher().send(f"/topic/{base}/x", "first")
        self.assertEqual(c.message().body, "first")
        c.vanish()
        self.assertIn(sid, self.durable_names())
        self.publisher().send(f"/topic/{base}/x", "second")
        # persistent:true is the same thing.
        c2 = self.client()
        c2.subscribe(f"/topic/{base}/#", sub_id=sid,
                     headers={"persistent": "true"})
        f = c2.message()
        self.assertEqual((f.body, f.headers["subscription"]), ("second", sid))

    def test_rabbitmq_with_client_id(self):
        cid, sid, base = tag("C"), tag("s"), unique("rc").lower()
        c = self.client(connect_headers={"client-id": cid})
        c.subscribe(f"/topic/{base}", sub_id=sid, headers={"durable": "true"})
        self.assertTrue(c.disconnect())
        names = self.durable_names()
        self.assertIn(f"{cid}.{sid}", names)
        self.assertNotIn(sid, names)

    def test_encoded_names(self):
        # Characters outside A-Z a-z 0-9 _ are %XX, so "a.b"+"c" and
        # "a"+"b.c" are different subscriptions.
        base = unique("enc").lower()
        x = uuid.uuid4().hex[:6]
        one = self.client(connect_headers={"client-id": f"{x}.b"})
        one.subscribe(f"/topic/{base}", headers={
            "activemq.subscriptionName": "c"})
        two = self.client(connect_headers={"client-id": x})
        two.subscribe(f"/topic/{base}", headers={
            "activemq.subscriptionName": "b.c"})
        three = self.client()
        three.subscribe(f"/topic/{base}", sub_id=f"my-sub-{x}",
                        headers={"durable": "true"})
        names = self.durable_names()
        self.assertIn(f"{x}%2Eb.c", names)
        self.assertIn(f"{x}.b%2Ec", names)
        self.assertIn(f"my%2Dsub%2D{x}", names)

    # -- lifetime ---------------------------------------------------------------

    def test_unsubscribe_detaches_only(self):
        cid, base = tag("DET"), unique("det").lower()
        hdrs = {"activemq.subscriptionName": "d"}
        c = self.client(connect_headers={"client-id": cid})
        sid = c.subscribe(f"/topic/{base}", headers=hdrs)
        c.unsubscribe(sid)
        self.assertIn(f"{cid}.d", self.durable_names())
        self.publisher().send(f"/topic/{base}", "kept")
        self.assertEqual(c.pending_messages(), [])
        c.subscribe(f"/topic/{base}", headers=hdrs)
        self.assertEqual(c.message().body, "kept")
        # A non-durable topic subscription, by contrast, ends with its
        # consumer.
        plain = c.subscribe(f"/topic/{base}/plain")

        def plain_subs():
            return [s for s in self.subscriptions()
                    if s["filter"] == f"{base}/plain"]
        self.assertEqual(len(plain_subs()), 1)
        c.unsubscribe(plain)
        self.assertTrue(wait_for(lambda: not plain_subs(), TIMEOUT))

    def test_activemq_unsubscribe_deletes(self):
        cid, base = tag("DEL"), unique("del").lower()
        hdrs = {"activemq.subscriptionName": "gone"}
        name = f"{cid}.gone"
        c = self.client(connect_headers={"client-id": cid})
        sid = c.subscribe(f"/topic/{base}", headers=hdrs)
        self.publisher().send(f"/topic/{base}", "old")
        self.assertEqual(c.message().body, "old")
        self.unsubscribe(c, sid, **hdrs)
        self.assertNotIn(name, self.durable_names())
        self.publisher().send(f"/topic/{base}", "nobody")
        # Subscribing again makes a new one: nothing from before.
        c.subscribe(f"/topic/{base}", headers=hdrs)
        self.publisher().send(f"/topic/{base}", "new")
        self.assertEqual(c.message().body, "new")

    def test_delete_after_reconnect_without_subscribing(self):
        # The usual clean-up: connect with the client-id and UNSUBSCRIBE by
        # name; the id need not be subscribed on this connection.
        cid, base = tag("CLN"), unique("cln").lower()
        c = self.client(connect_headers={"client-id": cid})
        c.subscribe(f"/topic/{base}",
                    headers={"durable-subscription-name": "x"})
        self.assertTrue(c.disconnect())
        self.assertIn(f"{cid}.x", self.durable_names())
        c2 = self.client(connect_headers={"client-id": cid})
        self.unsubscribe(c2, "whatever",
                         **{"durable-subscription-name": "x"})
        self.assertNotIn(f"{cid}.x", self.durable_names())

    def test_rabbitmq_unsubscribe_deletes(self):
        sid, base = tag("rd"), unique("rd").lower()
        c = self.client()
        c.subscribe(f"/topic/{base}", sub_id=sid, headers={"durable": "true"})
        self.unsubscribe(c, sid)   # detach
        self.assertIn(sid, self.durable_names())
        c.subscribe(f"/topic/{base}", sub_id=sid, headers={"durable": "true"})
        self.unsubscribe(c, sid, durable="true")  # delete
        self.assertNotIn(sid, self.durable_names())
        # And after reconnecting, without the id subscribed (persistent).
        c.subscribe(f"/topic/{base}", sub_id=sid, headers={"durable": "true"})
        self.assertTrue(c.disconnect())
        c2 = self.client()
        self.unsubscribe(c2, sid, persistent="true")
        self.assertNotIn(sid, self.durable_names())

    def test_delete_unknown_is_an_error(self):
        self.expect_error(
            2085, "unknown_object_name",
            lambda c: c.conn.unsubscribe(tag("nosuch"),
                                         headers={"durable": "true"}))

    def test_delete_then_subscribe_pipelined(self):
        # UNSUBSCRIBE (delete) of a subscription consumed on this connection
        # and SUBSCRIBE of the same name, sent back to back: the SUBSCRIBE
        # waits for the deletion and makes a new, empty subscription (it
        # neither resumes the old one nor is deleted with it).
        sid, base = tag("pp"), unique("pp").lower()
        r = self.raw()
        r.send("SUBSCRIBE", {"id": sid, "destination": f"/topic/{base}",
                             "durable": "true", "ack": "client-individual",
                             "prefetch-count": "1", "receipt": "s0"})
        self.assertEqual(r.read_frame()[1].get("receipt-id"), "s0")
        pub = self.publisher()
        pub.send(f"/topic/{base}", "held")
        pub.send(f"/topic/{base}", "waiting")
        f = r.read_frame()
        self.assertEqual((f[0], f[2]), ("MESSAGE", b"held"))
        r.send("UNSUBSCRIBE", {"id": sid, "durable": "true", "receipt": "u"})
        r.send("SUBSCRIBE", {"id": sid, "destination": f"/topic/{base}",
                             "durable": "true", "receipt": "s"})
        self.assertEqual(r.read_frame()[1].get("receipt-id"), "u")
        self.assertEqual(r.read_frame()[1].get("receipt-id"), "s")
        pub.send(f"/topic/{base}", "fresh")
        f = r.read_frame()
        self.assertEqual((f[0], f[2]), ("MESSAGE", b"fresh"))

    def test_same_name_other_topic_is_refused(self):
        cid, base = tag("OT"), unique("ot").lower()
        hdrs = {"activemq.subscriptionName": "n"}
        c = self.client(connect_headers={"client-id": cid})
        c.subscribe(f"/topic/{base}/one", headers=hdrs)
        msg = self.expect_error(
            2100, "object_already_exists",
            lambda c2: c2.conn.subscribe(f"/topic/{base}/two", "x",
                                         headers=hdrs),
            connect_headers={"client-id": cid})
        self.assertIn("delete it first", msg)

    def test_queue_and_temp_queue_destinations(self):
        # On /queue/ the durable headers ask for nothing more (accepted);
        # a temporary queue cannot be durable.
        q = unique("DQ")
        c = self.client(connect_headers={"client-id": tag("Q")})
        c.subscribe(f"/queue/{q}", headers={"durable": "true",
                                            "activemq.subscriptionName": "q"})
        c.send(f"/queue/{q}", "p2p")
        self.assertEqual(c.message().body, "p2p")
        self.expect_error(2046, "options_error", lambda c2: c2.conn.subscribe(
            "/temp-queue/t", "t", headers={"durable": "true"}))

    # -- hostile and bad input ----------------------------------------------------

    def test_bad_durable_values(self):
        for headers in ({"durable": "yes"}, {"durable": "TRUE"},
                        {"persistent": "1"}, {"durable": ""},
                        {"activemq.subscriptionName": "n",
                         "persistent": "maybe"}):
            with self.subTest(headers=headers):
                msg = self.expect_error(
                    2046, "options_error",
                    lambda c: c.conn.subscribe(f"/topic/{unique('b')}", "i",
                                               headers=headers),
                    connect_headers={"client-id": "C"})
                self.assertRegex(msg, "durable|persistent")

    def test_activemq_needs_client_id(self):
        msg = self.expect_error(
            2046, "options_error",
            lambda c: c.conn.subscribe(f"/topic/{unique('n')}", "i", headers={
                "activemq.subscriptionName": "n"}))
        self.assertIn("client-id", msg)

    def test_empty_and_conflicting_names(self):
        self.expect_error(
            2152, "object_name_error",
            lambda c: c.conn.subscribe(f"/topic/{unique('e')}", "i", headers={
                "activemq.subscriptionName": ""}),
            connect_headers={"client-id": "C"})
        self.expect_error(
            2046, "options_error",
            lambda c: c.conn.subscribe(f"/topic/{unique('e')}", "i", headers={
                "activemq.subscriptionName": "a",
                "durable-subscription-name": "b"}),
            connect_headers={"client-id": "C"})

    def test_over_long_names(self):
        # 48 characters after encoding is the limit.
        base = unique("long").lower()
        c = self.client(connect_headers={"client-id": "C" * 7})
        c.subscribe(f"/topic/{base}",
                    headers={"activemq.subscriptionName": "n" * 40})
        self.assertIn("C" * 7 + "." + "n" * 40, self.durable_names())
        msg = self.expect_error(
            2152, "object_name_error",
            lambda c2: c2.conn.subscribe(f"/topic/{base}", "i", headers={
                "activemq.subscriptionName": "n" * 41}),
            connect_headers={"client-id": "C" * 7})
        self.assertIn("shorter", msg)
        # Encoded characters count 3.
        self.expect_error(
            2152, "object_name_error",
            lambda c2: c2.conn.subscribe(f"/topic/{base}", "-" * 17,
                                         headers={"durable": "true"}))
        # A huge client-id: the CONNECT is fine, the durable SUBSCRIBE is
        # refused with a short message.
        r = self.raw(**{"client-id": "x" * 10000})
        msg = self.raw_error(r, "SUBSCRIBE", {
            "id": "1", "destination": f"/topic/{base}", "durable": "true"},
            2152)
        self.assertLess(len(msg), 1100)

    def test_durable_without_id_and_odd_bytes(self):
        base = unique("raw").lower()
        r = self.raw()
        self.raw_error(r, "SUBSCRIBE", {"destination": f"/topic/{base}",
                                        "durable": "true"}, 2046)
        r = self.raw()
        self.raw_error(r, "SUBSCRIBE", {"id": "", "destination":
                                        f"/topic/{base}",
                                        "durable": "true"}, 2046)
        # Escaped CR, LF and colon in the id are just bytes of the name.
        r = self.raw()
        r.send("SUBSCRIBE", {"id": "a\nb:c\r", "destination":
                             f"/topic/{base}", "durable": "true",
                             "receipt": "ok"})
        f = r.read_frame()
        self.assertEqual((f[0], f[1].get("receipt-id")), ("RECEIPT", "ok"))
        self.assertIn("a%0Ab%3Ac%0D", self.durable_names())
        r.send("UNSUBSCRIBE", {"id": "a\nb:c\r", "durable": "true",
                               "receipt": "del"})
        f = r.read_frame()
        self.assertEqual((f[0], f[1].get("receipt-id")), ("RECEIPT", "del"))
        self.assertNotIn("a%0Ab%3Ac%0D", self.durable_names())

    # -- refused headers -----------------------------------------------------------

    def test_refused_subscribe_headers(self):
        for header, value in (("selector", "price > 10"),
                              ("activemq.selector", "a = 1"),
                              ("activemq.noLocal", "true"),
                              ("activemq.retroactive", "true"),
                              ("activemq.exclusive", "true"),
                              ("exclusive", "true"),
                              ("x-queue-type", "quorum"),
                              ("x-queue-name", "Q"),
                              ("x-stream-offset", "first"),
                              ("x-message-ttl", "1000"),
                              ("x-max-length", "5")):
            with self.subTest(header=header):
                msg = self.expect_error(
                    2046, "options_error",
                    lambda c: c.conn.subscribe(
                        f"/queue/{unique('R')}", "r",
                        headers={header: value}))
                self.assertIn(f"'{header}:", msg)
        # Refused before anything is made, on topics too.
        base = unique("ref").lower()
        self.expect_error(2046, "options_error", lambda c: c.conn.subscribe(
            f"/topic/{base}", "r", headers={"selector": "a = 1",
                                            "durable": "true"}))
        self.assertFalse([s for s in self.subscriptions()
                          if s["filter"] == base])

    def test_harmless_values_are_accepted(self):
        base = unique("ok").lower()
        c = self.client()
        c.subscribe(f"/topic/{base}", headers={
            "activemq.noLocal": "false", "activemq.retroactive": "false",
            "activemq.exclusive": "false", "exclusive": "false",
            "x-queue-type": "classic", "activemq.prefetchSize": "10",
            "auto-delete": "true", "durable": "false",
            "persistent": "false"})
        self.publisher().send(f"/topic/{base}", "ok")
        self.assertEqual(c.message().body, "ok")

    # -- persistent on SEND ------------------------------------------------------

    def test_send_persistent_values(self):
        q = unique("PS")
        c = self.client()
        c.send(f"/queue/{q}", "p", headers={"persistent": "true"})
        c.send(f"/queue/{q}", "n", headers={"persistent": "false"})
        c.subscribe(f"/queue/{q}")
        got = c.messages(2)
        self.assertEqual([(g.body, g.headers["persistent"]) for g in got],
                         [("p", "true"), ("n", "false")])
        for bad in ("TRUE", "1", "yes", ""):
            with self.subTest(value=bad):
                r = self.raw()
                msg = self.raw_error(r, "SEND", {
                    "destination": f"/queue/{q}", "persistent": bad,
                    "receipt": "x"}, 2046)
                self.assertIn("persistent", msg)


if __name__ == "__main__":
    unittest.main()
