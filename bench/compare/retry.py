"""Re-runs of persistent scenarios that failed only because the broker sent
RECEIPTs out of order.

qmesh-bench's persistent scenario requires each producer's RECEIPTs in the
order of its SENDs. RabbitMQ's STOMP receipts are publisher confirms, which
it may send out of order: a message a consumer took before it reached the
disk is confirmed at once, an earlier one only after its fsync. One such
reordering ends the whole scenario (all --runs of it). Here the scenario is
run again one run at a time until --runs runs passed or the attempts are
used up; the merged line keeps every failed attempt's error in "retry", and
the report shows them. The same rule applies to every broker.

Python 3 standard library only.
"""

import json
import os
import statistics
import subprocess

ORDER_ERROR = "expected receipt-id"


def retryable(line):
    """A persistent scenario that failed on receipt order only."""
    return (line.get("ok") is False
            and str(line.get("id", "")).startswith("persistent-")
            and ORDER_ERROR in str(line.get("error", ""))
            and isinstance(line.get("params"), dict))


def single_run_argv(base_argv, line, json_path):
    """qmesh-bench argv for one run of the line's scenario: base_argv is the
    comparison's argv, whose --scenario/--runs/--json/--scale are replaced."""
    p = line["params"]
    argv, skip = [], False
    for i, a in enumerate(base_argv):
        if skip:
            skip = False
            continue
        if a in ("--scenario", "--runs", "--json", "--scale") and i > 0:
            skip = True
            continue
        argv.append(a)
    argv += ["--scenario", "persistent", "--runs", "1", "--json", json_path,
             "--in-flight", str(p.get("in_flight", 1)),
             "--messages", str(p.get("messages", 20000)),
             "--size", str(p.get("size", 16)),
             "--producers", str(p.get("producers", 1)),
             "--drain", "on" if p.get("drain", True) else "off"]
    return argv


def merge(failed, passed, errors, runs_wanted):
    """One line from the failed comparison line, the passing single-run
    lines and the errors of the failed attempts. Its figures come from the
    passing runs, if any; it stays failed (ok false, the first error)
    unless runs_wanted (None: never) runs passed."""
    out = dict(failed)
    attempts = len(passed) + len(errors)
    out["retry"] = {"attempts": attempts, "passed": len(passed),
                    "errors": errors}
    if not passed:
        return out
    runs = [r for line in passed for r in line.get("runs", [])]
    keys = sorted({k for r in runs for k, v in r.items()
                   if isinstance(v, (int, float))})
    out["runs"] = runs
    for which, fn in (("median", statistics.median), ("min", min),
                      ("max", max)):
        out[which] = {k: fn([r[k] for r in runs if k in r]) for k in keys}
    check = {}
    for line in passed:
        for k, v in (line.get("check") or {}).items():
            if isinstance(v, int):
                check[k] = check.get(k, 0) + v
    out["check"] = check
    if runs_wanted is not None and len(passed) >= runs_wanted:
        out["ok"] = True
        out.pop("error", None)
    return out


def rerun(line, base_argv, runs_wanted, run_dir, max_attempts):
    """Runs the line's scenario once at a time until runs_wanted runs passed
    or max_attempts were made; returns the merged line."""
    passed, errors = [], []
    errors.append(str(line.get("error")))
    path = os.path.join(run_dir, "retry-%s.jsonl" % line["id"])
    while len(passed) < runs_wanted and len(passed) + len(errors) < max_attempts:
        if os.path.exists(path):
            os.remove(path)
        subprocess.call(single_run_argv(base_argv, line, path))
        got = []
        try:
            with open(path) as f:
                got = [json.loads(l) for l in f if l.strip()]
        except (OSError, ValueError) as e:
            errors.append("no result: %s" % e)
            continue
        for g in got:
            if g.get("ok") and g.get("id") == line["id"]:
                passed.append(g)
            else:
                errors.append(str(g.get("error", "failed")))
                if not retryable(g):
                    # Anything but a receipt order error is final: the
                    # line stays failed, with the attempts so far.
                    return merge(g, passed, errors, None)
    return merge(line, passed, errors, runs_wanted)
