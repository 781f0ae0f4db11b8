#!/usr/bin/python3
"""What an access log sent to Scribe costs a request, and what one child
delivers when flooded.

wrk (keep-alive, a 64-byte static file, event MPM) against one httpd per
variant, all started up front, with the Scribe collector
(t/collector/scribe_collector.py) on loopback:

  (a) no access log
  (b) CustomLog to a file
  (c) CustomLog "| scribe_pipe.py": Python Thrift, one Log() per line
  (c') the same, with a new connection for every line (the naive way)
  (d) CustomLog "scribe:www" (mod_scribe)
  (e) mod_scribe with a collector that accepts calls and never replies

Variants alternate within each round (many short rounds, so that background
load hits every variant alike); the table shows the median of the rounds and
ratios computed from those medians. Floors the suite is measured
against: (d) >= 0.95 x (b) and >= 3 x (c) in requests/s; (e)'s p99 <= 1.5 x
(d)'s. Then: lines/s one child (ServerLimit 1) delivers to the collector when
flooded, i.e. how fast a backlog of spooled lines drains once the collector
answers (batches of ScribeBatchSize lines per Log()). Then the replay of a
spool of 1M lines (written by build/t/bench/spool_fill as an outage would
have left it) by one child: lines/s, lines per Log(), spool bytes per line;
and the same replay with a graceful restart in the middle of it: the
duplicates it cost.

Prints markdown. Asserts nothing. About 5 minutes.

    /usr/bin/python3 t/bench/bench_scribe.py [--rounds 10] [--seconds 3]
"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "t" / "integration"))

from lib.httpd import Httpd  # noqa: E402
from lib.paths import BUILD  # noqa: E402
from lib.scribe import Collector  # noqa: E402

VARIANTS = [
    ("a", "no access log"),
    ("b", "file CustomLog"),
    ("c", "piped Python Thrift, one Log() per line"),
    ("c'", "piped, one connection per line"),
    ("d", "mod_scribe"),
    ("e", "mod_scribe, collector never replies"),
]

# A fixed set of children: none is started or stopped during a measurement.
BENCH_MPM = """
StartServers 2
ServerLimit 2
ThreadsPerChild 32
MaxRequestWorkers 64
MinSpareThreads 1
MaxSpareThreads 64
MaxKeepAliveRequests 0
"""


def configure(h, variant, up, hung):
    conf = h.conf()
    conf.add(BENCH_MPM)
    if variant == "b":
        conf.add(f'CustomLog "{h.root}/logs/access_log" common')
    elif variant in ("c", "c'"):
        pipe = REPO / "t" / "bench" / "scribe_pipe.py"
        naive = " --connect-per-line" if variant == "c'" else ""
        conf.add(f'CustomLog "|/usr/bin/python3 {pipe}{naive} --port {up.port} bench-pipe" common')
    elif variant in ("d", "e"):
        coll = up if variant == "d" else hung
        conf.load("scribe")
        conf.add(f"ScribeServer {coll.address}")
        conf.add('CustomLog "scribe:bench" common')
    return conf


UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}


def wrk(url, seconds, connections, threads):
    out = subprocess.run(["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s",
                          "--latency", url], capture_output=True, text=True,
                         timeout=seconds + 60).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    m = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.M)
    p99 = float(m.group(1)) * UNITS[m.group(2)]
    total = int(re.search(r"(\d+) requests in", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)|Socket errors: .*", out)
    return rps, p99, total, errors.group(0) if errors else ""


def start_all(up, hung, args):
    """One httpd per variant, all up for the whole run: measurements then
    alternate quickly between them without restarts in between."""
    servers = {}
    for v, _ in VARIANTS:
        h = Httpd(mpm="event")
        servers[v] = h
        h.start(configure(h, v, up, hung))
        wrk(h.url("/small.txt"), 1, args.connections, args.threads)  # warm up
    return servers


def measure(h, variant, args):
    rps, p99, total, errors = wrk(h.url("/small.txt"), args.seconds, args.connections,
                                  args.threads)
    if errors:
        print(f"  note: ({variant}) {errors}", file=sys.stderr)
    return rps, p99, total


def queue_drops(h):
    """Lines a variant's children dropped for a full queue (reported at exit)."""
    h.stop()
    return sum(int(n) for n in re.findall(r"dropped (\d+) lines because the queue",
                                          h.read_error_log()))


ONE_CHILD = """
StartServers 1
ServerLimit 1
ThreadsPerChild 32
MaxRequestWorkers 32
MinSpareThreads 1
MaxSpareThreads 32
"""


def flood(args):
    """One child, collector away while wrk floods it (lines go to the queue
    and the spool); then the collector comes back and we time the drain."""
    coll = Collector()
    h = Httpd(mpm="event")
    try:
        conf = h.conf().load("scribe").add(ONE_CHILD + f"""
MaxKeepAliveRequests 0
ScribeServer {coll.address}
ScribeRetryInterval 20 100
CustomLog "scribe:flood" common "expr=%{{REQUEST_URI}} =~ m#^/small#"
""")
        h.start(conf)
        _, _, total, _ = wrk(h.url("/small.txt"), args.flood_seconds, 32, 1)
        coll.start()
        first = None
        seen = 0
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            st = coll.stats()
            now = time.monotonic()
            if st["messages"] > 0 and first is None:
                first = (now, st["messages"])
            seen = st["messages"]
            if seen >= total:
                break
            time.sleep(0.02)
        end = time.monotonic()
        st = coll.stats()
        if first is None or end <= first[0]:
            return None
        rate = (seen - first[1]) / (end - first[0])
        per_call = st["messages"] / max(st["calls"], 1)
        return total, seen, rate, per_call
    finally:
        h.stop()
        h.cleanup()
        coll.cleanup()


