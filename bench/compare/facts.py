"""Machine facts and software versions for the comparison report, read from
/proc, dpkg and the programs themselves. Every function returns text and
never raises: a fact that cannot be read is "unknown".

Python 3 standard library only.
"""

import os
import re
import subprocess


def _read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def _run(argv, cwd=None):
    try:
        p = subprocess.run(argv, cwd=cwd, capture_output=True, text=True,
                           timeout=30)
        return (p.stdout + p.stderr).strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


def machine():
    """CPU model, cores, memory, kernel, OS, hypervisor flag, from /proc."""
    cpuinfo = _read("/proc/cpuinfo")
    models = re.findall(r"^model name\s*:\s*(.+)$", cpuinfo, re.M)
    flags = re.search(r"^flags\s*:\s*(.+)$", cpuinfo, re.M)
    mem = re.search(r"^MemTotal:\s*(\d+) kB", _read("/proc/meminfo"), re.M)
    os_name = re.search(r'^PRETTY_NAME="?([^"\n]+)', _read("/etc/os-release"),
                        re.M)
    return {
        "cpu": models[0] if models else "unknown",
        "cores": str(len(models) or os.cpu_count() or 0),
        "memory": ("%.1f GiB" % (int(mem.group(1)) / 1048576.0)) if mem
                  else "unknown",
        "kernel": _read("/proc/sys/kernel/osrelease").strip() or "unknown",
        "os": os_name.group(1) if os_name else "unknown",
        "virtualised": "yes (hypervisor flag)"
                       if flags and "hypervisor" in flags.group(1).split()
                       else "no hypervisor flag",
    }


def loadavg():
    """The 1, 5 and 15 minute load averages, as /proc/loadavg has them."""
    return " ".join(_read("/proc/loadavg").split()[:3]) or "unknown"


def deb_version(package):
    out = _run(["dpkg-query", "-W", "-f=${Version}", package])
    return out if out and "no packages found" not in out else "not installed"


def versions(source_dir, build_dir):
    """qmesh's git revision and build type, and the peers' versions."""
    rev = _run(["git", "describe", "--always", "--dirty", "--abbrev=10"],
               cwd=source_dir) or "unknown"
    cache = _read(os.path.join(build_dir, "CMakeCache.txt"))
    build_type = re.search(r"^CMAKE_BUILD_TYPE:\w+=(.*)$", cache, re.M)
    otp = _read("/usr/lib/erlang/releases/%s/OTP_VERSION" % _otp_release())
    java = _run(["java", "-version"]).splitlines()
    return {
        "qmesh": "%s (%s build)" % (rev, build_type.group(1) if build_type
                                    else "unknown"),
        "rabbitmq": deb_version("rabbitmq-server"),
        "erlang": "OTP %s (erlang-base %s)" % (otp.strip() or "unknown",
                                               deb_version("erlang-base")),
        "activemq": deb_version("activemq"),
        "java": java[0] if java else "unknown",
        "gnuplot": _run(["gnuplot", "--version"]) or "not installed",
    }


def _otp_release():
    try:
        releases = os.listdir("/usr/lib/erlang/releases")
    except OSError:
        return "unknown"
    numbers = [r for r in releases if r.isdigit()]
    return max(numbers, key=int) if numbers else "unknown"


def other_brokers(own_pids):
    """Broker processes running that this run did not start: an Erlang VM
    (RabbitMQ), a JVM running ActiveMQ, or a qmesh-node. List of
    "pid name" strings."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) in own_pids:
            continue
        comm = _read("/proc/%s/comm" % entry).strip()
        cmdline = _read("/proc/%s/cmdline" % entry).replace("\0", " ")
        if comm == "beam.smp" and "rabbit" in cmdline:
            found.append("%s rabbitmq" % entry)
        elif comm == "java" and "activemq" in cmdline:
            found.append("%s activemq" % entry)
        elif comm == "qmesh-node":
            found.append("%s qmesh-node" % entry)
    return found


def group_pids(pgids):
    """Pids of every process in the given process groups."""
    pids = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        stat = _read("/proc/%s/stat" % entry)
        # pgrp is the 5th field, after "pid (comm) state ppid".
        tail = stat.rsplit(")", 1)[-1].split()
        if len(tail) > 2 and tail[2].isdigit() and int(tail[2]) in pgids:
            pids.add(int(entry))
    return pids


def group_cpu_seconds(pgid):
    """User + system CPU seconds used so far by the live processes of one
    process group (a broker and its helpers)."""
    ticks = 0
    for pid in group_pids({pgid}):
        tail = _read("/proc/%d/stat" % pid).rsplit(")", 1)[-1].split()
        if len(tail) > 12:
            ticks += int(tail[11]) + int(tail[12])
    return ticks / float(os.sysconf("SC_CLK_TCK"))
