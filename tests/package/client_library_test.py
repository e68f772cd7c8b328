"""package.client_library: the installed C++ client library works for a
program outside the source tree.

`cmake --install BUILD --component dev --strip` into a temporary prefix,
then: every installed header compiles on its own from <prefix>/include/qmesh;
qmesh-client.pc names that prefix; examples/client_hello.cpp, copied out of
the tree, builds with nothing but `g++ $(pkg-config --cflags --libs
qmesh-client)` (so the .pc's Libs are all the archive needs), and as a
CMake project through pkg_check_modules; and it puts a message on a real
node and gets it back, or reports 2059 when no node is there.

Environment (set by ctest): QMESH_BUILD_DIR (the build directory, with the
target qmesh_client_dist built), QMESH_NODE, QMESH_CLI, QMESH_SOURCE_DIR.
"""
import glob
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "integration"))
from harness import SOURCE_DIR, Node, fields, free_port  # noqa: E402

BUILD_DIR = os.environ.get("QMESH_BUILD_DIR",
                           os.path.join(SOURCE_DIR, "build"))
HEADERS = ["client/client.hpp", "core/cluster_info.hpp", "core/message.hpp",
           "core/queue_attrs.hpp", "core/requests.hpp"]


def run(cmd, **kw):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=600,
                       **kw)
    if p.returncode != 0:
        raise AssertionError(f"{cmd!r} exited {p.returncode}\n"
                             f"{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
    return p


class ClientLibraryTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="qmesh-client-lib-")
        cls.addClassCleanup(shutil.rmtree, cls.tmp, True)
        cls.prefix = os.path.join(cls.tmp, "prefix")
        run(["cmake", "--install", BUILD_DIR, "--component", "dev",
             "--strip", "--prefix", cls.prefix])
        pcs = glob.glob(os.path.join(cls.prefix, "lib*", "**",
                                     "qmesh-client.pc"), recursive=True)
        assert len(pcs) == 1, pcs
        cls.env = {**os.environ, "PKG_CONFIG_PATH": os.path.dirname(pcs[0])}
        cls.cflags = run(["pkg-config", "--cflags", "qmesh-client"],
                         env=cls.env).stdout.split()
        cls.libs = run(["pkg-config", "--libs", "qmesh-client"],
                       env=cls.env).stdout.split()
        # The example, away from the source tree and its headers.
        cls.work = os.path.join(cls.tmp, "work")
        os.makedirs(cls.work)
        cls.hello, cls.build = cls.build_example("client_hello")
        cls.async_example, cls.async_build = cls.build_example("client_async")

    @classmethod
    def build_example(cls, name):
        """Compiles examples/NAME.cpp in the work directory with only
        pkg-config's flags; returns (the program, the compiler's run)."""
        shutil.copy(os.path.join(SOURCE_DIR, "examples", name + ".cpp"),
                    cls.work)
        program = os.path.join(cls.work, name)
        build = subprocess.run(
            ["g++", "-Wall", "-Wextra", "-Werror", "-o", program,
             name + ".cpp", *cls.cflags, *cls.libs],
            cwd=cls.work, capture_output=True, text=True, timeout=600)
        return program, build

    def test_pkg_config_names_the_install_prefix(self):
        self.assertIn("-I" + os.path.join(self.prefix, "include", "qmesh"),
                      self.cflags)
        self.assertIn("-std=c++20", self.cflags)
        self.assertIn("-lqmesh-client", self.libs)
        version = run(["pkg-config", "--modversion", "qmesh-client"],
                      env=self.env).stdout.strip()
        self.assertRegex(version, r"^\d+\.\d+\.\d+$")

    def test_each_header_compiles_alone(self):
        for h in HEADERS:
            self.assertTrue(os.path.isfile(os.path.join(
                self.prefix, "include", "qmesh", h)), h)
            p = subprocess.run(
                ["g++", *self.cflags, "-Wall", "-Wextra", "-Werror",
                 "-fsyntax-only", "-x", "c++", "-"],
                input=f'#include "{h}"\n', cwd=self.work,
                capture_output=True, text=True, timeout=300)
            self.assertEqual(p.returncode, 0, f"{h}: {p.stderr[-2000:]}")

    def test_archive_has_no_debug_information(self):
        lib = glob.glob(os.path.join(self.prefix, "lib*", "**",
                                     "libqmesh-client.a"), recursive=True)
        self.assertEqual(len(lib), 1, lib)
        sections = run(["objdump", "-h", lib[0]]).stdout
        self.assertNotIn(".debug_info", sections)

    def test_async_example_puts_and_drains_in_order(self):
        self.assertEqual(self.async_build.returncode, 0,
                         self.async_build.stderr[-3000:])
        node = Node(qmgr="PKGASYNC")
        try:
            p = subprocess.run([self.async_example, "127.0.0.1",
                                str(node.port), "ASYNC.PKG", "2500"],
                               capture_output=True, text=True, timeout=120)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
            self.assertIn("put 2500, got 2500 in order\n", p.stdout)
            attrs = fields(node.cli("inquire", "ASYNC.PKG").stdout)
            self.assertEqual((attrs.get("current_depth"),
                              attrs.get("enqueued_total"),
                              attrs.get("dequeued_total")),
                             ("0", "2500", "2500"), attrs)
        finally:
            node.stop()

    def test_example_puts_and_gets_on_a_node(self):
        self.assertEqual(self.build.returncode, 0, self.build.stderr[-3000:])
        node = Node(qmgr="PKGTEST")
        try:
            p = subprocess.run([self.hello, "127.0.0.1", str(node.port),
                                "HELLO.PKG", "hello from outside"],
                               capture_output=True, text=True, timeout=60)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
            self.assertIn("connected to PKGTEST\n", p.stdout)
            self.assertIn('got "hello from outside"', p.stdout)
            # The node saw the put and the get: the queue exists, empty.
            inq = node.cli("inquire", "HELLO.PKG")
            self.assertEqual(inq.returncode, 0, inq.stderr)
            attrs = fields(inq.stdout)
            self.assertEqual((attrs.get("current_depth"),
                              attrs.get("enqueued_total"),
                              attrs.get("dequeued_total")), ("0", "1", "1"),
                             inq.stdout)
        finally:
            node.stop()

    def test_cmake_project_through_pkg_check_modules(self):
        # The CMake route docs/operations.md gives.
        proj = os.path.join(self.tmp, "cmake-project")
        os.makedirs(proj)
        shutil.copy(os.path.join(self.work, "client_hello.cpp"), proj)
        with open(os.path.join(proj, "CMakeLists.txt"), "w") as f:
            f.write("cmake_minimum_required(VERSION 3.20)\n"
                    "project(hello CXX)\n"
                    "find_package(PkgConfig REQUIRED)\n"
                    "pkg_check_modules(QMESH REQUIRED IMPORTED_TARGET "
                    "qmesh-client)\n"
                    "add_executable(client_hello client_hello.cpp)\n"
                    "target_link_libraries(client_hello PRIVATE "
                    "PkgConfig::QMESH)\n")
        build = os.path.join(proj, "build")
        run(["cmake", "-S", proj, "-B", build], env=self.env)
        run(["cmake", "--build", build], env=self.env)
        p = subprocess.run([os.path.join(build, "client_hello"), "127.0.0.1",
                            str(free_port()), "Q", "x"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("2059 q_mgr_not_available", p.stderr)

    def test_example_without_a_node_reports_2059(self):
        self.assertEqual(self.build.returncode, 0, self.build.stderr[-3000:])
        p = subprocess.run([self.hello, "127.0.0.1", str(free_port()), "Q",
                            "x"], capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("2059 q_mgr_not_available", p.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
