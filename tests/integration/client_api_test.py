"""The client library and the request/reply example against a real
qmesh-node: the API checks, request/reply with reply_to and correl_id, a
client killed while holding unacked messages, an unreachable node."""
import json
import signal
import subprocess
import unittest

from client_harness import (CLI, CLIENT_CHECK, REQUEST_REPLY, Background,
                            ClientTestCase, Node, free_port, wait_for)


class LibraryTests(ClientTestCase):
    def test_api_checks(self):
        r = subprocess.run([CLIENT_CHECK, self.node.address, "api", "T"],
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertNotIn("FAIL", r.stdout)
        self.assertGreaterEqual(r.stdout.count("ok "), 12, r.stdout)
        # The node is fine afterwards.
        self.assertEqual(self.fields(self.ok("status"))["qmgr"], self.qmgr)

    def test_connect_reports_the_queue_manager(self):
        r = subprocess.run([CLIENT_CHECK, self.node.address, "connect"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, f"{self.qmgr}\n")

    def test_killed_client_unacked_messages_come_back_redelivered(self):
        self.ok("put", "WORK", "m1", "m2", "m3", "m4", "m5")
        holder = self.background(CLIENT_CHECK, self.node.address, "hold",
                                 "WORK", "3")
        holder.wait_line(r"^held 3$")
        st = self.inquire("WORK")
        self.assertEqual(st["unacked_count"], "3")
        self.assertEqual(st["consumer_count"], "1")
        self.assertEqual(st["current_depth"], "5")
        holder.kill(signal.SIGKILL)
        # The node notices the lost connection and returns the deliveries.
        self.assertTrue(wait_for(
            lambda: self.inquire("WORK")["unacked_count"] == "0"
            and self.inquire("WORK")["consumer_count"] == "0"),
            self.inquire("WORK"))
        out = self.ok("get", "WORK", "--all", "--show-descriptor")
        msgs = [self.fields(block) for block in out.strip().split("\n\n")]
        bodies = [block.strip().splitlines()[-1]
                  for block in out.strip().split("\n\n")]
        self.assertEqual(bodies, ["m1", "m2", "m3", "m4", "m5"])
        self.assertEqual([m["redelivered"] for m in msgs],
                         ["true"] * 3 + ["false"] * 2)
        self.assertEqual([m["delivery_count"] for m in msgs],
                         ["1"] * 3 + ["0"] * 2)

    def test_killed_client_unit_of_work_ends(self):
        # The responder gets each request under a unit of work; killed while
        # it waits for one, its unit of work ends on the node.
        self.ok("put", "REQ", "ping")
        responder = self.background(REQUEST_REPLY, "--node",
                                    self.node.address, "responder",
                                    "--queue", "REQ", "--count", "2")
        # It serves the request (reply goes nowhere useful: no reply_to).
        responder.wait_line(r"no reply_to_queue", stream="err")
        # Now it waits for a second request under a new unit of work.
        self.assertTrue(wait_for(
            lambda: json.loads(self.ok("status", "--json"))["open_uow_count"]
            == 1))
        responder.kill(signal.SIGKILL)
        self.assertTrue(wait_for(
            lambda: json.loads(self.ok("status", "--json"))["open_uow_count"]
            == 0))


class RequestReplyTests(ClientTestCase):
    def test_request_reply(self):
        responder = self.background(REQUEST_REPLY, "--node",
                                    self.node.address, "responder",
                                    "--queue", "SVC.REQ", "--count", "3")
        r = subprocess.run([REQUEST_REPLY, "--node", self.node.address,
                            "requester", "--queue", "SVC.REQ",
                            "--reply-queue", "APP.REPLY", "hello", "big",
                            "world"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "HELLO\nBIG\nWORLD\n")
        self.assertEqual(responder.wait(), 0, responder.rest("err"))
        self.assertEqual(self.inquire("SVC.REQ")["current_depth"], "0")
        self.assertEqual(self.inquire("APP.REPLY")["current_depth"], "0")

    def test_requesters_sharing_a_reply_queue_get_their_own_replies(self):
        responder = self.background(REQUEST_REPLY, "--node",
                                    self.node.address, "responder",
                                    "--queue", "SVC.REQ", "--count", "20")
        requesters = [
            self.background(REQUEST_REPLY, "--node", self.node.address,
                            "requester", "--queue", "SVC.REQ",
                            "--reply-queue", "SHARED.REPLY",
                            *[f"r{n}-m{i}" for i in range(5)])
            for n in range(4)]
        for n, req in enumerate(requesters):
            self.assertEqual(req.wait(60), 0, req.rest("err"))
            self.assertEqual(req.rest(), [f"R{n}-M{i}" for i in range(5)])
        self.assertEqual(responder.wait(), 0)

    def test_reply_matches_by_correl_id_with_the_cli(self):
        # The same protocol by hand: a reply carries the request's msg_id
        # as its correl_id.
        responder = self.background(REQUEST_REPLY, "--node",
                                    self.node.address, "responder",
                                    "--queue", "SVC.REQ", "--count", "1")
        self.ok("put", "SVC.REQ", "by hand", "--reply-to", "MY.REPLY")
        self.assertEqual(responder.wait(), 0)
        out = self.ok("get", "MY.REPLY", "--wait", "10000",
                      "--show-descriptor")
        reply = self.fields(out)
        self.assertIn("\nBY HAND\n", out)
        self.assertRegex(reply["correl_id"], r"^[0-9a-f]{32}$")

    def test_bad_usage(self):
        for args in (["requester", "--queue", "Q"],
                     ["requester", "--queue", "Q", "--reply-queue", "R"],
                     ["responder"], ["sideways", "--queue", "Q"],
                     ["responder", "--queue", "Q", "--bogus"]):
            with self.subTest(args=args):
                r = subprocess.run([REQUEST_REPLY, "--node",
                                    self.node.address, *args],
                                   capture_output=True, text=True, timeout=30)
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertEqual(len(r.stderr.strip().splitlines()), 1)
        # Without any argument: the usage, not a complaint about --queue.
        r = subprocess.run([REQUEST_REPLY], capture_output=True, text=True,
                           timeout=30)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertTrue(r.stderr.startswith("usage: qmesh-request-reply"),
                        r.stderr)
        self.assertIn("requester --queue Q --reply-queue R", r.stderr)

    def test_a_requester_that_times_out_leaves_no_request_behind(self):
        r = subprocess.run([REQUEST_REPLY, "--node", self.node.address,
                            "requester", "--queue", "SVC.LATE",
                            "--reply-queue", "LATE.REPLY", "--wait", "300",
                            "anyone?"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("2033 no_msg_available", r.stderr)
        self.assertIn("the request expires unanswered", r.stderr)
        # The requester waited 300 ms after its put: the request has
        # expired, so a responder starting now finds nothing to serve.
        responder = subprocess.run(
            [REQUEST_REPLY, "--node", self.node.address, "responder",
             "--queue", "SVC.LATE", "--wait", "0"],
            capture_output=True, text=True, timeout=30)
        self.assertEqual(responder.returncode, 0, responder.stderr)
        self.assertNotIn("served", responder.stderr)


class UnreachableTests(unittest.TestCase):
    def test_library_connect_to_nothing(self):
        port = free_port()
        r = subprocess.run([CLIENT_CHECK, f"127.0.0.1:{port}", "connect"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 1)
        self.assertIn("2059 q_mgr_not_available", r.stderr)
        r = subprocess.run([REQUEST_REPLY, "--node", f"127.0.0.1:{port}",
                            "requester", "--queue", "Q", "--reply-queue",
                            "R", "x"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
        self.assertIn("2059 q_mgr_not_available", r.stderr)

    def test_node_killed_under_a_waiting_get(self):
        node = Node(qmgr="QMX")
        self.addCleanup(node.stop)
        getter = Background([CLI, "--node", node.address, "get", "Q",
                             "--wait", "60000"])
        self.addCleanup(getter.kill)
        # The get is waiting once the queue it auto-defined shows up.
        self.assertTrue(wait_for(
            lambda: "Q" in node.cli("list-queues").stdout.split()))
        node.proc.kill()
        self.assertEqual(getter.wait(20), 1)
        err = getter.rest("err")
        self.assertEqual(len(err), 1, err)
        self.assertIn("2009 connection_broken", err[0])

    def test_consumer_sees_the_node_go(self):
        node = Node(qmgr="QMX")
        self.addCleanup(node.stop)
        watcher = Background([CLIENT_CHECK, node.address, "watch", "Q"])
        self.addCleanup(watcher.kill)
        watcher.wait_line(r"^consuming$")
        node.proc.kill()
        watcher.wait_line(r"^disconnected$")
        watcher.wait_line(r"^2009 connection_broken")
        self.assertEqual(watcher.wait(), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
