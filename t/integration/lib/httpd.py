"""A real httpd for tests: config builder, start/stop/graceful, log hygiene.

Modelled on the shape of httpd's own pytest framework: every test gets its own
ServerRoot in a temp dir, a free loopback port and real MPM children (never
-X). After each test the error log is scanned, and any [warn] or worse that
the test did not declare with expect_log_id() (our messages, by their ID
in MESSAGES.md) or expect_log() (httpd's own, by regex) fails it.
"""
import os
import re
import resource
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import requests

from .messages import ID_FORM, catalogue
from .paths import HTTPD_BIN, module_path
from .ports import free_port, wait_tcp

SEVERE = re.compile(r"^\[[^\]]*\] \[(?:[\w.-]*:)?(warn|error|crit|alert|emerg)\]")
RESUMING = "resuming normal operations"

# Faults that fail a test whatever its expectations and whatever their level:
# a child that died on a signal (AH00052, or AH00051 when a core was dumped,
# both logged at [notice]) and a stop that httpd had to escalate (AH00045
# SIGTERM, AH00046 SIGKILL, AH00047 gave up).
FATAL = re.compile(r"AH0005[12]:|AH0004[567]:|exit signal|possible coredump")

# Lines that appear on any start/stop and mean nothing is wrong.
BENIGN = [
    # A child that had not started serving yet when we stopped.
    r"AH00169: caught SIGTERM, shutting down",
]


