#!/usr/bin/python3
"""mod_cidr_lookup on lists of every shape: memory, load time and lookups.

Writes one list file per shape (1M entries each, fixed seeds, so every run
and every machine gets the same files), then for each:

- runs `cidr-lookup --compile IMAGE -f LIST` (what httpd's parent does at
  startup: read, parse, build, write the image; `--check` with a
  cidr-lookup that cannot compile) and reads its peak RSS and CPU time from
  the kernel (wait4), minus those of a one-line list: what loading the list
  costs, transients included;
- runs `bench_cidr --list LIST`: the table's own size and lookups
  (independent, and as a dependent chain where each address depends on the
  previous answer), CPU-time medians, in memory just built and mapped from
  its image (as children use it);
- when built, `bench_cidr_dpdk --list LIST` on the IPv4 BGP-like list (all
  IPv4 lists with --dpdk-all: rte_lpm adds rules one by one, in time that
  grows with the square of the list, so a 1M list takes minutes): DPDK's
  rte_lpm on the same prefixes, the anchor.

Prints a markdown table; asserts nothing.

    t/bench/bench_cidr_shapes.py [--only SHAPE] [--runs N] [--dir DIR] [--dpdk-all]
"""
import argparse
import ipaddress
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("MODSUITE_BUILD", REPO / "build")).absolute()
CLI = BUILD / "cidr-lookup"
BENCH = BUILD / "t" / "bench" / "bench_cidr"
DPDK_BENCH = BUILD / "t" / "bench" / "bench_cidr_dpdk"

ENTRIES = 1_000_000
# The list rte_lpm is measured on by default.
DPDK_ANCHOR = "v4-bgp"
# Bump when a generator changes: the files are regenerated.
GENERATOR_VERSION = "1"

# The floors the issue set (per 1M prefixes).
MAX_TABLE_BYTES = 32
MAX_PEAK_BYTES = 100
MAX_LOAD_SECONDS = 0.5
MAX_V4_INDEPENDENT_NS = 10
MAX_V4_DEPENDENT_NS = 40

GLOBAL_UNICAST_V6 = 0x2000 << 112  # 2000::/3
V6_TOP_MASK = ((1 << 128) - 1) >> 3


def v6_in_global_unicast(rng, bits):
    """A random IPv6 network of `bits` bits inside 2000::/3."""
    value = (rng.getrandbits(128) & V6_TOP_MASK) | GLOBAL_UNICAST_V6
    return value >> (128 - bits) << (128 - bits)


def unicast_v4(rng):
    return 0x01000000 + rng.randrange(0xE0000000 - 0x01000000)


def write_distinct(path, count, draw, lines):
    """`count` distinct values: `draw()` gives one, repeats are drawn again,
    and `lines(value)` is its text (one line or several)."""
    seen = set()
    with open(path, "w") as f:
        while len(seen) < count:
            value = draw()
            if value not in seen:
                seen.add(value)
                f.write(lines(value))


def write_v6_host_pairs(path, rng):
    """x::1 and x::2 in random /64s: IPv6 client lists."""
    write_distinct(path, ENTRIES // 2, lambda: v6_in_global_unicast(rng, 64),
                   lambda n: f"{ipaddress.IPv6Address(n | 1)}\n{ipaddress.IPv6Address(n | 2)}\n")


def write_v6_48s(path, rng):
    write_distinct(path, ENTRIES, lambda: v6_in_global_unicast(rng, 48),
                   lambda n: f"{ipaddress.IPv6Address(n)}/48\n")


def write_v4_hosts(path, rng):
    """Scattered /32s: crawler, Tor exit and abuse lists."""
    write_distinct(path, ENTRIES, lambda: unicast_v4(rng), lambda a: f"{ipaddress.IPv4Address(a)}\n")


def write_v4_24s(path, rng):
    write_distinct(path, ENTRIES, lambda: unicast_v4(rng) & 0xFFFFFF00,
                   lambda n: f"{ipaddress.IPv4Address(n)}/24\n")


