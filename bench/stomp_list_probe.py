"""Helpers for the listing figures in docs/benchmarks.md ("Idle queues as
records, and listings"), against a running qmesh-node's STOMP port.

  stomp_list_probe.py fill PORT PREFIX N   one SEND to each of /queue/PREFIX.0000000
                                           ... (auto-defined, so each queue gets
                                           its actor), then waits for a receipt
  stomp_list_probe.py probe PORT SECONDS   SEND with a receipt to /queue/PROBE, one
                                           at a time, for SECONDS; prints the
                                           count, p50, p99 and max round trip

Run `qmesh list-queues` meanwhile to see how long a listing keeps a SEND
waiting. Plain sockets, no STOMP library; not a test.
"""
import socket
import sys
import time


def connect(port):
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.sendall(b"CONNECT\naccept-version:1.2\nhost:/\n\n\0")
    buf = b""
    while b"\0" not in buf:
        data = s.recv(65536)
        if not data:
            sys.exit("connection closed before CONNECTED")
        buf += data
    if not buf.startswith(b"CONNECTED"):
        sys.exit("not connected: %r" % buf[:200])
    return s


def read_frame(s, buf):
    """Returns (frame, rest of buf); exits if the node closes."""
    while b"\0" not in buf:
        data = s.recv(65536)
        if not data:
            sys.exit("connection closed")
        buf += data
    end = buf.index(b"\0")
    return buf[:end], buf[end + 1:].lstrip(b"\n")


def fill(port, prefix, n):
    s = connect(port)
    chunk = []
    for i in range(n):
        chunk.append(b"SEND\ndestination:/queue/%s.%07d\n\nx\0"
                     % (prefix.encode(), i))
        if len(chunk) == 2000:
            s.sendall(b"".join(chunk))
            chunk = []
    chunk.append(b"SEND\ndestination:/queue/%s.DONE\nreceipt:done\n\nx\0"
                 % prefix.encode())
    s.sendall(b"".join(chunk))
    buf = b""
    while True:
        frame, buf = read_frame(s, buf)
        if frame.startswith(b"RECEIPT"):
            break
        if frame.startswith(b"ERROR"):
            sys.exit("error: %r" % frame[:300])
    print("filled %d queues" % n)


def probe(port, seconds):
    s = connect(port)
    buf = b""
    rtts = []
    end = time.monotonic() + seconds
    i = 0
    while time.monotonic() < end:
        i += 1
        t0 = time.monotonic()
        s.sendall(b"SEND\ndestination:/queue/PROBE\nreceipt:%d\n\nx\0" % i)
        frame, buf = read_frame(s, buf)
        if not frame.startswith(b"RECEIPT"):
            sys.exit("unexpected frame: %r" % frame[:300])
        rtts.append(time.monotonic() - t0)
    rtts.sort()
    q = lambda p: rtts[int(p * (len(rtts) - 1))] * 1e3
    print("%d puts, p50 %.2f ms, p99 %.2f ms, max %.1f ms"
          % (len(rtts), q(0.5), q(0.99), rtts[-1] * 1e3))


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "fill":
        fill(int(sys.argv[2]), sys.argv[3], int(sys.argv[4]))
    elif len(sys.argv) == 4 and sys.argv[1] == "probe":
        probe(int(sys.argv[2]), float(sys.argv[3]))
    else:
        sys.exit(__doc__)
