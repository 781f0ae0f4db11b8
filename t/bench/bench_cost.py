#!/usr/bin/python3
"""What an access log costs httpd per request, counted rather than timed:
user-space instructions (cachegrind) and system calls (perf), by destination.

Wall-clock throughput on a shared machine moves by 10-20 % from run to run;
instruction and syscall counts hardly do. Every case runs `apache2 -X` (one
process, prefork MPM, its sender threads included) and keep-alive
`ab -k -c1` fetching a 64-byte static file (AllowOverride None, no limit on
requests per connection), LogFormat common, with a real rsyslogd
(lib.rsyslog: imuxsock, imudp, imtcp) and the Thrift Scribe collector
(t/collector) receiving:

    (a) no access log
    (b) CustomLog to a file
    (c) CustomLog piped to logger(1), which sends to rsyslogd's unix socket
    (d) mod_syslog, unix datagram socket (rsyslogd imuxsock)
    (e) mod_syslog, udp (rsyslogd imudp)
    (f) mod_syslog, tcp (rsyslogd imtcp)
    (g) mod_scribe, to the Scribe collector
    (h) mod_syslog, tls (rsyslogd imtcp with the ossl driver; certificates
        made with the openssl tool)
    (i) mod_syslog, relp (rsyslogd imrelp)

(a) to (c) load none of our modules; (d) to (f), (h) and (i) load
mod_syslog alone, (g) mod_scribe alone, so "minus no-log" is all a module
costs a request.

Instructions: httpd -X under `valgrind --tool=cachegrind --cache-sim=no`,
one fresh server serving N1 requests and one serving N2;
(Ir(N2) - Ir(N1)) / (N2 - N1), so that startup and shutdown cancel. Ir
counts every thread of the process. A server is stopped (SIGTERM) only once
its receiver has every line, so that no sender has anything left to deliver
or spool at exit.

Syscalls: one native httpd -X, warmed up, then `perf stat --per-thread -e
raw_syscalls:sys_enter -p PID` (every thread of the process, the senders
started at child_init included) around an ab run of N1 and one of N2
requests; the difference per request. The request thread's waits for the
next request on the connection are left out: a read() that finds nothing
plus a poll(), which happen or not depending on timing alone (see
syscall_figures). Only httpd's process is counted, not logger(1),
rsyslogd or the collector. "n/a" where perf cannot count the tracepoints.

Prints markdown, then the floors beside the figures. Asserts nothing on the
figures; exits non-zero only when something failed to run (a server that
did not start or stop, ab errors, a receiver that got nothing).

    BENCH_CASES        a subset such as "abf" (default: all; the ratios need a and b)
    BENCH_IR_REQUESTS  N1,N2 under cachegrind (default 300,1300)
    BENCH_SYS_REQUESTS N1,N2 for perf (default 2000,12000)
    BENCH_ROUNDS       repeat every measurement, report medians (default 1)
    BENCH_PROFILES     a directory to keep cachegrind's files in
                       (cachegrind.KEY.N; compare with cg_diff, cg_annotate)
    BENCH_BUILD        build tree whose modules are loaded, e.g. one made
                       with `make BUILD=... build-all` from an older commit
                       (default: build/; sets lib.paths' MODSUITE_BUILD)
"""
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
if os.environ.get("BENCH_BUILD"):
    os.environ["MODSUITE_BUILD"] = os.environ["BENCH_BUILD"]
sys.path.insert(0, str(REPO / "t" / "integration"))

from lib.certs import Certs  # noqa: E402
from lib.httpd import FATAL, Httpd  # noqa: E402
from lib.paths import BUILD, HTTPD_BIN  # noqa: E402
from lib.ports import wait_tcp  # noqa: E402
from lib.rsyslog import Rsyslogd  # noqa: E402
from lib.scribe import Collector  # noqa: E402


def pair(name, default):
    n1, n2 = (int(x) for x in os.environ.get(name, default).split(","))
    if not 0 < n1 < n2:
        raise SystemExit(f"{name}: want N1,N2 with 0 < N1 < N2")
    return n1, n2


