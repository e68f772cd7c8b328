#!/usr/bin/env python3
"""`make compare`: qmesh vs RabbitMQ vs ActiveMQ over STOMP, one broker at a
time on this machine.

For each broker in turn: start it (bench/compare/brokers.py) with its files
in a fresh run directory on a disk, run `qmesh-bench --scenario compare`
against it, stop it. Then write the raw results next to this script
(last-results.jsonl, last-meta.json) and hand them to report.py, which
rewrites the marked section of docs/benchmarks.md and the charts.

Everything this script starts is stopped when it ends, also on an error,
Ctrl-C or SIGTERM. The run directory is removed unless --keep is given.

Python 3 standard library only. See docs/benchmarks.md for the commands.
"""

import argparse
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

import brokers  # noqa: E402
import facts  # noqa: E402
import report  # noqa: E402
import retry  # noqa: E402

ALL_BROKERS = ["qmesh", "rabbitmq", "activemq"]


class Stopped(Exception):
    """Raised from a signal handler: ends the run through `finally`."""


def on_signal(signum, _frame):
    raise Stopped("signal %d" % signum)


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--build", default="build",
                   help="build directory with qmesh-node and qmesh-bench")
    p.add_argument("--runs", type=int, default=3,
                   help="runs per scenario (qmesh-bench --runs), at least 1")
    p.add_argument("--scale", default="1",
                   help="factor on qmesh-bench's message counts and "
                        "durations (qmesh-bench --scale)")
    p.add_argument("--brokers", default=",".join(ALL_BROKERS),
                   help="comma-separated subset of " + ",".join(ALL_BROKERS))
    p.add_argument("--doc", default=os.path.join(SOURCE, "docs",
                                                 "benchmarks.md"),
                   help="markdown file whose compare section is rewritten")
    p.add_argument("--img-dir", default=os.path.join(SOURCE, "docs", "img"),
                   help="where compare-throughput.png and "
                        "compare-latency.png go")
    p.add_argument("--results", default=HERE,
                   help="where last-results.jsonl and last-meta.json go")
    p.add_argument("--data-root",
                   default=os.environ.get("QMESH_BENCH_DATA", "/var/tmp"),
                   help="parent of the run directory; not a tmpfs "
                        "($QMESH_BENCH_DATA, /var/tmp)")
    p.add_argument("--command", default="",
                   help="the command line to show in the report "
                        "(make compare passes its own)")
    p.add_argument("--keep", action="store_true",
                   help="keep the run directory (broker logs, data)")
    p.add_argument("bench_args", nargs="*",
                   help="after --: more qmesh-bench options")
    args = p.parse_args(argv)
    args.brokers = [b for b in args.brokers.split(",") if b]
    for b in args.brokers:
        if b not in ALL_BROKERS:
            p.error("unknown broker %r" % b)
    if args.runs < 1:
        p.error("--runs must be at least 1")
    return args


def bench_argv(args, broker, json_path):
    argv = [os.path.join(args.build, "qmesh-bench"),
            "--port", str(broker.stomp_port), "--broker", broker.name,
            "--scenario", "compare", "--runs", str(args.runs),
            "--json", json_path]
    if args.scale != "1":
        argv += ["--scale", args.scale]
    if broker.login:
        argv += ["--login", broker.login, "--passcode", broker.passcode]
    return argv + args.bench_args


def shown_bench(argv, run_dir):
    """argv as the report shows it: build/ for the build directory, $DIR
    for the run directory, <stomp port> for the port."""
    shown = ["build/qmesh-bench"] + [
        "<stomp port>" if argv[i - 1] == "--port" else a
        for i, a in enumerate(argv) if i > 0]
    text = " ".join(shlex.quote(a) for a in shown)
    return (text.replace("'<stomp port>'", "<stomp port>")
            .replace(run_dir, "$DIR"))


def read_lines(path):
    """The JSON lines qmesh-bench wrote (possibly none); a line that is
    not JSON becomes an error record the report shows."""
    lines = []
    try:
        with open(path) as f:
            for raw in f:
                raw = raw.strip()
                if not raw:
                    continue
                try:
                    lines.append(json.loads(raw))
                except ValueError:
                    lines.append({"error": "not JSON: " + raw[:200]})
    except OSError:
        pass
    return lines


