#!/bin/sh
# Cluster benchmarks (issue 10): three qmesh-node processes on loopback
# (tests/integration/cluster_harness.py starts them on free ports with
# their own data dirs, and kills them at the end), loaded over STOMP by
# Python drivers, one process per connection (no shared GIL):
#
#  (a) put throughput, local vs remote: one producer on QM1 to /queue/Q
#      with its consumer on QM1, vs one producer on QM1 to /queue/QM2/Q
#      with its consumer on QM2 (through QM1's transmission queue and the
#      channel). Transient 16-byte-ish numbered bodies, ack:auto; msg/s =
#      N / (producer start .. consumer's last message). Then the same with
#      persistent SENDs confirmed one by one (4 producers, 256 receipts in
#      flight each): confirmed msg/s.
#  (b) total throughput of the 3-node cluster with a producer and a
#      consumer on every node, each producer sending to the next node's
#      queue (QM1 -> QM2 -> QM3 -> QM1), vs the same three pairs on one
#      node with local queues.
#  (c) join-to-serving time of a fourth node: from its start to the first
#      successful remote put through it (SEND /queue/QM1/JOIN on QM4's STOMP
#      port receipted), and to that message's arrival at a consumer on QM1.
#
# The drivers (qmesh-bench's p2p cannot put on one node and consume on
# another) are slower than qmesh-bench: a Python consumer tops out at a few
# 100,000 msg/s, so the figures compare the paths with one another; on a
# machine with few cores all nodes and drivers share them.
#
# Usage: run_cluster.sh BUILD_DIR [MESSAGES] [RUNS]
#   MESSAGES per producer for (a) and (b) (200000), RUNS of each (3;
#   the median is printed). Membership: the nodes' default heartbeat
#   (1000 ms) and timeout (5000 ms) unless CLUSTER_HEARTBEAT /
#   CLUSTER_TIMEOUT say otherwise.
set -eu
build=$(cd "$1" && pwd)
messages=${2:-200000}
runs=${3:-3}
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat > "$tmp/cluster_bench.py" <<'EOF'
import json
import os
import socket
import statistics
import subprocess
import sys
import time

from cluster_harness import Cluster, ConfirmedProducer, poll
from flow_stomp import NUL, Consumer, Producer, parse_frames


def produce(address, dest, n):
    host, port = address.rsplit(":", 1)
    p = Producer((host, int(port)), dest, n)
    start = time.time()
    p.start()
    ok = p.wait(300)
    end = time.time()
    p.close()
    print(json.dumps({"start": start, "end": end, "ok": ok,
                      "why": "" if ok else p.describe()}), flush=True)
    return 0 if ok else 1


def consume(address, dest, n):
    host, port = address.rsplit(":", 1)
    c = Consumer((host, int(port)), dest, prefetch=5000)
    print("ready", flush=True)
    got = c.read_until(n, 60.0)
    end = time.time()
    ok = got == n and not c.bad
    print(json.dumps({"end": end, "count": got, "ok": ok,
                      "bad": c.bad[:3]}), flush=True)
    c.close()
    return 0 if ok else 1


def run_pairs(pairs, n):
    """pairs: [(producer STOMP addr, dest, consumer STOMP addr, dest)].
    Starts the consumers, waits until each subscribed, starts the
    producers; msg/s over all = pairs * n / (first producer start .. last
    consumer end)."""
    me = os.path.abspath(__file__)
    cons = []
    for _, _, caddr, cdest in pairs:
        p = subprocess.Popen([sys.executable, me, "consume", caddr, cdest,
                              str(n)], stdout=subprocess.PIPE, text=True)
        cons.append(p)
    for p in cons:
        line = p.stdout.readline()
        if line.strip() != "ready":
            raise SystemExit(f"consumer did not start: {line!r}")
    prods = [subprocess.Popen([sys.executable, me, "produce", paddr, pdest,
                               str(n)], stdout=subprocess.PIPE, text=True)
             for paddr, pdest, _, _ in pairs]
    pres = [json.loads(p.communicate(timeout=600)[0]) for p in prods]
    cres = [json.loads(p.communicate(timeout=600)[0]) for p in cons]
    for r in pres + cres:
        if not r["ok"]:
            raise SystemExit(f"run failed: {pres} {cres}")
    span = max(r["end"] for r in cres) - min(r["start"] for r in pres)
    return len(pairs) * n / span


