"""STOMP 1.0 and 1.1 next to 1.2 (docs/protocol-stomp.md, "Versions"):
version negotiation, each version's header escapes, ACK and NACK by
message-id, 1.0 without heart-beats and with SUBSCRIBE without id, hostile
ACKs; then stomp.py's Connection11 and Connection10 against a real node.

Raw frames over sockets with the reader of stomp_frames_test.py, its
header decoding swapped for the version's. Nothing sleeps to synchronise:
reads have deadlines, receipts are barriers, queue state is awaited with
wait_for. The one timed read (heart-beats absent for 1.0) has a positive
control on the same node.
"""
import queue
import re
import unittest

import stomp

from harness import wait_for
from stomp_frames_test import (READ_TIMEOUT, StompCase, frame_bytes,
                               header_decoder, unique, unescape)

HEX32 = re.compile(r"^[0-9a-f]{32}$")
DELIVERY_ID = re.compile(r"^[0-9]+-[0-9]+$")

# STOMP 1.1 header decoding: no \r (the server must never send it).
unescape_11 = header_decoder({"\\\\": "\\", "\\n": "\n", "\\c": ":"},
                             "1.1 escape")


def literal(text):
    """STOMP 1.0: no escapes."""
    return text


DECODERS = {"1.0": literal, "1.1": unescape_11, "1.2": unescape}


class VersionCase(StompCase):
    def connect_version(self, accept, *extra, expect=None):
        """A connection whose CONNECT sends accept-version `accept` (None:
        no header); its CONNECTED must say `expect` (default: accept)."""
        c = self.open()
        headers = [("host", "localhost")]
        if accept is not None:
            headers.insert(0, ("accept-version", accept))
        c.send("CONNECT", headers + list(extra))
        c.connected = c.expect("CONNECTED")
        version = expect or accept
        self.assertEqual(c.connected["version"], version, c.connected)
        c.unescape = DECODERS[version]
        return c

    def fill(self, c, q, n):
        """n messages m0.. on queue q (sent by c, receipted)."""
        c.raw(b"".join(frame_bytes("SEND", [("destination", f"/queue/{q}")],
                                   f"m{i}") for i in range(n - 1)))
        self.put(c, f"/queue/{q}", f"m{n - 1}")

    def alive(self):
        """The node still serves a fresh 1.2 connection."""
        c = self.connect()
        self.put(c, "/queue/" + unique("ALIVE"), "still here")


# -- negotiation --------------------------------------------------------------

class NegotiationTests(VersionCase):
    def test_no_accept_version_is_10(self):
        c = self.connect_version(None, expect="1.0")
        # 1.0 has no heart-beats: CONNECTED offers none.
        self.assertNotIn("heart-beat", c.connected)
        self.assertRegex(c.connected["session"], r"^[0-9a-f]{16}$")
        self.put(c, "/queue/" + unique(), "1.0 works")

    def test_highest_common_version(self):
        for accept, want in [("1.0", "1.0"), ("1.0,1.1", "1.1"),
                             ("1.1,1.2", "1.2"), ("1.2,1.0", "1.2"),
                             (" 1.1 , 1.0 ", "1.1"), ("1.1,3.0", "1.1")]:
            with self.subTest(accept=accept):
                c = self.connect_version(accept, expect=want)
                if want != "1.0":
                    self.assertEqual(c.connected["heart-beat"],
                                     "10000,10000")
                self.put(c, "/queue/" + unique(), f"as {want}")

    def test_no_version_in_common(self):
        for command in ("CONNECT", "STOMP"):
            with self.subTest(command=command):
                c = self.open()
                c.send(command, [("accept-version", "2.0"), ("host", "h"),
                                 ("receipt", "v")])
                f = self.assert_error(c, 2046, receipt="v",
                                      contains="no STOMP version in common")
                self.assertEqual(f["version"], "1.0,1.1,1.2")
                self.assertIn("'2.0'", f["message"])
        self.alive()

    def test_frames_behind_connect_use_the_new_version(self):
        # A 1.0 client that writes CONNECT and SEND at once: the SEND's
        # backslash is a backslash, not an (undefined) escape.
        q = unique()
        c = self.open()
        c.raw(frame_bytes("CONNECT", [("host", "h")])
              + frame_bytes("SEND", [("destination", f"/queue/{q}"),
                                     ("path", "C:\\tmp\\new"),
                                     ("receipt", "s")], "x", raw=True))
        self.assertEqual(c.expect("CONNECTED")["version"], "1.0")
        c.unescape = literal
        c.receipt("s")
        d = self.connect()
        self.subscribe(d, f"/queue/{q}")
        self.assertEqual(d.message()["path"], "C:\\tmp\\new")

    def test_stomp_frame_negotiates_too(self):
        c = self.open()
        c.send("STOMP", [("accept-version", "1.1"), ("host", "h")])
        self.assertEqual(c.expect("CONNECTED")["version"], "1.1")


