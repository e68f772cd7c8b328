"""Cluster membership with real qmesh-node processes on loopback: joining
through seeds, the directory on every member, duplicate names, node loss
(kill -9, SIGSTOP) and return, and junk on the cluster port."""
import json
import os
import random
import shutil
import signal
import socket
import string
import struct
import tempfile
import unittest

from harness import Node, free_port, wait_for

# Fast heartbeats, so that loss shows within a couple of seconds.
HEARTBEAT_MS = 200
TIMEOUT_MS = 1500
FAST = ["--cluster-heartbeat", str(HEARTBEAT_MS),
        "--cluster-timeout", str(TIMEOUT_MS)]
# How long members may take to see each other up. On a loaded machine a
# heartbeat can miss the fast timeout above; the link is then dialled again
# after a back-off of up to 5 s, so convergence gets more than that.
CONVERGE_S = 20


def states(node):
    """{name: 'up'|'down'} as `qmesh cluster --json` on node shows it, or
    None if the node does not answer."""
    try:
        r = node.cli("cluster", "--json", timeout=10)
    except Exception:
        return None
    if r.returncode != 0:
        return None
    doc = json.loads(r.stdout)
    return {m["name"]: m["state"] for m in doc["members"]}


class ClusterMembershipTest(unittest.TestCase):
    def setUp(self):
        self.nodes = []
        self.dirs = []

    def tearDown(self):
        for n in self.nodes:
            if n.proc.poll() is None:
                try:
                    os.kill(n.proc.pid, signal.SIGCONT)
                except OSError:
                    pass
            n.stop()
        for d in self.dirs:
            shutil.rmtree(d, ignore_errors=True)

    def data_dir(self):
        d = tempfile.mkdtemp(prefix="qmesh-cluster-")
        self.dirs.append(d)
        return d

    def start(self, qmgr, seeds=(), cluster_port=None, data_dir=None):
        n = Node(*FAST, qmgr=qmgr, cluster_port=cluster_port or free_port(),
                 seeds=list(seeds), data_dir=data_dir)
        self.nodes.append(n)
        return n

    def assert_states(self, observers, expected, timeout=10.0):
        """Polls until every observer shows every `expected` name in its
        state; fails with what each one showed last."""
        last = {}

        def check():
            ok = True
            for o in observers:
                st = states(o)
                last[o.qmgr] = st
                if st is None or any(st.get(k) != v
                                     for k, v in expected.items()):
                    ok = False
            return ok

        if not wait_for(check, timeout=timeout, interval=0.1):
            self.fail(f"expected {expected} everywhere, saw {last}")

    def three(self):
        a = self.start("QMA")
        b = self.start("QMB", seeds=[a.cluster_address])
        c = self.start("QMC", seeds=[a.cluster_address])
        return a, b, c

    def test_three_members_then_a_fourth_through_one_seed(self):
        a, b, c = self.three()
        all_up = {"QMA": "up", "QMB": "up", "QMC": "up"}
        self.assert_states([a, b, c], all_up, timeout=CONVERGE_S)
        self.assertIn("cluster on " + a.cluster_address, a.first_line)
        d = self.start("QMD", seeds=[c.cluster_address])
        self.assert_states([a, b, c, d], dict(all_up, QMD="up"),
                           timeout=CONVERGE_S)
        # The table form marks this node.
        out = d.cli("cluster").stdout
        self.assertRegex(out, r"(?m)^\*QMD\s+up\s")
        self.assertRegex(out, r"(?m)^ QMA\s+up\s")

    def test_taken_name_exits_2_with_the_name(self):
        a, b, c = self.three()
        self.assert_states([a, b, c], {"QMB": "up"}, timeout=CONVERGE_S)
        dup = Node(*FAST, qmgr="QMB", cluster_port=free_port(),
                   seeds=[a.cluster_address])
        self.nodes.append(dup)
        code = dup.proc.wait(timeout=15)
        err = dup.proc.stderr.read()
        self.assertEqual(code, 2, err)
        self.assertIn("QMB", err)
        self.assertIn("taken", err)
        self.assertIn(b.cluster_address, err)
        # The real QMB stays up everywhere.
        self.assert_states([a, b, c], {"QMB": "up"}, timeout=CONVERGE_S)
        # The name of the seed itself is refused too.
        dup2 = Node(*FAST, qmgr="QMA", cluster_port=free_port(),
                    seeds=[a.cluster_address])
        self.nodes.append(dup2)
        self.assertEqual(dup2.proc.wait(timeout=15), 2)
        self.assertIn("QMA", dup2.proc.stderr.read())

    def test_kill9_shows_down_and_restart_shows_up(self):
        a = self.start("QMA")
        b_dir = self.data_dir()
        b_port = free_port()
        b = self.start("QMB", seeds=[a.cluster_address],
                       cluster_port=b_port, data_dir=b_dir)
        c = self.start("QMC", seeds=[a.cluster_address])
        self.assert_states([a, b, c], {"QMA": "up", "QMB": "up",
                                       "QMC": "up"}, timeout=CONVERGE_S)
        b.proc.kill()
        b.proc.wait()
        self.assert_states([a, c], {"QMB": "down"},
                           timeout=TIMEOUT_MS / 1000 + 3)
        # The members file survives: a restart without seeds finds them.
        with open(os.path.join(b_dir, "cluster-members.json")) as f:
            names = {m["name"] for m in json.load(f)}
        self.assertEqual(names, {"QMA", "QMC"})
        b2 = self.start("QMB", cluster_port=b_port, data_dir=b_dir)
        self.assert_states([a, b2, c], {"QMA": "up", "QMB": "up",
                                        "QMC": "up"}, timeout=10)

    def test_restart_before_the_old_one_is_seen_dead(self):
        # A long timeout: only the probe can tell the join is a restart.
        a = Node("--cluster-heartbeat", "200", "--cluster-timeout", "60000",
                 qmgr="QMA", cluster_port=free_port())
        self.nodes.append(a)
        b_port = free_port()
        b = Node("--cluster-heartbeat", "200", "--cluster-timeout", "60000",
                 qmgr="QMB", cluster_port=b_port,
                 seeds=[a.cluster_address])
        self.nodes.append(b)
        self.assert_states([a, b], {"QMA": "up", "QMB": "up"},
                           timeout=CONVERGE_S)
        os.kill(b.proc.pid, signal.SIGSTOP)  # alive to TCP, silent
        b2 = Node(*FAST, qmgr="QMB", cluster_port=free_port(),
                  seeds=[a.cluster_address])
        self.nodes.append(b2)
        # The frozen QMB does not answer the probe: the new one is in.
        self.assert_states([a, b2], {"QMA": "up", "QMB": "up"}, timeout=10)
        self.assertIsNone(b2.proc.poll())
        doc = json.loads(a.cli("cluster", "--json").stdout)
        qmb = [m for m in doc["members"] if m["name"] == "QMB"][0]
        self.assertEqual(qmb["address"], b2.cluster_address)

    def test_sigstop_shows_down_and_sigcont_up(self):
        a, b, c = self.three()
        self.assert_states([a, b, c], {"QMA": "up", "QMB": "up",
                                       "QMC": "up"}, timeout=CONVERGE_S)
        os.kill(c.proc.pid, signal.SIGSTOP)
        try:
            self.assert_states([a, b], {"QMC": "down"},
                               timeout=TIMEOUT_MS / 1000 + 5)
        finally:
            os.kill(c.proc.pid, signal.SIGCONT)
        self.assert_states([a, b, c], {"QMA": "up", "QMB": "up",
                                       "QMC": "up"}, timeout=10)

    def test_junk_on_the_cluster_port_does_not_stop_the_node(self):
        a = self.start("QMA")
        b = self.start("QMB", seeds=[a.cluster_address])
        self.assert_states([a, b], {"QMA": "up", "QMB": "up"},
                           timeout=CONVERGE_S)
        rng = random.Random(7)
        text = "".join(rng.choice(string.printable)
                       for _ in range(8192)).encode()
        # A short header of an unknown operation whose payload length is
        # honest (0): nothing for the node to allocate.
        header = struct.pack(">BBBBIQQQ", 0xEE, 0, 0, 0, 0, 0, 0, 0)
        for junk in (text, header, header * 4 + b"\x00" * 8):
            with socket.create_connection(("127.0.0.1", a.cluster_port),
                                          timeout=5) as s:
                try:
                    s.sendall(junk)
                    s.shutdown(socket.SHUT_WR)
                    s.settimeout(5)
                    while s.recv(4096):
                        pass
                except OSError:
                    pass  # the node may reset the connection
        self.assertIsNone(a.proc.poll())
        r = a.cli("status")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("qmgr: QMA", r.stdout)
        self.assert_states([a, b], {"QMA": "up", "QMB": "up"},
                           timeout=CONVERGE_S)

    def test_members_file_routes_to_a_member_that_is_down(self):
        a_dir = self.data_dir()
        a_port = free_port()
        a = self.start("QMA", cluster_port=a_port, data_dir=a_dir)
        b = self.start("QMB", seeds=[a.cluster_address])
        self.assert_states([a, b], {"QMA": "up", "QMB": "up"},
                           timeout=CONVERGE_S)
        b.proc.kill()
        b.proc.wait()
        self.assertEqual(a.terminate(), 0)
        # A restart without seeds knows QMB from its members file.
        a2 = self.start("QMA", cluster_port=a_port, data_dir=a_dir)
        self.assert_states([a2], {"QMB": "down"}, timeout=CONVERGE_S)
        r = a2.cli("put", "QMB/ORDERS", "hello")
        self.assertEqual(r.returncode, 0, r.stderr)
        doc = json.loads(a2.cli("cluster", "--json").stdout)
        backlog = {c["remote"]: c["backlog"] for c in doc["channels"]}
        self.assertEqual(backlog.get("QMB"), 1, doc)

    def test_cluster_port_in_use_is_a_clear_error(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            s.listen()
            port = s.getsockname()[1]
            with self.assertRaises(RuntimeError) as cm:
                Node(qmgr="QMX", cluster_port=port)
        self.assertIn(f"cannot listen on 127.0.0.1:{port} (cluster)",
                      str(cm.exception))

    def test_seeds_need_cluster_listen(self):
        with self.assertRaises(RuntimeError) as cm:
            Node("--seeds", "127.0.0.1:1", qmgr="QMX")
        self.assertIn("--seeds needs --cluster-listen", str(cm.exception))


if __name__ == "__main__":
    unittest.main()
