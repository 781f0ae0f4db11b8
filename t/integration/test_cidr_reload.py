"""CIDRLookupReload: lists changed under a running httpd, under load.

Every response carries the client type it was answered with (mod_headers
echoes X_CLIENT_TYPE on a static file), so each one is checked against the
list in force when it was sent.
"""
import os
import re
import threading
import time

import pytest
import requests

from lib.cidr_helpers import (ECHO_TYPE, bulk_map, cidr_conf, image_dir, images, replace_list,
                              seen_type, write_list)

INTERVAL = 1  # CIDRLookupReload, seconds
# A change takes effect within: a round to see it, a round to see it hold
# still and build (or wait for a sibling's build), a round to map it; plus
# slack for a loaded machine.
SETTLE = 3 * INTERVAL + 2
BULK = 20000  # prefixes beside the loopback one: builds take a while


def reload_conf(httpd, lists):
    conf = cidr_conf(httpd, "headers")
    conf.add(f'CIDRMap "{lists}"\nCIDRLookupReload {INTERVAL}\n{ECHO_TYPE}')
    return conf


class Recorder:
    """Sends requests from a few threads until stopped; keeps, for each
    answered one, when it was sent and received and its client type."""

    def __init__(self, httpd, threads=4):
        self.httpd = httpd
        self.answers = []  # (sent, received, type)
        self.errors = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def _run(self):
        s = requests.Session()
        while not self._stop.is_set():
            sent = time.monotonic()
            try:
                r = s.get(self.httpd.url("/small.txt"), timeout=10)
                got = (sent, time.monotonic(), seen_type(r) if r.status_code == 200 else None)
                with self._lock:
                    self.answers.append(got)
            except requests.RequestException as e:
                with self._lock:
                    self.errors.append(str(e))
                s = requests.Session()

    def since(self, t):
        with self._lock:
            return [a for a in self.answers if a[0] >= t]

    def __enter__(self):
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        for t in self._threads:
            t.join()