# -- header escapes -----------------------------------------------------------

class EscapeTests(VersionCase):
    def test_11_refuses_backslash_r(self):
        c = self.connect_version("1.1")
        rid = unique("r")
        c.send("SEND", [("destination", "/queue/" + unique()),
                        ("x", "a\\rb"), ("receipt", rid)], "x", raw=True)
        self.assert_error(c, 2046, receipt=rid, contains="\\r")
        self.alive()

    def test_11_escapes_round_trip(self):
        q = unique()
        c = self.connect_version("1.1")
        # \n \c \\ in a name and a value, as the wire carries them.
        c.send("SEND", [("destination", f"/queue/{q}"),
                        ("k\\cey", "a\\nb\\cc\\\\d"), ("receipt", "s")],
               "x", raw=True)
        c.receipt("s")
        self.subscribe(c, f"/queue/{q}")
        m = c.message()
        self.assertEqual(m["k:ey"], "a\nb:c\\d")
        # The 1.2 reader agrees on what the message holds.
        d = self.connect()
        self.put(d, f"/queue/{q}", "y", ("z", "a\nb:c\\d\re"))
        m = c.message()
        # 1.1 has no escape for CR: it arrives as a space.
        self.assertEqual(m["z"], "a\nb:c\\d e")
        self.assertEqual(m.body, b"y")

    def test_10_backslash_is_literal(self):
        q = unique()
        c = self.connect_version("1.0")
        c.send("SEND", [("destination", f"/queue/{q}"),
                        ("path", "C:\\new\\table\\c"), ("receipt", "r:1")],
               "x", raw=True)
        c.receipt("r:1")
        sid = self.subscribe(c, f"/queue/{q}")
        m = c.message()
        self.assertEqual(m["path"], "C:\\new\\table\\c")
        self.assertEqual(m["subscription"], sid)
        # A 1.2 client sees the same value (escaped on its wire).
        d = self.connect()
        d.request("SEND", [("destination", f"/queue/{q}"),
                           ("line", "one\ntwo\r"), ("a:b", "v")], "y")
        m = c.message()
        # 1.0 cannot carry CR or LF (nor ':' in a name): spaces instead; the
        # frame stays well formed.
        self.assertEqual(m["line"], "one two ")
        self.assertEqual(m["a b"], "v")
        self.assertEqual(m.body, b"y")

    def test_10_error_is_not_escaped(self):
        # assert_error reads `2046 options_error: ...` with a literal ':'
        # (1.2 would send \c) and the receipt-id as sent.
        c = self.connect_version("1.0")
        c.send("NACK", [("message-id", "1-1"), ("receipt", "n:1")], raw=True)
        f = self.assert_error(c, 2046, receipt="n:1")
        self.assertIn("unknown command NACK", f["message"])


# -- acknowledgements -----------------------------------------------------------

