"""package.deb: the Debian packages build, install into a fresh Debian
bookworm root, their node runs there as the systemd unit would run it, and
the maintainer scripts do what docs/operations.md says on install, upgrade,
remove and purge.

Steps: build the .debs (packaging/build-deb.sh: qmesh and qmesh-dev, with
the Maintainer QMESH_PACKAGE_CONTACT), unpack a cached
`debootstrap --variant=minbase bookworm` root (made on first use and kept
outside the repository), `dpkg -i` + `apt-get -f install` inside it, check
the installed files and the unit (`systemd-analyze verify` when the host has
it), start the installed node with the unit's ExecStart as user qmesh on free
loopback ports, ask it `qmesh status`, complete a queue name with the
installed bash completion, stop it with SIGTERM; build
examples/client_hello.cpp there against qmesh-dev with g++ and pkg-config
and run it against a node; then upgrade (install the same .deb again),
remove, install again and purge.

No systemd runs in the root, so the root gets /run/systemd/system (the
scripts' test for a running systemd) and a systemctl stand-in
(systemctl_standin.sh) that records every call and keeps the enabled and
active units; the real deb-systemd-invoke of the root drives it. The tests
assert the calls each script makes (daemon-reload, QM1 enabled and started
on the first install only, running instances restarted on an upgrade and
stopped on remove, policy-rc.d honoured) and what remove and purge keep.

Slow (a package build, apt-get in a chroot): ctest label `slow`. Needs root
(chroot, mount, dpkg), and Debian's mirror the first time; not root: exit
77, which ctest reports as skipped.

Environment:
  QMESH_SOURCE_DIR      the source tree (set by ctest)
  QMESH_DEB             a qmesh .deb to test instead of building one (its
                        qmesh-dev .deb: QMESH_DEV_DEB, default the
                        qmesh-dev_*.deb beside it)
  QMESH_DEB_BUILD_DIR   where to build them (default: build-deb in the source)
  QMESH_PACKAGE_CONTACT the Maintainer to build with and expect (default:
                        "qmesh package test <package-test@example.org>")
  QMESH_DEBROOT_CACHE   the cached root and apt's downloads
                        (default /var/tmp/qmesh-debroot-cache)
  QMESH_DEBIAN_MIRROR   default http://deb.debian.org/debian
"""
import fcntl
import glob
import gzip
import os
import pwd
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

SKIP = 77

SOURCE_DIR = os.environ.get(
    "QMESH_SOURCE_DIR",
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
CACHE = os.environ.get("QMESH_DEBROOT_CACHE", "/var/tmp/qmesh-debroot-cache")
MIRROR = os.environ.get("QMESH_DEBIAN_MIRROR", "http://deb.debian.org/debian")
SUITE = "bookworm"
ROOT_TARBALL = os.path.join(CACHE, f"{SUITE}-minbase.tar.gz")
ARCHIVES = os.path.join(CACHE, "archives")
CHROOT_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
              "LANG": "C.UTF-8", "DEBIAN_FRONTEND": "noninteractive"}
CONTACT = os.environ.get("QMESH_PACKAGE_CONTACT",
                         "qmesh package test <package-test@example.org>")
STANDIN = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                       "systemctl_standin.sh")
STANDIN_STATE = "/var/lib/systemctl-standin"
QM1 = "qmesh-node@QM1.service"
QM2 = "qmesh-node@QM2.service"
QM3 = "qmesh-node@QM3.service"


def log(msg):
    print(f"package.deb: {msg}", flush=True)


def run(cmd, timeout=1800, check=True, **kw):
    """Runs cmd, output captured; raises with the output on failure."""
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                       **kw)
    if check and p.returncode != 0:
        raise AssertionError(f"{cmd!r} exited {p.returncode}\n"
                             f"stdout:\n{p.stdout[-4000:]}\n"
                             f"stderr:\n{p.stderr[-4000:]}")
    return p


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ensure_host_tools():
    """help2man, dpkg-dev and debootstrap from Debian, if missing."""
    wanted = {"help2man": "help2man", "dpkg-shlibdeps": "dpkg-dev",
              "debootstrap": "debootstrap"}
    missing = sorted({pkg for tool, pkg in wanted.items()
                      if not shutil.which(tool)})
    if missing:
        log(f"installing {' '.join(missing)}")
        run(["apt-get", "update", "-qq"])
        run(["apt-get", "install", "-y", "-qq", *missing],
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})


