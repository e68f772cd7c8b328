"""Helpers for flow_control_test.py and bench/run_flow.sh: raw STOMP 1.2
connections fast enough to push and check hundreds of thousands of
messages from Python, and small probes of a node (status, inquire, RSS).

- Producer: a connection that writes numbered SENDs at full speed (many
  frames per write, no receipts but on the last frame) from a thread, while
  another thread reads what the server answers (RECEIPT, ERROR, EOF). It
  never waits for the broker on its own: only TCP (the node no longer
  reading its socket) can slow it down.
- Consumer: a connection with one subscription whose MESSAGE bodies are
  decimal sequence numbers (optionally followed by `x` padding). Bodies are
  pulled out of each read with one regular expression over the whole chunk
  and checked against the expected sequence (exactly once, in order); any
  other frame (ERROR, RECEIPT) is parsed the slow way and recorded.

Every socket operation has a deadline; nothing here waits forever.

Run as a script it drives the flow-control benchmarks (bench/run_flow.sh):
    python3 flow_stomp.py slow-consumer HOST:STOMP N RATE NODE_PID
    python3 flow_stomp.py fanout-status HOST:STOMP HOST:NATIVE CLI N SUBSCRIBERS
"""
import re
import socket
import subprocess
import sys
import threading
import time

from harness import fields

NUL = b"\0"
# The body of a MESSAGE (or of any frame): after the blank line that ends
# the headers, digits, optional padding, NUL. Header lines never hold an
# empty line, so "\n\n" only occurs where the headers end.
BODY = re.compile(rb"\n\n(\d+)x*\0")