ONLY = os.environ.get("BENCH_CASES", "")
IR_N = pair("BENCH_IR_REQUESTS", "300,1300")
SYS_N = pair("BENCH_SYS_REQUESTS", "2000,12000")
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "1"))
KEEP_PROFILES = os.environ.get("BENCH_PROFILES", "")
WARMUP = 200  # requests before perf attaches (the syscall server)
START_TIMEOUT = 120  # httpd -X under valgrind starts in a few seconds
STOP_TIMEOUT = 60

# (key, label, module to load, CustomLog line or None). `tag` tells the
# lines of one server apart at the receiver.
CASES = [
    ("a", "no access log", None, None),
    ("b", "file CustomLog", None, lambda h, r, tag: f'CustomLog "{h.root}/logs/access_log" common'),
    ("c", "piped logger", None,
     lambda h, r, tag: f'CustomLog "|/usr/bin/logger -u {r.rs.socket} -p local6.info -t {tag}" '
                       f'common'),
    ("d", "mod_syslog unix", "syslog",
     lambda h, r, tag: f'CustomLog "syslog:local6.info:{tag}@unix:{r.rs.socket}" common'),
    ("e", "mod_syslog udp", "syslog",
     lambda h, r, tag: f'CustomLog "syslog:local6.info:{tag}@udp://127.0.0.1:{r.rs.udp_port}" '
                       f'common'),
    ("f", "mod_syslog tcp", "syslog",
     lambda h, r, tag: f'CustomLog "syslog:local6.info:{tag}@tcp://127.0.0.1:{r.rs.tcp_port}" '
                       f'common'),
    ("g", "mod_scribe", "scribe",
     lambda h, r, tag: f'ScribeServer {r.coll.address}\nCustomLog "scribe:{tag}" common'),
    ("h", "mod_syslog tls", "syslog",
     lambda h, r, tag: f"SyslogTarget relay tls://localhost:{r.rs.tls_port} ca={r.certs.ca}\n"
                       f'CustomLog "syslog:local6.info:{tag}@relay" common'),
    ("i", "mod_syslog relp", "syslog",
     lambda h, r, tag: f"SyslogTarget relay relp://127.0.0.1:{r.rs.relp_port}\n"
                       f'CustomLog "syslog:local6.info:{tag}@relay" common'),
]
if ONLY:
    CASES = [c for c in CASES if c[0] in ONLY]
SYSLOG_CASES = {"c", "d", "e", "f", "h", "i"}
RECEIVED = SYSLOG_CASES | {"g"}

# A fixed single process, one connection served at a time, never closed by
# the server: every request of a run is the same steady-state request.
BENCH_CONF = """
MaxKeepAliveRequests 0
KeepAliveTimeout 30
<Directory />
  AllowOverride None
</Directory>
"""


class Failed(Exception):
    pass


class Receivers:
    def __init__(self):
        self.certs = Certs()
        relay = self.certs.relay
        self.rs = Rsyslogd(tls=(relay[0], relay[1], self.certs.ca), relp=True).start()
        try:
            self.coll = Collector().start()
        except BaseException:
            self.rs.cleanup()
            self.certs.cleanup()
            raise

    def count(self, key, tag):
        if key in SYSLOG_CASES:
            try:
                return self.rs.out.read_bytes().count(f'"tag":"{tag}",'.encode())
            except OSError:
                return 0
        return len(self.coll.lines(tag))

    def wait_for(self, key, tag, want, timeout=60.0):
        """Lines that arrived for `tag`: once there are `want`, or once the
        count has not moved for 3 s."""
        last, since = -1, time.monotonic()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            n = self.count(key, tag)
            if n >= want:
                return n
            if n != last:
                last, since = n, time.monotonic()
            elif time.monotonic() - since > 3.0:
                break
            time.sleep(0.05)
        return last

    def cleanup(self):
        self.rs.cleanup()
        self.coll.cleanup()
        self.certs.cleanup()