class Ack11Tests(VersionCase):
    def test_message_headers(self):
        q = unique()
        c = self.connect_version("1.1")
        self.fill(c, q, 2)
        sid = self.subscribe(c, f"/queue/{q}", ack="client-individual")
        m0, m1 = c.messages(2)
        for m in (m0, m1):
            self.assertNotIn("ack", m)
            self.assertRegex(m["message-id"], DELIVERY_ID)
            self.assertRegex(m["qmesh-message-id"], HEX32)
            self.assertEqual(m["subscription"], sid)
        self.assertNotEqual(m0["message-id"], m1["message-id"])

    def test_client_individual(self):
        q = unique()
        c = self.connect_version("1.1")
        self.fill(c, q, 3)
        sid = self.subscribe(c, f"/queue/{q}", ack="client-individual")
        m0, m1, m2 = c.messages(3)
        c.request("ACK", [("message-id", m1["message-id"]),
                          ("subscription", sid)])
        self.assertEqual(self.depth(q), 2)
        c.close()
        # m0 and m2 come back, m1 does not.
        self.assertTrue(wait_for(
            lambda: self.cli_bodies(q, browse=True) == ["m0", "m2"], 5))

    def test_client_cumulative(self):
        q = unique()
        c = self.connect_version("1.1")
        self.fill(c, q, 3)
        sid = self.subscribe(c, f"/queue/{q}", ack="client")
        m0, m1, m2 = c.messages(3)
        c.request("ACK", [("message-id", m1["message-id"]),
                          ("subscription", sid)])   # m0 and m1
        self.assertEqual(self.depth(q), 1)
        c.close()
        self.assertTrue(wait_for(
            lambda: self.cli_bodies(q, browse=True) == ["m2"], 5))

    def test_nack_redelivers(self):
        q = unique()
        c = self.connect_version("1.1")
        self.fill(c, q, 1)
        sid = self.subscribe(c, f"/queue/{q}", ack="client-individual")
        m = c.message()
        c.request("NACK", [("message-id", m["message-id"]),
                           ("subscription", sid)])
        r = c.message()
        self.assertEqual((r.body, r["redelivered"]), (b"m0", "true"))
        self.assertNotEqual(r["message-id"], m["message-id"])
        self.assertEqual(r["qmesh-message-id"], m["qmesh-message-id"])
        c.request("ACK", [("message-id", r["message-id"]),
                          ("subscription", sid)])
        self.assertEqual(self.depth(q), 0)

    def test_ack_in_transaction(self):
        q = unique()
        c = self.connect_version("1.1")
        self.fill(c, q, 1)
        sid = self.subscribe(c, f"/queue/{q}", ack="client")
        m = c.message()
        c.request("BEGIN", [("transaction", "t")])
        c.request("ACK", [("message-id", m["message-id"]),
                          ("subscription", sid), ("transaction", "t")])
        self.assertEqual(self.depth(q), 1)
        c.request("COMMIT", [("transaction", "t")])
        self.assertEqual(self.depth(q), 0)

    def hostile(self, headers, code, contains):
        q = unique()
        c = self.connect_version("1.1")
        self.fill(c, q, 1)
        sid = self.subscribe(c, f"/queue/{q}", ack="client-individual")
        m = c.message()
        values = {"MID": m["message-id"], "SID": sid}
        hs = [(k, values.get(v, v)) for k, v in headers] + [("receipt", "h")]
        c.send("ACK", hs)
        self.assert_error(c, code, receipt="h", contains=contains)
        # The message was not acked: it returns.
        self.assertTrue(wait_for(
            lambda: self.cli_bodies(q, browse=True) == ["m0"], 5))
        self.alive()

    def test_unknown_message_id(self):
        for mid in ("999-1", "nonsense", "1-", "-1",
                    "18446744073709551616-1"):
            with self.subTest(mid=mid):
                self.hostile([("message-id", mid), ("subscription", "SID")],
                             2019, "unknown message-id")

    def test_wrong_subscription(self):
        self.hostile([("message-id", "MID"), ("subscription", "other")],
                     2019, "was not delivered to subscription 'other'")

    def test_missing_headers(self):
        self.hostile([("message-id", "MID")], 2046,
                     "needs a non-empty 'subscription'")
        self.hostile([("subscription", "SID")], 2046,
                     "needs a non-empty 'message-id'")
        # 1.2's `id` does not stand in for 1.1's message-id.
        self.hostile([("id", "MID"), ("subscription", "SID")], 2046,
                     "needs a non-empty 'message-id'")

    def test_subscribe_needs_id(self):
        c = self.connect_version("1.1")
        c.send("SUBSCRIBE", [("destination", "/queue/" + unique()),
                             ("receipt", "s")])
        self.assert_error(c, 2046, receipt="s", contains="'id'")


