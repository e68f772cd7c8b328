"""Usage texts and docs cannot drift: every option that `qmesh-node --help`
and each `qmesh COMMAND --help` print is documented, every command's
options appear in its synopsis in `qmesh --help`, and every option the
docs' option tables name exists."""
import os
import re
import subprocess
import unittest

import json

from harness import NODE, Node
from client_harness import CLI

SOURCE = os.environ.get("QMESH_SOURCE_DIR",
                        os.path.join(os.path.dirname(__file__), "..", ".."))
DOCS = os.path.join(SOURCE, "docs")

OPTION = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")


def run(*argv):
    r = subprocess.run(list(argv), capture_output=True, text=True,
                       timeout=30)
    return r.returncode, r.stdout + r.stderr


HELP_OPTION = re.compile(r"^  (?:-\w \[ )?(--[a-z][a-z0-9-]*)", re.M)


def options_in(text):
    """Every --option named anywhere in `text`."""
    return set(OPTION.findall(text))


def help_options(text):
    """The options a --help text defines (at the start of its lines)."""
    return set(HELP_OPTION.findall(text))


def doc(*names):
    text = ""
    for n in names:
        with open(os.path.join(DOCS, n), encoding="utf-8") as f:
            text += f.read()
    return text


def commands():
    """The qmesh commands listed in `qmesh --help`, with their synopsis."""
    _, out = run(CLI, "--help")
    found = {}
    for line in out.splitlines():
        m = re.match(r"^  ([a-z][a-z-]+)( .*)?$", line)
        if m:
            found[m.group(1)] = line
    return found


class UsageDocsTest(unittest.TestCase):
    def test_every_node_option_is_documented(self):
        code, out = run(NODE, "--help")
        self.assertEqual(code, 0, out)
        documented = options_in(doc("operations.md", "protocol-stomp.md",
                                    "cluster.md"))
        missing = sorted(help_options(out) - documented)
        self.assertEqual(missing, [], "qmesh-node options not in the docs")

    def test_every_documented_node_option_exists(self):
        _, out = run(NODE, "--help")
        known = help_options(out)
        # The option tables: rows that start with an option.
        rows = re.findall(r"^\| `(--[a-z][a-z0-9-]*)",
                          doc("operations.md", "protocol-stomp.md",
                              "cluster.md"), re.M)
        self.assertTrue(rows)
        self.assertEqual(sorted(set(rows) - known), [],
                         "documented options qmesh-node does not have")

    def test_every_command_option_is_in_its_synopsis_and_the_docs(self):
        cmds = commands()
        self.assertIn("get", cmds)
        client_doc = doc("client.md")
        _, top = run(CLI, "--help")
        global_opts = options_in(top.split("Global options:")[1])
        self.assertIn("--node", global_opts)
        for name, synopsis in cmds.items():
            with self.subTest(command=name):
                code, out = run(CLI, name, "--help")
                self.assertEqual(code, 0, out)
                own = help_options(out) - global_opts - {"--help"}
                self.assertEqual(sorted(own - options_in(synopsis)), [],
                                 f"{name}: options missing from "
                                 "`qmesh --help`")
                self.assertEqual(sorted(own - options_in(client_doc)), [],
                                 f"{name}: options missing from "
                                 "docs/client.md")

    def test_every_status_field_is_documented(self):
        with Node() as node:
            r = node.cli("status", "--json")
            self.assertEqual(r.returncode, 0, r.stderr)
            keys = set(json.loads(r.stdout))
        self.assertIn("qmgr", keys)
        row = [line for line in doc("client.md").splitlines()
               if line.startswith("| `status [--json]`")]
        self.assertEqual(len(row), 1)
        named = set(re.findall(r"`([a-z_]+)`", row[0]))
        self.assertEqual(sorted(keys - named), [],
                         "status fields missing from docs/client.md")


if __name__ == "__main__":
    unittest.main()