class OneProcess:
    """`apache2 -X` (prefork, one process) in the foreground, optionally
    under a wrapper (valgrind). Stopped with SIGTERM, waited for."""

    def __init__(self, case, receivers, tag, wrapper=()):
        key, _, module, log_line = case
        self.h = Httpd(mpm="prefork")
        conf = self.h.conf().add(BENCH_CONF)
        if module:
            conf.load(module)
        if log_line:
            conf.add(log_line(self.h, receivers, tag))
        self.h.write(conf)
        self.stderr = open(self.h.root / "logs" / "stderr", "wb")
        self.proc = subprocess.Popen(list(wrapper) + [HTTPD_BIN, "-X", "-f", str(self.h.conf_file)],
                                     stdout=self.stderr, stderr=self.stderr, env=self.h.env,
                                     start_new_session=True)
        self.served = 0
        try:
            self._wait_ready()
        except BaseException:
            self.cleanup()
            raise

    def _wait_ready(self):
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise Failed(f"httpd -X exited ({self.proc.returncode}) at startup:\n"
                             f"{self.output()}")
            if wait_tcp("127.0.0.1", self.h.port, 0.5):
                self.ab(1)
                return
            time.sleep(0.1)
        raise Failed(f"httpd -X not ready in {START_TIMEOUT} s:\n{self.output()}")

    def output(self):
        try:
            text = (self.h.root / "logs" / "stderr").read_text(errors="replace")
        except OSError:
            text = ""
        return text[-3000:] + self.h.read_error_log()[-3000:]

    def ab(self, n, wrapper=()):
        """Serves n requests with ab -k -c1; returns ab's output (or the
        wrapper's, which is given ab's command line)."""
        cmd = list(wrapper) + ["ab", "-k", "-c1", "-n", str(n), "-s", "60",
                               self.h.url("/small.txt")]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        complete = re.search(r"^Complete requests:\s+(\d+)", p.stdout, re.M)
        failed = re.search(r"^Failed requests:\s+(\d+)", p.stdout, re.M)
        if (p.returncode != 0 or not complete or int(complete.group(1)) != n
                or not failed or int(failed.group(1)) != 0 or "Non-2xx" in p.stdout):
            raise Failed(f"ab -n {n} failed ({p.returncode}):\n{p.stdout[-2000:]}"
                         f"{p.stderr[-2000:]}")
        self.served += n
        return p

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.kill()
            raise Failed(f"httpd -X did not stop within {STOP_TIMEOUT} s")
        self.stderr.close()
        fatal = [l for l in self.h.read_error_log().splitlines() if FATAL.search(l)]
        if self.proc.returncode != 0 or fatal:
            raise Failed(f"httpd -X exited with {self.proc.returncode}:\n{self.output()}")

    def kill(self):
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except OSError:
                pass
            self.proc.wait()
        self.stderr.close()

    def cleanup(self):
        if self.proc.poll() is None:
            self.kill()
        self.stderr.close()
        shutil.rmtree(self.h.root, ignore_errors=True)


def cachegrind_ir(path):
    for line in Path(path).read_text().splitlines():
        if line.startswith("summary:"):
            return int(line.split()[1])
    raise Failed(f"no summary line in {path}")