def measure(args, name, run_dir, meta, results):
    """Start one broker, run the scenarios, stop it. Appends to results and
    meta; never raises except Stopped."""
    broker = brokers.make(name, run_dir, os.path.abspath(args.build))
    entry = {"broker": name, "load_before": facts.loadavg()}
    meta["brokers"].append(entry)
    try:
        t0 = time.monotonic()
        broker.start()
        entry["start_s"] = round(time.monotonic() - t0, 1)
        entry["start_command"] = broker.shown_command(run_dir)
        own = facts.group_pids({broker.pid} | (
            {broker.epmd.pid} if getattr(broker, "epmd", None) else set()))
        own.add(os.getpid())
        entry["others_running"] = facts.other_brokers(own)
        json_path = os.path.join(run_dir, name + ".jsonl")
        argv = bench_argv(args, broker, json_path)
        entry["bench_command"] = shown_bench(argv, run_dir)
        print("compare: %s ready on 127.0.0.1:%d; %s" %
              (name, broker.stomp_port, entry["bench_command"]), flush=True)
        cpu0 = facts.group_cpu_seconds(broker.pid)
        t0 = time.monotonic()
        rc = subprocess.call(argv)
        entry["bench_s"] = round(time.monotonic() - t0, 1)
        entry["bench_exit"] = rc
        lines = read_lines(json_path)
        for i, line in enumerate(lines):
            if retry.retryable(line):
                print("compare: %s %s: RECEIPTs out of order; running it "
                      "again one run at a time" % (name, line["id"]),
                      flush=True)
                lines[i] = retry.rerun(line, argv, args.runs, run_dir,
                                       max_attempts=6 * args.runs)
        entry["broker_cpu_s"] = round(facts.group_cpu_seconds(broker.pid)
                                      - cpu0, 1)
        for line in lines:
            line.setdefault("broker", name)
        results.extend(lines)
        # Failed scenarios are listed from their own lines; the broker's
        # entry only says which.
        entry["failed"] = [l.get("id", "?") for l in lines
                           if l.get("ok") is not True]
        if not lines:
            entry["error"] = "qmesh-bench wrote no results (exit %d)" % rc
    except (RuntimeError, OSError) as e:
        entry["error"] = str(e).splitlines()[0]
        print("compare: " + str(e), file=sys.stderr)
    finally:
        # A second signal must not cut the stop short.
        blocked = {signal.SIGTERM, signal.SIGINT, signal.SIGHUP}
        signal.pthread_sigmask(signal.SIG_BLOCK, blocked)
        try:
            broker.stop()
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, blocked)
        entry["load_after"] = facts.loadavg()
    if entry.get("error"):
        print("compare: %s: %s" % (name, entry["error"]), file=sys.stderr)


def main(argv):
    args = parse_args(argv)
    for program in ("qmesh-node", "qmesh-bench"):
        if not os.access(os.path.join(args.build, program), os.X_OK):
            print("compare: %s not found in %s (build it first: make build)"
                  % (program, args.build), file=sys.stderr)
            return 2
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, on_signal)
    os.makedirs(args.data_root, exist_ok=True)
    run_dir = tempfile.mkdtemp(prefix="qmesh-compare-", dir=args.data_root)
    meta = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "command": args.command or "python3 bench/compare/compare.py " +
                   " ".join(shlex.quote(a) for a in argv),
        "runs": args.runs, "scale": args.scale,
        "machine": facts.machine(),
        "versions": facts.versions(SOURCE, args.build),
        "data_fs": subprocess.run(["stat", "-f", "-c", "%T", run_dir],
                                  capture_output=True,
                                  text=True).stdout.strip(),
        "load_start": facts.loadavg(),
        "brokers": [],
    }
    if meta["data_fs"] == "tmpfs":
        print("compare: %s is a tmpfs; set QMESH_BENCH_DATA to a directory "
              "on a disk" % args.data_root, file=sys.stderr)
        shutil.rmtree(run_dir, ignore_errors=True)
        return 2
    results = []
    try:
        for name in args.brokers:
            measure(args, name, run_dir, meta, results)
    except Stopped as e:
        print("compare: stopped by %s" % e, file=sys.stderr)
        return 130
    finally:
        if args.keep:
            print("compare: run directory kept: " + run_dir)
        else:
            shutil.rmtree(run_dir, ignore_errors=True)
    meta["load_end"] = facts.loadavg()
    os.makedirs(args.results, exist_ok=True)
    results_path = os.path.join(args.results, "last-results.jsonl")
    meta_path = os.path.join(args.results, "last-meta.json")
    with open(results_path, "w") as f:
        for line in results:
            f.write(json.dumps(line, sort_keys=True) + "\n")
    with open(meta_path, "w") as f:
        json.dump(meta, f, indent=1, sort_keys=True)
        f.write("\n")
    report.write(results, meta, args.doc, args.img_dir)
    print("compare: wrote %s, %s and the section in %s" %
          (results_path, meta_path, args.doc))
    failed = [e["broker"] for e in meta["brokers"]
              if e.get("error") or e.get("failed")]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
