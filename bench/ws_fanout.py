"""STOMP over WebSocket fan-out: one sender, N WebSocket subscribers on one
topic; reports deliveries/s (total and per subscriber) and latency
percentiles (send time in the body, the same clock on one machine).

Measured, not asserted (docs/benchmarks.md, "STOMP over WebSocket fan-out").

    python3 bench/ws_fanout.py --build build               # starts a node
    python3 bench/ws_fanout.py --port 7780                 # a running node
    python3 bench/ws_fanout.py --build build --rate 200    # paced sender
    python3 bench/ws_fanout.py --build build --tls         # wss:// instead
    python3 bench/ws_fanout.py --url wss://HOST:PORT/ws --ca CA.pem

Needs Debian's python3-websockets. Subscribers are spread over --procs
client processes (asyncio each); the sender keeps at most --window messages
unconfirmed (a RECEIPT every 100 messages). With --tls the node started
gets a throwaway self-signed certificate (made with `openssl`) and the
clients use wss:// on its --http-tls-listen."""
import argparse
import asyncio
import multiprocessing as mp
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time

import websockets

TOPIC = "/topic/chat/bench"
EVERY = 100  # a receipt every EVERY messages


def frame(cmd, headers, body=b""):
    head = cmd + "\n" + "".join(f"{k}:{v}\n" for k, v in headers.items())
    return (head + "\n").encode() + body + b"\x00"


def command_and_body(msg):
    data = msg.encode() if isinstance(msg, str) else msg
    head, _, rest = data.partition(b"\n\n")
    return head.split(b"\n", 1)[0], rest[:-1]


async def open_stomp(url, ca):
    tls = {}
    if url.startswith("wss:"):
        tls["ssl"] = ssl.create_default_context(cafile=ca)
    ws = await websockets.connect(url, subprotocols=["v12.stomp"],
                                  max_size=None, ping_interval=None,
                                  max_queue=4096, **tls)
    await ws.send(frame("CONNECT", {"accept-version": "1.2", "host": "/",
                                    "heart-beat": "0,0"}))
    cmd, _ = command_and_body(await ws.recv())
    assert cmd == b"CONNECTED", cmd
    return ws


# -- subscribers (one process holds several) ---------------------------------

async def subscribe_all(url, ca, n, ready, results):
    conns = [await open_stomp(url, ca) for _ in range(n)]
    for i, ws in enumerate(conns):
        await ws.send(frame("SUBSCRIBE", {"id": "s", "destination": TOPIC,
                                          "receipt": "r"}))
        cmd, _ = command_and_body(await ws.recv())
        assert cmd == b"RECEIPT", cmd
    ready.put(n)

    first = [None]
    last = [0]

    async def consume(ws):
        count, lat = 0, []
        while True:
            msg = await ws.recv()
            now = time.monotonic_ns()
            cmd, body = command_and_body(msg)
            if cmd != b"MESSAGE":
                continue
            if body.startswith(b"STOP"):
                return count, lat
            if first[0] is None:
                first[0] = now
            last[0] = max(last[0], now)
            count += 1
            lat.append(now - int(body[:20]))

    out = await asyncio.gather(*[consume(ws) for ws in conns])
    for ws in conns:
        await ws.close()
    counts = [c for c, _ in out]
    lats = [x for _, l in out for x in l]
    results.put((counts, lats, first[0] or 0, last[0], time.process_time()))


def subscriber_proc(url, ca, n, ready, results):
    asyncio.run(subscribe_all(url, ca, n, ready, results))


# -- sender ------------------------------------------------------------------

async def send(url, ca, seconds, size, rate, window):
    ws = await open_stomp(url, ca)
    pad = b"x" * max(0, size - 20)
    sent = 0
    unconfirmed = 0
    confirmed = asyncio.Queue()

    async def receipts():
        while True:
            cmd, _ = command_and_body(await ws.recv())
            if cmd == b"RECEIPT":
                confirmed.put_nowait(1)

    reader = asyncio.create_task(receipts())
    start = time.monotonic()
    end = start + seconds
    while time.monotonic() < end:
        if rate:
            due = start + sent / rate
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        headers = {"destination": TOPIC}
        if (sent + 1) % EVERY == 0:
            headers["receipt"] = str(sent)
            unconfirmed += 1
        body = b"%020d" % time.monotonic_ns() + pad
        await ws.send(frame("SEND", headers, body))
        sent += 1
        while unconfirmed * EVERY > window:
            await confirmed.get()
            unconfirmed -= 1
    while unconfirmed:
        await confirmed.get()
        unconfirmed -= 1
    elapsed = time.monotonic() - start
    await ws.send(frame("SEND", {"destination": TOPIC}, b"STOP"))
    reader.cancel()
    await ws.close()
    return sent, elapsed


# -- a node of our own -------------------------------------------------------

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def self_signed(tmp):
    """A throwaway certificate for localhost / 127.0.0.1: (cert, key)."""
    cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
                    "-subj", "/CN=localhost", "-keyout", key, "-out", cert,
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, capture_output=True)
    return cert, key