class Bench:
    def __init__(self, receivers):
        self.r = receivers
        self.serial = 0
        self.delivery = {}  # key -> [received, served] over all its servers
        self.notes = []

    def tag(self, key):
        self.serial += 1
        return f"cost{key}{self.serial}"

    def finish(self, key, srv, tag):
        """Stops a server once its receiver has every line: a sender then has
        nothing left to deliver or spool at exit, so that the exit costs the
        same after N1 and N2 requests and cancels."""
        if key in RECEIVED:
            before = self.r.wait_for(key, tag, srv.served)
        srv.stop()
        for line in srv.h.unexpected_log_lines():
            self.notes.append(f"({key}) {line}")
        if key in RECEIVED:
            got = self.r.wait_for(key, tag, srv.served, timeout=10.0)
            if got <= 0:
                raise Failed(f"({key}) nothing arrived at the receiver for {tag}:\n"
                             f"{srv.output()}")
            if before < srv.served:
                self.notes.append(f"({key}) {tag}: {before} of {srv.served} lines had arrived "
                                  f"when httpd was stopped")
            d = self.delivery.setdefault(key, [0, 0])
            d[0] += got
            d[1] += srv.served

    def instructions(self, case, n):
        key = case[0]
        tmp = Path(tempfile.mkdtemp(prefix="bench-cost-cg-"))
        # valgrind writes its files at exit, as the user httpd switched to.
        os.chmod(tmp, 0o777)
        try:
            out = tmp / "cachegrind.out.%p"
            wrapper = ["valgrind", "--tool=cachegrind", "--cache-sim=no",
                       f"--cachegrind-out-file={out}", "--log-file=" + str(tmp / "valgrind.%p")]
            tag = self.tag(key)
            srv = OneProcess(case, self.r, tag, wrapper)
            try:
                srv.ab(n)
                self.finish(key, srv, tag)
            finally:
                srv.cleanup()
            # httpd's own file (the process valgrind ran: its pid is ours);
            # a forked piped logger, if traced until its exec, has another pid.
            result = str(out).replace("%p", str(srv.proc.pid))
            if KEEP_PROFILES:
                Path(KEEP_PROFILES).mkdir(parents=True, exist_ok=True)
                shutil.copy(result, Path(KEEP_PROFILES) / f"cachegrind.{key}.{n}")
            return cachegrind_ir(result)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def syscalls(self, case):
        """Per-thread counts for N1 and for N2 requests, on one native server."""
        key = case[0]
        tag = self.tag(key)
        srv = OneProcess(case, self.r, tag)
        try:
            srv.ab(WARMUP)
            counts = []
            for n in SYS_N:
                with tempfile.NamedTemporaryFile(prefix="bench-cost-perf-") as f:
                    srv.ab(n, ["perf", "stat", "--per-thread", "-x,", "-o", f.name]
                           + PERF_EVENTS + ["-p", str(srv.proc.pid), "--"])
                    counts.append(perf_counts(Path(f.name).read_text(), srv.proc.pid))
            self.finish(key, srv, tag)
            return counts
        finally:
            srv.cleanup()


# Every syscall entry; and poll(2), to find the request thread's waits for
# the next request on the keep-alive connection (see syscall_figures).
PERF_EVENTS = ["-e", "raw_syscalls:sys_enter", "-e", "syscalls:sys_enter_poll"]


def perf_counts(text, pid):
    """{"raw": all threads, "req_raw": the request thread, "req_polls": its
    poll() calls, "other_polls": the other threads'} from perf stat
    --per-thread -x, output."""
    c = {"raw": 0, "req_raw": 0, "req_polls": 0, "other_polls": 0}
    seen = set()
    for line in text.splitlines():
        fields = line.split(",")
        if len(fields) < 4 or line.startswith("#"):
            continue
        thread, value, event = fields[0].strip(), fields[1].strip(), fields[3].strip()
        if event not in ("raw_syscalls:sys_enter", "syscalls:sys_enter_poll"):
            continue
        if value == "<not counted>" and thread.rsplit("-", 1)[-1] != str(pid):
            # A thread that never ran while perf counted (the resolver's
            # helper of getaddrinfo_a, idle): it made no syscall.
            value = "0"
        if not value.isdigit():
            raise Failed(f"perf did not count {event}: {line}")
        main = thread.rsplit("-", 1)[-1] == str(pid)
        seen.add(event)
        if event == "raw_syscalls:sys_enter":
            c["raw"] += int(value)
            if main:
                c["req_raw"] += int(value)
        else:
            c["req_polls" if main else "other_polls"] += int(value)
    if len(seen) != 2:
        raise Failed(f"perf's output lacks an event:\n{text}")
    return c


