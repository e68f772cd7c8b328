"""Start and stop the three brokers `make compare` measures.

Each broker runs as a child process of the driver, in a process group of its
own, with every file it writes (config, data, logs, Erlang cookie) under the
run directory the driver made. Each listens on 127.0.0.1 only, on ports
picked free at start. `stop()` ends the whole process group (the Erlang VM's
helpers, ActiveMQ's JVM) and is safe to call twice or after a failed start.
Readiness is a STOMP CONNECT answered with CONNECTED, never a sleep.

Python 3 standard library only.
"""

import os
import shlex
import signal
import socket
import subprocess
import time

RABBITMQ_LIB = "/usr/lib/rabbitmq"
ACTIVEMQ_HOME = "/usr/share/activemq"

# ActiveMQ's JVM options as Debian ships them (/usr/share/activemq/activemq-
# options), so the broker runs as a packaged instance would.
ACTIVEMQ_JVM = ["-Xms512M", "-Xmx512M",
                "-Dorg.apache.activemq.UseDedicatedTaskRunner=true"]

# The --add-opens set /usr/bin/activemq passes to Java 9 and later.
ACTIVEMQ_OPENS = [
    "--add-reads=java.xml=java.logging",
    "--add-opens", "java.base/java.security=ALL-UNNAMED",
    "--add-opens", "java.base/java.net=ALL-UNNAMED",
    "--add-opens", "java.base/java.lang=ALL-UNNAMED",
    "--add-opens", "java.base/java.util=ALL-UNNAMED",
    "--add-opens", "java.naming/javax.naming.spi=ALL-UNNAMED",
    "--add-opens", "java.rmi/sun.rmi.transport.tcp=ALL-UNNAMED",
    "--add-opens", "java.base/java.util.concurrent=ALL-UNNAMED",
    "--add-opens", "java.base/java.util.concurrent.atomic=ALL-UNNAMED",
]


def free_port():
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stomp_connects(port, login, passcode, vhost):
    """True if a STOMP 1.2 CONNECT on 127.0.0.1:port gets CONNECTED."""
    frame = "CONNECT\naccept-version:1.2\nhost:%s\n" % vhost
    if login:
        frame += "login:%s\npasscode:%s\n" % (login, passcode)
    frame += "\n\0"
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            s.sendall(frame.encode())
            reply = b""
            while b"\0" not in reply:
                chunk = s.recv(4096)
                if not chunk:
                    break
                reply += chunk
            if reply.startswith(b"CONNECTED"):
                s.sendall(b"DISCONNECT\n\n\0")
                return True
    except OSError:
        pass
    return False