def rss_bytes(pid):
    """VmRSS of a process in bytes (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0




def cli_fields(cli, node_address, *args, timeout=10):
    """Runs `qmesh --node ADDRESS args...`; the key: value lines of its
    output, and how long it took (s). Raises on a non-zero exit."""
    t0 = time.monotonic()
    r = subprocess.run([cli, "--node", node_address, *args],
                       capture_output=True, text=True, timeout=timeout)
    took = time.monotonic() - t0
    if r.returncode != 0:
        raise RuntimeError(f"qmesh {' '.join(args)}: exit {r.returncode}: "
                           f"{r.stderr.strip()}")
    return fields(r.stdout), took


_UNESCAPES = {"\\\\": "\\", "\\r": "\r", "\\n": "\n", "\\c": ":"}


def unescape(text):
    """A STOMP 1.2 header name or value as sent, unescaped."""
    if "\\" not in text:
        return text
    return re.sub(r"\\.", lambda m: _UNESCAPES.get(m.group(0), m.group(0)),
                  text)


def parse_frames(data):
    """Slow, complete parse of whole frames: [(command, {headers}, body)]
    and the bytes left over (an incomplete frame)."""
    frames = []
    pos = 0
    while True:
        while data[pos:pos + 1] == b"\n" or data[pos:pos + 2] == b"\r\n":
            pos += 1 if data[pos:pos + 1] == b"\n" else 2
        end = data.find(b"\n\n", pos)
        if end < 0:
            break
        lines = data[pos:end].decode("utf-8", "replace").split("\n")
        headers = {}
        literal = lines[0] in ("CONNECT", "CONNECTED")
        for line in lines[1:]:
            k, _, v = line.partition(":")
            if not literal:
                k, v = unescape(k), unescape(v)
            headers.setdefault(k, v)
        start = end + 2
        if "content-length" in headers:
            stop = start + int(headers["content-length"])
            if len(data) <= stop:
                break
        else:
            stop = data.find(NUL, start)
            if stop < 0:
                break
        frames.append((lines[0], headers, bytes(data[start:stop])))
        pos = stop + 1
    return frames, data[pos:]


class Conn:
    """A raw STOMP connection that got CONNECTED (heart-beats off unless
    `heartbeat` says `cx,cy`)."""

    def __init__(self, address, timeout=10.0, sndbuf=None, rcvbuf=None,
                 heartbeat="0,0"):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        # Small kernel buffers make TCP push back sooner (set before
        # connecting so the window is negotiated with them).
        if sndbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect(address)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.sendall(b"CONNECT\naccept-version:1.2\nhost:localhost\n"
                          b"heart-beat:" + heartbeat.encode() + b"\n\n\0")
        buf = b""
        deadline = time.monotonic() + timeout
        while NUL not in buf:
            if time.monotonic() > deadline:
                raise AssertionError("no CONNECTED in time")
            chunk = self.sock.recv(65536)
            if not chunk:
                raise AssertionError(f"closed before CONNECTED: {buf!r}")
            buf += chunk
        frames, rest = parse_frames(buf)
        if not frames or frames[0][0] != "CONNECTED":
            raise AssertionError(f"expected CONNECTED, got {buf!r}")
        self.leftover = rest

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class Producer:
    """Sends SENDs numbered first..first+n-1 to `destination` at full speed
    from a thread; the last one carries receipt `done`. Another thread
    reads the connection: receipts, errors, EOF."""

    def __init__(self, address, destination, n, first=0, pad=0, chunk=1000,
                 send_timeout=120.0, sndbuf=None, heartbeat="0,0"):
        self.conn = Conn(address, sndbuf=sndbuf, heartbeat=heartbeat)
        self.destination = destination
        self.n = n
        self.first = first
        self.pad = b"x" * pad
        self.chunk = chunk
        self.send_timeout = send_timeout
        self.sent = 0               # frames handed to the kernel so far
        self.frames = []            # (command, headers, body) received
        self.error = None           # an exception of the writer
        self.eof = threading.Event()
        self.done = threading.Event()      # receipt `done` came
        self.failed = threading.Event()    # ERROR frame, EOF or exception
        self.finished_at = None
        self.started_at = None
        self._stop = threading.Event()
        self.writer = threading.Thread(target=self._write, daemon=True)
        self.reader = threading.Thread(target=self._read, daemon=True)

    def start(self):
        self.started_at = time.monotonic()
        self.reader.start()
        self.writer.start()
        return self

    def _frame(self, k, receipt=False):
        head = b"SEND\ndestination:" + self.destination.encode()
        if receipt:
            head += b"\nreceipt:done"
        return head + b"\n\n" + str(k).encode() + self.pad + NUL

    def _write(self):
        try:
            # One timeout for each write: the longest the producer may be
            # held without any progress at all.
            self.conn.sock.settimeout(self.send_timeout)
            last = self.first + self.n - 1
            k = self.first
            while k <= last and not self._stop.is_set():
                top = min(last + 1, k + self.chunk)
                data = b"".join(self._frame(i, i == last)
                                for i in range(k, top))
                self.conn.sock.sendall(data)
                self.sent += top - k
                k = top
        except OSError as e:  # includes socket.timeout
            self.error = e
            self.failed.set()

    def _read(self):
        buf = self.conn.leftover
        while not self._stop.is_set():
            try:
                chunk = self.conn.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError as e:
                if not self._stop.is_set():
                    self.error = e
                    self.failed.set()
                break
            if not chunk:
                self.eof.set()
                if not self.done.is_set():
                    self.failed.set()
                break
            buf += chunk
            frames, buf = parse_frames(buf)
            for f in frames:
                self.frames.append(f)
                if f[0] == "RECEIPT" and f[1].get("receipt-id") == "done":
                    self.finished_at = time.monotonic()
                    self.done.set()
                elif f[0] == "ERROR":
                    self.failed.set()

    def errors(self):
        return [f for f in self.frames if f[0] == "ERROR"]

    def wait(self, timeout):
        """True once the final receipt came; False on failure or timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.done.is_set():
                return True
            if self.failed.is_set():
                return False
            self.done.wait(0.05)
        return self.done.is_set()

    def describe(self):
        return (f"sent {self.sent}/{self.n}, done={self.done.is_set()}, "
                f"eof={self.eof.is_set()}, error={self.error!r}, "
                f"frames={[(c, h) for c, h, _ in self.frames][:5]}")

    def close(self):
        self._stop.set()
        self.conn.close()
        self.writer.join(5)
        self.reader.join(5)


