"""The qmesh CLI against a real qmesh-node: every command, exit codes, bad
input, 1,000 messages in order."""
import json
import re
import subprocess
import time
import unittest

from client_harness import CLI, ClientTestCase, Node, free_port, wait_for


class AdminTests(ClientTestCase):
    def test_status_text_and_json(self):
        st = self.fields(self.ok("status"))
        self.assertEqual(st["qmgr"], self.qmgr)
        self.assertRegex(st["version"], r"^\d+\.\d+\.\d+$")
        self.assertEqual(st["node"], self.node.address)
        self.assertIn("queue_count", st)
        j = json.loads(self.ok("status", "--json"))
        self.assertEqual(j["qmgr"], self.qmgr)
        self.assertGreaterEqual(j["queue_count"], 1)  # the dead-letter queue

    def test_define_with_every_option_then_inquire(self):
        self.ok("define-queue", "BACKOUT")
        out = self.ok("define-queue", "ORDERS", "--max-depth", "5000",
                      "--max-msg-length", "1024", "--persistent",
                      "--default-priority", "4", "--backout-threshold", "3",
                      "--backout-queue", "BACKOUT", "--description",
                      "order intake")
        self.assertIn("ORDERS", out)
        st = self.inquire("ORDERS")
        self.assertEqual(st["name"], "ORDERS")
        self.assertEqual(st["max_depth"], "5000")
        self.assertEqual(st["max_msg_length"], "1024")
        self.assertEqual(st["default_persistence"], "true")
        self.assertEqual(st["default_priority"], "4")
        self.assertEqual(st["backout_threshold"], "3")
        self.assertEqual(st["backout_queue"], "BACKOUT")
        self.assertEqual(st["description"], "order intake")
        self.assertEqual(st["current_depth"], "0")
        j = json.loads(self.ok("inquire", "ORDERS", "--json"))
        self.assertEqual(j["max_depth"], 5000)
        self.assertIs(j["default_persistence"], True)
        self.assertEqual(j["description"], "order intake")
        # Defining it again: 2100.
        self.assert_reason(self.cli("define-queue", "ORDERS"), 2100,
                           "object_already_exists")

    def test_set(self):
        self.ok("define-queue", "Q1")
        self.ok("set", "Q1", "--max-depth", "7", "--put-inhibited", "true",
                "--description", "seven")
        st = self.inquire("Q1")
        self.assertEqual(st["max_depth"], "7")
        self.assertEqual(st["put_inhibited"], "true")
        self.assertEqual(st["description"], "seven")
        self.assert_reason(self.cli("put", "Q1", "x"), 2051, "put_inhibited")
        self.ok("set", "Q1", "--put-inhibited", "false")
        self.ok("put", "Q1", "x")
        # A value the node refuses: reason code, and nothing changes.
        self.assert_reason(self.cli("set", "Q1", "--max-depth", "0",
                                    "--description", "changed"), 2046,
                           "options_error")
        self.assertEqual(self.inquire("Q1")["description"], "seven")
        self.assert_reason(self.cli("set", "Q1", "--default-priority", "12"),
                           2050, "priority_error")
        # Usage errors: unknown attribute, bad value, nothing to set.
        self.assert_usage(self.cli("set", "Q1", "--current-depth", "1"))
        self.assert_usage(self.cli("set", "Q1", "--max-depth", "many"),
                          "--max-depth")
        self.assert_usage(self.cli("set", "Q1", "--get-inhibited", "maybe"),
                          "--get-inhibited")
        self.assert_usage(self.cli("set", "Q1"))
        self.assert_reason(self.cli("set", "NOPE", "--max-depth", "5"), 2085,
                           "unknown_object_name")

    def test_list_queues_text_and_json(self):
        self.ok("define-queue", "A.ONE")
        self.ok("define-queue", "A.TWO")
        self.ok("put", "A.TWO", "m1", "m2")
        rows = [line.split() for line in
                self.ok("list-queues").strip().splitlines()]
        self.assertEqual(rows[0], ["QUEUE", "DEPTH", "CONSUMERS"])
        table = {r[0]: r[1:] for r in rows[1:]}
        self.assertEqual(table["A.ONE"], ["0", "0"])
        self.assertEqual(table["A.TWO"], ["2", "0"])
        self.assertIn("SYSTEM.DEAD.LETTER.QUEUE", table)
        j = json.loads(self.ok("list-queues", "--json"))
        by_name = {q["name"]: q for q in j}
        self.assertEqual(by_name["A.TWO"]["current_depth"], 2)
        self.assertEqual(by_name["A.ONE"]["consumer_count"], 0)
        # A pattern narrows the list.
        names = [q["name"] for q in
                 json.loads(self.ok("list-queues", "A.*", "--json"))]
        self.assertEqual(sorted(names), ["A.ONE", "A.TWO"])

    def test_purge_and_delete(self):
        self.ok("put", "DQ", "a", "b", "c")  # auto-defined
        self.assert_reason(self.cli("delete-queue", "DQ"), 2055,
                           "q_not_empty")
        out = self.ok("purge", "DQ")
        self.assertIn("3", out)
        self.assertEqual(self.inquire("DQ")["current_depth"], "0")
        self.ok("put", "DQ", "d")
        out = self.ok("delete-queue", "DQ", "--purge")
        self.assertIn("1 messages purged", out)
        self.assert_reason(self.cli("inquire", "DQ"), 2085,
                           "unknown_object_name")
        self.assert_reason(self.cli("purge", "DQ"), 2085)
        self.assert_reason(self.cli("delete-queue", "DQ"), 2085)
        self.assert_reason(self.cli("delete-queue",
                                    "SYSTEM.DEAD.LETTER.QUEUE", "--purge"),
                           2035, "not_authorized")