def wait_until(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_reload_under_load(httpd):
    """Changes while four clients keep asking: every answer comes from one
    whole table, the one in force (never a list before it was written,
    nothing else once the change has settled), and no request fails. Two
    changes in a row under event; one under worker and prefork, whose
    children share the same reload code."""
    gens = (1, 2) if httpd.mpm == "event" else (1,)
    lists = write_list(httpd, "clients.map", bulk_map(BULK, "bulk") + "127.0.0.0/8 gen0\n")
    httpd.start(reload_conf(httpd, lists))
    changed = {0: 0.0}
    with Recorder(httpd) as rec:
        wait_until(lambda: len(rec.answers) > 50, 20, "the first answers")
        for gen in gens:
            changed[gen] = time.monotonic()
            replace_list(lists, bulk_map(BULK, "bulk", seed=gen) + f"127.0.0.0/8 gen{gen}\n")
            settled = changed[gen] + SETTLE
            wait_until(lambda: any(a[2] == f"gen{gen}" for a in rec.since(changed[gen])), 30,
                       f"gen{gen} to be answered")
            wait_until(lambda: time.monotonic() > settled + 1, 30, "the change to settle")
            after = [a for a in rec.since(settled)]
            assert after and all(a[2] == f"gen{gen}" for a in after), \
                f"gen{gen}: {sorted(set(a[2] for a in after))} after it settled"
    counts = {}
    for sent, received, got in rec.answers:
        assert got in [f"gen{g}" for g in (0,) + gens], f"an answer from no table in force: {got!r}"
        gen = int(got[3:])
        # Never from a list before it was written.
        assert received >= changed[gen], (got, sent, changed)
        counts[got] = counts.get(got, 0) + 1
    assert not rec.errors, rec.errors[:5]
    assert all(counts.get(f"gen{g}", 0) > 20 for g in (0,) + gens), counts
    print(f"\nanswers per table ({httpd.mpm}): {counts}")
    log = httpd.read_error_log()
    # Each change built once, by one child, for all of them.
    assert len(re.findall(r"CL0015: lists of .* reloaded: 20001 IPv4", log)) == len(gens), log
    # The images: one per list version, written by the children (User), not
    # writable by anyone else; the directory is theirs.
    st = os.stat(image_dir(httpd))
    assert st.st_mode & 0o777 == 0o755 and st.st_uid != 0
    for img in images(httpd):
        assert os.stat(img).st_mode & 0o777 == 0o644


def test_failed_reloads_keep_the_table(httpd_event):
    """A bad line, a FIFO in the list's place, a list truncated to nothing:
    each keeps the table in use, is reported once, and blocks no request;
    the mended list is loaded."""
    httpd = httpd_event
    httpd.expect_log_id("CL0016")
    lists = write_list(httpd, "clients.map", "127.0.0.0/8 gen0\n")
    httpd.start(reload_conf(httpd, lists))
    phases = [
        ("bad line", lambda: replace_list(lists, "127.0.0.0/8 gen1\n192.0.2.300 bad\n"),
         rf"{re.escape(str(lists))}:2: invalid IP address '192\.0\.2\.300'"),
        ("FIFO", lambda: (lists.unlink(), os.mkfifo(lists)), r"not a regular file"),
        ("truncated", lambda: (lists.unlink(), lists.write_text("")), r"emptied to 0 bytes"),
    ]
    with requests.Session() as s:
        for name, change, reason in phases:
            change()
            pattern = re.compile(r"CL0016: lists of .* not reloaded: .*" + reason)
            wait_until(lambda: pattern.search(httpd.read_error_log()), 20, f"CL0016 for {name}")
            # Every child has had its rounds: a second report would be out by now.
            time.sleep(2 * INTERVAL + 0.5)
            assert len(pattern.findall(httpd.read_error_log())) == 1, f"{name}: not once"
            for _ in range(20):
                r = s.get(httpd.url("/small.txt"), timeout=5)
                assert r.status_code == 200 and seen_type(r) == "gen0", (name, seen_type(r))
        replace_list(lists, "127.0.0.0/8 gen2\n")
        wait_until(lambda: all(seen_type(s.get(httpd.url("/small.txt"), timeout=5)) == "gen2"
                               for _ in range(10)), 20, "the mended list")


def test_a_new_child_starts_with_the_reloaded_table(httpd_event):
    """A child forked after a reload never answers from the replaced lists:
    it maps the newest image before it serves."""
    httpd = httpd_event
    lists = write_list(httpd, "clients.map", "127.0.0.0/8 gen0\n")
    conf = reload_conf(httpd, lists).add("MaxConnectionsPerChild 5").load("status")
    conf.add('<Location "/server-status">\n  SetHandler server-status\n</Location>')
    httpd.start(conf)
    replace_list(lists, "127.0.0.0/8 gen1\n")
    wait_until(lambda: "CL0015" in httpd.read_error_log(), 20, "the reload")
    time.sleep(SETTLE)
    before = set(httpd.children())
    seen = set()
    for _ in range(30):  # new connections: children run out and are replaced
        for attempt in range(5):  # a connection may meet a child on its way out
            try:
                r = requests.get(httpd.url("/small.txt"), timeout=5)
                break
            except requests.ConnectionError:
                time.sleep(0.2)
        seen.add(seen_type(r))
    assert set(httpd.children()) != before, "no child was replaced"
    assert seen == {"gen1"}, seen
    status = requests.get(httpd.url("/server-status?auto"), timeout=5).text
    assert re.search(r"^CIDR \S+ Reloads: 1$", status, re.M), status


def test_graceful_restart_after_a_reload(httpd_event):
    """A graceful restart after a reload reads the changed list in the parent,
    the new generation answers from it, and the images the children wrote are
    taken as they are: nothing at [warn] or worse (the harness fails the test
    on any), and no child killed."""
    httpd = httpd_event
    lists = write_list(httpd, "clients.map", "127.0.0.0/8 gen0\n")
    httpd.start(reload_conf(httpd, lists))
    replace_list(lists, "127.0.0.0/8 gen1\n")
    wait_until(lambda: "CL0015" in httpd.read_error_log(), 20, "the reload")
    wait_until(lambda: seen_type(httpd.get("/small.txt", timeout=5)) == "gen1", 20,
               "gen1 to be answered")
    before = set(httpd.children())
    httpd.graceful()
    wait_until(lambda: not (set(httpd.children()) & before), 20, "the old generation to leave")
    with requests.Session() as s:
        for _ in range(20):
            r = s.get(httpd.url("/small.txt"), timeout=5)
            assert r.status_code == 200 and seen_type(r) == "gen1", seen_type(r)
    replace_list(lists, "127.0.0.0/8 gen2\n")
    wait_until(lambda: seen_type(httpd.get("/small.txt", timeout=5)) == "gen2", 20,
               "a reload after the restart")