class Broker:
    """One broker process group. Subclasses set `name`, `login`,
    `passcode`, `vhost` and implement `command()` (argv, env)."""

    name = "?"
    login = ""
    passcode = ""
    vhost = "localhost"
    start_timeout = 120.0

    def __init__(self, run_dir):
        self.dir = os.path.join(run_dir, self.name)
        os.makedirs(self.dir, exist_ok=True)
        self.proc = None
        self.stomp_port = None
        self.argv = []
        self.log_path = os.path.join(self.dir, "console.log")

    def start(self):
        """Starts the broker and returns once STOMP answers CONNECT.
        Raises RuntimeError (with the console log's tail) otherwise."""
        self.stomp_port = free_port()
        self.argv, env = self.command()
        log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(self.argv, env=env, stdout=log,
                                     stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL,
                                     start_new_session=True, cwd=self.dir)
        log.close()
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("%s exited with %s during start:\n%s"
                                   % (self.name, self.proc.returncode,
                                      self.log_tail()))
            if stomp_connects(self.stomp_port, self.login, self.passcode,
                              self.vhost):
                return
            time.sleep(0.2)  # poll interval of the readiness probe
        raise RuntimeError("%s: no STOMP CONNECTED on port %d within %.0f s:\n%s"
                           % (self.name, self.stomp_port, self.start_timeout,
                              self.log_tail()))

    def stop(self):
        """SIGTERM to the broker's process group, SIGKILL after 30 s."""
        if self.proc is None:
            return
        pgid = self.proc.pid
        self._signal_group(pgid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass
        # The group may outlive its leader (epmd, erl_child_setup, ...).
        self._signal_group(pgid, signal.SIGKILL)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        self.proc = None

    @staticmethod
    def _signal_group(pgid, sig):
        try:
            os.killpg(pgid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def log_tail(self, lines=30):
        try:
            with open(self.log_path, "rb") as f:
                text = f.read().decode(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def shown_command(self, run_dir):
        """The start command as the report shows it: the run directory as
        $DIR."""
        return " ".join(shlex.quote(a) for a in self.argv).replace(run_dir, "$DIR")


class Qmesh(Broker):
    name = "qmesh"
    start_timeout = 30.0

    def __init__(self, run_dir, build_dir):
        super().__init__(run_dir)
        self.build_dir = build_dir

    def command(self):
        native = free_port()
        return ([os.path.join(self.build_dir, "qmesh-node"),
                 "--listen", "127.0.0.1:%d" % native,
                 "--stomp-listen", "127.0.0.1:%d" % self.stomp_port,
                 "--http-listen", "none", "--log-level", "warn",
                 "--data-dir", os.path.join(self.dir, "data")],
                dict(os.environ))

    def shown_command(self, run_dir):
        text = super().shown_command(run_dir)
        return text.replace(self.build_dir.rstrip("/") + "/", "build/")


class RabbitMQ(Broker):
    """RabbitMQ as Debian installs it, run from /usr/lib/rabbitmq/bin
    without the service wrapper: own node name, own epmd (started here,
    loopback only), AMQP, STOMP and distribution on 127.0.0.1, plugins
    enabled offline through RABBITMQ_ENABLED_PLUGINS_FILE."""

    name = "rabbitmq"
    login = "guest"
    passcode = "guest"
    vhost = "/"

    def __init__(self, run_dir):
        super().__init__(run_dir)
        self.epmd = None

    def command(self):
        d = self.dir
        amqp, dist, epmd = free_port(), free_port(), free_port()
        with open(os.path.join(d, "enabled_plugins"), "w") as f:
            f.write("[rabbitmq_stomp].\n")
        with open(os.path.join(d, "rabbitmq.conf"), "w") as f:
            f.write("listeners.tcp.1 = 127.0.0.1:%d\n"
                    "stomp.listeners.tcp.1 = 127.0.0.1:%d\n"
                    "stomp.default_user = guest\n"
                    "stomp.default_pass = guest\n"
                    "loopback_users.guest = true\n"
                    "log.console = true\n"
                    "log.console.level = warning\n"
                    "log.file = false\n" % (amqp, self.stomp_port))
        open(os.path.join(d, "rabbitmq-env.conf"), "w").close()
        env = dict(os.environ)
        env.update({
            "HOME": d,  # the Erlang cookie goes here
            "RABBITMQ_CONF_ENV_FILE": os.path.join(d, "rabbitmq-env.conf"),
            "RABBITMQ_CONFIG_FILE": os.path.join(d, "rabbitmq.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": os.path.join(d, "advanced.config"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": os.path.join(d, "enabled_plugins"),
            "RABBITMQ_MNESIA_BASE": os.path.join(d, "mnesia"),
            "RABBITMQ_LOG_BASE": os.path.join(d, "log"),
            "RABBITMQ_PID_FILE": os.path.join(d, "rabbitmq.pid"),
            "RABBITMQ_NODENAME": "qmeshcompare@localhost",
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(amqp),
            "RABBITMQ_DIST_PORT": str(dist),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "ERL_EPMD_PORT": str(epmd),
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS":
                "-start_epmd false -kernel inet_dist_use_interface {127,0,0,1}",
        })
        for var in ("RABBITMQ_LOGS", "RABBITMQ_ALLOW_INPUT", "NOTIFY_SOCKET"):
            env.pop(var, None)
        epmd_log = open(os.path.join(d, "epmd.log"), "wb")
        self.epmd = subprocess.Popen(
            ["epmd", "-address", "127.0.0.1", "-port", str(epmd)], env=env,
            stdout=epmd_log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True)
        epmd_log.close()
        return ([os.path.join(RABBITMQ_LIB, "bin", "rabbitmq-server")], env)

    def stop(self):
        super().stop()
        if self.epmd is not None:
            self._signal_group(self.epmd.pid, signal.SIGKILL)
            self.epmd.wait()
            self.epmd = None


class ActiveMQ(Broker):
    """A private ActiveMQ instance: activemq.xml written here with one STOMP
    (NIO) connector on 127.0.0.1, no OpenWire, no JMX (as Debian's own
    instance), no web console; KahaDB (the default store) under this
    directory; everything else at ActiveMQ's defaults."""

    name = "activemq"
    login = "admin"
    passcode = "admin"

    CONFIG = """<beans
  xmlns="http://www.springframework.org/schema/beans"
  xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
  xsi:schemaLocation="http://www.springframework.org/schema/beans http://www.springframework.org/schema/beans/spring-beans.xsd
  http://activemq.apache.org/schema/core http://activemq.apache.org/schema/core/activemq-core.xsd">
  <broker xmlns="http://activemq.apache.org/schema/core"
          brokerName="qmeshcompare" useJmx="false"
          dataDirectory="%(data)s">
    <persistenceAdapter>
      <kahaDB directory="%(data)s/kahadb"/>
    </persistenceAdapter>
    <transportConnectors>
      <transportConnector name="stomp"
          uri="stomp+nio://127.0.0.1:%(port)d"/>
    </transportConnectors>
  </broker>
</beans>
"""

    def command(self):
        d = self.dir
        conf = os.path.join(d, "conf")
        data = os.path.join(d, "data")
        os.makedirs(conf, exist_ok=True)
        os.makedirs(data, exist_ok=True)
        with open(os.path.join(conf, "activemq.xml"), "w") as f:
            f.write(self.CONFIG % {"data": data, "port": self.stomp_port})
        # Debian's ActiveMQ logs through log4j 1.2, which reads
        # log4j.properties from the classpath (conf/ is on it).
        with open(os.path.join(conf, "log4j.properties"), "w") as f:
            f.write("log4j.rootLogger=WARN, console\n"
                    "log4j.appender.console=org.apache.log4j.ConsoleAppender\n"
                    "log4j.appender.console.layout="
                    "org.apache.log4j.PatternLayout\n"
                    "log4j.appender.console.layout.ConversionPattern="
                    "%5p | %m%n\n")
        argv = (["java"] + ACTIVEMQ_JVM + ACTIVEMQ_OPENS + [
            "-Dactivemq.classpath=" + conf,
            "-Dactivemq.home=" + ACTIVEMQ_HOME,
            "-Dactivemq.base=" + d,
            "-Dactivemq.conf=" + conf,
            "-Dactivemq.data=" + data,
            "-jar", os.path.join(ACTIVEMQ_HOME, "bin", "activemq.jar"),
            "start", "xbean:file:" + os.path.join(conf, "activemq.xml")])
        return (argv, dict(os.environ))


def make(name, run_dir, build_dir):
    if name == "qmesh":
        return Qmesh(run_dir, build_dir)
    if name == "rabbitmq":
        return RabbitMQ(run_dir)
    if name == "activemq":
        return ActiveMQ(run_dir)
    raise ValueError("unknown broker " + name)
