"""Memory after a burst (docs/benchmarks.md, "Flow control").

N STOMP subscribers that never read, M publications of 1 KiB, then every
client leaves; prints the node's resident memory (VmRSS) idle, at the peak,
and every 0.5 s for 6 s after the clients left.

Usage: python3 bench/burst_rss.py BUILD_DIR N M   (e.g. build 200 5000)
"""
import os, socket, subprocess, sys, tempfile, time
BUILD = sys.argv[1]; N = int(sys.argv[2]); M = int(sys.argv[3])
NODE = os.path.join(BUILD, "qmesh-node"); CLI = os.path.join(BUILD, "qmesh")
def rss(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS"): return int(line.split()[1]) // 1024
def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
port, sport = free_port(), free_port()
p = subprocess.Popen([NODE, "--qmgr", "QMB", "--listen", f"127.0.0.1:{port}",
    "--stomp-listen", f"127.0.0.1:{sport}", "--http-listen", "none",
    "--data-dir", tempfile.mkdtemp(),
    "--log-level", "warn", "--max-connections-per-address", "5000"],
    stdout=subprocess.PIPE, text=True)
p.stdout.readline()
def conn():
    s = socket.create_connection(("127.0.0.1", sport))
    s.sendall(b"CONNECT\naccept-version:1.2\nheart-beat:0,0\n\n\0")
    buf = b""
    while b"\0" not in buf: buf += s.recv(4096)
    return s
print("idle rss MiB", rss(p.pid))
subs = []
for i in range(N):
    s = conn()
    s.sendall(b"SUBSCRIBE\nid:1\ndestination:/topic/burst\nack:client\nreceipt:s\n\n\0")
    buf = b""
    while b"RECEIPT" not in buf: buf += s.recv(4096)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    subs.append(s)
pub = conn()
body = b"x" * 1024
frames = b"".join(b"SEND\ndestination:/topic/burst\n\n" + body + b"\0" for _ in range(M))
pub.sendall(frames + b"SEND\ndestination:/topic/burst\nreceipt:end\n\n" + body + b"\0")
buf = b""
pub.settimeout(120)
while b"RECEIPT" not in buf: buf += pub.recv(4096)
peak = 0
t0 = time.time()
while time.time() - t0 < 3:
    peak = max(peak, rss(p.pid)); time.sleep(0.1)
print("peak rss MiB", peak)
pub.close()
for s in subs: s.close()
t0 = time.time()
samples = []
while time.time() - t0 < 6:
    samples.append(rss(p.pid)); time.sleep(0.5)
print("after leave rss MiB", samples)
st = subprocess.run([CLI, "--node", f"127.0.0.1:{port}", "status"], capture_output=True, text=True).stdout
print([l for l in st.splitlines() if "memory" in l or "connection" in l or "subscription" in l])
p.terminate(); p.wait()
