#!/usr/bin/python3
"""HTTP cost of mod_cidr_lookup: requests/s with a 1M-prefix list loaded
against the same httpd without the module.

Starts its own httpd (event MPM, generated config in a temp dir, free loopback
port), drives it with wrk, alternates the two configs for several rounds and
prints a markdown table of the medians. Asserts nothing.

    t/bench/bench_cidr_http.py [--prefixes N] [--rounds N] [--duration S]
                               [--connections N] [--threads N]
"""
import argparse
import http.client
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
from lib.httpd import has_exited  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
BUILD = REPO / "build"
HTTPD = os.environ.get("HTTPD", "/usr/sbin/apache2")
MODULES = Path("/usr/lib/apache2/modules")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(port, timeout=60):
    """Until a request is answered: the port alone opens before the tables are built."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/small.txt")
            if conn.getresponse().status == 200:
                conn.close()
                return
            conn.close()
        except OSError:
            pass
        time.sleep(0.02)
    raise RuntimeError(f"httpd did not answer on {port}")


def config(root, port, with_module, list_path):
    lines = [
        f'ServerRoot "{root}"',
        f'DefaultRuntimeDir "{root}/run"',
        f'PidFile "{root}/run/httpd.pid"',
        f"Mutex file:{root}/run default",
        "ServerName 127.0.0.1",
        f"Listen 127.0.0.1:{port}",
        f"LoadModule mpm_event_module {MODULES}/mod_mpm_event.so",
        f"LoadModule authz_core_module {MODULES}/mod_authz_core.so",
        f"LoadModule mime_module {MODULES}/mod_mime.so",
        "TypesConfig /etc/mime.types",
        f'ErrorLog "{root}/logs/error_log"',
        "LogLevel warn",
        f'DocumentRoot "{root}/htdocs"',
        f'<Directory "{root}/htdocs">\n  Require all granted\n</Directory>',
        # Enough workers for the connections, none started mid-run.
        "StartServers 2\nServerLimit 2\nThreadsPerChild 64\nMaxRequestWorkers 128",
        "MinSpareThreads 64\nMaxSpareThreads 128",
        "KeepAlive On\nMaxKeepAliveRequests 0",
    ]
    if os.geteuid() == 0:
        lines.append("User www-data\nGroup www-data")
    if with_module:
        lines.append(f"LoadModule cidr_lookup_module {BUILD}/mod_cidr_lookup.so")
        lines.append(f'CIDRFile "{list_path}"')
    return "\n".join(lines) + "\n"


class Server:
    def __init__(self, root, conf_text):
        self.root = root
        self.conf = root / "conf" / "httpd.conf"
        self.conf_text = conf_text

    def ctl(self, action):
        p = subprocess.run([HTTPD, "-f", str(self.conf), "-k", action], capture_output=True,
                           text=True, timeout=120)
        if p.returncode != 0:
            raise RuntimeError(f"httpd -k {action}: {p.stdout}{p.stderr}")

    def start(self, port):
        # Both servers use the same root and conf path, one at a time.
        self.conf.write_text(self.conf_text)
        t0 = time.monotonic()
        self.ctl("start")
        wait_ready(port)
        return time.monotonic() - t0

    def pid(self):
        return int((self.root / "run" / "httpd.pid").read_text())

    def stop(self):
        pid_file = self.root / "run" / "httpd.pid"
        pid = int(pid_file.read_text()) if pid_file.exists() else None
        self.ctl("stop")
        deadline = time.monotonic() + 30
        while pid and time.monotonic() < deadline and not has_exited(pid):
            time.sleep(0.05)


def wrk(url, args, duration):
    """Returns (requests/s, requests)."""
    cmd = ["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{duration}s", url]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    n = re.search(r"(\d+) requests in", out)
    if not m or not n:
        raise RuntimeError("no Requests/sec in wrk output:\n" + out)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise RuntimeError(f"{errors.group(1)} failed responses:\n{out}")
    return float(m.group(1)), int(n.group(1))


def children_cpu_seconds(parent):
    """user + system CPU time of the parent's children, in seconds."""
    out = subprocess.run(["pgrep", "-P", str(parent)], capture_output=True, text=True).stdout
    ticks = 0
    for pid in out.split():
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prefixes", type=int, default=1000000)
    ap.add_argument("--rounds", type=int, default=11)
    ap.add_argument("--duration", type=int, default=3, help="seconds per wrk run")
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    for need in (BUILD / "mod_cidr_lookup.so", BUILD / "t" / "bench" / "bench_cidr"):
        if not need.exists():
            sys.exit(f"{need} is missing: run `make build-all build/t/bench/bench_cidr`")
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (make deps)")

    root = Path(tempfile.mkdtemp(prefix="bench-cidr-http-"))
    try:
        os.chmod(root, 0o755)
        for d in ("run", "logs", "htdocs", "conf", "cidr"):
            (root / d).mkdir()
        os.chmod(root / "run", 0o777)
        os.chmod(root / "logs", 0o777)
        (root / "htdocs" / "small.txt").write_text("x" * 64)
        list_path = root / "cidr" / "bench.txt"
        subprocess.run([str(BUILD / "t" / "bench" / "bench_cidr"), "--write-list",
                        str(list_path), str(args.prefixes)], check=True)
        # The client must match, so every request also sets the env and header.
        with open(list_path, "a") as f:
            f.write("127.0.0.0/8\n")

        port = free_port()
        url = f"http://127.0.0.1:{port}/small.txt"
        servers = {name: Server(root, config(root, port, name == "with module", list_path))
                   for name in ("without module", "with module")}
        results = {name: [] for name in servers}
        cpu_us = {name: [] for name in servers}
        startup = {name: [] for name in servers}
        names = list(servers)
        for r in range(args.rounds):
            # Alternate which goes first, so that drift on the machine hits both.
            for name in (names if r % 2 == 0 else names[::-1]):
                server = servers[name]
                startup[name].append(server.start(port))
                try:
                    wrk(url, args, 1)  # warm-up: connections, children, caches
                    cpu0 = children_cpu_seconds(server.pid())
                    rate, count = wrk(url, args, args.duration)
                    cpu1 = children_cpu_seconds(server.pid())
                    results[name].append(rate)
                    cpu_us[name].append((cpu1 - cpu0) * 1e6 / count)
                finally:
                    server.stop()

        # Rounds run back to back share the machine's conditions: the median of
        # the per-round ratios is steadier than the ratio of the medians. CPU
        # time per request hardly depends on what else runs on the machine.
        ratios = [w / wo for w, wo in zip(results["with module"], results["without module"])]
        ratio = statistics.median(ratios)
        cpu_ratio = (statistics.median(cpu_us["without module"]) /
                     statistics.median(cpu_us["with module"]))
        print(f"### mod_cidr_lookup over HTTP ({args.prefixes + 1} IPv4 prefixes loaded)\n")
        print(f"wrk -t{args.threads} -c{args.connections} -d{args.duration}s, 64-byte static "
              f"file, event MPM, keep-alive, {args.rounds} alternating rounds.\n")
        print("| httpd | requests/s (median) | all rounds | httpd CPU us/request (median) "
              "| start to first answer (s) |")
        print("|---|---:|---|---:|---:|")
        for name, vals in results.items():
            print(f"| {name} | {statistics.median(vals):.0f} | "
                  f"{', '.join(f'{v:.0f}' for v in vals)} | "
                  f"{statistics.median(cpu_us[name]):.1f} | "
                  f"{statistics.median(startup[name]):.2f} |")
        print(f"\nThroughput ratio with/without, median of the per-round ratios: "
              f"**{ratio:.3f}** (rounds: {', '.join(f'{x:.3f}' for x in ratios)}); "
              f"floor >= 0.97: {'ok' if ratio >= 0.97 else 'below'}.  ")
        print(f"CPU-time ratio (requests per CPU second, with/without): **{cpu_ratio:.3f}**.")
        # Only the module's own complaints: stopping httpd under keep-alive
        # load makes the event MPM log harmless pollset errors.
        log = (root / "logs" / "error_log").read_text(errors="replace")
        bad = [l for l in log.splitlines() if "[cidr_lookup:" in l]
        if bad:
            print("\nerror log:\n" + "\n".join(bad[:10]), file=sys.stderr)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