def syscall_figures(c1, c2):
    """Per request, from the counts of N1 and N2 requests.

    With ab -c1 the next request on the connection is either already there
    when httpd reads after a response, or not yet: then the request thread
    reads (EAGAIN) and polls, two syscalls more. Which one happens depends on
    timing alone (a slower log phase gives ab more time), so those two are
    taken out: every poll() of the request thread is such a wait, and came
    with one read() that found nothing. "other" is every other thread (the
    senders)."""
    per = {k: (c2[k] - c1[k]) / (SYS_N[1] - SYS_N[0]) for k in c1}
    req = per["req_raw"] - 2 * per["req_polls"]
    other = per["raw"] - per["req_raw"]
    return {"sys": req + other, "req": req, "other": other, "other_polls": per["other_polls"],
            "raw": per["raw"], "waits": per["req_polls"]}


def perf_works():
    """Whether perf can count the syscall tracepoints here (else: n/a)."""
    if not shutil.which("perf"):
        return False, "perf is not installed"
    with tempfile.NamedTemporaryFile(prefix="bench-cost-perf-") as f:
        p = subprocess.run(["perf", "stat", "-x,", "-o", f.name] + PERF_EVENTS
                           + ["--", "/bin/true"], capture_output=True, text=True, timeout=60)
        text = Path(f.name).read_text()
    ok = p.returncode == 0 and all(
        re.search(rf"^\d+,[^,]*,{re.escape(e)}", text, re.M) for e in PERF_EVENTS[1::2])
    return ok, (p.stderr.strip() + " " + text.strip())[:400]


def apache_version():
    out = subprocess.run([HTTPD_BIN, "-v"], capture_output=True, text=True).stdout
    m = re.search(r"Apache/(\S+)", out)
    return m.group(1) if m else "?"


def fmt(x, digits):
    return "n/a" if x is None else f"{x:,.{digits}f}"


def main():
    # A SIGTERM (a runner's timeout) still stops every server and receiver.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    for tool in ("valgrind", "ab"):
        if not shutil.which(tool):
            print(f"{tool} is not installed (make deps)", file=sys.stderr)
            return 1
    use_perf, why = perf_works()
    if not use_perf:
        print(f"perf cannot count raw_syscalls:sys_enter here: {why}", file=sys.stderr)
    try:
        r = Receivers()
    except RuntimeError as e:
        print(f"bench_cost: {e}", file=sys.stderr)
        return 1
    b = Bench(r)
    ir, sc = {}, {}
    try:
        for rnd in range(ROUNDS):
            for case in CASES:
                key = case[0]
                i1, i2 = (b.instructions(case, n) for n in IR_N)
                ir.setdefault(key, []).append((i2 - i1) / (IR_N[1] - IR_N[0]))
                line = f"round {rnd + 1} ({key}) Ir {i1} / {i2}: {ir[key][-1]:,.0f} per request"
                if use_perf:
                    f = syscall_figures(*b.syscalls(case))
                    sc.setdefault(key, []).append(f)
                    line += (f"; syscalls {f['sys']:.3f} per request (request thread "
                             f"{f['req']:.3f}, others {f['other']:.3f}; raw {f['raw']:.3f}, "
                             f"waits {f['waits']:.3f})")
                print(line, file=sys.stderr, flush=True)
    except (Failed, RuntimeError, subprocess.SubprocessError, OSError) as e:
        print(f"bench_cost: {e}", file=sys.stderr)
        return 1
    finally:
        r.cleanup()
    report(ir, sc, b)
    return 0


