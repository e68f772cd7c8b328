"""Helpers for the cluster integration tests (cluster_test.py,
cluster_faults_test.py) and bench/run_cluster.sh: several real qmesh-node
processes on free loopback ports that form a cluster, always cleaned up.

- `Cluster(names)` starts one node per name (QM1..QMn by default). Each
  node has its own client, STOMP and cluster port and its own data dir,
  all kept across restarts of that node (same ports, same data dir, so
  peers find it again at its last known address). Seeds: the first node's
  cluster address unless given.
- `wait_members_up()` polls `qmesh cluster` on every running node until
  each one shows every expected member up.
- `kill9(name)`, `stop(name)`, `start(name)`, `restart(name)`,
  `sigstop(name)`, `sigcont(name)`, `add_node(name)`; `close()` (or the
  context manager) kills everything that still runs, also a frozen node.
- Every node writes its log and its stdout/stderr to files under the
  cluster's directory (one set per start); `describe()` gives their tails
  for assertion messages. Set QMESH_KEEP_CLUSTER_DIR=1 to keep the
  directory after the tests.

Binaries come from the environment as in harness.py: QMESH_NODE,
QMESH_CLI, QMESH_REQUEST_REPLY.
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

import harness
from flow_stomp import NUL, Conn, parse_frames
from harness import fields, free_port

NODE = harness.NODE
CLI = harness.CLI
REQUEST_REPLY = os.environ.get(
    "QMESH_REQUEST_REPLY",
    os.path.join(os.path.dirname(CLI) or ".", "qmesh-request-reply"))

# Fast membership for tests: a change shows within a heartbeat; a frozen
# node is down after the timeout. Generous enough for a busy 2-core box.
HEARTBEAT_MS = 250
TIMEOUT_MS = 3000


def poll(predicate, timeout, interval=0.05):
    """Calls predicate until it returns a true value or the deadline
    passes; returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


def _tail(path, lines=30):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return ""


# -- cluster status ------------------------------------------------------------

def _as_bool_up(entry):
    """A member entry's `up`, whichever way the CLI spells it."""
    if "up" in entry:
        v = entry["up"]
        return v is True or str(v).lower() in ("true", "yes", "1", "up")
    state = str(entry.get("state", "")).lower()
    return state == "up"


def _as_list(value):
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v) for v in value]
    text = str(value).strip()
    if text in ("", "-", "none", "[]"):
        return []
    return [v for v in re.split(r"[,\s]+", text) if v]


def parse_cluster_json(text):
    """`qmesh cluster --json`: the cluster_status struct (core/
    cluster_info.hpp) as JSON. Returns {"self", "enabled", "listen",
    "members": {name: entry}, "channels": {remote: entry}} with each
    member entry normalised to have `up` (bool), `queues`, `consumed`,
    `filters` (lists)."""
    raw = json.loads(text)
    members = {}
    for m in raw.get("members", []):
        entry = dict(m)
        entry["up"] = _as_bool_up(m)
        for key in ("queues", "consumed", "filters"):
            entry[key] = _as_list(m.get(key))
        members[m["name"]] = entry
    channels = {}
    for c in raw.get("channels", []):
        channels[c.get("remote") or c.get("name")] = dict(c)
    return {"self": raw.get("self"), "enabled": raw.get("enabled"),
            "listen": raw.get("listen"), "members": members,
            "channels": channels, "raw": raw}