def build_debs():
    """(the qmesh .deb, the qmesh-dev .deb)"""
    if os.environ.get("QMESH_DEB"):
        deb = os.environ["QMESH_DEB"]
        dev = os.environ.get("QMESH_DEV_DEB") or glob.glob(os.path.join(
            os.path.dirname(deb), "qmesh-dev_*.deb"))[0]
        return deb, dev
    build = os.environ.get("QMESH_DEB_BUILD_DIR",
                           os.path.join(SOURCE_DIR, "build-deb"))
    log(f"building the packages in {build}")
    p = run(["sh", os.path.join(SOURCE_DIR, "packaging", "build-deb.sh"),
             build], timeout=3600,
            env={**os.environ, "QMESH_PACKAGE_CONTACT": CONTACT})
    deb, dev = p.stdout.strip().splitlines()[-2:]
    return deb, dev


def ensure_root_tarball():
    """The minbase root as a tarball in CACHE, made once (under a lock)."""
    os.makedirs(ARCHIVES, exist_ok=True)
    with open(os.path.join(CACHE, "lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if os.path.exists(ROOT_TARBALL):
            return
        tmp = os.path.join(CACHE, "root.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        log(f"debootstrap --variant=minbase {SUITE} (once; cached in {CACHE})")
        run(["debootstrap", "--variant=minbase", SUITE, tmp, MIRROR],
            timeout=3600)
        # debootstrap leaves the base system's .debs in apt's cache.
        for deb in glob.glob(os.path.join(tmp, "var/cache/apt/archives/*.deb")):
            os.remove(deb)
        run(["tar", "-C", tmp, "-czf", ROOT_TARBALL + ".part", "."])
        os.rename(ROOT_TARBALL + ".part", ROOT_TARBALL)
        shutil.rmtree(tmp, ignore_errors=True)


class DebPackageTest(unittest.TestCase):
    root = None

    @classmethod
    def setUpClass(cls):
        ensure_host_tools()
        cls.deb, cls.dev_deb = build_debs()
        assert os.path.isfile(cls.deb), cls.deb
        assert os.path.isfile(cls.dev_deb), cls.dev_deb
        log(f"packages {cls.deb} {cls.dev_deb}")
        ensure_root_tarball()
        cls.root = tempfile.mkdtemp(prefix="qmesh-debroot-", dir="/var/tmp")
        cls.addClassCleanup(cls.remove_root)
        run(["tar", "-C", cls.root, "-xzf", ROOT_TARBALL])
        shutil.copy("/etc/resolv.conf", os.path.join(cls.root, "etc"))
        mirror = MIRROR.rstrip("/")
        with open(os.path.join(cls.root, "etc/apt/sources.list"), "w") as f:
            f.write(f"deb {mirror} {SUITE} main\n"
                    f"deb {mirror} {SUITE}-updates main\n"
                    f"deb {mirror}-security {SUITE}-security main\n")
        apt_cache = os.path.join(cls.root, "var/cache/apt/archives")
        for deb in glob.glob(os.path.join(ARCHIVES, "*.deb")):
            shutil.copy(deb, apt_cache)
        shutil.copy(cls.deb, os.path.join(cls.root, "tmp"))
        shutil.copy(cls.dev_deb, os.path.join(cls.root, "tmp"))
        cls.chroot_deb = "/tmp/" + os.path.basename(cls.deb)
        cls.chroot_dev_deb = "/tmp/" + os.path.basename(cls.dev_deb)
        # "systemd is running" for the maintainer scripts, and systemctl
        # where systemd has it (apt runs dpkg with a PATH of its own,
        # without /usr/local).
        os.makedirs(os.path.join(cls.root, "run/systemd/system"))
        standin = os.path.join(cls.root, "usr/bin/systemctl")
        assert not os.path.exists(standin), "the root has a systemctl"
        shutil.copy(STANDIN, standin)
        os.chmod(standin, 0o755)

        log("dpkg -i, then apt-get -f install in the fresh root")
        cls.chroot(["apt-get", "update", "-qq"])
        # Fails on the missing dependencies; apt-get -f install brings them
        # and finishes the configuration.
        cls.dpkg_first = cls.chroot(["dpkg", "-i", cls.chroot_deb,
                                     cls.chroot_dev_deb], check=False)
        cls.apt_fix = cls.chroot(["apt-get", "-f", "install", "-y", "-q"])
        # What the first install asked of systemd (test_5); later tests
        # start from an empty record.
        cls.install_calls = cls.standin_calls()
        cls.reset_calls()
        cls.save_downloads()

    @classmethod
    def save_downloads(cls):
        """apt's downloads in the root, kept in the cache for next time."""
        apt_cache = os.path.join(cls.root, "var/cache/apt/archives")
        for deb in glob.glob(os.path.join(apt_cache, "*.deb")):
            if not os.path.exists(os.path.join(ARCHIVES,
                                               os.path.basename(deb))):
                shutil.copy(deb, ARCHIVES)

    @classmethod
    def remove_root(cls):
        # /proc was mounted only in the commands' own mount namespaces.
        if os.path.ismount(os.path.join(cls.root, "proc")):
            log(f"{cls.root}/proc is mounted: root left in place")
            return
        shutil.rmtree(cls.root, ignore_errors=True)

    @classmethod
    def chroot_argv(cls, cmd, userspec=None):
        """cmd in the root, with /proc mounted in a mount namespace of its
        own (gone with the command: nothing stays mounted on the host).
        The command keeps the PID of the returned argv's process."""
        opts = [f"--userspec={userspec}"] if userspec else []
        return ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                'mount -t proc proc "$0/proc" && exec chroot "$@"',
                cls.root, *opts, cls.root, *cmd]

    @classmethod
    def chroot(cls, cmd, check=True, timeout=1800, userspec=None):
        return run(cls.chroot_argv(cmd, userspec), check=check,
                   timeout=timeout, env=CHROOT_ENV)

    # -- the systemctl stand-in (systemctl_standin.sh) --------------------

    @classmethod
    def standin_calls(cls):
        """[(package, script, [argument, ...])] in the order made."""
        calls = []
        path = os.path.join(cls.root, STANDIN_STATE.lstrip("/"), "calls")
        if os.path.exists(path):
            with open(path) as f:
                for line in f.read().splitlines():
                    who, _, args = line.partition(": ")
                    pkg, script = who.split(" ")
                    calls.append((pkg, script, args.split()))
        return calls

    @classmethod
    def reset_calls(cls):
        path = os.path.join(cls.root, STANDIN_STATE.lstrip("/"), "calls")
        if os.path.exists(path):
            os.truncate(path, 0)

    @staticmethod
    def actions(calls, script=None):
        """The calls of qmesh's maintainer scripts (of `script` only, if
        given) that change something, as (verb, unit, ...) tuples: the
        questions (is-enabled, is-active, list-units) left out."""
        out = []
        for pkg, sc, args in calls:
            if pkg != "qmesh" or (script and sc != script):
                continue
            words = [a for a in args if not a.startswith("-")]
            if words and words[0] not in ("is-enabled", "is-active",
                                          "list-units"):
                out.append(tuple(words))
        return out

    def units(self, which):
        """The stand-in's enabled or active units."""
        path = self.path(f"{STANDIN_STATE}/{which}")
        if not os.path.exists(path):
            return set()
        with open(path) as f:
            return set(f.read().split())

    def set_units(self, which, units):
        with open(self.path(f"{STANDIN_STATE}/{which}"), "w") as f:
            f.write("".join(u + "\n" for u in units))

    def maintscript(self, script, *args):
        """Runs qmesh's installed maintainer script as dpkg would."""
        return self.chroot(["env", "DPKG_MAINTSCRIPT_PACKAGE=qmesh",
                            f"DPKG_MAINTSCRIPT_NAME={script}",
                            f"/var/lib/dpkg/info/qmesh.{script}", *args])

    def write(self, p, text):
        os.makedirs(os.path.dirname(self.path(p)), exist_ok=True)
        with open(self.path(p), "w") as f:
            f.write(text)

    def path(self, p):
        return os.path.join(self.root, p.lstrip("/"))

    def read(self, p, binary=False):
        """The root's file p (an absolute path inside the root)."""
        with open(self.path(p), "rb" if binary else "r") as f:
            return f.read()

    def qmesh_uid(self):
        for line in self.read("/etc/passwd").splitlines():
            f = line.split(":")
            if f[0] == "qmesh":
                return int(f[2]), int(f[3])
        self.fail("no qmesh user in the root's /etc/passwd")

    # -- the package --------------------------------------------------------

    def test_0_control(self):
        for deb in (self.deb, self.dev_deb):
            maintainer = run(["dpkg-deb", "-f", deb, "Maintainer"]).stdout
            self.assertEqual(maintainer.strip(), CONTACT, deb)
        dev = run(["dpkg-deb", "-f", self.dev_deb, "Package", "Depends",
                   "Section"]).stdout
        self.assertIn("Package: qmesh-dev\n", dev)
        self.assertIn("Depends: libcaf-dev, libssl-dev\n", dev)
        self.assertIn("Section: libdevel\n", dev)

    def test_1_installed(self):
        status = self.chroot(["dpkg-query", "-W", "-f=${Status}", "qmesh"])
        self.assertEqual(status.stdout, "install ok installed")
        uid, _ = self.qmesh_uid()
        self.assertLess(uid, 1000, "qmesh is a system user")
        for f in ["/usr/bin/qmesh-node", "/usr/bin/qmesh",
                  "/usr/bin/qmesh-request-reply", "/usr/bin/qmesh-bench",
                  "/etc/qmesh/QM1.ini",
                  "/usr/share/doc/qmesh/examples/qm2.ini",
                  "/usr/share/doc/qmesh/operations.md",
                  "/usr/share/qmesh/web/index.html",
                  "/usr/share/qmesh/web/chat/index.html",
                  "/usr/share/bash-completion/completions/qmesh",
                  "/usr/share/man/man1/qmesh-node.1.gz",
                  "/usr/share/man/man1/qmesh.1.gz",
                  "/usr/lib/systemd/system/qmesh-node@.service"]:
            self.assertTrue(os.path.lexists(self.path(f)), f)
        st = os.stat(self.path("/var/lib/qmesh"))
        self.assertEqual(st.st_uid, uid)
        conffiles = self.chroot(["dpkg-query", "-W", "-f=${Conffiles}",
                                 "qmesh"]).stdout
        self.assertIn("/etc/qmesh/QM1.ini", conffiles)

    def test_1_installed_dev(self):
        status = self.chroot(["dpkg-query", "-W", "-f=${Status}",
                              "qmesh-dev"])
        self.assertEqual(status.stdout, "install ok installed")
        for f in ["/usr/include/qmesh/client/client.hpp",
                  "/usr/include/qmesh/core/message.hpp",
                  "/usr/include/qmesh/core/requests.hpp",
                  "/usr/include/qmesh/core/queue_attrs.hpp",
                  "/usr/include/qmesh/core/cluster_info.hpp"]:
            self.assertTrue(os.path.isfile(self.path(f)), f)
        libdir = glob.glob(self.path("/usr/lib/*/libqmesh-client.a"))
        self.assertEqual(len(libdir), 1, "libqmesh-client.a in the libdir")
        # Debug information stripped: the archive is tens of MB, not hundreds.
        self.assertLess(os.path.getsize(libdir[0]), 100 << 20)
        pc = self.read(os.path.join(os.path.dirname(libdir[0]).replace(
            self.root, ""), "pkgconfig/qmesh-client.pc"))
        self.assertIn("prefix=/usr\n", pc)
        self.assertRegex(pc, r"Cflags: .*-I\$\{includedir\}/qmesh")

    def test_2_man_pages_follow_help(self):
        page = gzip.decompress(
            self.read("/usr/share/man/man1/qmesh.1.gz", True)).decode()
        self.assertIn("COMMANDS IN DETAIL", page)
        # Every command of `qmesh --help` has its own subsection.
        helptext = self.chroot(["qmesh", "--help"]).stdout
        commands = re.findall(r"^  ([a-z][a-z-]+)", helptext.split(
            "Commands:")[1].split("Global options:")[0], re.M)
        self.assertIn("list-queues", commands)
        for c in commands:
            self.assertIn(f'.SS "{c}"', page)
        node_page = gzip.decompress(
            self.read("/usr/share/man/man1/qmesh-node.1.gz", True)).decode()
        self.assertIn(r"\-\-data\-dir", node_page)

    def test_3_unit(self):
        unit = self.read("/usr/lib/systemd/system/qmesh-node@.service")
        for line in ["User=qmesh", "StateDirectory=qmesh/%i",
                     "Restart=on-failure", "NoNewPrivileges=yes",
                     "ProtectSystem=strict"]:
            self.assertIn(line + "\n", unit)
        exec_start = re.search(r"^ExecStart=(.*)$", unit, re.M).group(1)
        self.assertNotIn("--log-file", exec_start, "logs go to the journal")
        analyze = shutil.which("systemd-analyze")
        if not analyze:
            log("SKIP unit check: no systemd-analyze on this host")
            return
        # The host's systemd checks the unit as installed, with ExecStart
        # pointing into the root (the host has no /usr/bin/qmesh-node).
        with tempfile.TemporaryDirectory() as d:
            inst = os.path.join(d, "qmesh-node@QM1.service")
            with open(inst, "w") as f:
                f.write(unit.replace("=/usr/bin/qmesh-node",
                                     "=" + self.path("/usr/bin/qmesh-node")))
            p = run([analyze, "verify", "--man=no", inst], check=False)
        self.assertEqual((p.returncode, p.stdout + p.stderr), (0, ""))

    def test_4_node_runs_as_the_unit_says(self):
        unit = self.read("/usr/lib/systemd/system/qmesh-node@.service")
        exec_start = re.search(r"^ExecStart=(.*)$", unit, re.M).group(1)
        argv = exec_start.replace("%i", "QM1").split()
        self.assertEqual(argv[0], "/usr/bin/qmesh-node")
        uid, gid = self.qmesh_uid()
        # What StateDirectory= does before the start.
        self.chroot(["install", "-d", "-o", "qmesh", "-g", "qmesh", "-m",
                     "0750", "/var/lib/qmesh/QM1"])
        port, http, stomp = free_port(), free_port(), free_port()
        cmd = self.chroot_argv([*argv, "--listen", f"127.0.0.1:{port}",
                                "--http-listen", f"127.0.0.1:{http}",
                                "--stomp-listen", f"127.0.0.1:{stomp}"],
                               userspec="qmesh:qmesh")
        node = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=CHROOT_ENV)
        try:
            ready, _, _ = select.select([node.stdout], [], [], 60)
            first = node.stdout.readline().decode() if ready else ""
            self.assertIn("listening on", first,
                          node.stderr.read().decode()
                          if node.poll() is not None else "no start")
            with open(f"/proc/{node.pid}/status") as f:
                status_uid = [l for l in f if l.startswith("Uid:")][0].split()
            self.assertEqual(int(status_uid[1]), uid, "runs as qmesh")

            cli = ["qmesh", "--node", f"127.0.0.1:{port}"]
            st = self.chroot(cli + ["status"])
            self.assertIn("QM1", st.stdout)
            self.chroot(cli + ["put", "ORDERS", "hello"])
            # The installed completion completes queue names from the node.
            comp = self.chroot([
                "bash", "-c",
                "source /usr/share/bash-completion/completions/qmesh; "
                f"COMP_WORDS=(qmesh --node 127.0.0.1:{port} inquire OR); "
                "COMP_CWORD=4; _qmesh; printf '%s\\n' \"${COMPREPLY[@]}\""])
            self.assertEqual(comp.stdout.split(), ["ORDERS"])
            # The web console from the installed web root (the node's
            # compiled-in default --web-root).
            with urllib.request.urlopen(f"http://127.0.0.1:{http}/",
                                        timeout=10) as r:
                body = r.read()
            self.assertEqual(r.status, 200)
            self.assertEqual(
                body, self.read("/usr/share/qmesh/web/index.html", True))
            # The chat page's STOMP.js, when `npm ci` had run in web/.
            bundle = "node_modules/@stomp/stompjs/bundles/stomp.umd.min.js"
            if os.path.exists(os.path.join(SOURCE_DIR, "web", bundle)):
                url = (f"http://127.0.0.1:{http}/vendor/@stomp/stompjs/"
                       "bundles/stomp.umd.min.js")
                with urllib.request.urlopen(url, timeout=10) as r:
                    self.assertEqual(r.status, 200)
                    self.assertEqual(r.read(), self.read(
                        "/usr/share/qmesh/web/" + bundle, True))
            else:
                log("no web/node_modules: /vendor/ not checked")
        finally:
            if node.poll() is None:
                node.send_signal(signal.SIGTERM)
            try:
                rc = node.wait(timeout=30)
            except subprocess.TimeoutExpired:
                node.kill()
                node.wait()
                rc = "hung after SIGTERM"
            err = node.stderr.read().decode()
            node.stdout.close()
            node.stderr.close()
        self.assertEqual(rc, 0, err[-2000:])
        # stderr is what the journal gets: plain lines, no terminal colours.
        self.assertTrue(err.strip(), "the node logs to stderr")
        self.assertNotIn("\x1b[", err)
        st = os.stat(self.path("/var/lib/qmesh/QM1"))
        self.assertEqual((st.st_uid, st.st_gid), (uid, gid))
        self.assertTrue(os.listdir(self.path("/var/lib/qmesh/QM1")),
                        "the node wrote its data dir")

    def test_4b_dev_package_builds_a_program(self):
        # What a user of qmesh-dev does: g++ and pkg-config from Debian, the
        # example built with pkg-config's flags only, run against a node.
        self.chroot(["apt-get", "install", "-y", "-q",
                     "--no-install-recommends", "g++", "pkg-config"])
        self.save_downloads()
        shutil.copy(os.path.join(SOURCE_DIR, "examples", "client_hello.cpp"),
                    self.path("/tmp"))
        self.chroot(["sh", "-c", "cd /tmp && g++ -Wall -Wextra -Werror "
                     "-o client_hello client_hello.cpp "
                     "$(pkg-config --cflags --libs qmesh-client)"],
                    timeout=600)
        port = free_port()
        node = subprocess.Popen(self.chroot_argv(
            ["qmesh-node", "--qmgr", "DEVTEST", "--data-dir", "/tmp/devnode",
             "--listen", f"127.0.0.1:{port}", "--stomp-listen", "none",
             "--http-listen", "none"]),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=CHROOT_ENV)
        try:
            ready, _, _ = select.select([node.stdout], [], [], 60)
            first = node.stdout.readline().decode() if ready else ""
            self.assertIn("listening on", first)
            hello = self.chroot(["/tmp/client_hello", "127.0.0.1", str(port),
                                 "HELLO", "from the package"])
            self.assertIn("connected to DEVTEST\n", hello.stdout)
            self.assertIn('got "from the package"', hello.stdout)
        finally:
            node.send_signal(signal.SIGTERM)
            try:
                node.wait(timeout=30)
            except subprocess.TimeoutExpired:
                node.kill()
                node.wait()
            node.stdout.close()
            node.stderr.close()

    # -- the maintainer scripts under "systemd" ----------------------------

    def test_5_first_install_enables_and_starts_qm1(self):
        # The documented choice (docs/operations.md, "The Debian package").
        self.assertEqual(self.actions(self.install_calls, "postinst"),
                         [("daemon-reload",), ("enable", QM1),
                          ("start", QM1)])
        self.assertEqual(self.actions(self.install_calls),
                         self.actions(self.install_calls, "postinst"))
        self.assertEqual(self.units("enabled"), {QM1})
        self.assertEqual(self.units("active"), {QM1})
        self.assertTrue(os.path.islink(self.path(
            "/etc/systemd/system/multi-user.target.wants/" + QM1)))

    def test_6_configure_again_changes_nothing(self):
        def snapshot():
            st = os.stat(self.path("/var/lib/qmesh"))
            users = [l for f in ("/etc/passwd", "/etc/group", "/etc/shadow")
                     for l in self.read(f).splitlines()
                     if l.startswith("qmesh:")]
            return users, st.st_uid, st.st_gid, st.st_mode
        before = snapshot()
        self.assertEqual(len(before[0]), 3)
        self.reset_calls()
        # A first-install configure again (dpkg-reconfigure, a retried
        # configure), twice.
        for _ in range(2):
            self.maintscript("postinst", "configure", "")
        self.assertEqual(self.actions(self.standin_calls()),
                         [("daemon-reload",), ("enable", QM1),
                          ("start", QM1)] * 2)
        # An upgrade's configure, twice: restarts what runs, enables nothing.
        self.reset_calls()
        for _ in range(2):
            self.maintscript("postinst", "configure", "0.1.0")
        self.assertEqual(self.actions(self.standin_calls()),
                         [("daemon-reload",), ("restart", QM1)] * 2)
        self.assertEqual(snapshot(), before)
        self.assertEqual(self.units("enabled"), {QM1})
        self.assertEqual(self.units("active"), {QM1})

    def test_6_configure_keeps_a_statoverride(self):
        self.chroot(["dpkg-statoverride", "--update", "--add", "root",
                     "qmesh", "0770", "/var/lib/qmesh"])
        try:
            self.maintscript("postinst", "configure", "0.1.0")
            st = os.stat(self.path("/var/lib/qmesh"))
            self.assertEqual((st.st_uid, st.st_mode & 0o7777), (0, 0o770))
        finally:
            self.chroot(["dpkg-statoverride", "--remove", "/var/lib/qmesh"])
        self.maintscript("postinst", "configure", "0.1.0")
        st = os.stat(self.path("/var/lib/qmesh"))
        self.assertEqual((st.st_uid, st.st_mode & 0o7777),
                         (self.qmesh_uid()[0], 0o750))

    def test_6_policy_rc_d_forbids_starting(self):
        # policy-rc.d exit 101 (a chroot or an image build): QM1 is enabled
        # but not started.
        self.write("/usr/sbin/policy-rc.d", "#!/bin/sh\nexit 101\n")
        os.chmod(self.path("/usr/sbin/policy-rc.d"), 0o755)
        self.set_units("active", [])
        self.reset_calls()
        try:
            self.maintscript("postinst", "configure", "")
        finally:
            os.remove(self.path("/usr/sbin/policy-rc.d"))
        self.assertEqual(self.actions(self.standin_calls()),
                         [("daemon-reload",), ("enable", QM1)])
        self.assertEqual(self.units("active"), set())
        self.set_units("active", [QM1])

    def test_7_upgrade_restarts_running_instances(self):
        # QM1 and QM2 run; QM3 is enabled but stopped by its administrator.
        self.set_units("active", [QM1, QM2])
        self.set_units("enabled", [QM1, QM3])
        self.reset_calls()
        self.chroot(["dpkg", "-i", self.chroot_deb])   # the same version
        calls = self.standin_calls()
        self.assertEqual(self.actions(calls, "prerm"), [])
        self.assertEqual(self.actions(calls, "postrm"), [("daemon-reload",)])
        self.assertEqual(self.actions(calls, "postinst"),
                         [("daemon-reload",), ("restart", QM1),
                          ("restart", QM2)])
        self.assertEqual(self.units("active"), {QM1, QM2})
        self.assertEqual(self.units("enabled"), {QM1, QM3})

    def test_8_remove_keeps_data_and_install_starts_again(self):
        self.set_units("active", [QM1, QM2])
        self.set_units("enabled", [QM1, QM2])
        self.write("/etc/qmesh/QM2.ini", "qmgr = QM2\n")
        self.write("/var/log/qmesh/QM2.log", "a log line\n")
        journal = sorted(os.listdir(self.path("/var/lib/qmesh/QM1")))
        self.assertTrue(journal, "test_4 left the node's data")
        self.reset_calls()
        self.chroot(["dpkg", "--remove", "qmesh"])
        calls = self.standin_calls()
        self.assertEqual(sorted(self.actions(calls, "prerm")),
                         [("stop", QM1), ("stop", QM2)])
        self.assertEqual(self.actions(calls, "postrm"), [("daemon-reload",)])
        self.assertEqual(self.units("active"), set())
        self.assertEqual(self.units("enabled"), {QM1, QM2}, "still enabled")
        status = self.chroot(["dpkg-query", "-W", "-f=${Status}", "qmesh"])
        self.assertEqual(status.stdout, "deinstall ok config-files")
        self.assertFalse(os.path.exists(self.path("/usr/bin/qmesh-node")))
        # Kept: data, logs, configs, the user.
        self.assertEqual(sorted(os.listdir(self.path("/var/lib/qmesh/QM1"))),
                         journal)
        self.assertTrue(os.path.exists(self.path("/var/log/qmesh/QM2.log")))
        self.assertTrue(os.path.exists(self.path("/etc/qmesh/QM1.ini")))
        self.assertTrue(os.path.exists(self.path("/etc/qmesh/QM2.ini")))
        self.qmesh_uid()

        # Installed again: the instances remove stopped start again.
        self.reset_calls()
        self.chroot(["dpkg", "-i", self.chroot_deb])
        self.assertEqual(self.actions(self.standin_calls(), "postinst"),
                         [("daemon-reload",), ("start", QM1),
                          ("start", QM2)])
        self.assertEqual(self.units("active"), {QM1, QM2})
        self.assertFalse(os.path.exists(
            self.path("/var/lib/qmesh/.stopped-by-remove")))

    def test_9_purge(self):
        self.write("/etc/qmesh/users.ini", "[admin]\n")
        override = f"/etc/systemd/system/{QM1}.d/override.conf"
        self.write(override, "[Service]\nLimitNOFILE=100000\n")
        wants = "/etc/systemd/system/multi-user.target.wants/"
        others = [l for l in os.listdir(self.path(wants))
                  if not l.startswith("qmesh-node@")]
        self.reset_calls()
        self.chroot(["dpkg", "--purge", "qmesh"])
        calls = self.standin_calls()
        self.assertEqual(sorted(self.actions(calls, "prerm")),
                         [("stop", QM1), ("stop", QM2)])
        self.assertEqual(self.actions(calls, "postrm"),
                         [("daemon-reload",), ("daemon-reload",)])
        self.assertFalse(os.path.exists(self.path("/usr/bin/qmesh-node")))
        self.assertFalse(os.path.exists(self.path("/var/lib/qmesh")))
        self.assertFalse(os.path.exists(self.path("/var/log/qmesh")))
        self.assertFalse(os.path.exists(self.path("/etc/qmesh/QM1.ini")))
        self.assertNotIn("\nqmesh:", self.read("/etc/passwd"))
        self.assertNotIn("\nqmesh:", self.read("/etc/group"))
        # The enablement links go, other units' stay.
        self.assertEqual(sorted(os.listdir(self.path(wants))), sorted(others))
        # What the administrator wrote stays.
        self.assertTrue(os.path.exists(self.path("/etc/qmesh/QM2.ini")))
        self.assertTrue(os.path.exists(self.path("/etc/qmesh/users.ini")))
        self.assertTrue(os.path.exists(self.path(override)))
        # qmesh-dev is a package of its own.
        self.assertTrue(os.path.exists(
            self.path("/usr/include/qmesh/client/client.hpp")))


if __name__ == "__main__":
    if os.geteuid() != 0:
        print("SKIP: package.deb needs root (chroot, mount, dpkg in a "
              "Debian root)", flush=True)
        sys.exit(SKIP)
    unittest.main(verbosity=2)
