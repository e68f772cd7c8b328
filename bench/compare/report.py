#!/usr/bin/env python3
"""Turns `make compare` results into the compare section of
docs/benchmarks.md and two gnuplot charts.

Input: qmesh-bench's JSON lines (one per scenario and broker, see
tools/bench/) and the driver's meta record (machine, versions,
commands, per-broker errors). Output: the text between
`<!-- compare:begin -->` and `<!-- compare:end -->` in the markdown file
(inserted before its first `## ` heading if the markers are missing; the
rest of the file is left as it was), docs/img/compare-throughput.png and
docs/img/compare-latency.png.

Standalone: report.py --results last-results.jsonl --meta last-meta.json
re-renders a past run. Python 3 standard library only; the charts need
gnuplot (Debian's gnuplot-nox), the markdown does not.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

BEGIN = "<!-- compare:begin -->"
END = "<!-- compare:end -->"

BROKERS = [("qmesh", "qmesh"), ("rabbitmq", "RabbitMQ"),
           ("activemq", "ActiveMQ")]
PEERS = BROKERS[1:]

# id, title, headline figure, unit, True if higher is better
SCENARIOS = [
    ("p2p-16-auto", "p2p 16 B, ack auto", "msgs_per_s", "msg/s", True),
    ("p2p-16-client-individual", "p2p 16 B, ack client-individual",
     "msgs_per_s", "msg/s", True),
    ("p2p-1024-auto", "p2p 1 KiB, ack auto", "msgs_per_s", "msg/s", True),
    ("persistent-1", "persistent 16 B, 1 in flight", "confirmed_per_s",
     "confirmed/s", True),
    ("persistent-8", "persistent 16 B, 8 in flight", "confirmed_per_s",
     "confirmed/s", True),
    ("persistent-64", "persistent 16 B, 64 in flight", "confirmed_per_s",
     "confirmed/s", True),
    ("fanout-10-16", "fan-out 1 -> 10, 16 B", "deliveries_per_s",
     "deliveries/s", True),
    ("mxm-4-16", "4 producers x 4 consumers, 16 B", "msgs_per_s", "msg/s",
     True),
    ("latency-5000-16", "latency at 5,000 msg/s, 16 B", "p99_us",
     "p99 µs", False),
]
LATENCY_ID = "latency-5000-16"
LATENCY_KEYS = [("p50_us", "p50"), ("p90_us", "p90"), ("p99_us", "p99"),
                ("p999_us", "p99.9"), ("max_us", "max")]
FIGURE_NAMES = {
    "msgs_per_s": "msg/s", "deliveries_per_s": "deliveries/s",
    "confirmed_per_s": "confirmed/s", "mb_per_s": "MB/s",
    "p50_us": "p50 µs", "p90_us": "p90 µs", "p99_us": "p99 µs",
    "p999_us": "p99.9 µs", "max_us": "max µs",
}
# For ids this table does not know: the first of these present is shown.
FALLBACK_KEYS = ["msgs_per_s", "deliveries_per_s", "confirmed_per_s",
                 "p99_us"]


# -- reading -----------------------------------------------------------------

def load_results(path):
    out = []
    with open(path) as f:
        for raw in f:
            raw = raw.strip()
            if raw:
                try:
                    out.append(json.loads(raw))
                except ValueError:
                    out.append({"error": "not JSON: " + raw[:200]})
    return out


def index(results):
    """{(id, broker): line}; the last line wins."""
    table = {}
    for line in results:
        if isinstance(line, dict) and "id" in line and "broker" in line:
            table[(line["id"], line["broker"])] = line
    return table


def scenario_list(table):
    """The known scenarios in their order, then any others seen."""
    known = [s for s in SCENARIOS]
    ids = {s[0] for s in SCENARIOS}
    for (sid, _b), line in sorted(table.items()):
        if sid not in ids:
            ids.add(sid)
            key = next((k for k in FALLBACK_KEYS
                        if k in (line.get("median") or {})), "msgs_per_s")
            known.append((sid, sid, key, FIGURE_NAMES.get(key, key),
                          not key.endswith("_us")))
    return known


def stat(line, key, which):
    """median/min/max of one figure; computed from runs if the line lacks
    the summary. None if absent."""
    summary = line.get(which)
    if isinstance(summary, dict) and isinstance(summary.get(key),
                                                (int, float)):
        return float(summary[key])
    values = [float(r[key]) for r in line.get("runs") or []
              if isinstance(r, dict) and isinstance(r.get(key), (int, float))]
    if not values:
        return None
    return {"median": statistics.median, "min": min, "max": max}[which](values)


def failed(line):
    """True if the line reports a failed run or a failed delivery check."""
    if line.get("ok") is False or line.get("error"):
        return True
    check = line.get("check") or {}
    return any((check.get(k) or 0) > 0
               for k in ("lost", "duplicates", "reordered"))


# -- formatting --------------------------------------------------------------

def sig3(v):
    """v rounded to 3 significant digits, thousands separated."""
    if v is None:
        return "—"
    if v == 0:
        return "0"
    if abs(v) >= 100:
        digits = len(str(int(abs(v))))
        return "{:,}".format(int(round(v, 3 - digits)))
    if abs(v) >= 10:
        return "%.1f" % v
    return "%.2f" % v


def ratio_text(r):
    if r is None:
        return "—"
    if r >= 100:
        return "%d×" % round(r)
    if r >= 10:
        return "%.0f×" % r
    if r >= 1:
        return "%.1f×" % r
    return "%.2g×" % r


def ratios(q, p, key):
    """(median ratio, low, high) of qmesh over a peer for one figure; the
    range pairs qmesh's worst run with the peer's best and the other way
    round. None where a figure is missing or zero."""
    qm, pm = stat(q, key, "median"), stat(p, key, "median")
    if not qm or not pm:
        return None
    qlo, qhi = stat(q, key, "min"), stat(q, key, "max")
    plo, phi = stat(p, key, "min"), stat(p, key, "max")
    lo = qlo / phi if qlo and phi else None
    hi = qhi / plo if qhi and plo else None
    return qm / pm, lo, hi


def ratio_cell(q, p, key):
    if q is None or p is None:
        return "—"
    r = ratios(q, p, key)
    if r is None:
        return "—"
    text = ratio_text(r[0])
    if (r[1] is not None and r[2] is not None
            and ratio_text(r[1]) != ratio_text(r[2])):
        text += " (%s–%s)" % (ratio_text(r[1])[:-1], ratio_text(r[2])[:-1])
    if failed(q) or failed(p):
        text += " **check failed**"
    return text


def value_cell(line, key):
    if line is None:
        return "not measured"
    med = stat(line, key, "median")
    lo, hi = stat(line, key, "min"), stat(line, key, "max")
    text = sig3(med)
    if lo is not None and hi is not None and sig3(lo) != sig3(hi):
        text += " (%s–%s)" % (sig3(lo), sig3(hi))
    if failed(line):
        text += " **FAILED**"
    return text


def check_cell(line):
    """"ok (received/expected)" or "**FAILED**: " with every count."""
    if line is None:
        return "—"
    check = line.get("check") or {}
    if not failed(line):
        text = "ok"
        if "received" in check and "expected" in check:
            text = "ok (%s of %s)" % ("{:,}".format(check["received"]),
                                     "{:,}".format(check["expected"]))
        return text + retry_note(line)
    parts = ["%s %s" % (k, check[k])
             for k in ("expected", "received", "lost", "duplicates",
                       "reordered") if k in check]
    if line.get("error"):
        parts.append("error: " + str(line["error"]))
    if line.get("ok") is False and not line.get("error"):
        parts.append("qmesh-bench reported ok: false")
    return ("**FAILED**: " + (", ".join(parts) or "no check reported")
            + retry_note(line))


def retry_note(line):
    """What bench/compare/retry.py did to the line, if anything."""
    r = line.get("retry")
    if not isinstance(r, dict):
        return ""
    return ("; run again one run at a time after RECEIPTs out of order: "
            "%s of %s attempts passed" % (r.get("passed", "?"),
                                          r.get("attempts", "?")))


def params_text(line):
    params = line.get("params") or {}
    return ", ".join("%s=%s" % (k, params[k]) for k in sorted(params))


# -- the section -------------------------------------------------------------

def headline_table(table, scenarios):
    head = ["| scenario | figure | " +
            " | ".join(n for _b, n in BROKERS) + " | " +
            " | ".join("qmesh / " + n for _b, n in PEERS) + " |",
            "|---|---|" + "---:|" * (len(BROKERS) + len(PEERS))]
    rows = []
    for sid, title, key, unit, higher in scenarios:
        lines = [table.get((sid, b)) for b, _n in BROKERS]
        if not any(lines):
            continue
        cells = [title, "%s (%s better)" % (unit, "higher" if higher
                                            else "lower")]
        cells += [value_cell(line, key) for line in lines]
        cells += [ratio_cell(lines[0], line, key) for line in lines[1:]]
        rows.append("| " + " | ".join(cells) + " |")
    return head + rows


def scenario_tables(table, scenarios):
    out = []
    for sid, title, key, unit, higher in scenarios:
        lines = [(n, table.get((sid, b))) for b, n in BROKERS]
        present = [line for _n, line in lines if line]
        if not present:
            continue
        out += ["", "#### %s (`%s`)" % (title, sid), ""]
        params = params_text(present[0])
        if params:
            out += ["Parameters: %s." % params, ""]
        out += ["| broker | %s median | min–max | spread | qmesh / this "
                "| other figures (median) | check |" % unit,
                "|---|---:|---:|---:|---:|---|---|"]
        qline = lines[0][1]
        for name, line in lines:
            if line is None:
                out.append("| %s | not measured | | | | | |" % name)
                continue
            med = stat(line, key, "median")
            lo, hi = stat(line, key, "min"), stat(line, key, "max")
            spread = ("%.0f %%" % (100.0 * (hi - lo) / med)
                      if med and lo is not None and hi is not None else "—")
            ratio = ("" if line is qline or qline is None
                     else ratio_cell(qline, line, key))
            medians = line.get("median") or {}
            order = list(FIGURE_NAMES) + sorted(set(medians) -
                                                set(FIGURE_NAMES))
            others = "; ".join(
                "%s %s" % (FIGURE_NAMES.get(k, k), sig3(float(medians[k])))
                for k in order if k not in (key, "seconds") and
                isinstance(medians.get(k), (int, float)))
            runs = len(line.get("runs") or [])
            out.append("| %s | %s | %s | %s | %s | %s | %s |" % (
                name, sig3(med),
                "%s–%s" % (sig3(lo), sig3(hi)) if lo is not None else "—",
                spread + (" (%d runs)" % runs if runs else ""), ratio,
                others, check_cell(line)))
    return out


def checks_summary(results, table, meta):
    out = []
    bad = [line for line in table.values() if failed(line)]
    for line in sorted(bad, key=lambda l: (l["id"], l["broker"])):
        out.append("- **FAILED** `%s` on %s: %s" % (
            line["id"], line["broker"], check_cell(line)[len("**FAILED**: "):]))
    for line in results:
        if isinstance(line, dict) and "id" not in line and line.get("error"):
            out.append("- **FAILED** %s: %s" % (line.get("broker", "?"),
                                                line["error"]))
    for entry in meta.get("brokers", []):
        if entry.get("error"):
            out.append("- **FAILED** %s: %s" % (entry["broker"],
                                                entry["error"]))
    if not out:
        out.append("All %d results passed their delivery checks (nothing "
                   "lost, duplicated or reordered)." % len(table))
    for line in sorted(table.values(), key=lambda l: (l["id"], l["broker"])):
        r = line.get("retry")
        if isinstance(r, dict) and not failed(line):
            errors = r.get("errors") or ["?"]
            out.append(
                "- `%s` on %s passed only when run again: %s of %s attempts "
                "passed (figures from those), the others ended on RECEIPTs "
                "out of order, which qmesh-bench's persistent scenario does "
                "not accept (first: \"%s\")." % (
                    line["id"], line["broker"], r.get("passed"),
                    r.get("attempts"), str(errors[0])[:160]))
    return out


def machine_lines(meta):
    m, v = meta.get("machine", {}), meta.get("versions", {})
    rows = [("CPU", m.get("cpu")), ("cores", m.get("cores")),
            ("memory", m.get("memory")), ("kernel", m.get("kernel")),
            ("OS", m.get("os")), ("virtualised", m.get("virtualised")),
            ("broker data", "a fresh directory on %s (not tmpfs) per run"
             % meta.get("data_fs", "?")),
            ("load average at start / end",
             "%s / %s" % (meta.get("load_start", "?"),
                          meta.get("load_end", "?"))),
            ("qmesh", v.get("qmesh")),
            ("RabbitMQ", "%s (Debian package), rabbitmq_stomp" %
             v.get("rabbitmq")),
            ("Erlang", v.get("erlang")),
            ("ActiveMQ", "%s (Debian package), STOMP over NIO, KahaDB" %
             v.get("activemq")),
            ("Java", v.get("java")),
            ("charts", v.get("gnuplot"))]
    return (["| | |", "|---|---|"] +
            ["| %s | %s |" % (k, val if val else "unknown")
             for k, val in rows])


def command_lines(meta):
    out = ["```sh", meta.get("command", "make compare"), "```", "",
           "What it ran, one broker at a time (each alone on the machine "
           "while measured; `$DIR` is the run's fresh directory):", ""]
    for entry in meta.get("brokers", []):
        out += ["- **%s**: started in %s s; load average before %s, after "
                "%s; broker CPU during the scenarios %s s of %s s%s" % (
                    entry["broker"], entry.get("start_s", "?"),
                    entry.get("load_before", "?"),
                    entry.get("load_after", "?"),
                    entry.get("broker_cpu_s", "?"),
                    entry.get("bench_s", "?"),
                    ("; other broker processes running: " +
                     ", ".join(entry["others_running"]))
                    if entry.get("others_running") else ""), ""]
        for key in ("start_command", "bench_command"):
            if entry.get(key):
                out += ["  ```sh", "  " + entry[key], "  ```"]
    return out


HOW = """### How it runs

