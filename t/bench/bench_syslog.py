#!/usr/bin/python3
"""What an access log costs httpd, by destination: wrk against a small static
file (keep-alive, event MPM), with a real rsyslogd receiving.

    (a) no access log
    (b) CustomLog to a file
    (c) CustomLog piped to logger(1), which sends to rsyslogd's unix socket
    (d) mod_syslog, unix socket (datagrams)
    (e) mod_syslog, tcp (octet counting, sender thread)
    (f) mod_syslog, tls (rsyslogd imtcp with the ossl driver)
    (g) mod_syslog, relp (rsyslogd imrelp)

Each round runs every case once on a fresh httpd, in a rotating order, and
the table gives the median over the rounds of requests/s and of wrk's p99
latency, with ratios against (b) and (c) from the same run. For the cases
that go through rsyslogd it also gives how many of the lines arrived.
Nothing is asserted: the floors are printed beside the figures.

Two variants, each its own table. "shared": httpd, wrk and rsyslogd run on
every core, so a client and a receiver that compete with httpd for two
cores hide what httpd itself spends. "pinned" (two cores or more): httpd
(parent, children, their threads) on core 0, wrk and rsyslogd on core 1
(CPU affinity, as taskset sets it), so that the requests/s are what one
core of httpd serves with each destination: the module's own cost shows.

    BENCH_ROUNDS (default 5), BENCH_SECONDS per measurement (default 5),
    BENCH_CONNECTIONS (default 32), BENCH_THREADS (default 2),
    BENCH_CASES (a subset such as "abd", for experiments; the table needs b and c),
    BENCH_VARIANTS "shared", "pinned" or "shared,pinned" (the default)
"""
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "t" / "integration"))

import lib.rsyslog  # noqa: E402
from lib.certs import Certs  # noqa: E402
from lib.httpd import Httpd  # noqa: E402
from lib.rsyslog import Rsyslogd  # noqa: E402

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
SECONDS = int(os.environ.get("BENCH_SECONDS", "5"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "32"))
THREADS = int(os.environ.get("BENCH_THREADS", "2"))
ONLY = os.environ.get("BENCH_CASES", "")  # e.g. "abd": a subset, for experiments
WARMUP_SECONDS = 1
VARIANTS = [v for v in os.environ.get("BENCH_VARIANTS", "shared,pinned").split(",") if v]
HTTPD_CORE, CLIENT_CORE = 0, 1

# A plain receiver: every message to a file in rsyslog's traditional format.
BENCH_RSYSLOG_CONF = """\
global(workDirectory="{work}" maxMessageSize="64k" net.enableDNS="off"{tls_global})
module(load="imuxsock" SysSock.Use="off")
input(type="imuxsock" Socket="{socket}" CreatePath="on" RateLimit.Interval="0")
module(load="imtcp" MaxSessions="2000")
input(type="imtcp" address="127.0.0.1" port="{port}")
{extra_inputs}
if $programname != "rsyslogd" then {{
  action(type="omfile" file="{out}" template="RSYSLOG_TraditionalFileFormat")
}}
"""

CASES = [
    ("a", "no access log", None),
    ("b", "file CustomLog", lambda h, rs: f'CustomLog "{h.root}/logs/access_log" common'),
    ("c", "piped logger", lambda h, rs: f'CustomLog "|/usr/bin/logger -u {rs.socket} '
                                        f'-p local6.info -t httpd" common'),
    ("d", "mod_syslog unix", lambda h, rs: f'CustomLog "syslog:local6.info@unix:{rs.socket}" '
                                           f'common'),
    ("e", "mod_syslog tcp", lambda h, rs: f'CustomLog "syslog:local6.info@tcp://127.0.0.1:'
                                          f'{rs.tcp_port}" common'),
    ("f", "mod_syslog tls", lambda h, rs: f"SyslogTarget r tls://localhost:{rs.tls_port} "
                                          f"ca={rs.tls[2]}\n"
                                          f'CustomLog "syslog:local6.info@r" common'),
    ("g", "mod_syslog relp", lambda h, rs: f"SyslogTarget r relp://127.0.0.1:{rs.relp_port}\n"
                                           f'CustomLog "syslog:local6.info@r" common'),
]
THROUGH_RSYSLOG = {"c", "d", "e", "f", "g"}
if ONLY:
    CASES = [c for c in CASES if c[0] in ONLY]


def latency_ms(text):
    m = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    value, unit = float(m.group(1)), m.group(2)
    return value * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk(url, seconds):
    """(requests/s, p99 ms, requests completed)."""
    out = subprocess.run(["wrk", f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency",
                          url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99 = latency_ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise RuntimeError(f"wrk saw errors:\n{out}")
    return rps, p99, total


def count_lines(path):
    try:
        with open(path, "rb") as f:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))
    except OSError:
        return 0


def settle(path, timeout=15.0):
    """Line count of `path` once it stopped growing."""
    last, stable_since = -1, time.monotonic()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        n = count_lines(path)
        if n != last:
            last, stable_since = n, time.monotonic()
        elif time.monotonic() - stable_since > 0.7:
            break
        time.sleep(0.1)
    return last