def report(ir, sc, b):
    labels = {k: l for k, l, _, _ in CASES}
    ins = {k: statistics.median(v) for k, v in ir.items()}
    sys_ = {k: {f: statistics.median(x[f] for x in v) for f in v[0]} for k, v in sc.items()}
    base_i = ins.get("a")
    base_s = sys_["a"]["sys"] if "a" in sys_ else None
    file_i = ins["b"] - base_i if "b" in ins and base_i is not None else None

    def added_i(k):
        return ins[k] - base_i if base_i is not None else None

    def added_s(k):
        return sys_[k]["sys"] - base_s if k in sys_ and base_s is not None else None

    def ratio(k):
        d = added_i(k)
        return d / file_i if d is not None and file_i else None

    built = "build/" if BUILD == REPO / "build" else str(BUILD)
    rev = subprocess.run(["git", "-C", str(BUILD.parent), "log", "-1", "--format=%h"],
                         capture_output=True, text=True).stdout.strip()
    if rev:
        built += f" (its source tree at {rev})"
    print(f"Apache {apache_version()}, `apache2 -X` (prefork, one process), `ab -k -c1`, "
          f"GET /small.txt (64 bytes), LogFormat common, modules of {built}. "
          f"Instructions: cachegrind's Ir of all threads, (Ir({IR_N[1]} requests) - "
          f"Ir({IR_N[0]})) / {IR_N[1] - IR_N[0]}, fresh server for each. "
          + (f"Syscalls: perf raw_syscalls:sys_enter of all threads, ({SYS_N[1]} - {SYS_N[0]} "
             f"requests) on one warmed-up server, without the request thread's waits for the "
             f"next request (see below)" if sc else
             "Syscalls: n/a (perf cannot count raw_syscalls:sys_enter here)")
          + (f"; medians of {ROUNDS} rounds" if ROUNDS > 1 else "") + ".\n")
    print("| case | instructions/request | minus no-log | x file log | syscalls/request "
          "| minus no-log |")
    print("|---|---:|---:|---:|---:|---:|")
    for key, label, _, _ in CASES:
        first = key == "a"
        s = sys_[key]["sys"] if key in sys_ else None
        print(f"| ({key}) {label} | {fmt(ins[key], 0)} | "
              f"{'-' if first else fmt(added_i(key), 0)} | "
              f"{'-' if first else fmt(ratio(key), 2)} | {fmt(s, 2)} | "
              f"{'-' if first else fmt(added_s(key), 2)} |")
    print()
    print("Floors, printed beside the figures and not asserted: every module writer adds at most "
          "1.5 x the instructions a file CustomLog adds; tcp, tls, relp and scribe add at most "
          "0.1 syscalls per request; unix and udp at most 1.05.\n")

    def verdict(ok):
        return "n/a" if ok is None else ("met" if ok else "NOT met")

    for key in ("d", "e", "f", "g", "h", "i"):
        if key not in ins:
            continue
        rt, ds = ratio(key), added_s(key)
        limit = 0.1 if key in ("f", "g", "h", "i") else 1.05
        print(f"- ({key}) {labels[key]}: adds {fmt(rt, 2)} x the instructions of a file log "
              f"(at most 1.5: {verdict(None if rt is None else rt <= 1.5)}), "
              f"{fmt(ds, 2)} syscalls per request (at most {limit}: "
              f"{verdict(None if ds is None else ds <= limit)})")
    if sys_:
        print("\nSyscalls per request by thread. The request thread's count leaves out its "
              "waits for the next request on the keep-alive connection: a read() that finds "
              "nothing and a poll(), 0 or 2 syscalls per request depending on whether ab's "
              "next request is already there, i.e. on timing alone. The other threads are "
              "the senders; their poll() calls are their waits (for the next batch, for room "
              "at the receiver, for an answer). \"raw\" is everything perf counted and "
              "\"waits\" the request thread's poll() calls: differences of two runs that "
              "move with timing (even below zero).\n")
        print("| case | request thread | other threads | of which poll() | raw | waits |")
        print("|---|---:|---:|---:|---:|---:|")
        for key, label, _, _ in CASES:
            f = sys_[key]
            print(f"| ({key}) {label} | {f['req']:.2f} | {f['other']:.3f} | "
                  f"{f['other_polls']:.3f} | {f['raw']:.2f} | {f['waits']:.2f} |")
    if b.delivery:
        print("\nLines at the receiver / requests served, over all servers of a case: "
              + ", ".join(f"({k}) {g}/{s}" for k, (g, s) in sorted(b.delivery.items())))
    if b.notes:
        print("\nWarnings in the error logs:\n")
        for line in b.notes[:20]:
            print(f"    {line}")


if __name__ == "__main__":
    sys.exit(main())