def replay(lines, line_bytes, restart_midway):
    """One child replays a spool of `lines` lines: returns (lines/s, lines per
    Log(), spool bytes per line, duplicates), or None when the drain did not
    finish. With `restart_midway`, a graceful restart at half way."""
    fill = BUILD / "t" / "bench" / "spool_fill"
    coll = Collector(discard=True)
    h = Httpd(mpm="event")
    try:
        conf = h.conf().load("scribe").add(ONE_CHILD + f"""
ScribeServer {coll.address}
ScribeRetryInterval 20 100
ScribeReplayRate off
ScribeSpoolMaxSize 4G
CustomLog "scribe:replay" common "expr=%{{QUERY_STRING}} =~ /^id=/"
""")
        h.start(conf)  # makes the spool directory, handed to the children's user
        h.stop()
        spool = h.root / "run" / "scribe-spool"
        out = subprocess.run([str(fill), str(spool), coll.address, "replay", str(lines),
                              str(line_bytes)], capture_output=True, text=True, check=True)
        spool_bytes = int(out.stdout.strip())
        owner = spool.stat()
        for f in spool.iterdir():
            os.chown(f, owner.st_uid, owner.st_gid)
        coll.start()
        start = time.monotonic()
        h.start()
        restarted = False
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            seen = coll.stats()["messages"]
            if restart_midway and not restarted and seen >= lines // 2:
                h.graceful()
                restarted = True
            if seen >= lines and not any(spool.glob("*.spool")):
                break
            time.sleep(0.02)
        else:
            return None
        took = time.monotonic() - start
        st = coll.stats()
        return (st["messages"] / took, st["messages"] / max(st["calls"], 1),
                spool_bytes / lines, st["messages"] - lines)
    finally:
        h.stop()
        h.cleanup()
        coll.cleanup()


def fmt_ms(s):
    return f"{s * 1000:.2f} ms"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--seconds", type=int, default=3)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--flood-seconds", type=int, default=6)
    ap.add_argument("--replay-lines", type=int, default=1000000)
    ap.add_argument("--line-bytes", type=int, default=120)
    args = ap.parse_args()
    if not shutil.which("wrk"):
        print("wrk not installed")
        return 1

    up = Collector().start()
    hung = Collector().start()
    hung.hang(True)
    results = {v: [] for v, _ in VARIANTS}
    dropped = {}
    servers = {}
    try:
        servers = start_all(up, hung, args)
        for r in range(args.rounds):
            order = [v for v, _ in VARIANTS]
            order = order[r % len(order):] + order[:r % len(order)]  # alternate
            for v in order:
                results[v].append(measure(servers[v], v, args))
                rps, p99, _ = results[v][-1]
                print(f"  round {r + 1} ({v}): {rps:.0f} req/s, p99 {fmt_ms(p99)}",
                      file=sys.stderr, flush=True)
        dropped = {v: queue_drops(servers[v]) for v in ("d", "e")}
    finally:
        for h in servers.values():
            h.stop()
            h.cleanup()
        up.cleanup()
        hung.cleanup()
    fl = flood(args)
    replays = [replay(args.replay_lines, args.line_bytes, midway) for midway in (False, True)]

    med = {v: (statistics.median(x[0] for x in results[v]),
               statistics.median(x[1] for x in results[v])) for v in results}
    print(f"wrk -t{args.threads} -c{args.connections} -d{args.seconds}s, keep-alive, "
          f"GET /small.txt (64 bytes), event MPM, {os.cpu_count()} cores; median of "
          f"{args.rounds} alternating rounds.\n")
    print("| variant | requests/s | p99 | req/s ÷ (b) | req/s ÷ (c) | p99 ÷ (d) |")
    print("|---|---:|---:|---:|---:|---:|")
    for v, label in VARIANTS:
        rps, p99 = med[v]
        print(f"| ({v}) {label} | {rps:.0f} | {fmt_ms(p99)} | {rps / med['b'][0]:.2f} | "
              f"{rps / med['c'][0]:.2f} | {p99 / med['d'][1]:.2f} |")
    d_b = med["d"][0] / med["b"][0]
    d_c = med["d"][0] / med["c"][0]
    e_d = med["e"][1] / med["d"][1]
    print()
    print(f"- (d) ÷ (b) = {d_b:.2f} (floor 0.95: {'met' if d_b >= 0.95 else 'NOT met'})")
    print(f"- (d) ÷ (c) = {d_c:.2f} (floor 3: {'met' if d_c >= 3 else 'NOT met'})")
    print(f"- (e) p99 ÷ (d) p99 = {e_d:.2f} (ceiling 1.5: {'met' if e_d <= 1.5 else 'NOT met'})")
    for v in ("d", "e"):
        total = sum(x[2] for x in results[v])
        print(f"- ({v}): {dropped.get(v, 0)} of {total} lines dropped for a full queue "
              f"over all rounds")
    if fl:
        total, seen, rate, per_call = fl
        print(f"- one child, flooded ({total} lines queued and spooled while the collector was "
              f"away): delivered {seen} at {rate:.0f} lines/s once it answered, "
              f"{per_call:.0f} lines per Log() call")
    plain, restarted = replays
    if plain:
        rate, per_call, per_line, dups = plain
        print(f"- one child replaying a spool of {args.replay_lines} lines of {args.line_bytes} "
              f"bytes (ScribeReplayRate off): {rate:.0f} lines/s, {per_call:.0f} lines per "
              f"Log() call, {per_line:.1f} spool bytes per line, {dups} duplicates")
    if restarted:
        rate, per_call, per_line, dups = restarted
        print(f"- the same with a graceful restart half way: {dups} duplicates "
              f"({rate:.0f} lines/s overall)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