class Consumer:
    """One subscription on its own connection; checks that bodies arrive as
    first, first+1, ... exactly once and in order."""

    def __init__(self, address, destination, first=0, ack="auto",
                 prefetch=None, rcvbuf=None, sub_id="s"):
        self.conn = Conn(address, rcvbuf=rcvbuf)
        self.sock = self.conn.sock
        self.ack = ack
        self.next = first           # the sequence number expected next
        self.count = 0              # MESSAGE bodies taken
        self.bad = []               # (expected, got) of the first misorders
        self.other = []             # frames that are not MESSAGEs
        self.carry = self.conn.leftover
        self.eof = False
        self.last_ack = None
        headers = (f"SUBSCRIBE\nid:{sub_id}\ndestination:{destination}\n"
                   f"ack:{ack}\nreceipt:sub\n")
        if prefetch:
            headers += f"prefetch-count:{prefetch}\n"
        self.sock.sendall(headers.encode() + b"\n\0")
        deadline = time.monotonic() + 10
        while not any(f[0] == "RECEIPT" for f in self.other):
            if self.eof or time.monotonic() > deadline:
                raise AssertionError(f"no SUBSCRIBE receipt: {self.other}")
            self.read(0.5)

    def feed(self, data):
        buf = self.carry + data if self.carry else data
        last = buf.rfind(NUL)
        if last < 0:
            self.carry = buf
            return 0
        region = buf[:last + 1]
        self.carry = buf[last + 1:]
        bodies = BODY.findall(region)
        if len(bodies) != region.count(NUL):
            self._slow(region)
            return len(bodies)
        self._check(bodies)
        if self.ack != "auto" and bodies:
            self._remember_ack(region)
        return len(bodies)

    def _slow(self, region):
        frames, rest = parse_frames(region)
        assert not rest.strip(b"\n"), rest[:200]
        bodies = []
        for cmd, headers, body in frames:
            m = re.fullmatch(rb"(\d+)x*", body)
            if cmd == "MESSAGE" and m:
                bodies.append(m.group(1))
                if "ack" in headers:
                    self.last_ack = headers["ack"]
            else:
                self.other.append((cmd, headers, body))
        self._check(bodies)

    def _remember_ack(self, region):
        i = region.rfind(b"\nack:")
        if i >= 0:
            j = region.find(b"\n", i + 5)
            self.last_ack = region[i + 5:j].decode()

    def _check(self, bodies):
        if not bodies:
            return
        got = list(map(int, bodies))
        want = list(range(self.next, self.next + len(got)))
        if got != want and len(self.bad) < 10:
            for w, g in zip(want, got):
                if w != g:
                    self.bad.append((w, g))
                    break
        self.count += len(got)
        self.next = got[-1] + 1

    def read(self, timeout, size=262144):
        """One read of at most size bytes; False on timeout or EOF."""
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(size)
        except socket.timeout:
            return False
        except OSError:
            data = b""
        if not data:
            self.eof = True
            return False
        self.feed(data)
        return True

    def ack_all(self):
        """Client ack mode: one cumulative ACK for everything so far."""
        if self.last_ack is not None:
            self.sock.sendall(f"ACK\nid:{self.last_ack}\n\n".encode() + NUL)
            self.last_ack = None

    def read_until(self, total, timeout):
        """Reads until `total` bodies were taken, EOF, or no data for
        `timeout` s."""
        while self.count < total and not self.eof:
            if not self.read(timeout):
                break
        return self.count

    def close(self):
        self.conn.close()


# -- the benchmark drivers (bench/run_flow.sh) ----------------------------------

def _address(text):
    host, port = text.rsplit(":", 1)
    return host, int(port)


def _summary(name, values, unit, scale=1.0):
    v = sorted(x * scale for x in values)
    return (f"{name}: min {v[0]:.1f} p50 {v[len(v) // 2]:.1f} "
            f"max {v[-1]:.1f} final {values[-1] * scale:.1f} {unit} "
            f"({len(v)} samples)")


