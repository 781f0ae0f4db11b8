#!/usr/bin/python3
"""Runs every benchmark of the suite, one after the other, and collects the
markdown tables they print into build/bench/results.md.

Benchmarks print figures; none of them asserts on time. Each one states the
floors it is measured against, so a reader can compare.

    make bench                      all of them
    make bench BENCH_ARGS=syslog    only those whose name contains 'syslog'
"""
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BUILD = REPO / "build"

# (name, command). Binary benches are built by `make build-all` plus BENCHES.
BENCHES = [
    ("cidr_lookup core", [str(BUILD / "t" / "bench" / "bench_cidr")]),
    ("cidr_lookup shapes", [sys.executable, str(REPO / "t" / "bench" / "bench_cidr_shapes.py")]),
    ("cidr_lookup http", [sys.executable, str(REPO / "t" / "bench" / "bench_cidr_http.py")]),
    ("syslog", [sys.executable, str(REPO / "t" / "bench" / "bench_syslog.py")]),
    ("scribe", [sys.executable, str(REPO / "t" / "bench" / "bench_scribe.py")]),
    ("cost per request", [sys.executable, str(REPO / "t" / "bench" / "bench_cost.py")]),
]


def machine():
    cpu = "unknown cpu"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{platform.node()}: {os.cpu_count()} cores, {cpu}, "
            f"{platform.system()} {platform.release()}, {time.strftime('%Y-%m-%d')}")


def main():
    wanted = sys.argv[1:]
    out_dir = BUILD / "bench"
    out_dir.mkdir(parents=True, exist_ok=True)
    report = [f"# Benchmarks\n\nMachine: {machine()}\n"]
    rc = 0
    for name, cmd in BENCHES:
        if wanted and not any(w in name for w in wanted):
            continue
        target = Path(cmd[-1])
        if not target.exists():
            print(f"== {name}: skipped ({target.name} not built/present)")
            continue
        print(f"== {name}", flush=True)
        p = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
        sys.stdout.write(p.stdout)
        sys.stderr.write(p.stderr[-4000:])
        report.append(f"## {name}\n\n{p.stdout}\n")
        if p.returncode != 0:
            print(f"== {name}: exit {p.returncode}")
            rc = 1
    (out_dir / "results.md").write_text("\n".join(report))
    print(f"\nall tables: {out_dir / 'results.md'}")
    return rc


if __name__ == "__main__":
    sys.exit(main())