class Ack10Tests(VersionCase):
    def test_ack_by_message_id(self):
        q = unique()
        c = self.connect_version("1.0")
        self.fill(c, q, 3)
        sid = self.subscribe(c, f"/queue/{q}", ack="client-individual")
        m0, m1, m2 = c.messages(3)
        self.assertNotIn("ack", m0)
        self.assertRegex(m0["message-id"], DELIVERY_ID)
        c.request("ACK", [("message-id", m0["message-id"])])
        # With the (optional) subscription it must match.
        c.request("ACK", [("message-id", m2["message-id"]),
                          ("subscription", sid)])
        self.assertEqual(self.depth(q), 1)
        c.close()
        self.assertTrue(wait_for(
            lambda: self.cli_bodies(q, browse=True) == ["m1"], 5))

    def test_client_ack_is_cumulative(self):
        q = unique()
        c = self.connect_version("1.0")
        self.fill(c, q, 3)
        self.subscribe(c, f"/queue/{q}", ack="client")
        m0, m1, m2 = c.messages(3)
        c.request("ACK", [("message-id", m1["message-id"])])
        c.close()
        self.assertTrue(wait_for(
            lambda: self.cli_bodies(q, browse=True) == ["m2"], 5))

    def test_nack_is_unknown(self):
        q = unique()
        c = self.connect_version("1.0")
        self.fill(c, q, 1)
        self.subscribe(c, f"/queue/{q}", ack="client")
        m = c.message()
        c.send("NACK", [("message-id", m["message-id"]), ("receipt", "n")])
        f = self.assert_error(c, 2046, receipt="n")
        self.assertIn("unknown command NACK", f["message"])
        self.alive()

    def test_unknown_message_id(self):
        c = self.connect_version("1.0")
        c.send("ACK", [("message-id", "7-7"), ("receipt", "a")])
        self.assert_error(c, 2019, receipt="a", contains="unknown message-id")
        self.alive()

    def test_subscribe_without_id(self):
        q = unique()
        c = self.connect_version("1.0")
        self.fill(c, q, 2)
        c.request("SUBSCRIBE", [("destination", f"/queue/{q}"),
                                ("ack", "client")])
        m0, m1 = c.messages(2)
        # No id, so no subscription header.
        self.assertNotIn("subscription", m0)
        self.assertEqual(m0["destination"], f"/queue/{q}")
        # ACK names no subscription (a wrong one is refused below).
        c.request("ACK", [("message-id", m1["message-id"])])
        # UNSUBSCRIBE by destination.
        c.request("UNSUBSCRIBE", [("destination", f"/queue/{q}")])
        self.put(c, f"/queue/{q}", "after")
        self.assertEqual(self.cli_bodies(q, browse=True), ["after"])
        # A second SUBSCRIBE without id to one destination is refused.
        c.request("SUBSCRIBE", [("destination", f"/queue/{q}")])
        c.send("SUBSCRIBE", [("destination", f"/queue/{q}"),
                             ("receipt", "again")])
        self.assert_error(c, 2046, receipt="again",
                          contains="already subscribed")

    def test_unsubscribe_needs_id_or_destination(self):
        c = self.connect_version("1.0")
        c.send("UNSUBSCRIBE", [("receipt", "u")])
        self.assert_error(c, 2046, receipt="u", contains="'destination'")

    def test_wrong_subscription(self):
        q = unique()
        c = self.connect_version("1.0")
        self.fill(c, q, 1)
        self.subscribe(c, f"/queue/{q}", sid="one", ack="client")
        m = c.message()
        c.send("ACK", [("message-id", m["message-id"]),
                       ("subscription", "two"), ("receipt", "w")])
        self.assert_error(c, 2019, receipt="w",
                          contains="not delivered to subscription 'two'")
        self.alive()


class HeartBeat10Tests(VersionCase):
    node_args = ("--stomp-heartbeat", "100")

    def test_10_ignores_heart_beat(self):
        # Malformed for 1.1/1.2, ignored by 1.0.
        c = self.connect_version(None, ("heart-beat", "soon"), expect="1.0")
        self.assertNotIn("heart-beat", c.connected)
        c = self.connect_version(None, ("heart-beat", "100,100"),
                                 expect="1.0")
        self.assertNotIn("heart-beat", c.connected)
        # Positive control: 1.1 on this node gets EOLs every 100 ms.
        # (It asks for the server's beats only, so that its own silence
        # does not end it.)
        d = self.connect_version("1.1", ("heart-beat", "0,100"))
        self.assertEqual(d.connected["heart-beat"], "100,100")
        got_d = d.quiet(0.6)
        got_c = c.quiet(0.6)
        self.assertGreaterEqual(got_d.count(b"\n"), 2, got_d)
        # 1.0: no EOLs, and no heart-beat timeout although it sent nothing
        # for longer than 2 x 100 ms.
        self.assertEqual(got_c, b"")
        self.assertFalse(c.eof)
        self.put(c, "/queue/" + unique(), "alive")

    def test_11_heart_beat_still_checked(self):
        c = self.open()
        c.send("CONNECT", [("accept-version", "1.1"), ("host", "h"),
                           ("heart-beat", "soon")])
        self.assert_error(c, 2046, contains="heart-beat")