def write_synthetic(family):
    def write(path, _rng):
        args = [str(BENCH), "--write-list", str(path), str(ENTRIES)] + (["v6"] if family == 6 else [])
        subprocess.run(args, check=True)
    return write


# (name, description, family, writer, seed)
SHAPES = [
    ("v6-host-pairs", "IPv6 host pairs (`x::1`, `x::2`) in random /64s", 6, write_v6_host_pairs, 61),
    ("v6-48", "IPv6 random /48s", 6, write_v6_48s, 62),
    ("v4-hosts", "IPv4 scattered /32 hosts", 4, write_v4_hosts, 41),
    ("v4-24", "IPv4 /24s", 4, write_v4_24s, 42),
    ("v4-bgp", "IPv4 BGP-like (bench_cidr's synthetic table)", 4, write_synthetic(4), 0),
    ("v6-bgp", "IPv6 BGP-like (bench_cidr's synthetic table)", 6, write_synthetic(6), 0),
]


def ensure_list(directory, name, writer, seed):
    path = directory / f"{name}.txt"
    stamp = directory / f"{name}.version"
    if path.exists() and stamp.exists() and stamp.read_text() == GENERATOR_VERSION:
        return path
    tmp = directory / f".{name}.tmp"
    writer(tmp, random.Random(seed))
    tmp.rename(path)
    stamp.write_text(GENERATOR_VERSION)
    return path


def measure_load(args):
    """(peak RSS bytes, CPU seconds, wall seconds) of one cidr-lookup run."""
    t0 = time.monotonic()
    p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.monotonic() - t0
    err = p.stderr.read().decode(errors="replace")
    p.stderr.close()
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({p.returncode}): {err[-2000:]}")
    return usage.ru_maxrss * 1024, usage.ru_utime + usage.ru_stime, wall


def median_load(args, runs):
    samples = [measure_load(args) for _ in range(runs)]
    return tuple(statistics.median(s[i] for s in samples) for i in range(3))


def can_compile():
    p = subprocess.run([str(CLI), "--help"], capture_output=True, text=True)
    return "--compile" in p.stdout


def key_values(text):
    out = {}
    for word in text.split():
        if "=" in word:
            k, v = word.split("=", 1)
            out[k] = v
    return out


def run_key_values(args):
    p = subprocess.run(args, capture_output=True, text=True)
    if p.returncode != 0:
        return None, (p.stderr or p.stdout).strip()[-500:]
    return key_values(p.stdout), None