def pin(cores):
    """This process and whatever it starts from now on run on `cores`."""
    os.sched_setaffinity(0, cores)


def run_case(key, log_line, rs, pinned):
    h = Httpd(mpm="event")
    try:
        conf = h.conf().load("syslog")
        if log_line:
            conf.add(log_line(h, rs))
        rs.out.write_bytes(b"")  # rsyslogd appends: start each case from empty
        if pinned:
            pin({HTTPD_CORE})  # httpd's parent, and so its children, inherit it
        try:
            h.start(conf)  # one request (readiness)
        finally:
            if pinned:
                pin({CLIENT_CORE})  # wrk and this script
        url = h.url("/small.txt")
        _, _, warm = wrk(url, WARMUP_SECONDS)
        rps, p99, total = wrk(url, SECONDS)
        h.stop()
        received = settle(rs.out) if key in THROUGH_RSYSLOG else None
        served = warm + total + 1
        drops = [l for l in h.read_error_log().splitlines() if "dropped" in l or "lost" in l]
        return rps, p99, served, received, drops
    finally:
        h.cleanup()


def measure(pinned):
    """Every case, ROUNDS times: (medians, deliveries, drop report lines)."""
    all_cores = os.sched_getaffinity(0)
    if pinned:
        pin({CLIENT_CORE})  # rsyslogd inherits it
    certs = Certs()
    rs = Rsyslogd(tls=(certs.relay[0], certs.relay[1], certs.ca), relp=True).start()
    results = {key: [] for key, _, _ in CASES}
    deliveries = {key: [] for key, _, _ in CASES}
    drop_reports = []
    label = "pinned" if pinned else "shared"
    try:
        for rnd in range(ROUNDS):
            order = CASES[rnd % len(CASES):] + CASES[:rnd % len(CASES)]
            for key, _, log_line in order:
                rps, p99, served, received, drops = run_case(key, log_line, rs, pinned)
                results[key].append((rps, p99))
                if received is not None:
                    deliveries[key].append((received, served))
                drop_reports += drops
                print(f"{label} round {rnd + 1} ({key}) {rps:9.0f} req/s  p99 {p99:7.2f} ms"
                      + (f"  {received}/{served} lines at rsyslogd" if received is not None
                         else ""), file=sys.stderr, flush=True)
    finally:
        rs.cleanup()
        certs.cleanup()
        pin(all_cores)
    med = {k: (statistics.median(r for r, _ in v), statistics.median(p for _, p in v))
           for k, v in results.items()}
    return med, deliveries, drop_reports


def report(pinned, med, deliveries, drop_reports):
    b, c = med["b"][0], med["c"][0]
    where = (f"httpd on core {HTTPD_CORE}, wrk and rsyslogd on core {CLIENT_CORE}" if pinned
             else "httpd, wrk and rsyslogd on every core")
    print(f"### {'Pinned' if pinned else 'Shared'}: {where}\n")
    print(f"wrk -t{THREADS} -c{CONNECTIONS} -d{SECONDS}s --latency, keep-alive, GET /small.txt "
          f"(64 bytes), event MPM (2 children x 16 threads), LogFormat common; "
          f"median of {ROUNDS} rounds.\n")
    print("| case | requests/s | p99 latency | vs (b) file | vs (c) logger | lines at rsyslogd |")
    print("|---|---:|---:|---:|---:|---:|")
    for key, name, _ in CASES:
        rps, p99 = med[key]
        got = deliveries[key]
        lines = (f"{sum(r for r, _ in got)}/{sum(s for _, s in got)}" if got else "-")
        print(f"| ({key}) {name} | {rps:,.0f} | {p99:.2f} ms | {rps / b:.2f} | {rps / c:.2f} | "
              f"{lines} |")
    print()
    for key in ("d", "e", "f", "g"):
        if key not in med:
            continue
        rps = med[key][0]
        print(f"- floor ({key}) >= 0.95 x (b): {rps / b:.2f} x (b) -> "
              f"{'met' if rps >= 0.95 * b else 'NOT met'}; ({key}) >= (c): {rps / c:.2f} x (c) -> "
              f"{'met' if rps >= c else 'NOT met'}")
    if drop_reports:
        print("\nDrop reports in the error logs:\n")
        for line in drop_reports[:20]:
            print(f"    {line}")
    print()


def main():
    lib.rsyslog.CONF = BENCH_RSYSLOG_CONF
    cores = os.sched_getaffinity(0)
    for variant in VARIANTS:
        if variant not in ("shared", "pinned"):
            print(f"bench_syslog: unknown variant {variant!r}", file=sys.stderr)
            return 2
        pinned = variant == "pinned"
        if pinned and not {HTTPD_CORE, CLIENT_CORE} <= cores:
            print(f"### Pinned: left out (cores {HTTPD_CORE} and {CLIENT_CORE} are not both "
                  f"available here)\n")
            continue
        report(pinned, *measure(pinned))
    return 0


if __name__ == "__main__":
    sys.exit(main())