def has_exited(pid):
    """True once `pid` has exited. A daemonized httpd parent is reparented to
    PID 1, which may take a second or more to reap it: until then it is a
    zombie, which kill(pid, 0) still finds."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            # The state follows the command name, which is in parentheses.
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return True


def sanitizer_env():
    """LD_PRELOAD and options so that an ASan/UBSan-built module runs in httpd."""
    if os.environ.get("SANITIZE") != "1":
        return {}
    libs = []
    for lib in ("libasan.so", "libubsan.so"):
        out = subprocess.run(["gcc", f"-print-file-name={lib}"], capture_output=True, text=True)
        path = out.stdout.strip()
        if path and os.path.exists(path):
            libs.append(os.path.realpath(path))
    return {
        "LD_PRELOAD": " ".join(libs),
        # httpd frees its pools at exit but keeps allocations by design.
        # httpd installs its own SIGSEGV handler (sig_coredump) over ASan's,
        # and ASan turns core dumps off: a crash would leave neither a report
        # nor a core. allow_user_segv_handler=0 keeps ASan's handler, which
        # prints the stack into the error log.
        "ASAN_OPTIONS": ("detect_leaks=0:abort_on_error=0:halt_on_error=1:"
                         "allow_user_segv_handler=0"),
        "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1",
    }


class HttpdConf:
    """Builds httpd.conf text: base server, modules in load order, extras."""

    def __init__(self, httpd):
        self.httpd = httpd
        self.modules = []
        self.lines = []

    def load(self, *names):
        for n in names:
            if n not in self.modules:
                self.modules.append(n)
        return self

    def add(self, text):
        self.lines.append(text.strip("\n"))
        return self

    def add_vhost(self, text, server_name="vhost.test", listen=None):
        """A name-based vhost on the main port, or an IP vhost on `listen`."""
        addr = listen or f"127.0.0.1:{self.httpd.port}"
        if listen:
            self.lines.append(f"Listen {listen}")
        self.lines.append(
            f"<VirtualHost {addr}>\n  ServerName {server_name}\n{text.strip()}\n</VirtualHost>")
        return self

    def text(self):
        h = self.httpd
        base = [
            f'ServerRoot "{h.root}"',
            f'DefaultRuntimeDir "{h.root}/run"',
            f'PidFile "{h.root}/run/httpd.pid"',
            f'Mutex file:{h.root}/run default',
            "ServerName 127.0.0.1",
            f"Listen 127.0.0.1:{h.port}",
            f"LoadModule mpm_{h.mpm}_module {module_path('mpm_' + h.mpm)}",
        ]
        for m in ("authz_core", "authz_host", "mime", "dir"):
            base.append(f"LoadModule {m}_module {module_path(m)}")
        if os.geteuid() == 0:
            base += ["User www-data", "Group www-data"]
        base += [
            # A child that dies on a signal leaves its core here (httpd then
            # makes its children dumpable after setuid); see core_report().
            f'CoreDumpDirectory "{h.root}/cores"',
            "TypesConfig /etc/mime.types",
            f'ErrorLog "{h.root}/logs/error_log"',
            "LogLevel notice",
            f'DocumentRoot "{h.root}/htdocs"',
            f'<Directory "{h.root}/htdocs">\n  Require all granted\n</Directory>',
            'LogFormat "%h %l %u %t \\"%r\\" %>s %b" common',
            # The request line carries ?id=...: lib.load.ids_in() reads it back.
            'LogFormat "%r" idline',
            "Timeout 10",
            "KeepAlive On",
            "GracefulShutdownTimeout 15",
        ]
        if h.mpm == "prefork":
            base += ["StartServers 2", "MinSpareServers 2", "MaxSpareServers 6",
                     "MaxRequestWorkers 32", "ServerLimit 32"]
        else:
            base += ["StartServers 2", "ServerLimit 4", "ThreadsPerChild 16",
                     "MaxRequestWorkers 64", "MinSpareThreads 8", "MaxSpareThreads 64"]
        mods = [f"LoadModule {m}_module {module_path(m)}" for m in self.modules]
        return "\n".join(base + mods + self.lines) + "\n"


class Httpd:
    def __init__(self, mpm="event", root=None):
        self.mpm = mpm
        self.root = Path(root or tempfile.mkdtemp(prefix="modsuite-httpd-"))
        # Children run as www-data: the tree must be readable to them.
        os.chmod(self.root, 0o755)
        for d in ("run", "logs", "htdocs", "conf", "cores"):
            (self.root / d).mkdir(exist_ok=True)
            os.chmod(self.root / d, 0o777 if d in ("run", "logs", "cores") else 0o755)
        (self.root / "htdocs" / "index.html").write_text("<html>ok</html>\n")
        (self.root / "htdocs" / "small.txt").write_text("x" * 64)
        self.port = free_port()
        self.error_log = self.root / "logs" / "error_log"
        self.conf_file = self.root / "conf" / "httpd.conf"
        self.expected = [re.compile(p) for p in BENIGN]
        self.started = False
        self.killed = set()  # children the test itself killed (kill_child)
        self.env = dict(os.environ, **sanitizer_env())

    # -- config --------------------------------------------------------
    def conf(self):
        return HttpdConf(self)

    def write(self, conf, path=None):
        path = Path(path or self.conf_file)
        path.write_text(conf.text() if isinstance(conf, HttpdConf) else conf)
        return path

    def config_test(self, conf):
        """Runs `apache2 -t`; returns (exit code, everything it printed)."""
        path = self.write(conf, self.root / "conf" / "test.conf")
        p = subprocess.run([HTTPD_BIN, "-t", "-f", str(path)], capture_output=True, text=True,
                           env=self.env, timeout=60)
        return p.returncode, p.stdout + p.stderr

    # -- lifecycle -----------------------------------------------------
    def _ctl(self, action, timeout=60):
        # The daemon and its children inherit RLIMIT_CORE from this process:
        # raise it for the fork only (not preexec_fn, unsafe with threads).
        old = resource.getrlimit(resource.RLIMIT_CORE)
        resource.setrlimit(resource.RLIMIT_CORE, (old[1], old[1]))
        try:
            return subprocess.run([HTTPD_BIN, "-f", str(self.conf_file), "-k", action],
                                  capture_output=True, text=True, env=self.env,
                                  timeout=timeout)
        finally:
            resource.setrlimit(resource.RLIMIT_CORE, old)

    def pid(self):
        try:
            return int((self.root / "run" / "httpd.pid").read_text().strip())
        except (OSError, ValueError):
            return None

    def start(self, conf=None, wait=True):
        if conf is not None:
            self.write(conf)
        p = self._ctl("start")
        if p.returncode != 0:
            raise RuntimeError(f"httpd failed to start ({p.returncode}): {p.stdout}{p.stderr}\n"
                               f"{self.read_error_log()}")
        self.started = True
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.pid() and wait_tcp("127.0.0.1", self.port, 0.5):
                try:
                    requests.get(self.url("/index.html"), timeout=2)
                    return
                except requests.RequestException:
                    pass
            time.sleep(0.05)
        raise RuntimeError(f"httpd not ready on port {self.port}:\n{self.read_error_log()}")

    def _count(self, needle):
        return self.read_error_log().count(needle)

    def graceful(self, conf=None, timeout=30):
        """Graceful restart; returns when the new generation serves."""
        if conf is not None:
            self.write(conf)
        before = self._count(RESUMING)
        p = self._ctl("graceful")
        if p.returncode != 0:
            raise RuntimeError(f"graceful failed: {p.stdout}{p.stderr}")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._count(RESUMING) > before:
                self.wait_ready()
                return
            time.sleep(0.05)
        raise RuntimeError(f"no new generation after graceful:\n{self.read_error_log()}")

    def _stop(self, action, timeout):
        if not self.started:
            return
        pid = self.pid()
        self._ctl(action)
        deadline = time.monotonic() + timeout
        while pid and time.monotonic() < deadline:
            if has_exited(pid):
                break
            time.sleep(0.02)
        else:
            if pid:
                # The daemonized parent leads its own process group: take the
                # children with it, so that none outlives the test.
                try:
                    os.killpg(pid, signal.SIGKILL)
                except OSError:
                    os.kill(pid, signal.SIGKILL)
                raise RuntimeError(f"httpd did not {action} in time")
        self.started = False

    def stop(self, timeout=30):
        """Stops httpd and waits for the parent to go (children go first)."""
        self._stop("stop", timeout)

    def graceful_stop(self, timeout=30):
        """Lets children finish their requests, then waits for the parent."""
        self._stop("graceful-stop", timeout)

    def kill_child(self, pid):
        """SIGKILLs child `pid`, as the OOM killer would. httpd then logs
        its death (AH00052 ... exit signal Killed); that line, for this pid
        and this signal only, does not fail the test."""
        self.killed.add(pid)
        os.kill(pid, signal.SIGKILL)

    def children(self):
        """Pids of the current children of the parent."""
        pid = self.pid()
        if not pid:
            return []
        out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
        return [int(x) for x in out.stdout.split()]

    # -- HTTP ----------------------------------------------------------
    def url(self, path="/"):
        return f"http://127.0.0.1:{self.port}{path}"

    def get(self, path="/", **kw):
        kw.setdefault("timeout", 10)
        return requests.get(self.url(path), **kw)

    # -- logs ----------------------------------------------------------
    def read_error_log(self):
        try:
            return self.error_log.read_text(errors="replace")
        except OSError:
            return ""

    def expect_log(self, pattern):
        """Declares a [warn]-or-worse line the test expects (regex): for
        httpd's own messages (AH IDs) and messages that have no ID yet. Ours
        are expected by ID, with expect_log_id()."""
        self.expected.append(re.compile(pattern))

    def expect_log_id(self, *ids):
        """Declares that a [warn]-or-worse line carrying one of these message
        IDs ("DE0001", see MESSAGES.md) is expected. Each must be in the
        catalogue, so that a mistyped ID fails rather than excuses nothing."""
        if not ids:
            raise ValueError("expect_log_id() needs at least one ID")
        known = catalogue()
        for mid in ids:
            if not ID_FORM.match(mid):
                raise ValueError(f"{mid!r} is not a message ID (two letters, four digits)")
            if mid not in known:
                raise ValueError(f"{mid} is not in MESSAGES.md")
        # The ID starts the message text, after the line's [...] fields (and,
        # at LogLevel debug, httpd's "file.c(123): ").
        self.expected.append(re.compile(r"\b(?:%s): " % "|".join(ids)))

    def unexpected_log_lines(self):
        bad = []
        for line in self.read_error_log().splitlines():
            if SEVERE.search(line) and not any(p.search(line) for p in self.expected):
                bad.append(line)
        return bad

    def fatal_log_lines(self):
        """Child deaths on a signal and escalated stops: never expected, but
        for the SIGKILL of a child the test killed itself (kill_child)."""
        def killed_by_test(line):
            m = re.search(r"AH00052: child pid (\d+) exit signal Killed \(9\)", line)
            return bool(m) and int(m.group(1)) in self.killed
        return [l for l in self.read_error_log().splitlines()
                if FATAL.search(l) and not killed_by_test(l)]

    def sanitizer_reports(self, frames=30):
        """Sanitizer reports in the error log: each report's first line and
        the first `frames` lines of its stack."""
        out = []
        stack = 0
        for l in self.read_error_log().splitlines():
            if "ERROR: AddressSanitizer" in l or "runtime error:" in l:
                out.append(l)
                stack = frames
            elif stack and re.match(r"\s+#\d+ ", l):
                out.append(l)
                stack -= 1
        return out

    # -- core dumps ----------------------------------------------------
    def cores(self):
        return sorted((self.root / "cores").glob("core*"))

    def core_report(self, frames=25):
        """What to say about the cores a dead child left: each file and, if
        gdb is there, the crashing thread's backtrace (first `frames`)."""
        cores = self.cores()
        if not cores:
            try:
                pattern = Path("/proc/sys/kernel/core_pattern").read_text().strip()
            except OSError:
                pattern = "?"
            return (f"no core file in {self.root / 'cores'} "
                    f"(kernel.core_pattern is {pattern!r}; RLIMIT_CORE hard limit "
                    f"{resource.getrlimit(resource.RLIMIT_CORE)[1]})")
        out = []
        gdb = shutil.which("gdb")
        for core in cores:
            out.append(f"core file: {core}")
            if not gdb:
                continue
            try:
                p = subprocess.run([gdb, "-batch", "-nx", "-ex", "set pagination off",
                                    "-ex", "echo --- backtrace\\n", "-ex", f"bt {frames}",
                                    HTTPD_BIN, str(core)],
                                   capture_output=True, text=True, timeout=120)
                head, _, bt = p.stdout.partition("--- backtrace\n")
                out += [l for l in head.splitlines() if l.startswith("Program terminated")]
                out += bt.splitlines() or [p.stdout[-2000:], p.stderr[-2000:]]
            except (OSError, subprocess.TimeoutExpired) as e:
                out.append(f"gdb failed: {e}")
        return "\n".join(out)

    def cleanup(self, keep=False):
        """Stops httpd and deletes the server root, unless `keep` (a failed
        test's cores and logs are worth looking at)."""
        try:
            self.stop()
        finally:
            if not keep:
                shutil.rmtree(self.root, ignore_errors=True)