def mark(ok):
    return "ok" if ok else "**over**"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", action="append", help="shape name (repeatable)")
    ap.add_argument("--runs", type=int, default=3, help="cidr-lookup runs per list (median)")
    ap.add_argument("--dir", default=str(BUILD / "bench" / "cidr-shapes"))
    ap.add_argument("--dpdk-all", action="store_true", help="rte_lpm on every IPv4 list")
    args = ap.parse_args()
    for need in (CLI, BENCH):
        if not need.exists():
            sys.exit(f"{need} is missing: run `make build-all {BENCH.relative_to(REPO)}`")
    directory = Path(args.dir)
    directory.mkdir(parents=True, exist_ok=True)

    empty = directory / "one-line.txt"
    empty.write_text("192.0.2.1\n")
    image = directory / "bench.cidr"
    load = ([str(CLI), "--compile", str(image)] if can_compile() else [str(CLI), "--check"])
    base_rss, base_cpu, base_wall = median_load(load + ["-f", str(empty)], args.runs)

    print("### mod_cidr_lookup: 1M-entry lists of every shape\n")
    print(f"Peak RSS and CPU time of `cidr-lookup {' '.join(load[1:2])} ... -f LIST` (read + parse "
          "+ build" + (" + write the image" if "--compile" in load else "") + ") minus a one-line "
          "list; table size (its image's, where there is one) and lookups from `bench_cidr "
          "--list` (CPU-time medians; *dependent*: each address depends on the previous "
          "answer; *mapped*: the table mapped from its image, as httpd's children use it).\n")
    print("| list shape | prefixes | table B/prefix | peak B/prefix | load s (CPU) | load s (wall) "
          "| ns independent | ns dependent | ns random | mapped: ns independent | "
          "mapped: ns dependent | floors |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    dpdk_rows = []
    for name, description, family, writer, seed in SHAPES:
        if args.only and name not in args.only:
            continue
        path = ensure_list(directory, name, writer, seed)
        rss, cpu, wall = median_load(load + ["-f", str(path)], args.runs)
        kv, err = run_key_values([str(BENCH), "--list", str(path)])
        if kv is None:
            print(f"| {description} | - | - | - | - | - | - | - | - | - | - | "
                  f"bench_cidr failed: {err} |")
            continue
        n = int(kv["prefixes"])
        peak = (rss - base_rss) / n
        load_cpu = max(0.0, cpu - base_cpu)
        load_wall = max(0.0, wall - base_wall)
        per_prefix = int(kv.get("image_bytes", kv["bytes"])) / n
        inside, dependent = float(kv["inside_ns"]), float(kv["dependent_ns"])
        mapped = (f"{float(kv['mapped_inside_ns']):.1f} | {float(kv['mapped_dependent_ns']):.1f}"
                  if "mapped_inside_ns" in kv else "- | -")
        floors = [f"<= {MAX_TABLE_BYTES} B {mark(per_prefix <= MAX_TABLE_BYTES)}",
                  f"peak <= {MAX_PEAK_BYTES} B {mark(peak <= MAX_PEAK_BYTES)}",
                  f"load <= {MAX_LOAD_SECONDS} s {mark(load_cpu * 1e6 / n <= MAX_LOAD_SECONDS)}"]
        if family == 4:
            floors.append(f"<= {MAX_V4_INDEPENDENT_NS} ns "
                          f"{mark(inside <= MAX_V4_INDEPENDENT_NS)}")
            floors.append(f"dependent <= {MAX_V4_DEPENDENT_NS} ns "
                          f"{mark(dependent <= MAX_V4_DEPENDENT_NS)}")
        print(f"| {description} | {n} | {per_prefix:.1f} | {peak:.0f} | {load_cpu:.2f} | "
              f"{load_wall:.2f} | {inside:.1f} | {dependent:.1f} | {float(kv['random_ns']):.1f} | "
              f"{mapped} | {', '.join(floors)} |", flush=True)
        if family == 4 and (args.dpdk_all or name == DPDK_ANCHOR):
            dpdk_rows.append((description, path))

    print("\n### DPDK rte_lpm on the same IPv4 list (the anchor)\n")
    if not DPDK_BENCH.exists():
        print(f"not run: {DPDK_BENCH.relative_to(BUILD)} was not built "
              "(pkg-config finds no libdpdk: install dpdk-dev, which `make bench` does)")
        return 0
    print("| list shape | prefixes | rte_lpm bytes | B/prefix | build s (CPU) | ns independent | "
          "ns dependent | ns random | note |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for description, path in dpdk_rows:
        kv, err = run_key_values([str(DPDK_BENCH), "--list", str(path)])
        if kv is None:
            print(f"| {description} | - | - | - | - | - | - | - | not run: {err} |", flush=True)
            continue
        n = int(kv["prefixes"])
        print(f"| {description} | {n} | {int(kv['bytes'])} | {int(kv['bytes']) / n:.1f} | "
              f"{float(kv['build_s']):.2f} | {float(kv['inside_ns']):.1f} | "
              f"{float(kv['dependent_ns']):.1f} | {float(kv['random_ns']):.1f} | "
              f"{kv.get('note', '').replace('_', ' ')} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