# -- stomp.py's Connection11 and Connection10 -----------------------------------

class Listener(stomp.ConnectionListener):
    def __init__(self):
        self.messages = queue.Queue()
        self.receipts = queue.Queue()
        self.errors = []

    def on_message(self, frame):
        self.messages.put(frame)

    def on_receipt(self, frame):
        self.receipts.put(frame.headers.get("receipt-id"))

    def on_error(self, frame):
        self.errors.append(frame)


class LibraryTests(VersionCase):
    def library(self, cls):
        conn = cls([self.node.stomp_address])
        listener = Listener()
        conn.set_listener("l", listener)
        conn.connect(wait=True)
        self.addCleanup(lambda: conn.is_connected() and conn.disconnect())
        return conn, listener

    def get(self, listener, n):
        return [listener.messages.get(timeout=READ_TIMEOUT) for _ in range(n)]

    def receipt(self, listener, rid):
        self.assertEqual(listener.receipts.get(timeout=READ_TIMEOUT), rid)

    def round_trip(self, cls, value, ack):
        """Send, subscribe with client ack, ack, redelivery of the rest;
        `value` is a user header value that must survive the round trip."""
        q = unique("LIB")
        conn, listener = self.library(cls)
        for i in range(3):
            conn.send(f"/queue/{q}", f"b{i}",
                      headers={"x-value": value, "receipt": f"s{i}"})
            self.receipt(listener, f"s{i}")
        conn.subscribe(f"/queue/{q}", id="sub-1", ack="client")
        ms = self.get(listener, 3)
        self.assertEqual([m.body for m in ms], ["b0", "b1", "b2"])
        self.assertEqual(ms[0].headers["x-value"], value)
        ack(conn, ms[1], "sub-1")       # client: b0 and b1
        self.receipt(listener, "a")
        conn.disconnect(receipt="bye")
        self.assertEqual(listener.errors, [])
        self.assertTrue(wait_for(
            lambda: self.cli_bodies(q, browse=True) == ["b2"], 5))
        # Redelivered to the next connection; acked for good this time.
        conn, listener = self.library(cls)
        conn.subscribe(f"/queue/{q}", id="sub-2", ack="client-individual")
        (m,) = self.get(listener, 1)
        self.assertEqual((m.body, m.headers.get("redelivered")),
                         ("b2", "true"))
        ack(conn, m, "sub-2")
        self.receipt(listener, "a")
        conn.disconnect(receipt="bye")
        self.assertEqual(listener.errors, [])
        self.assertTrue(wait_for(lambda: self.depth(q) == 0, 5))

    def test_connection11(self):
        def ack(conn, m, sid):
            conn.ack(m.headers["message-id"], sid, receipt="a")
        # stomp.py does not escape what it sends: no backslash here (an
        # undefined 1.1 escape); its raw ':' in a value is accepted.
        self.round_trip(stomp.Connection11, "a:b", ack)

    def test_connection10(self):
        def ack(conn, m, sid):
            conn.ack(m.headers["message-id"], receipt="a")
        # 1.0: a backslash is a backslash, both ways (not before a letter
        # stomp.py would unescape anyway: it reads every version as 1.2).
        self.round_trip(stomp.Connection10, "C:\\dir:1", ack)

    def test_connection11_nack(self):
        q = unique("LIB")
        conn, listener = self.library(stomp.Connection11)
        conn.send(f"/queue/{q}", "n", headers={"receipt": "s"})
        self.receipt(listener, "s")
        conn.subscribe(f"/queue/{q}", id="7", ack="client-individual")
        (m,) = self.get(listener, 1)
        conn.nack(m.headers["message-id"], "7")
        (r,) = self.get(listener, 1)
        self.assertEqual((r.body, r.headers.get("redelivered")),
                         ("n", "true"))
        conn.ack(r.headers["message-id"], "7", receipt="a")
        self.receipt(listener, "a")
        self.assertEqual(self.depth(q), 0)
        self.assertEqual(listener.errors, [])


if __name__ == "__main__":
    unittest.main()