class MessagingTests(ClientTestCase):
    def test_control_characters_in_values_are_escaped(self):
        # A property value or correl_id with a newline or an ANSI escape
        # cannot forge descriptor lines or drive the terminal.
        forged = "x\nproperty admin: true\x1b[31m\\"
        self.ok("put", "ESC.Q", "body", "--correl-id", "c\r\n1",
                "--property", "note=" + forged)
        out = self.ok("get", "ESC.Q", "--show-descriptor")
        self.assertNotIn("\x1b", out)
        self.assertNotIn("\nproperty admin: true", out)
        lines = out.rstrip("\n").splitlines()
        self.assertIn("property note: x\\nproperty admin: true\\e[31m\\\\",
                      lines)
        self.assertIn("correl_id: c\\r\\n1", lines)
        # Every line but the body's is `key: value`.
        self.assertEqual(lines[-1], "body")
        for line in lines[:-1]:
            self.assertRegex(line, r"^[a-z_]+( [a-z]+)?: ")
        # A topic level may hold a newline: the listing escapes it.
        r = self.cli("subscribe", "evil\nFAKE  x/#", "--durable", "ESC",
                     "--queue", "ESC.Q", "--wait", "0")
        self.assertEqual(r.returncode, 0, r.stderr)
        rows = self.ok("list-subscriptions").splitlines()
        self.assertEqual(len(rows), 2, rows)
        self.assertIn("evil\\nFAKE  x/#", rows[1])

    def test_put_texts_get_with_descriptor(self):
        self.ok("put", "Q1", "hello", "--priority", "7", "--persistent",
                "--expiry", "600000", "--correl-id", "c-1", "--reply-to",
                "QMT/REPLIES", "--property", "color=red", "--property",
                "size=L", "--content-type", "text/plain")
        out = self.ok("get", "Q1", "--show-descriptor")
        d = self.fields(out)
        self.assertRegex(d["msg_id"], r"^[0-9a-f]{32}$")
        self.assertEqual(d["correl_id"], "c-1")
        self.assertEqual(d["priority"], "7")
        self.assertEqual(d["persistent"], "true")
        self.assertEqual(d["expiry"], "600000")
        self.assertEqual(d["reply_to_queue"], "REPLIES")
        self.assertEqual(d["reply_to_qmgr"], "QMT")
        self.assertEqual(d["origin_qmgr"], self.qmgr)
        self.assertRegex(d["put_time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")
        self.assertEqual(d["delivery_count"], "0")
        self.assertEqual(d["redelivered"], "false")
        self.assertEqual(d["content_type"], "text/plain")
        self.assertEqual(d["property color"], "red")
        self.assertEqual(d["property size"], "L")
        self.assertIn("\nhello\n", out)

    def test_each_text_is_one_message_bodies_one_per_line(self):
        self.ok("put", "Q1", "one", "two words", "three")
        self.assertEqual(self.ok("get", "Q1", "--count", "3"),
                         "one\ntwo words\nthree\n")

    def test_local_qmgr_address(self):
        self.ok("put", f"{self.qmgr}/LOCAL", "via address")
        self.assertEqual(self.ok("get", "LOCAL"), "via address\n")
        self.ok("put", "LOCAL", "again")
        self.assertEqual(self.ok("get", f"{self.qmgr}/LOCAL"), "again\n")

    def test_priority_order(self):
        self.ok("put", "Q1", "low", "--priority", "1")
        self.ok("put", "Q1", "high", "--priority", "9")
        self.ok("put", "Q1", "mid", "--priority", "5")
        self.assertEqual(self.ok("get", "Q1", "--all"), "high\nmid\nlow\n")

    def test_thousand_messages_in_order_from_stdin(self):
        lines = [f"message {i:04d} " + "x" * 50 for i in range(1000)]
        self.ok("put", "BULK", input="\n".join(lines) + "\n")
        self.assertEqual(self.inquire("BULK")["current_depth"], "1000")
        out = self.ok("get", "BULK", "--all")
        self.assertEqual(out.splitlines(), lines)
        self.assertEqual(self.inquire("BULK")["current_depth"], "0")

    def test_bulk_get_spans_batches_in_order(self):
        # 2,500 messages: three units of work of pipelined gets.
        lines = [f"m{i:05d}" for i in range(2500)]
        self.ok("put", "BULK", input="\n".join(lines) + "\n")
        self.assertEqual(self.ok("get", "BULK", "--count", "1500").splitlines(),
                         lines[:1500])
        st = self.inquire("BULK")
        self.assertEqual((st["current_depth"], st["uncommitted_count"]),
                         ("1000", "0"))
        self.assertEqual(self.ok("get", "BULK", "--all").splitlines(),
                         lines[1500:])
        self.assertEqual(self.inquire("BULK")["current_depth"], "0")

    def test_bulk_get_killed_mid_batch_loses_nothing(self):
        # The CLI writes to a pipe nobody reads: 200 KiB fill it, so the
        # CLI blocks mid-batch with every message taken. Killed there, it
        # leaves them all on the queue, redelivered, in order.
        body = "x" * 1024
        lines = [f"{i:04d}{body}" for i in range(200)]
        self.ok("put", "KEEP", input="\n".join(lines) + "\n")
        getter = subprocess.Popen(
            [CLI, "--node", self.node.address, "get", "KEEP", "--all"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.addCleanup(getter.stdout.close)
        self.addCleanup(getter.kill)
        taken = wait_for(
            lambda: self.inquire("KEEP")["uncommitted_count"] == "200")
        self.assertTrue(taken, self.inquire("KEEP"))
        self.assertIsNone(getter.poll())
        getter.kill()
        getter.wait()
        back = wait_for(
            lambda: self.inquire("KEEP")["uncommitted_count"] == "0")
        self.assertTrue(back, self.inquire("KEEP"))
        self.assertEqual(self.inquire("KEEP")["current_depth"], "200")
        out = self.ok("get", "KEEP", "--show-descriptor")
        self.assertIn("delivery_count: 1\n", out)
        self.assertIn("redelivered: true\n", out)
        self.assertEqual(out.splitlines()[-2], lines[0])
        self.assertEqual(self.ok("get", "KEEP", "--all").splitlines(),
                         lines[1:])

    def test_bulk_get_to_a_closed_stdout_keeps_the_batch(self):
        self.ok("put", "CLOSED", "a", "b", "c")
        r = subprocess.run(
            ["sh", "-c", 'exec "$0" "$@" >&-', CLI, "--node",
             self.node.address, "get", "CLOSED", "--all"],
            capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("writing stdout failed (this batch of 3 stays on "
                      "CLOSED)", r.stderr)
        self.assertTrue(wait_for(
            lambda: self.inquire("CLOSED")["uncommitted_count"] == "0"))
        self.assertEqual(self.ok("get", "CLOSED", "--all"), "a\nb\nc\n")

    def test_bulk_get_with_wait_prints_a_late_message_at_once(self):
        self.ok("put", "LATE", "early")
        getter = self.background(CLI, "--node", self.node.address, "get",
                                 "LATE", "--all", "--wait", "60000")
        getter.wait_line("^early$")
        self.ok("put", "LATE", "late")
        # Printed (and taken) while the get still waits for more.
        getter.wait_line("^late$")
        self.assertTrue(wait_for(
            lambda: self.inquire("LATE")["current_depth"] == "0"))
        self.assertIsNone(getter.proc.poll())

    def test_bulk_get_under_a_small_unit_of_work_limit(self):
        node = Node("--max-uncommitted", "300", qmgr="QMU")
        self.addCleanup(node.stop)
        lines = [f"u{i}" for i in range(1000)]
        r = node.cli("put", "U", input="\n".join(lines) + "\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        r = node.cli("get", "U", "--all")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.splitlines(), lines)

    def test_stdin_keeps_empty_lines_and_last_line_without_newline(self):
        self.ok("put", "Q1", input="a\n\nb")
        self.assertEqual(self.ok("get", "Q1", "--all"), "a\n\nb\n")

    def test_get_count_all_and_no_message(self):
        self.ok("put", "Q1", "a", "b")
        r = self.cli("get", "Q1", "--count", "3")
        self.assertEqual(r.stdout, "a\nb\n")
        self.assert_reason(r, 2033, "no_msg_available")
        r = self.cli("get", "Q1")
        self.assertEqual(r.stdout, "")
        self.assert_reason(r, 2033, "no_msg_available")
        # --all on an empty queue is fine.
        self.assertEqual(self.ok("get", "Q1", "--all"), "")

    def test_get_wait_times_out_and_returns_a_late_message(self):
        self.ok("define-queue", "W")
        t0 = time.monotonic()
        self.assert_reason(self.cli("get", "W", "--wait", "400"), 2033)
        self.assertGreaterEqual(time.monotonic() - t0, 0.35)
        getter = self.background(CLI, "--node", self.node.address, "get", "W",
                                 "--wait", "20000")
        self.ok("put", "W", "late")
        self.assertEqual(getter.wait(), 0, getter.rest("err"))
        self.assertEqual(getter.rest(), ["late"])

    def test_browse_does_not_remove(self):
        self.ok("put", "B", "a", "b", "c")
        self.assertEqual(self.ok("get", "B", "--browse", "--all"),
                         "a\nb\nc\n")
        self.assertEqual(self.ok("get", "B", "--browse", "--count", "2"),
                         "a\nb\n")
        self.assertEqual(self.inquire("B")["current_depth"], "3")
        self.assertEqual(self.ok("get", "B", "--all"), "a\nb\nc\n")

    def test_match_msg_id_and_correl_id(self):
        self.ok("put", "M", "first", "--correl-id", "alpha")
        self.ok("put", "M", "second", "--correl-id", "beta")
        self.ok("put", "M", "third")
        out = self.ok("get", "M", "--browse", "--all", "--show-descriptor")
        ids = re.findall(r"^msg_id: ([0-9a-f]{32})$", out, re.M)
        self.assertEqual(len(ids), 3)
        self.assertEqual(self.ok("get", "M", "--msg-id", ids[2]), "third\n")
        self.assertEqual(self.ok("get", "M", "--correl-id", "beta"),
                         "second\n")
        self.assert_reason(self.cli("get", "M", "--correl-id", "beta"), 2033)
        self.assert_reason(self.cli("get", "M", "--msg-id", ids[2]), 2033)
        self.assertEqual(self.ok("get", "M", "--all"), "first\n")

    def test_expired_messages_are_never_delivered(self):
        self.ok("put", "E", "short", "--expiry", "1")
        self.ok("put", "E", "long")
        # The short one expires 1 ms after its put: wait until the node
        # counts it expired, then only the long one is there.
        self.assertTrue(wait_for_json(
            self, ["inquire", "E", "--json"],
            lambda q: q["expired_total"] == 1))
        self.assertEqual(self.ok("get", "E", "--all"), "long\n")


class PubSubTests(ClientTestCase):
    def subscriber(self, *args):
        p = self.background(CLI, "--node", self.node.address, "subscribe",
                            *args)
        p.wait_line(r"^qmesh: subscribed to ", stream="err")
        return p

    def test_publish_subscribe(self):
        sub = self.subscriber("news/#", "--count", "2")
        self.assertIn("published to 1 subscription",
                      self.ok("publish", "news/uk", "first"))
        self.ok("publish", "sport/uk", "not for us")
        self.ok("publish", "news/uk/london", "second")
        self.assertEqual(sub.wait(), 0)
        self.assertEqual(sub.rest(), ["first", "second"])

    def test_wildcards_and_several_subscribers(self):
        one = self.subscriber("a/+/c", "--count", "1")
        two = self.subscriber("a/#", "--count", "2")
        self.assertIn("published to 2 subscriptions",
                      self.ok("publish", "a/b/c", "x"))
        self.ok("publish", "a/b", "y")
        self.assertEqual(one.wait(), 0)
        self.assertEqual(two.wait(), 0)
        self.assertEqual(one.rest(), ["x"])
        self.assertEqual(two.rest(), ["x", "y"])

    def test_retained_publication_goes_to_new_subscribers(self):
        self.ok("publish", "state/door", "closed", "--retain")
        self.ok("publish", "state/door", "open", "--retain")
        r = self.cli("subscribe", "state/#", "--count", "1", "--wait", "5000")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "open\n")

    def test_subscribe_wait_and_count(self):
        r = self.cli("subscribe", "quiet/#", "--wait", "200")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "")
        r = self.cli("subscribe", "quiet/#", "--wait", "200", "--count", "1")
        # stderr: the `subscribed` line, then the reason.
        self.assert_reason(r, 2033, "no_msg_available", only_line=False)

    def test_durable_subscription_outlives_the_subscriber(self):
        r = self.cli("subscribe", "orders/#", "--durable", "AUDIT", "--wait",
                     "100")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.ok("publish", "orders/new", "o-1")
        self.ok("publish", "orders/paid", "o-2")
        subs = json.loads(self.ok("list-subscriptions", "--json"))
        self.assertEqual([s["name"] for s in subs if s["durable"]], ["AUDIT"])
        r = self.cli("subscribe", "orders/#", "--durable", "AUDIT", "--count",
                     "2", "--wait", "5000")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "o-1\no-2\n")
        self.ok("unsubscribe", "AUDIT")
        self.assert_reason(self.cli("unsubscribe", "AUDIT"), 2085)
        # Same name, other filter: 2100 while it exists.
        self.cli("subscribe", "x/#", "--durable", "D2", "--wait", "0")
        self.assert_reason(self.cli("subscribe", "y/#", "--durable", "D2",
                                    "--wait", "0"), 2100,
                           "object_already_exists")

    def test_non_durable_subscription_ends_with_its_client(self):
        sub = self.subscriber("gone/#")
        subs = json.loads(self.ok("list-subscriptions", "--json"))
        self.assertEqual(len(subs), 1)
        sub.kill()
        self.assertTrue(wait_for_json(
            self, ["list-subscriptions", "--json"], lambda s: s == []))

    def test_subscription_to_a_named_queue_and_listing(self):
        r = self.cli("subscribe", "feed/#", "--durable", "FEED", "--queue",
                     "FEED.Q", "--wait", "0")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("(queue FEED.Q)", r.stderr)
        self.ok("publish", "feed/x", "item")
        self.assertEqual(self.ok("get", "FEED.Q"), "item\n")
        rows = [line.split() for line in
                self.ok("list-subscriptions").strip().splitlines()]
        self.assertEqual(rows, [
            ["NAME", "FILTER", "QUEUE", "DURABILITY", "DELIVERED"],
            ["FEED", "feed/#", "FEED.Q", "durable", "1"]])
        self.assertIn("FEED", self.ok("unsubscribe", "FEED"))
        self.assertEqual(self.ok("list-subscriptions"),
                         "NAME  FILTER  QUEUE  DURABILITY  DELIVERED\n")

    def test_bad_topics(self):
        self.assert_reason(self.cli("subscribe", "a/#/b"), 2425,
                           "topic_string_error")
        self.assert_reason(self.cli("publish", "a/+", "x"), 2425)
        r = self.cli("subscribe", "a.#")
        self.assert_reason(r, 2425, "topic_string_error")
        self.assertIn("did you mean 'a/#'?", r.stderr)


def wait_for_json(test, args, pred, timeout=10.0):
    """Polls a --json CLI command until pred(result) holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred(json.loads(test.ok(*args))):
            return True
        time.sleep(0.05)
    return False


class AutoDefineTests(ClientTestCase):
    def test_a_get_that_defined_the_queue_says_so(self):
        self.ok("put", "ORDERS", "x")
        r = self.cli("get", "ORDRES")  # a typo
        self.assertEqual(r.returncode, 1)
        self.assertIn("qmesh: note: queue ORDRES did not exist; this get "
                      "defined it", r.stderr)
        self.assertIn("2033 no_msg_available", r.stderr.splitlines()[-1])
        r = self.cli("get", "ORDRES.TOO", "--browse", "--all")
        self.assertEqual(r.returncode, 0)
        self.assertIn("this browse defined it", r.stderr)
        # A queue that was there: no note.
        r = self.cli("get", "ORDRES")
        self.assertNotIn("note", r.stderr)
        self.assertEqual(self.ok("get", "ORDERS"), "x\n")


class MoveTests(ClientTestCase):
    DLQ = "SYSTEM.DEAD.LETTER.QUEUE"

    def test_move_back_from_the_dead_letter_queue(self):
        for i in range(5):
            self.ok("put", self.DLQ, f"m{i}", "--property",
                    "qmesh.dlq.reason=2053 q_full", "--property",
                    "qmesh.dlq.source=ORDERS", "--property", "keep=yes")
        out = self.ok("move", self.DLQ, "ORDERS", "--count", "3",
                      "--batch", "2")
        self.assertEqual(out, f"3 messages moved from {self.DLQ} to ORDERS\n")
        self.assertEqual(self.inquire(self.DLQ)["current_depth"], "2")
        out = self.ok("get", "ORDERS", "--show-descriptor")
        d = self.fields(out)
        self.assertNotIn("property qmesh.dlq.reason", d)
        self.assertNotIn("property qmesh.dlq.source", d)
        self.assertEqual(d["property keep"], "yes")
        self.assertIn("\nm0\n", out)
        self.assertEqual(self.ok("get", "ORDERS", "--all"), "m1\nm2\n")
        # --all moves the rest (in order); --keep-dlq-properties keeps them.
        self.ok("move", self.DLQ, "ORDERS", "--all", "--keep-dlq-properties")
        out = self.ok("get", "ORDERS", "--show-descriptor")
        self.assertEqual(self.fields(out)["property qmesh.dlq.source"],
                         "ORDERS")
        self.assertEqual(self.ok("get", "ORDERS"), "m4\n")
        # Nothing left: --count 1 (the default) is 2033, --all is fine.
        r = self.cli("move", self.DLQ, "ORDERS")
        self.assertEqual(r.stdout, f"0 messages moved from {self.DLQ} to "
                                   "ORDERS\n")
        self.assert_reason(r, 2033, "no_msg_available")
        self.ok("move", self.DLQ, "ORDERS", "--all")

    def test_a_failed_batch_stays_in_the_source(self):
        self.ok("define-queue", "TINY", "--max-depth", "3",
                "--overflow-policy", "reject")
        self.ok("put", "SRC", *[f"s{i}" for i in range(7)])
        r = self.cli("move", "SRC", "TINY", "--all", "--batch", "2")
        # The first batch fits, the second does not: it is backed out.
        self.assertEqual(r.stdout, "2 messages moved from SRC to TINY\n")
        self.assert_reason(r, 2053, "q_full")
        self.assertIn("(this batch of 2 stays in SRC)", r.stderr)
        self.assertEqual(self.inquire("TINY")["current_depth"], "2")
        self.assertEqual(self.inquire("SRC")["current_depth"], "5")
        self.assertEqual(self.ok("get", "SRC"), "s2\n")

    def test_bad_usage(self):
        for args in (["move", "A"], ["move", "A", "B", "--count", "0"],
                     ["move", "A", "B", "--count", "2", "--all"],
                     ["move", "A", "B", "--batch", "10001"],
                     ["move", "A", "A", "--all"]):
            with self.subTest(args=args):
                r = self.cli(*args)
                self.assertEqual(r.returncode, 2, r.stderr)


class BadInputTests(ClientTestCase):
    def test_pointed_at_the_stomp_port(self):
        # Plain words, not CAF's: the native client met another protocol.
        r = subprocess.run([CLI, "--node", f"127.0.0.1:{self.node.stomp_port}",
                            "status"], capture_output=True, text=True,
                           timeout=60)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertEqual(len(r.stderr.splitlines()), 1, r.stderr)
        self.assertIn("2059 q_mgr_not_available", r.stderr)
        self.assertIn("does not speak qmesh's native protocol", r.stderr)
        self.assertNotIn("basp", r.stderr.lower())
        self.assertIsNone(self.node.proc.poll())

    def test_help_and_version(self):
        r = subprocess.run([CLI, "--help"], capture_output=True, text=True,
                           timeout=30)
        self.assertEqual(r.returncode, 0)
        for cmd in ["define-queue", "delete-queue", "purge", "list-queues",
                    "inquire", "set", "put", "get", "publish", "subscribe",
                    "status"]:
            self.assertIn(cmd, r.stdout)
        r = subprocess.run([CLI, "--version"], capture_output=True, text=True,
                           timeout=30)
        self.assertRegex(r.stdout, r"^qmesh \d+\.\d+\.\d+\n$")
        r = subprocess.run([CLI, "get", "--help"], capture_output=True,
                           text=True, timeout=30)
        self.assertEqual(r.returncode, 0)
        for opt in ["--wait", "--count", "--all", "--browse", "--msg-id",
                    "--correl-id", "--show-descriptor"]:
            self.assertIn(opt, r.stdout)

    def test_usage_errors_exit_2(self):
        self.ok("put", "KEEP", "precious")
        cases = [
            ([], None),
            (["frobnicate"], "frobnicate"),
            (["--bogus", "status"], "--bogus"),
            (["status", "--bogus"], "--bogus"),
            (["get"], "ADDRESS"),
            (["put"], "ADDRESS"),
            (["define-queue"], "NAME"),
            (["publish", "t"], "TEXT"),
            (["get", "KEEP", "--count", "x"], "--count"),
            (["get", "KEEP", "--count", "0"], "--count"),
            (["get", "KEEP", "--count", "2", "--all"], "--all"),
            (["get", "KEEP", "--wait", "soon"], "--wait"),
            (["get", "KEEP", "--msg-id", "xyz"], "--msg-id"),
            (["get", "KEEP", "--wait"], "--wait"),
            (["put", "KEEP", "x", "--priority", "12"], "--priority"),
            (["put", "KEEP", "x", "--priority", "high"], "--priority"),
            (["put", "KEEP", "x", "--expiry", "-5"], "--expiry"),
            (["put", "KEEP", "x", "--property", "novalue"], "--property"),
            (["define-queue", "Q", "--max-depth", "-1"], "--max-depth"),
            (["define-queue", "Q", "--default-priority", "x"],
             "--default-priority"),
            (["inquire", "A", "B"], None),
            (["--node", "nohostport", "status"], "--node"),
            (["--node", "127.0.0.1:99999", "status"], "--node"),
        ]
        for args, mentions in cases:
            with self.subTest(args=args):
                self.assert_usage(self.cli(*args), mentions)
        # The node is unaffected and lost nothing.
        self.assertEqual(self.fields(self.ok("status"))["qmgr"], self.qmgr)
        self.assertEqual(self.ok("get", "KEEP"), "precious\n")

    def test_bad_names_give_reason_codes(self):
        self.ok("put", "KEEP", "precious")
        self.assert_reason(self.cli("define-queue", "bad name!"), 2152,
                           "object_name_error")
        self.assert_reason(self.cli("define-queue", "X" * 49), 2152)
        self.assert_reason(self.cli("put", "a/b/c", "x"), 2152)
        self.assert_reason(self.cli("get", "no such"), 2152)
        self.assert_reason(self.cli("put", "OTHERQM/Q", "x"), 2087,
                           "unknown_remote_qmgr")
        self.assert_reason(self.cli("inquire", "MISSING"), 2085,
                           "unknown_object_name")
        self.assert_reason(self.cli("set", "KEEP", "--backout-queue",
                                    "bad name"), 2152)
        self.assertEqual(self.fields(self.ok("status"))["qmgr"], self.qmgr)
        self.assertEqual(self.ok("get", "KEEP"), "precious\n")

    def test_limits_give_reason_codes(self):
        self.ok("define-queue", "SMALL", "--max-depth", "2",
                "--max-msg-length", "10")
        self.assert_reason(self.cli("put", "SMALL", "x" * 11), 2030,
                           "msg_too_big_for_q")
        self.ok("put", "SMALL", "a", "b")
        # A full queue (block policy) holds the put for its put wait.
        self.assert_reason(self.cli("put", "SMALL", "c", "--put-wait", "200"),
                           2053, "q_full")
        # A batch is all or nothing.
        self.ok("get", "SMALL")
        self.assert_reason(self.cli("put", "SMALL", "c", "d",
                                    "--put-wait", "0"), 2053)
        self.assertEqual(self.inquire("SMALL")["current_depth"], "1")

    def test_put_from_stdin_that_stops_says_how_many_lines_went_in(self):
        # Batches of 1,000 lines, each all or nothing: the second one does
        # not fit into max_depth 1500.
        self.ok("define-queue", "HALF", "--max-depth", "1500")
        lines = "".join(f"line {i}\n" for i in range(1, 2501))
        r = self.cli("put", "HALF", "--put-wait", "0", input=lines)
        self.assert_reason(r, 2053, "q_full")
        self.assertIn("(1000 lines put: 1 to 1000; none from line 1001 on)",
                      r.stderr)
        self.assertEqual(self.inquire("HALF")["current_depth"], "1000")


class UnreachableTests(unittest.TestCase):
    def test_unreachable_node_one_line_exit_1(self):
        port = free_port()  # nothing listens there
        for args in (["status"], ["put", "Q", "x"], ["get", "Q"]):
            with self.subTest(args=args):
                r = subprocess.run([CLI, "--node", f"127.0.0.1:{port}",
                                    *args], capture_output=True, text=True,
                                   timeout=30)
                self.assertEqual(r.returncode, 1, r.stderr)
                self.assertEqual(r.stdout, "")
                lines = r.stderr.strip().splitlines()
                self.assertEqual(len(lines), 1, r.stderr)
                self.assertIn(f"127.0.0.1:{port}", lines[0])
                self.assertTrue(
                    lines[0].startswith("qmesh: 2059 q_mgr_not_available"),
                    lines[0])


if __name__ == "__main__":
    unittest.main(verbosity=2)