def confirmed_rate(node, dest, total, producers=4):
    ps = [ConfirmedProducer(node.stomp_address, dest, total // producers,
                            prefix=f"P{k}-") for k in range(producers)]
    t0 = time.monotonic()
    for p in ps:
        p.start()
    for p in ps:
        p.join(600)
    took = time.monotonic() - t0
    done = sum(len(p.confirmed) for p in ps)
    if done != producers * (total // producers):
        raise SystemExit(f"confirmed {done}: {[p.ended for p in ps]}")
    return done / took


def stomp_send_once(address, dest, body, timeout=2.0):
    """One SEND with a receipt on a new connection: True on RECEIPT, False
    on ERROR, refusal or silence."""
    try:
        s = socket.create_connection(address, timeout=timeout)
    except OSError:
        return False
    try:
        s.sendall(b"CONNECT\naccept-version:1.2\nhost:x\nheart-beat:0,0\n\n"
                  + NUL + f"SEND\ndestination:{dest}\nreceipt:j\n\n{body}"
                  .encode() + NUL)
        buf = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return False
            frames, buf = parse_frames(buf + chunk)
            for cmd, headers, _ in frames:
                if cmd == "RECEIPT":
                    return True
                if cmd == "ERROR":
                    return False
    except OSError:
        return False
    finally:
        s.close()


def median(xs):
    return statistics.median(xs)


def main(messages, runs, heartbeat, timeout):
    rows = []
    with Cluster(("QM1", "QM2", "QM3"), heartbeat=heartbeat,
                 timeout=timeout) as cl:
        qm = {n: cl[n] for n in cl.names}
        addr = {n: f"127.0.0.1:{cl[n].stomp_port}" for n in cl.names}
        for n in cl.names:
            for q in ("BL", "BR", "BC", "BS1", "BS2", "BS3", "JOIN"):
                qm[n].ok("define-queue", q, "--max-depth", "1000000")
            qm[n].ok("define-queue", "BP", "--max-depth", "10000000",
                     "--persistent")
        local = [run_pairs([(addr["QM1"], "/queue/BL", addr["QM1"],
                             "/queue/BL")], messages) for _ in range(runs)]
        remote = [run_pairs([(addr["QM1"], "/queue/QM2/BR", addr["QM2"],
                              "/queue/BR")], messages) for _ in range(runs)]
        rows.append(("(a) put, local  QM1 -> QM1 /queue/Q", median(local),
                     local))
        rows.append(("(a) put, remote QM1 -> QM2 /queue/QM2/Q",
                     median(remote), remote))
        pl = [confirmed_rate(qm["QM1"], "/queue/BP", messages // 2)
              for _ in range(runs)]
        pr = [confirmed_rate(qm["QM1"], "/queue/QM2/BP", messages // 2)
              for _ in range(runs)]
        # The remote ones are only in QM1's transmission queue when
        # confirmed: wait for them to land before the next measurement.
        poll(lambda: qm["QM1"].depth("SYSTEM.XMIT.QM2") == 0, 300, 0.5)
        for n in ("QM1", "QM2"):
            qm[n].ok("purge", "BP")
        rows.append(("(a) persistent confirmed, local", median(pl), pl))
        rows.append(("(a) persistent confirmed, remote (to QM2's xmit q)",
                     median(pr), pr))
        ring = [(addr["QM1"], "/queue/QM2/BC", addr["QM2"], "/queue/BC"),
                (addr["QM2"], "/queue/QM3/BC", addr["QM3"], "/queue/BC"),
                (addr["QM3"], "/queue/QM1/BC", addr["QM1"], "/queue/BC")]
        one = [(addr["QM1"], f"/queue/BS{i}", addr["QM1"], f"/queue/BS{i}")
               for i in (1, 2, 3)]
        tot3 = [run_pairs(ring, messages) for _ in range(runs)]
        tot1 = [run_pairs(one, messages) for _ in range(runs)]
        rows.append(("(b) 3 nodes, 3 pairs, each to the next node",
                     median(tot3), tot3))
        rows.append(("(b) 1 node, 3 pairs, local queues", median(tot1),
                     tot1))

        joins = []
        for k in range(runs):
            name = f"QJ{k}"
            consumer = Consumer(("127.0.0.1", qm["QM1"].stomp_port),
                                "/queue/JOIN", first=k)
            node = cl.add_node(name, start=False)
            t0 = time.monotonic()
            node.start(wait=False)
            ok = poll(lambda: stomp_send_once(node.stomp_address,
                                              "/queue/QM1/JOIN", str(k)),
                      60, 0.01)
            t_put = time.monotonic() - t0
            consumer.read_until(1, 30.0)
            t_arrived = time.monotonic() - t0
            consumer.close()
            if not ok or consumer.count != 1:
                raise SystemExit(f"join {name} failed: put {ok}, "
                                 f"arrived {consumer.count}")
            joins.append((t_put, t_arrived))
            node.stop()
        puts = [j[0] * 1000 for j in joins]
        arrivals = [j[1] * 1000 for j in joins]
        rows.append(("(c) join: start -> first remote put receipted",
                     median(puts), puts))
        rows.append(("(c) join: start -> that message at QM1's consumer",
                     median(arrivals), arrivals))

    print()
    print(f"{messages} messages per producer, {runs} runs, median "
          f"(heartbeat {heartbeat} ms, timeout {timeout} ms)")
    print(f"{'measurement':54} {'median':>12}  runs")
    for name, value, values in rows:
        unit = "ms" if name.startswith("(c)") else "msg/s"
        print(f"{name:54} {value:>9,.0f} {unit:5} "
              + " ".join(f"{v:,.0f}" for v in values))


if __name__ == "__main__":
    if sys.argv[1] == "produce":
        sys.exit(produce(sys.argv[2], sys.argv[3], int(sys.argv[4])))
    if sys.argv[1] == "consume":
        sys.exit(consume(sys.argv[2], sys.argv[3], int(sys.argv[4])))
    main(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]),
         int(sys.argv[4]))
EOF
export QMESH_NODE="$build/qmesh-node" QMESH_CLI="$build/qmesh"
export PYTHONPATH="$here/../tests/integration${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONDONTWRITEBYTECODE=1
timeout 1800 python3 "$tmp/cluster_bench.py" "$messages" "$runs" \
  "${CLUSTER_HEARTBEAT:-1000}" "${CLUSTER_TIMEOUT:-5000}"
