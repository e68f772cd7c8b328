"""`make compare` (bench/compare/): the report writer on a synthetic result
set (ratios, ranges, failed checks, missing brokers, garbage lines, the
marked section of a hand-written file), and, where RabbitMQ and ActiveMQ are
installed, a tiny real run against all three brokers plus a stop by SIGTERM
that must leave no broker process behind.

`make test` does not install RabbitMQ or ActiveMQ (an Erlang and a Java
runtime); without them the real-run tests skip and the report tests still
run. Figures are never asserted, only the arithmetic and the checks."""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

SOURCE = os.environ.get("QMESH_SOURCE_DIR",
                        os.path.join(os.path.dirname(__file__), "..", ".."))
COMPARE = os.path.join(SOURCE, "bench", "compare")
sys.path.insert(0, COMPARE)

import report  # noqa: E402
import retry  # noqa: E402

BENCH = os.environ.get("QMESH_BENCH", os.path.join(SOURCE, "build",
                                                   "qmesh-bench"))
BROKERS = ("qmesh", "rabbitmq", "activemq")

# id -> figure, medians for qmesh, RabbitMQ, ActiveMQ
FIGURES = {
    "p2p-16-auto": ("msgs_per_s", (1200000, 37000, 55000)),
    "p2p-1024-auto": ("msgs_per_s", (450000, 30000, 40000)),
    "persistent-64": ("confirmed_per_s", (100000, 15000, 8000)),
    "fanout-10-16": ("deliveries_per_s", (1400000, 51000, 231000)),
    "mxm-4-16": ("msgs_per_s", (1000000, 40000, 60000)),
}