class ClusterNode:
    """One qmesh-node of a cluster. Its ports and data dir stay the same
    across restarts."""

    def __init__(self, cluster, name, seeds, args=(), heartbeat=HEARTBEAT_MS,
                 timeout=TIMEOUT_MS, subdir=None):
        """`subdir`: the node's directory under the cluster's (default:
        its name)."""
        self.cluster = cluster
        self.name = name
        self.port = free_port()
        self.stomp_port = free_port()
        self.cluster_port = free_port()
        self.dir = os.path.join(cluster.dir, subdir or name)
        self.data_dir = os.path.join(self.dir, "data")
        os.makedirs(self.data_dir, exist_ok=True)
        self.seeds = list(seeds)
        self.args = list(args)
        self.heartbeat = heartbeat
        self.timeout = timeout
        self.proc = None
        self.starts = 0
        self.frozen = False
        self.first_line = ""

    # -- addresses ----------------------------------------------------------

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    @property
    def stomp_address(self):
        return ("127.0.0.1", self.stomp_port)

    @property
    def cluster_address(self):
        return f"127.0.0.1:{self.cluster_port}"

    # -- process ------------------------------------------------------------

    def command(self, extra=()):
        cmd = [NODE, "--qmgr", self.name,
               "--listen", self.address,
               "--stomp-listen", f"127.0.0.1:{self.stomp_port}",
               "--http-listen", "none",
               "--cluster-listen", self.cluster_address,
               "--cluster-heartbeat", str(self.heartbeat),
               "--cluster-timeout", str(self.timeout),
               "--data-dir", self.data_dir,
               "--log-file", self.log, "--log-level", "info"]
        if self.seeds:
            cmd += ["--seeds", ",".join(self.seeds)]
        return cmd + self.args + list(extra)

    @property
    def log(self):
        return os.path.join(self.dir, f"node-{self.starts}.log")

    @property
    def out_path(self):
        return os.path.join(self.dir, f"stdout-{self.starts}.txt")

    @property
    def err_path(self):
        return os.path.join(self.dir, f"stderr-{self.starts}.txt")

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def start(self, extra=(), wait=True, ready_timeout=30.0):
        """Starts the process (a new log file per start) and, with wait,
        waits for its readiness line; raises RuntimeError (with stderr) if
        it exits instead."""
        assert not self.running, f"{self.name} already runs"
        self.starts += 1
        with open(self.out_path, "wb") as out, open(self.err_path,
                                                    "wb") as err:
            self.proc = subprocess.Popen(self.command(extra), stdout=out,
                                         stderr=err,
                                         stdin=subprocess.DEVNULL)
        self.frozen = False
        if wait:
            self.wait_ready(ready_timeout)
        return self

    def wait_ready(self, timeout=30.0):
        def ready():
            text = _tail(self.out_path, 5)
            if "listening on" in text:
                self.first_line = text.splitlines()[0]
                return True
            return self.proc.poll() is not None
        poll(ready, timeout, 0.02)
        if "listening on" not in self.first_line:
            code = self.proc.poll()
            if code is None:
                self.kill9()
            raise RuntimeError(
                f"node {self.name} did not start (exit {code}): "
                f"stdout {_tail(self.out_path)!r} "
                f"stderr {_tail(self.err_path)!r}")

    def kill9(self):
        """SIGKILL and reap (also works on a frozen process)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
        if self.proc is not None:
            self.proc.wait(timeout=30)
        self.frozen = False

    def stop(self, timeout=15.0):
        """SIGTERM (a clean stop: the node says goodbye), SIGKILL if it does
        not end in time. Returns the exit code."""
        if self.proc is None:
            return None
        if self.frozen:
            self.sigcont()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)
        return self.proc.returncode

    def restart(self, extra=()):
        self.stop()
        return self.start(extra)

    def sigstop(self):
        self.proc.send_signal(signal.SIGSTOP)
        self.frozen = True

    def sigcont(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
        self.frozen = False

    # -- CLI ------------------------------------------------------------------

    def cli(self, *args, input=None, timeout=60):
        return subprocess.run([CLI, "--node", self.address, *args],
                              input=input, capture_output=True, text=True,
                              timeout=timeout)

    def ok(self, *args, input=None, timeout=60):
        """The CLI; must exit 0 (AssertionError otherwise). Returns stdout."""
        r = self.cli(*args, input=input, timeout=timeout)
        if r.returncode != 0:
            raise AssertionError(
                f"qmesh --node {self.address} {' '.join(args)}: exit "
                f"{r.returncode}: {r.stderr.strip()}\n{self.describe()}")
        return r.stdout

    def inquire(self, queue):
        return fields(self.ok("inquire", queue))

    def depth(self, queue):
        """current_depth of a queue; None if it does not exist."""
        r = self.cli("inquire", queue)
        if r.returncode != 0:
            return None
        return int(fields(r.stdout)["current_depth"])

    def queues(self, pattern="*"):
        """list-queues --json as {name: object}."""
        arr = json.loads(self.ok("list-queues", pattern, "--json"))
        return {q.get("name"): q for q in arr}

    def cluster_status(self):
        """`qmesh cluster --json`, parsed (parse_cluster_json)."""
        r = self.cli("cluster", "--json", timeout=20)
        if r.returncode != 0:
            raise AssertionError(
                f"qmesh cluster on {self.name}: exit {r.returncode}: "
                f"{r.stderr.strip()}")
        return parse_cluster_json(r.stdout)

    def cluster_text(self):
        return self.cli("cluster", timeout=20)

    def log_text(self, start=None):
        """The log of one start (default: the current one)."""
        path = os.path.join(self.dir, f"node-{start or self.starts}.log")
        try:
            with open(path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def describe(self, lines=25):
        state = ("not started" if self.proc is None else
                 "frozen" if self.frozen else
                 "running" if self.running else
                 f"exited {self.proc.returncode}")
        return (f"--- {self.name} ({state}, start {self.starts}, client "
                f"{self.port}, stomp {self.stomp_port}, cluster "
                f"{self.cluster_port}) log tail:\n{_tail(self.log, lines)}"
                f"--- {self.name} stderr:\n{_tail(self.err_path, 10)}")


class Cluster:
    """N nodes forming a cluster on loopback. Context manager; close()
    kills every node it started."""

    def __init__(self, names=("QM1", "QM2", "QM3"), seeds=None, args=(),
                 heartbeat=HEARTBEAT_MS, timeout=TIMEOUT_MS, start=True,
                 wait=True, node_args=None):
        """`seeds`: cluster addresses every node but the first joins
        through (default: the first node's). `args`: extra CLI args of
        every node; `node_args`: {name: [args]} for single nodes."""
        self.dir = tempfile.mkdtemp(prefix="qmesh-cluster-")
        self.heartbeat = heartbeat
        self.timeout = timeout
        self.args = list(args)
        self.node_args = dict(node_args or {})
        self.nodes = {}
        self._lock = threading.Lock()
        first = None
        for name in names:
            node_seeds = (seeds if seeds is not None
                          else ([first.cluster_address] if first else []))
            node = ClusterNode(self, name, node_seeds,
                               self.args + list(self.node_args.get(name, ())),
                               heartbeat, timeout)
            self.nodes[name] = node
            first = first or node
        if start:
            try:
                for node in self.nodes.values():
                    node.start()
                if wait:
                    self.wait_members_up()
            except BaseException:
                self.close()
                raise

    # -- access ---------------------------------------------------------------

    def __getitem__(self, name):
        return self.nodes[name]

    def __iter__(self):
        return iter(self.nodes.values())

    @property
    def names(self):
        return list(self.nodes)

    def running(self):
        return [n for n in self.nodes.values() if n.running and not n.frozen]

    # -- membership -------------------------------------------------------------

    def add_node(self, name, seeds=None, args=(), start=True, wait=True):
        """A node started at run time (seeds: the first node's cluster
        address unless given)."""
        first = next(iter(self.nodes.values()))
        node = ClusterNode(self, name,
                           seeds if seeds is not None
                           else [first.cluster_address],
                           self.args + list(args), self.heartbeat,
                           self.timeout)
        self.nodes[name] = node
        if start:
            node.start()
            if wait:
                self.wait_members_up()
        return node

    def members_up(self, observer, names):
        """True if `observer`'s `qmesh cluster` shows each of names up."""
        try:
            st = self[observer].cluster_status()
        except (AssertionError, ValueError, subprocess.TimeoutExpired):
            return False
        return all(n in st["members"] and st["members"][n]["up"]
                   for n in names)

    def member_state(self, observer, member):
        """`up` of member as observer sees it (None if not listed or the
        observer did not answer)."""
        try:
            st = self[observer].cluster_status()
        except (AssertionError, ValueError, subprocess.TimeoutExpired):
            return None
        m = st["members"].get(member)
        return None if m is None else m["up"]

    def wait_members_up(self, timeout=30.0, names=None, observers=None):
        """Polls `qmesh cluster` on every running node (or observers) until
        each shows every name in names (default: the running nodes) up."""
        names = names or [n.name for n in self.running()]
        observers = observers or [n.name for n in self.running()]
        pending = set(observers)

        def check():
            for o in list(pending):
                if self.members_up(o, names):
                    pending.discard(o)
            return not pending
        if not poll(check, timeout, 0.1):
            shown = {o: self._safe_text(o) for o in pending}
            raise AssertionError(
                f"members {names} not all up within {timeout} s on "
                f"{sorted(pending)}: {shown}\n{self.describe()}")

    def wait_member(self, observer, member, up, timeout=30.0):
        """Waits until observer shows member up (or down)."""
        if not poll(lambda: self.member_state(observer, member) is up,
                    timeout, 0.1):
            raise AssertionError(
                f"{observer} does not show {member} "
                f"{'up' if up else 'down'} within {timeout} s: "
                f"{self._safe_text(observer)}\n{self.describe()}")

    def wait_advertised(self, queue, member, consumed=None, observers=None,
                        timeout=30.0):
        """Waits until every observer's directory shows member advertising
        cluster queue `queue` (and, if consumed is given, with or without
        consumers)."""
        observers = observers or [n.name for n in self.running()
                                  if n.name != member]

        def seen(o):
            try:
                m = self[o].cluster_status()["members"].get(member)
            except (AssertionError, ValueError, subprocess.TimeoutExpired):
                return False
            if not m or not m["up"] or queue not in m["queues"]:
                return False
            if consumed is None:
                return True
            return (queue in m["consumed"]) == consumed
        if not poll(lambda: all(seen(o) for o in observers), timeout, 0.1):
            raise AssertionError(
                f"{member}'s {queue} (consumed={consumed}) not shown on "
                f"{observers} within {timeout} s: "
                f"{ {o: self._safe_text(o) for o in observers} }")

    def wait_filters(self, member, filt, observers=None, timeout=30.0):
        """Waits until every observer's directory shows member with
        subscription filter filt."""
        observers = observers or [n.name for n in self.running()
                                  if n.name != member]

        def seen(o):
            try:
                m = self[o].cluster_status()["members"].get(member)
            except (AssertionError, ValueError, subprocess.TimeoutExpired):
                return False
            return bool(m) and filt in m["filters"]
        if not poll(lambda: all(seen(o) for o in observers), timeout, 0.1):
            raise AssertionError(
                f"{member}'s filter {filt} not shown on {observers}: "
                f"{ {o: self._safe_text(o) for o in observers} }")

    def _safe_text(self, name):
        try:
            r = self[name].cluster_text()
            return r.stdout + r.stderr
        except Exception as e:  # noqa: BLE001 (for messages only)
            return repr(e)

    # -- processes ------------------------------------------------------------

    def kill9(self, name):
        self[name].kill9()

    def stop(self, name):
        return self[name].stop()

    def start(self, name, extra=()):
        return self[name].start(extra)

    def restart(self, name, extra=()):
        return self[name].restart(extra)

    def sigstop(self, name):
        self[name].sigstop()

    def sigcont(self, name):
        self[name].sigcont()

    def describe(self):
        return "\n".join(n.describe() for n in self.nodes.values())

    def close(self):
        for node in self.nodes.values():
            try:
                node.kill9()
            except Exception:  # noqa: BLE001 (clean up the rest anyway)
                pass
        if os.environ.get("QMESH_KEEP_CLUSTER_DIR"):
            print(f"cluster dir kept: {self.dir}")
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# -- STOMP load with confirmations ---------------------------------------------

def send_frame(destination, body, receipt=None, persistent=True, extra=None):
    head = f"SEND\ndestination:{destination}\n"
    if persistent:
        head += "persistent:true\n"
    if receipt:
        head += f"receipt:{receipt}\n"
    for k, v in (extra or {}).items():
        head += f"{k}:{v}\n"
    data = body.encode()
    head += f"content-length:{len(data)}\n\n"
    return head.encode() + data + NUL


class ConfirmedProducer(threading.Thread):
    """Puts messages with bodies `<prefix><n>` (n = 0, 1, ...) to a STOMP
    destination, a receipt on each, at most `window` in flight.
    `confirmed` holds the n whose RECEIPT came, `sent` how many SENDs went
    out. Ends when done, on stop(), or when the connection ends (the node
    was killed): a RECEIPT is the only confirmation."""

    def __init__(self, address, destination, n, prefix="", window=256,
                 persistent=True):
        super().__init__(daemon=True)
        self.address, self.destination, self.n = address, destination, n
        self.prefix, self.window, self.persistent = prefix, window, persistent
        self.confirmed = []
        self.sent = 0
        self.errors = []
        self.ended = None     # why the run ended
        self._halt = threading.Event()
        self.conn = None

    def stop(self):
        self._halt.set()

    def run(self):
        try:
            self.conn = conn = Conn(self.address)
        except (OSError, AssertionError) as e:
            self.ended = f"connect: {e!r}"
            return
        buf = conn.leftover
        in_flight = 0
        try:
            while (self.sent < self.n or in_flight) and \
                    not self._halt.is_set():
                batch = []
                while self.sent < self.n and in_flight < self.window:
                    batch.append(send_frame(
                        self.destination, f"{self.prefix}{self.sent}",
                        receipt=f"r{self.sent}", persistent=self.persistent))
                    self.sent += 1
                    in_flight += 1
                if batch:
                    conn.sock.sendall(b"".join(batch))
                conn.sock.settimeout(30.0)
                chunk = conn.sock.recv(1 << 20)
                if not chunk:
                    self.ended = "eof"
                    return
                frames, buf = parse_frames(buf + chunk)
                for cmd, headers, body in frames:
                    if cmd == "RECEIPT":
                        self.confirmed.append(int(headers["receipt-id"][1:]))
                        in_flight -= 1
                    elif cmd == "ERROR":
                        self.errors.append(headers.get("message", ""))
                        self.ended = "error"
                        return
            self.ended = "done" if self.sent >= self.n and not in_flight \
                else "stopped"
        except (ConnectionError, OSError) as e:
            self.ended = f"socket: {e!r}"
        finally:
            conn.close()


class Drainer:
    """Consumes a queue over STOMP (ack:client, one cumulative ACK per
    read, with a receipt at the end) and keeps the bodies in order."""

    def __init__(self, address, destination, prefetch=2000):
        self.conn = Conn(address)
        self.buf = self.conn.leftover
        self.bodies = []
        self.other = []
        self.eof = False
        self.conn.sock.sendall(
            f"SUBSCRIBE\nid:drain\ndestination:{destination}\nack:client\n"
            f"prefetch-count:{prefetch}\nreceipt:sub\n\n".encode() + NUL)

    def read(self, timeout):
        self.conn.sock.settimeout(timeout)
        try:
            chunk = self.conn.sock.recv(1 << 20)
        except socket.timeout:
            return False
        except OSError:
            chunk = b""
        if not chunk:
            self.eof = True
            return False
        frames, self.buf = parse_frames(self.buf + chunk)
        last_ack = None
        for cmd, headers, body in frames:
            if cmd == "MESSAGE":
                self.bodies.append(body.decode())
                last_ack = headers.get("ack", last_ack)
            else:
                self.other.append((cmd, headers, body))
        if last_ack:
            self.conn.sock.sendall(f"ACK\nid:{last_ack}\n\n".encode() + NUL)
        return True

    def take(self, expected, idle=2.0, deadline=120.0):
        """Reads until `expected` bodies came (then `idle` s more, to catch
        any extra one), the connection ends, or the deadline passes."""
        end = time.monotonic() + deadline
        while time.monotonic() < end and not self.eof:
            if len(self.bodies) >= expected:
                if not self.read(idle):
                    break
            else:
                self.read(min(5.0, max(0.01, end - time.monotonic())))
        return self.bodies

    def close(self):
        self.conn.close()


def check_sequence(bodies, prefix=""):
    """(numbers, problems) of bodies `<prefix><n>`: the numbers in order,
    and a list of the first gaps, duplicates and reorders."""
    nums = []
    problems = []
    seen = set()
    for b in bodies:
        if not b.startswith(prefix):
            problems.append(f"foreign body {b!r}")
            continue
        n = int(b[len(prefix):])
        if n in seen:
            problems.append(f"duplicate {n}")
        elif nums and n != nums[-1] + 1 and len(problems) < 20:
            problems.append(f"after {nums[-1]} came {n}")
        seen.add(n)
        nums.append(n)
    return nums, problems[:20]