- One broker at a time: start it, run the scenarios
  (`qmesh-bench --scenario compare`, each scenario `--runs` times), stop
  it, then the next; nothing else of this run is up meanwhile. The load
  generator runs on the same machine and shares its cores with the broker.
- **qmesh**: `qmesh-node` of this build, `--log-level warn`, its data
  directory on a disk; otherwise defaults (queues defined on first use).
- **RabbitMQ**: Debian's package, started from
  `/usr/lib/rabbitmq/bin/rabbitmq-server` without the service wrapper or
  systemd; `rabbitmq_stomp` enabled offline (`RABBITMQ_ENABLED_PLUGINS_FILE`);
  AMQP, STOMP, Erlang distribution and a private `epmd` on 127.0.0.1 at
  free ports; Mnesia, logs and the Erlang cookie in the run directory;
  otherwise defaults (classic queues, user guest).
- **ActiveMQ**: Debian's package, a private instance: an `activemq.xml`
  with one STOMP connector (`stomp+nio://127.0.0.1:PORT`), no OpenWire, no
  JMX (as Debian's own instance), no web console, KahaDB in the run
  directory; Debian's JVM options (`-Xms512M -Xmx512M`); otherwise defaults.
- A broker counts as up when a STOMP CONNECT is answered with CONNECTED.
  Each gets the destinations and headers of its own dialect
  (`qmesh-bench --broker`; see the `qmesh-bench` section below).
- Persistent scenarios put persistent messages with a receipt requested on
  every SEND and a consumer draining the queue; confirmed/s counts
  receipts, and their p50/p99 are send → receipt. Latency is send →
  receive at a fixed rate.
- `make compare` installs `rabbitmq-server`, `activemq` and `gnuplot-nox`
  if missing (their system services are not started); `COMPARE_RUNS`
  (3) and `COMPARE_SCALE` (1, a factor on message counts and the latency
  run's duration) tune it; `QMESH_BENCH_DATA` (`/var/tmp`, never a tmpfs)
  holds the run directory, which is removed at the end. `make
  compare-quick` (1 run, scale 0.05) writes under `build/compare-quick/`
  and leaves this file alone.
- `integration.compare_test` checks the report writer on synthetic results
  wherever the tests run. Its tiny real run against all three brokers and
  its SIGTERM-in-the-middle run (nothing of the run may be left) need
  RabbitMQ and ActiveMQ installed and skip otherwise: `make test` does not
  install an Erlang and a Java runtime for one test.
- RabbitMQ may send RECEIPTs out of order (its publisher confirms: a
  message a consumer took before it reached the disk is confirmed before
  an earlier one's fsync), which fails qmesh-bench's persistent scenario.
  Such a scenario, on any broker, is run again one run at a time until it
  has its runs (at most 6 × runs attempts); "Checks" lists each case with
  its attempts, and its figures come from the passing runs only (marked
  failed if fewer than the runs passed).
- Re-render this section from the kept results without measuring:
  `python3 bench/compare/report.py` (reads
  `bench/compare/last-results.jsonl` and `last-meta.json`).
"""


def section(results, meta, img_rel, charts_note):
    table = index(results)
    scenarios = scenario_list(table)
    runs = meta.get("runs", "?")
    out = [BEGIN,
           "## qmesh vs RabbitMQ vs ActiveMQ (`make compare`)",
           "",
           "*Generated by `bench/compare/report.py` from the run of %s "
           "(%s run%s per scenario, scale %s); `make compare` rewrites "
           "everything between the compare markers.*" % (
               meta.get("date", "?"), runs, "" if runs == 1 else "s",
               meta.get("scale", "1")),
           "",
           "The same STOMP load generator (`qmesh-bench --scenario compare`) "
           "against each broker on one machine. Ratios are the headline: "
           "the absolute figures move with the machine and its load. Each "
           "cell is the median of the runs with the min–max range in "
           "brackets. A throughput ratio above 1 and a latency ratio below "
           "1 mean qmesh is ahead; a ratio's range pairs qmesh's worst run "
           "with the peer's best and the other way round.",
           ""]
    if charts_note:
        out += ["*%s*" % charts_note, ""]
    else:
        out += ["![throughput per scenario, log scale](%s/compare-throughput"
                ".png)" % img_rel, "",
                "![latency percentiles at 5,000 msg/s, log scale]"
                "(%s/compare-latency.png)" % img_rel, ""]
    out += ["### Ratios", ""] + headline_table(table, scenarios)
    out += ["", "### Checks", ""] + checks_summary(results, table, meta)
    out += ["", "### Each scenario"] + scenario_tables(table, scenarios)
    out += ["", HOW.rstrip("\n")]
    out += ["", "### Machine and versions", ""] + machine_lines(meta)
    out += ["", "### Commands", ""] + command_lines(meta)
    out += [END]
    return "\n".join(out) + "\n"


def replace_section(doc, text):
    """doc with its compare section replaced by text (which carries the
    markers), or text inserted before the first `## ` heading."""
    if BEGIN in doc and END in doc and doc.index(BEGIN) < doc.index(END):
        head = doc[:doc.index(BEGIN)]
        tail = doc[doc.index(END) + len(END):]
        if tail.startswith("\n"):
            tail = tail[1:]
        return head + text + tail
    lines = doc.splitlines(keepends=True)
    for i, line in enumerate(lines):
        if line.startswith("## "):
            return "".join(lines[:i]) + text + "\n" + "".join(lines[i:])
    return doc + ("\n" if doc and not doc.endswith("\n") else "") + text


# -- charts ------------------------------------------------------------------

def _row(cells):
    return " ".join('"%s"' % c if isinstance(c, str) else
                    ("?" if c is None else "%g" % c) for c in cells)


def chart_data(table, scenarios):
    """(throughput rows, latency rows): label, then median min max for each
    broker; '?' where missing."""
    thr, lat = [], []
    for sid, title, key, _unit, higher in scenarios:
        if not higher:
            continue
        lines = [table.get((sid, b)) for b, _n in BROKERS]
        if not any(lines):
            continue
        cells = [title]
        for line in lines:
            cells += [stat(line, key, w) if line else None
                      for w in ("median", "min", "max")]
        thr.append(_row(cells))
    lines = [table.get((LATENCY_ID, b)) for b, _n in BROKERS]
    if any(lines):
        for key, label in LATENCY_KEYS:
            cells = [label]
            for line in lines:
                cells += [stat(line, key, w) if line else None
                          for w in ("median", "min", "max")]
            lat.append(_row(cells))
    return thr, lat


PLOT = """set terminal pngcairo size 1200,560 font "sans,10"
set output "%(out)s"
set title "%(title)s"
set datafile missing "?"
set style data histogram
set style histogram errorbars gap 2 lw 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set logscale y
set format y "%%.0s%%c"
set grid ytics
set ylabel "%(ylabel)s"
set key top right
set xtics nomirror rotate by -25 %(xtics)s
set bmargin 7
plot "%(data)s" using 2:3:4:xtic(1) title "qmesh" lc rgb "#1f77b4", \\
     "" using 5:6:7 title "RabbitMQ" lc rgb "#ff7f0e", \\
     "" using 8:9:10 title "ActiveMQ" lc rgb "#2ca02c"
"""


def write_charts(results, img_dir, meta=None, gnuplot="gnuplot"):
    """Draws both PNGs; returns None, or a note why they were not drawn."""
    exe = shutil.which(gnuplot)
    if not exe:
        return "Charts not drawn: gnuplot not found (Debian: gnuplot-nox)."
    table = index(results)
    thr, lat = chart_data(table, scenario_list(table))
    os.makedirs(img_dir, exist_ok=True)
    meta = meta or {}
    v = meta.get("versions", {})
    runs = meta.get("runs", "?")
    subtitle = ("\\n%s, %s run%s per scenario; qmesh %s, RabbitMQ %s, "
                "ActiveMQ %s" % (meta.get("date", "?"), runs,
                                 "" if runs == 1 else "s",
                                 v.get("qmesh", "?").split(" ")[0],
                                 v.get("rabbitmq", "?").split("-")[0],
                                 v.get("activemq", "?").split("+")[0]))
    with tempfile.TemporaryDirectory() as tmp:
        script = []
        for rows, name, title, ylabel, xtics in [
                (thr, "compare-throughput.png",
                 "STOMP throughput per scenario: median, bars min-max "
                 "(log scale, higher is better)",
                 "messages/s (deliveries/s for fan-out)", ""),
                (lat, "compare-latency.png",
                 "STOMP latency at 5,000 msg/s, 16 B: median, bars min-max "
                 "(log scale, lower is better)", "microseconds",
                 "norotate")]:
            if not rows:
                continue
            data = os.path.join(tmp, name + ".dat")
            with open(data, "w") as f:
                f.write("\n".join(rows) + "\n")
            script.append(PLOT % {"out": os.path.join(img_dir, name),
                                  "title": title + subtitle,
                                  "ylabel": ylabel,
                                  "data": data, "xtics": xtics})
        if not script:
            return "Charts not drawn: no results."
        path = os.path.join(tmp, "charts.gp")
        with open(path, "w") as f:
            f.write("\n".join(script))
        p = subprocess.run([exe, path], capture_output=True, text=True)
        if p.returncode != 0:
            return "Charts not drawn: gnuplot failed: " + p.stderr.strip()[:300]
    return None


def write(results, meta, doc_path, img_dir):
    """Charts, then the section in doc_path (created if missing)."""
    note = write_charts(results, img_dir, meta)
    img_rel = os.path.relpath(img_dir, os.path.dirname(os.path.abspath(
        doc_path)))
    text = section(results, meta, img_rel, note)
    try:
        with open(doc_path) as f:
            doc = f.read()
    except FileNotFoundError:
        doc = ""
    os.makedirs(os.path.dirname(os.path.abspath(doc_path)), exist_ok=True)
    with open(doc_path, "w") as f:
        f.write(replace_section(doc, text))
    if note:
        print("compare: " + note, file=sys.stderr)


def main(argv):
    here = os.path.dirname(os.path.abspath(__file__))
    source = os.path.dirname(os.path.dirname(here))
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--results", default=os.path.join(here,
                                                     "last-results.jsonl"))
    p.add_argument("--meta", default=os.path.join(here, "last-meta.json"))
    p.add_argument("--doc", default=os.path.join(source, "docs",
                                                 "benchmarks.md"))
    p.add_argument("--img-dir", default=os.path.join(source, "docs", "img"))
    args = p.parse_args(argv)
    with open(args.meta) as f:
        meta = json.load(f)
    write(load_results(args.results), meta, args.doc, args.img_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