def line(sid, broker, key, median, ok=True, lost=0, factors=(0.9, 1, 1.1)):
    runs = [{key: median * f, "mb_per_s": median * f * 16 / 1e6}
            for f in factors]
    return {"tool": "qmesh-bench", "id": sid, "scenario": sid.split("-")[0],
            "transport": "stomp", "broker": broker, "params": {"size": 16},
            "runs": runs, "median": runs[len(runs) // 2], "min": runs[0],
            "max": runs[-1],
            "check": {"expected": 1000, "received": 1000 - lost,
                      "lost": lost, "duplicates": 0, "reordered": 0},
            "ok": ok}


def synthetic():
    out = []
    for sid, (key, medians) in FIGURES.items():
        for broker, median in zip(BROKERS, medians):
            if sid == "p2p-1024-auto" and broker == "rabbitmq":
                continue  # not measured
            failed = sid == "mxm-4-16" and broker == "activemq"
            out.append(line(sid, broker, key, median, ok=not failed,
                            lost=3 if failed else 0))
    # ok:false with clean counts (e.g. an ERROR frame) is a failure too.
    out.append(line("persistent-1", "qmesh", "confirmed_per_s", 3000,
                    ok=False))
    out.append(line("persistent-1", "rabbitmq", "confirmed_per_s", 2000))
    for broker, p99 in zip(BROKERS, (320, 385, 24000)):
        med = {"p50_us": p99 / 3, "p90_us": p99 / 2, "p99_us": p99,
               "p999_us": p99 * 2, "max_us": p99 * 5}
        runs = [{k: v * f for k, v in med.items()} for f in (0.8, 1, 1.25)]
        out.append({"id": "latency-5000-16", "broker": broker,
                    "params": {"rate": 5000}, "runs": runs,
                    "median": runs[1], "min": runs[0], "max": runs[2],
                    "check": {"expected": 500, "received": 500, "lost": 0,
                              "duplicates": 0, "reordered": 0},
                    "ok": True})
    return out


META = {"date": "2026-12-05 04:00 UTC", "command": "make compare",
        "runs": 3, "scale": "1",
        "machine": {"cpu": "Test CPU", "cores": "2", "memory": "1 GiB",
                    "kernel": "6.1", "os": "Debian", "virtualised": "no"},
        "versions": {"qmesh": "abc (RelWithDebInfo build)",
                     "rabbitmq": "3.10.8", "erlang": "OTP 25",
                     "activemq": "5.17.2", "java": "17", "gnuplot": "5.4"},
        "load_start": "0.1 0.1 0.1", "load_end": "0.2 0.2 0.2",
        "brokers": [{"broker": "qmesh", "start_command": "build/qmesh-node",
                     "bench_command": "build/qmesh-bench --broker qmesh"}]}

HAND_WRITTEN = ("# Benchmarks\n\nIntro by hand.\n\n## Later section\n\n"
                "Text that must stay.\n")


def row(text, title):
    rows = [r for r in text.splitlines() if r.startswith("| " + title + " |")]
    assert len(rows) == 1, (title, rows)
    return [c.strip() for c in rows[0].strip("|").split("|")]


class ReportTests(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp()
        self.doc = os.path.join(self.tmp, "docs", "benchmarks.md")
        os.makedirs(os.path.dirname(self.doc))
        with open(self.doc, "w") as f:
            f.write(HAND_WRITTEN)
        self.img = os.path.join(self.tmp, "docs", "img")

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def render(self, results):
        report.write(results, META, self.doc, self.img)
        with open(self.doc) as f:
            return f.read()

    def section(self, text):
        return text[text.index(report.BEGIN):text.index(report.END)]

    def test_ratio_table_medians_ranges_and_ratios(self):
        text = self.section(self.render(synthetic()))
        cells = row(text, "p2p 16 B, ack auto")
        self.assertEqual(cells[2], "1,200,000 (1,080,000–1,320,000)")
        self.assertEqual(cells[3], "37,000 (33,300–40,700)")
        # 1.2M / 37k = 32.4; range 1.08M/40.7k = 26.5 .. 1.32M/33.3k = 39.6
        self.assertEqual(cells[5], "32× (27–40)")
        self.assertEqual(cells[6], "22× (18–27)")
        cells = row(text, "fan-out 1 -> 10, 16 B")
        self.assertIn("deliveries/s", cells[1])
        self.assertEqual(cells[6], "6.1× (5.0–7.4)")
        # Latency: lower is better; 320 / 385 = 0.83, 320 / 24000 = 0.013.
        cells = row(text, "latency at 5,000 msg/s, 16 B")
        self.assertIn("lower better", cells[1])
        self.assertTrue(cells[5].startswith("0.83× "), cells[5])
        self.assertTrue(cells[6].startswith("0.013× "), cells[6])

    def test_failed_checks_are_shown_as_failures(self):
        text = self.section(self.render(synthetic()))
        cells = row(text, "4 producers x 4 consumers, 16 B")
        self.assertIn("**FAILED**", cells[4])
        self.assertNotIn("FAILED", cells[2])
        self.assertIn("**check failed**", cells[6])
        self.assertNotIn("check failed", cells[5])
        self.assertIn("- **FAILED** `mxm-4-16` on activemq: expected 1000, "
                      "received 997, lost 3", text)
        # ok:false with nothing lost still fails.
        self.assertIn("- **FAILED** `persistent-1` on qmesh", text)
        self.assertIn("**check failed**",
                      row(text, "persistent 16 B, 1 in flight")[5])
        # The per-scenario table says it too.
        detail = text[text.index("(`mxm-4-16`)"):]
        activemq = [r for r in detail.splitlines()
                    if r.startswith("| ActiveMQ |")][0]
        self.assertIn("**FAILED**: expected 1000, received 997, lost 3",
                      activemq)

    def test_all_passing_says_so(self):
        results = [l for l in synthetic() if l.get("ok")]
        text = self.section(self.render(results))
        self.assertNotIn("FAILED", text)
        self.assertNotIn("check failed", text)
        self.assertIn("All %d results passed their delivery checks"
                      % len(results), text)

    def test_missing_broker_and_garbage_lines(self):
        results = synthetic() + [{"error": "not JSON: {oops"},
                                 {"id": "p2p-16-auto"}]
        text = self.section(self.render(results))
        cells = row(text, "p2p 1 KiB, ack auto")
        self.assertEqual(cells[3], "not measured")
        self.assertEqual(cells[5], "—")
        self.assertIn("- **FAILED** ?: not JSON: {oops", text)

    def test_failed_broker_start_is_reported(self):
        meta = dict(META, brokers=[{"broker": "rabbitmq",
                                    "error": "rabbitmq exited with 1"}])
        report.write(synthetic(), meta, self.doc, self.img)
        with open(self.doc) as f:
            self.assertIn("- **FAILED** rabbitmq: rabbitmq exited with 1",
                          f.read())

    def test_section_replaced_between_markers_rest_kept(self):
        first = self.render(synthetic())
        self.assertEqual(first.count(report.BEGIN), 1)
        self.assertEqual(first.count(report.END), 1)
        # Inserted after the intro, before the first "## " heading.
        self.assertLess(first.index("Intro by hand."),
                        first.index(report.BEGIN))
        self.assertLess(first.index(report.END),
                        first.index("## Later section"))
        without = (first[:first.index(report.BEGIN)] +
                   first[first.index(report.END) + len(report.END) + 1:])
        self.assertEqual(without.replace("\n\n\n", "\n\n"), HAND_WRITTEN)
        # A second run replaces the section and nothing else.
        results = [l for l in synthetic() if l["id"] != "mxm-4-16"]
        second = self.render(results)
        self.assertEqual(second.count(report.BEGIN), 1)
        self.assertNotIn("mxm-4-16", second)
        self.assertEqual(second[:second.index(report.BEGIN)],
                         first[:first.index(report.BEGIN)])
        self.assertEqual(second[second.index(report.END):],
                         first[first.index(report.END):])
        self.assertEqual(self.render(results), second)

    def test_machine_versions_and_commands(self):
        text = self.section(self.render(synthetic()))
        for needle in ("| CPU | Test CPU |", "| RabbitMQ | 3.10.8",
                       "| Erlang | OTP 25 |", "| ActiveMQ | 5.17.2",
                       "| Java | 17 |", "make compare",
                       "build/qmesh-bench --broker qmesh"):
            self.assertIn(needle, text)

    def test_charts(self):
        text = self.render(synthetic())
        if not shutil.which("gnuplot"):
            self.assertIn("Charts not drawn: gnuplot not found", text)
            self.skipTest("gnuplot not installed: charts not checked")
        for name in ("compare-throughput.png", "compare-latency.png"):
            with open(os.path.join(self.img, name), "rb") as f:
                self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")
            self.assertIn("](img/%s)" % name, text)


class RetryTests(unittest.TestCase):
    """Persistent scenarios that failed on receipt order are run again."""

    ORDER = ("producer 0: SEND: expected receipt-id 1201, got 1211 (lost, "
             "duplicated or out of order)")

    def failed_line(self, error=ORDER, sid="persistent-64"):
        l = line(sid, "rabbitmq", "confirmed_per_s", 10000, ok=False)
        l["error"] = error
        l["params"] = {"in_flight": 64, "messages": 5000, "size": 16,
                       "producers": 1, "drain": True}
        return l

    def test_only_receipt_order_failures_of_persistent_scenarios(self):
        self.assertTrue(retry.retryable(self.failed_line()))
        self.assertFalse(retry.retryable(self.failed_line(error="timeout")))
        self.assertFalse(retry.retryable(self.failed_line(sid="p2p-16-auto")))
        ok = self.failed_line()
        ok["ok"] = True
        self.assertFalse(retry.retryable(ok))

    def test_single_run_command(self):
        base = ["qmesh-bench", "--port", "1", "--broker", "rabbitmq",
                "--scenario", "compare", "--runs", "3", "--json", "x",
                "--scale", "0.25", "--login", "guest", "--passcode", "guest"]
        argv = retry.single_run_argv(base, self.failed_line(), "y")
        self.assertEqual(argv[:5], base[:5])
        text = " ".join(argv)
        for part in ("--scenario persistent", "--runs 1", "--json y",
                     "--in-flight 64", "--messages 5000", "--drain on",
                     "--login guest --passcode guest"):
            self.assertIn(part, text)
        for gone in ("compare", "--scale", "--runs 3", "--json x"):
            self.assertNotIn(gone, text)

    def test_merge_passing_runs_and_report_the_attempts(self):
        passed = [line("persistent-64", "rabbitmq", "confirmed_per_s", v,
                       factors=(1,)) for v in (9000, 12000, 10000)]
        merged = retry.merge(self.failed_line(), passed,
                             [self.ORDER, self.ORDER], 3)
        self.assertTrue(merged["ok"])
        self.assertNotIn("error", merged)
        self.assertEqual(merged["median"]["confirmed_per_s"], 10000)
        self.assertEqual(merged["min"]["confirmed_per_s"], 9000)
        self.assertEqual(merged["check"]["received"], 3000)
        self.assertEqual(merged["retry"]["attempts"], 5)
        text = report.section([merged], META, "img", "no charts")
        self.assertNotIn("FAILED", text)
        self.assertIn("- `persistent-64` on rabbitmq passed only when run "
                      "again: 3 of 5 attempts passed", text)
        detail = [r for r in text.splitlines() if r.startswith("| RabbitMQ |")]
        self.assertIn("3 of 5 attempts passed", detail[0])

    def test_too_few_passing_runs_stay_failed(self):
        passed = [line("persistent-64", "rabbitmq", "confirmed_per_s", 9000,
                       factors=(1,))]
        merged = retry.merge(self.failed_line(), passed, [self.ORDER] * 11, 3)
        self.assertFalse(merged["ok"])
        self.assertEqual(merged["error"], self.ORDER)
        # The passing run's figure is kept, marked as failed.
        self.assertEqual(merged["median"]["confirmed_per_s"], 9000)
        text = report.section([merged], META, "img", "no charts")
        self.assertIn("- **FAILED** `persistent-64` on rabbitmq", text)
        self.assertIn("1 of 12 attempts passed", text)
        self.assertEqual(row(text, "persistent 16 B, 64 in flight")[3],
                         "9,000 **FAILED**")


def installed():
    """Why the real run cannot happen here, or None."""
    if not os.path.exists("/usr/lib/rabbitmq/bin/rabbitmq-server"):
        return "rabbitmq-server not installed"
    if not os.path.exists("/usr/share/activemq/bin/activemq.jar"):
        return "activemq not installed"
    if not shutil.which("java") or not shutil.which("epmd"):
        return "java or epmd missing"
    if not os.path.exists(BENCH):
        return "qmesh-bench not built"
    usage = subprocess.run([BENCH, "--help"], capture_output=True,
                           text=True).stdout
    if "compare" not in usage or "--json" not in usage:
        return "this qmesh-bench has no --scenario compare / --json"
    return None


def processes_under(path):
    """Pids whose command line or environment mentions path (the brokers'
    run directory: epmd has it only in its environment)."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            for part in ("cmdline", "environ"):
                try:
                    with open("/proc/%s/%s" % (entry, part), "rb") as f:
                        if path.encode() in f.read():
                            pids.append(int(entry))
                            break
                except OSError:
                    pass
    return pids


def comm(pid):
    try:
        with open("/proc/%d/comm" % pid) as f:
            return f.read().strip()
    except OSError:
        return ""


@unittest.skipIf(installed(), installed())
class RealRunTests(unittest.TestCase):
    def setUp(self):
        # The run directory goes on a disk, as compare.py insists.
        self.tmp = tempfile.mkdtemp(prefix="compare-test-", dir="/var/tmp")
        self.out = os.path.join(self.tmp, "out")
        self.data = os.path.join(self.tmp, "data")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def driver(self, *args):
        return [sys.executable, os.path.join(COMPARE, "compare.py"),
                "--build", os.path.dirname(BENCH), "--data-root", self.data,
                "--doc", os.path.join(self.out, "benchmarks.md"),
                "--img-dir", os.path.join(self.out, "img"),
                "--results", self.out, *args]

    def test_tiny_run_against_all_three(self):
        r = subprocess.run(self.driver("--runs", "1", "--scale", "0.01"),
                           capture_output=True, text=True, timeout=540)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        results = report.load_results(os.path.join(self.out,
                                                   "last-results.jsonl"))
        seen = {(l.get("id"), l.get("broker")) for l in results}
        for broker in BROKERS:
            for sid in ("p2p-16-auto", "fanout-10-16", "persistent-64",
                        "latency-5000-16"):
                self.assertIn((sid, broker), seen)
        for l in results:
            self.assertFalse(report.failed(l), l)
        with open(os.path.join(self.out, "benchmarks.md")) as f:
            text = f.read()
        self.assertIn(report.BEGIN, text)
        self.assertNotIn("FAILED", text)
        self.assertIn("| p2p 16 B, ack auto |", text)
        self.assertEqual(processes_under(self.data), [])
        self.assertEqual(os.listdir(self.data), [])

    def test_sigterm_stops_everything_it_started(self):
        proc = subprocess.Popen(self.driver("--brokers", "rabbitmq",
                                            "--runs", "1", "--scale", "0.2"),
                                stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        try:
            deadline = time.monotonic() + 120
            # Wait for RabbitMQ to be up and measured: qmesh-bench runs
            # (its --json names the run directory).
            while "qmesh-bench" not in [comm(p) for p in
                                        processes_under(self.data)]:
                if proc.poll() is not None:
                    self.fail("the driver ended early:\n" + proc.stdout.read())
                self.assertLess(time.monotonic(), deadline)
                time.sleep(0.1)
            proc.send_signal(signal.SIGTERM)
            out = proc.communicate(timeout=90)[0]
        finally:
            if proc.poll() is None:
                proc.kill()
        self.assertEqual(proc.returncode, 130, out)
        self.assertIn("stopped by signal", out)
        self.assertEqual(processes_under(self.data), [])
        self.assertEqual(os.listdir(self.data), [])


if __name__ == "__main__":
    unittest.main()