def start_node(build, tls):
    """Starts a node; returns (process, its temporary dir, URL, CA file)."""
    tmp = tempfile.mkdtemp(prefix="qmesh-ws-bench-")
    http = free_port()
    cmd = [os.path.join(build, "qmesh-node"), "--qmgr", "QMB",
           "--listen", f"127.0.0.1:{free_port()}",
           "--stomp-listen", f"127.0.0.1:{free_port()}",
           "--http-listen", f"127.0.0.1:{http}", "--log-level", "warn",
           "--data-dir", os.path.join(tmp, "data")]
    url, ca = f"ws://127.0.0.1:{http}/ws", None
    if tls:
        ca, key = self_signed(tmp)
        https = free_port()
        cmd += ["--tls-cert", ca, "--tls-key", key,
                "--http-tls-listen", f"127.0.0.1:{https}"]
        url = f"wss://localhost:{https}/ws"
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    line = proc.stdout.readline()
    if "listening on" not in line:
        proc.kill()
        sys.exit(f"node did not start: {line}")
    return proc, tmp, url, ca


def cpu_seconds(pid):
    """User + system CPU time of a process so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(xs, p):
    return xs[min(len(xs) - 1, int(len(xs) * p / 100))] if xs else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", help="start BUILD/qmesh-node for the run")
    ap.add_argument("--port", type=int, default=7780,
                    help="HTTP port of a running node (without --build)")
    ap.add_argument("--tls", action="store_true",
                    help="with --build: wss:// on the node's HTTPS listener")
    ap.add_argument("--url", help="WebSocket URL of a running node "
                                  "(ws:// or wss://; without --build)")
    ap.add_argument("--ca", help="CA file that signed a wss:// node's "
                                 "certificate (default: the system's)")
    ap.add_argument("--subscribers", type=int, default=100)
    ap.add_argument("--procs", type=int, default=1,
                    help="client processes the subscribers are spread over")
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--size", type=int, default=64, help="body bytes (>= 20)")
    ap.add_argument("--rate", type=float, default=0,
                    help="messages/s the sender publishes; 0: as fast as "
                         "the window lets it")
    ap.add_argument("--window", type=int, default=200,
                    help="unconfirmed messages the sender may have")
    args = ap.parse_args()
    node = None
    tmp = None
    url = args.url or f"ws://127.0.0.1:{args.port}/ws"
    ca = args.ca
    if args.build:
        node, tmp, url, ca = start_node(args.build, args.tls)
    procs = []
    try:
        ready, results = mp.Queue(), mp.Queue()
        share = [args.subscribers // args.procs
                 + (1 if i < args.subscribers % args.procs else 0)
                 for i in range(args.procs)]
        for n in share:
            p = mp.Process(target=subscriber_proc,
                           args=(url, ca, n, ready, results))
            p.start()
            procs.append(p)
        for _ in share:
            ready.get(timeout=60)
        node_cpu0 = cpu_seconds(node.pid) if node else 0
        sent, elapsed = asyncio.run(
            send(url, ca, args.seconds, args.size, args.rate, args.window))
        counts, lats, firsts, lasts = [], [], [], []
        client_cpu = 0.0
        for _ in share:
            c, l, f, z, cpu = results.get(timeout=120)
            client_cpu += cpu
            counts += c
            lats += l
            firsts.append(f)
            lasts.append(z)
        lats.sort()
        total = sum(counts)
        node_cpu = cpu_seconds(node.pid) - node_cpu0 if node else 0
        # Deliveries over the subscribers' own window: first to last
        # message received (they may lag behind the sender).
        window = max(1e-9, (max(lasts) - min(firsts)) / 1e9)
        print(f"{url.split(':')[0]}: "
              f"subscribers {args.subscribers} in {args.procs} process(es), "
              f"body {args.size} B, rate "
              f"{'max' if not args.rate else int(args.rate)}/s, "
              f"{elapsed:.1f} s")
        print(f"published      {sent} ({sent / elapsed:,.0f}/s)")
        print(f"delivered      {total} in {window:.1f} s ({total / window:,.0f}/s; "
              f"per subscriber {total / window / max(1, len(counts)):,.0f}/s;"
              f" min {min(counts)} max {max(counts)} of {sent})")
        print("latency ms     p50 {:.2f}  p90 {:.2f}  p99 {:.2f}  max {:.2f}"
              .format(*(percentile(lats, p) / 1e6 for p in (50, 90, 99)),
                      (lats[-1] if lats else 0) / 1e6))
        per = 1e6 / max(1, total)
        print(f"cpu s          subscribers {client_cpu:.1f} "
              f"({client_cpu * per:.1f} us/delivery), sender "
              f"{time.process_time():.1f}"
              + (f", node {node_cpu:.1f} ({node_cpu * per:.1f} us/delivery)"
                 if node else ""))
    finally:
        for p in procs:
            p.join(timeout=10)
            if p.is_alive():
                p.kill()
        if node:
            node.kill()
            node.wait()
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