def bench_slow_consumer(stomp, n, rate, pid):
    """A producer at full speed into a queue (default attributes) whose
    one consumer reads at `rate` msg/s. Prints the producer's rate per
    0.5 s in the steady state (after the queue filled), the consumer's
    rate, and the node's RSS every 0.5 s."""
    address = _address(stomp)
    q = f"/queue/BENCH.SLOW.{time.time_ns() % 10**9}"
    consumer = Consumer(address, q, prefetch=100)
    producer = Producer(address, q, n).start()
    rss, sent = [], []
    t0 = last = time.monotonic()
    next_sample = t0
    budget = 0.0
    while consumer.count < n:
        now = time.monotonic()
        if now - t0 > 120 or producer.failed.is_set():
            print("failed:", producer.describe(), "consumed", consumer.count)
            return 1
        if now >= next_sample:
            rss.append(rss_bytes(pid))
            sent.append((now, producer.sent, consumer.count))
            next_sample += 0.5
        # Token bucket: `rate` messages per second, bursts of 10 ms.
        budget = min(budget + (now - last) * rate, rate * 0.01 + 1)
        last = now
        if budget < 1:
            time.sleep(0.002)  # pacing
            continue
        before = consumer.count
        # A 16 B MESSAGE is about 190 bytes on the wire.
        consumer.read(10.0, size=max(256, int(budget) * 190))
        budget -= consumer.count - before
    elapsed = time.monotonic() - t0
    rss.append(rss_bytes(pid))
    ok = producer.wait(10)
    # Steady state: once the producer's lead over the consumer (queue,
    # held batches, socket buffers) stopped growing, i.e. from the first
    # sample within 5% of the largest lead, to the last sample before the
    # producer was done.
    top = max(s[1] - s[2] for s in sent)
    steady = [s for s in sent if s[1] - s[2] >= 0.95 * top and s[1] < n]
    print(f"messages {n:,}, consumer paced at {rate:,} msg/s: done in "
          f"{elapsed:.1f} s, consumer {n / elapsed:,.0f} msg/s; producer "
          f"done={ok}, ERROR frames {len(producer.errors())}, "
          f"misordered {len(consumer.bad)}")
    if len(steady) >= 2:
        (ta, pa, ca), (tb, pb, cb) = steady[0], steady[-1]
        print(f"steady state {ta - t0:.1f} .. {tb - t0:.1f} s: producer "
              f"{(pb - pa) / (tb - ta):,.0f} msg/s, consumer "
              f"{(cb - ca) / (tb - ta):,.0f} msg/s, producer ahead by "
              f"{min(s[1] - s[2] for s in steady):,} .. {top:,} messages")
    first = next((s for s in sent if s[1] >= n), None)
    if first:
        print(f"producer: all {n:,} written after {first[0] - t0:.1f} s")
    print(_summary("node RSS", rss, "MiB", 1 / 2**20))
    producer.close()
    consumer.close()
    return 0 if ok and not consumer.bad and consumer.count == n else 1


def bench_fanout_status(stomp, native, cli, n, subscribers):
    """A full-speed publisher to `subscribers` subscribers that read as fast
    as Python can; `qmesh status` every 0.5 s meanwhile. Prints the status
    times (p50, max) and the rates."""
    import selectors
    address = _address(stomp)
    topic = f"/topic/BENCH.FAN.{time.time_ns() % 10**9}"
    subs = [Consumer(address, topic, sub_id=f"s{i}")
            for i in range(subscribers)]
    times, held = [], []
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            f, took = cli_fields(cli, native, "status")
            times.append(took)
            held.append(int(f.get("held_publications", 0)))
            stop.wait(0.5)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    producer = Producer(address, topic, n).start()
    t0 = last = time.monotonic()
    sel = selectors.DefaultSelector()
    for c in subs:
        c.sock.setblocking(False)
        sel.register(c.sock, selectors.EVENT_READ, c)
    while any(c.count < n for c in subs) and time.monotonic() - last < 30:
        for key, _ in sel.select(1.0):
            try:
                data = key.data.sock.recv(262144)
            except BlockingIOError:
                continue
            if data:
                key.data.feed(data)
                last = time.monotonic()
    elapsed = time.monotonic() - t0
    stop.set()
    sampler.join(15)
    ok = producer.wait(10) and all(c.count == n and not c.bad for c in subs)
    t = sorted(times)
    print(f"fan-out 1 -> {subscribers}, {n:,} publications: {elapsed:.1f} s, "
          f"{n / elapsed:,.0f} publications/s, "
          f"{n * subscribers / elapsed:,.0f} deliveries/s, all delivered "
          f"in order: {ok}")
    print(f"qmesh status: {len(t)} samples, p50 {t[len(t) // 2] * 1000:.0f} "
          f"ms, max {t[-1] * 1000:.0f} ms; held_publications max "
          f"{max(held)}")
    producer.close()
    for c in subs:
        c.close()
    return 0 if ok else 1


if __name__ == "__main__":
    args = sys.argv[1:]
    if len(args) == 5 and args[0] == "slow-consumer":
        sys.exit(bench_slow_consumer(args[1], int(args[2]), int(args[3]),
                                     int(args[4])))
    if len(args) == 6 and args[0] == "fanout-status":
        sys.exit(bench_fanout_status(args[1], args[2], args[3],
                                     int(args[4]), int(args[5])))
    print(__doc__)
    sys.exit(2)
