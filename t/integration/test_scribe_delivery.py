"""mod_scribe's delivery against what collectors and disks do: TRY_LATER
that lasts, frames over a collector's limit, a line a collector refuses,
the spool's size limit under prefork with many children, a full disk, and
replay pacing. Real httpd, real Thrift collectors; every line counted.
"""
import os
import re
import subprocess
import threading
import time

import pytest

from lib.load import burst, fetch_all, ids_in
from test_scribe import FAST, TROUBLE, assert_all_arrive, send, spool_dir, spool_files
from test_status import scribe_key, wait_figures

# Only the test's own requests are logged (they carry ?id=).
IDS = 'idline "expr=%{QUERY_STRING} =~ /^id=/"'
PAD_FORMAT = 'LogFormat "%r %{X-Pad}i" padline'
PADDED = 'padline "expr=%{QUERY_STRING} =~ /^id=/"'


def scribe_conf(httpd, collectors, *lines):
    conf = httpd.conf().load("scribe")
    conf.add("ScribeServer " + " ".join(c.address for c in collectors))
    conf.add(FAST)
    for line in lines:
        conf.add(line)
    return conf


def fetch(httpd, ids, pad=0, concurrency=4, new_connection=False):
    """fetch_all() with an X-Pad header of `pad` bytes (LogFormat padline)."""
    return fetch_all(httpd, ids, new_connection=new_connection, concurrency=concurrency,
                     headers={"X-Pad": "p" * pad} if pad else None)


def counted(log, pattern):
    return sum(int(n) for n in re.findall(pattern, log))


# ---- failover ----------------------------------------------------------------

def test_try_later_that_lasts_moves_the_lines_to_the_next_collector(httpd, collector, collector2):
    """scribed answers TRY_LATER while its own store is away, often for
    minutes: past ScribeTryLaterFailover the next collector takes the lines,
    and the first is used again once it answers."""
    httpd.expect_log_id(*TROUBLE)
    collector.try_later(10 ** 9)
    httpd.start(scribe_conf(httpd, [collector, collector2], "ScribeTryLaterFailover 3 5000",
                            f'CustomLog "scribe:www" {IDS}'))
    first = send(httpd, 200, "busy")
    assert_all_arrive(collector2, "www", first)
    assert collector.stats()["messages"] == 0
    assert collector.stats()["answered_try_later"] >= 3
    log = httpd.read_error_log()
    assert re.search(r"DE0002: .*%s answered TRY_LATER; it has answered so for too long: "
                     r"sending to %s now" % (collector.address, collector2.address), log), log
    assert f"now sending to {collector2.address} (failover from {collector.address})" in log
    collector.reset()
    # The children that failed over go back once the first collector's
    # backoff has passed and it takes a batch again. Requests on new
    # connections reach every child.
    later = []
    deadline = time.monotonic() + 20
    while "DE0027" not in httpd.read_error_log() and time.monotonic() < deadline:
        later += fetch(httpd, [f"later-{len(later) + n}" for n in range(20)], concurrency=4,
                       new_connection=True)
        time.sleep(0.3)
    assert re.search(r"DE0027: .*now sending to %s again" % collector.address,
                     httpd.read_error_log()), "never went back to the first collector"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        got = set(ids_in(collector.lines("www"))) | set(ids_in(collector2.lines("www")))
        if set(first + later) <= got:
            break
        time.sleep(0.2)
    assert set(first + later) <= got
    assert set(ids_in(collector.lines("www"))) & set(later)


# ---- batches, frames and refused lines ----------------------------------------

def spool_padded_lines(httpd, collector, count, pad, *lines):
    """Spools `count` lines of about `pad` bytes while the collector is away,
    then stops httpd: the next start replays them in full batches."""
    collector.kill()
    httpd.start(scribe_conf(httpd, [collector], PAD_FORMAT, "LimitRequestFieldSize 20000",
                            "ScribeReplayRate off", *lines, f'CustomLog "scribe:www" {PADDED}'))
    ok = fetch(httpd, [f"big-{n}" for n in range(count)], pad=pad)
    assert len(ok) == count
    httpd.stop()
    assert spool_files(httpd)
    return ok


def test_batches_stay_under_the_collectors_frame_limit(httpd_event, collector):
    """Lines of 16 KB pile up while a slow collector answers a call: 1000 of
    them make a 16 MB Log() call, over the 16,384,000-byte frames Thrift 0.14
    and later servers take. The default ScribeBatchBytes (4M) keeps every
    call under it, and everything arrives."""
    httpd = httpd_event
    httpd.expect_log_id(*TROUBLE)
    collector.max_frame(16_384_000)
    collector.delay(1500)
    httpd.start(scribe_conf(httpd, [collector], PAD_FORMAT, "LimitRequestFieldSize 20000",
                            "ScribeQueueSize 64M", f'CustomLog "scribe:www" {PADDED}'))
    ok = fetch(httpd, [f"big-{n}" for n in range(1200)], pad=16000, concurrency=8)
    assert len(ok) == 1200
    assert_all_arrive(collector, "www", ok, timeout=90)
    st = collector.stats()
    assert st["frames_refused"] == 0, st
    # 4 MiB of lines plus Thrift's few bytes per line.
    assert 2 ** 20 < st["largest_frame"] <= 4 * 2 ** 20 + 65536, st
    assert "DE0025" not in httpd.read_error_log()


def test_a_batch_the_collector_refuses_is_split_until_it_passes(httpd_event, collector):
    """ScribeBatchBytes above what the collector takes: the calls it breaks
    off are split until they pass; nothing is dropped."""
    httpd = httpd_event
    httpd.expect_log_id(*TROUBLE)
    ok = spool_padded_lines(httpd, collector, 300, 16000)
    collector.start()
    collector.max_frame(1_000_000)
    httpd.start()
    assert_all_arrive(collector, "www", ok, timeout=60)
    st = collector.stats()
    assert st["frames_refused"] > 0, st
    assert st["largest_frame"] <= 4 * 2 ** 20 + 65536
    log = httpd.read_error_log()
    assert "DE0025" not in log, log


def test_a_line_the_collector_refuses_is_dropped_and_counted(httpd_event, collector):
    """A collector that breaks the connection on one line (bytes it will not
    decode) and takes every other call: that line is isolated, dropped and
    counted; every other line arrives."""
    httpd = httpd_event
    httpd.expect_log_id("DE0025")
    collector.refuse("POISON")
    conf = scribe_conf(httpd, [collector], f'CustomLog "scribe:www" {IDS}')
    conf.load("status").add('<Location "/server-status">\n  SetHandler server-status\n'
                            '</Location>')
    httpd.start(conf)
    ids = [f"ok-{n}" for n in range(300)]
    ids[137] = "POISON-137"
    ok = fetch(httpd, ids, concurrency=6)
    assert sorted(ok) == sorted(ids)
    good = [i for i in ids if "POISON" not in i]
    assert_all_arrive(collector, "www", good)
    deadline = time.monotonic() + 20
    while "DE0025" not in httpd.read_error_log() and time.monotonic() < deadline:
        time.sleep(0.2)
    log = httpd.read_error_log()
    assert counted(log, r"DE0025: .*: dropped (\d+) lines that the peer refused") == 1, log
    assert "POISON" not in "".join(collector.lines("www"))
    assert collector.stats()["calls_refused"] >= 3
    status = wait_figures(httpd, scribe_key(collector), lambda f: f.get("DroppedRejected") == 1)
    assert status.get("DroppedRejected") == 1, status


# ---- the spool's limit, and a full disk ---------------------------------------

CHILDREN = 150


@pytest.mark.parametrize("httpd", ["prefork"], indirect=True)
def test_spool_limit_holds_under_prefork_with_many_children(httpd, collector):
    """150 prefork children spool at once: ScribeSpoolMaxSize bounds the
    directory (give or take a file being written per child, at most an
    eighth of the limit each), the oldest lines go first, and every line is
    delivered or counted."""
    httpd.expect_log_id(*TROUBLE, "DE0012", "DE0005", "DE0004", "DE0007")
    httpd.expect_log(r"AH00161: server reached MaxRequestWorkers")  # the load's doing
    limit = 256 * 1024
    rotate = limit // 8
    queue = 16 * 1024
    collector.kill()
    conf = scribe_conf(httpd, [collector], PAD_FORMAT, f"ScribeSpoolMaxSize {limit}",
                       f"ScribeQueueSize {queue}", "ScribeReplayRate off",
                       f"ServerLimit {CHILDREN}", f"MaxRequestWorkers {CHILDREN}",
                       f"StartServers {CHILDREN}", f"MinSpareServers {CHILDREN}",
                       f"MaxSpareServers {CHILDREN}", f'CustomLog "scribe:www" {PADDED}')
    httpd.start(conf)
    deadline = time.monotonic() + 30
    while len(httpd.children()) < CHILDREN and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(httpd.children()) >= CHILDREN
    largest, stop = [0], threading.Event()

    def size_of(path):
        try:
            return path.stat().st_size
        except FileNotFoundError:  # shed or replayed meanwhile
            return 0

    def watch():
        while not stop.is_set():
            total = sum(size_of(f) for f in spool_dir(httpd).glob("*.spool"))
            largest[0] = max(largest[0], total)
            time.sleep(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        ids = [f"many-{n}" for n in range(8000)]
        ok = fetch(httpd, ids, pad=2000, concurrency=32, new_connection=True)
        httpd.stop()
        time.sleep(0.2)
    finally:
        stop.set()
        watcher.join()
    served_by = CHILDREN
    # Each child's own open file, at most a rotation's worth plus the batch
    # that took it over, is beyond the shedding's reach while being written.
    bound = limit + served_by * (rotate + queue)
    data = len(ok) * 2100
    print(f"\nspool peak {largest[0]} bytes (limit {limit}, bound {bound}, {data} bytes of lines)")
    assert largest[0] <= bound, (largest[0], bound)
    log = httpd.read_error_log()
    shed = counted(log, r"DE0012: .* dropped (\d+) oldest lines")
    lost = counted(log, r"DE0007: .*: (\d+) lines could be neither")
    refused = counted(log, r"DE0004: .*: dropped (\d+) lines because the queue")
    assert shed > 0
    collector.start()
    httpd.start(scribe_conf(httpd, [collector], PAD_FORMAT, f"ScribeSpoolMaxSize {limit}",
                            "ScribeReplayRate off", f'CustomLog "scribe:www" {PADDED}'))
    deadline = time.monotonic() + 60
    while spool_files(httpd) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not spool_files(httpd)
    time.sleep(0.5)
    arrived = set(ids_in(collector.lines("www"))) & set(ok)
    print(f"sent {len(ok)}, arrived {len(arrived)}, shed {shed}, lost {lost}, refused {refused}")
    assert len(arrived) + shed + lost + refused == len(ok)
    # The oldest went: what is missing was sent earlier than what arrived.
    index = {rid: n for n, rid in enumerate(ids)}
    missing = set(ok) - arrived
    mean = lambda s: sum(index[r] for r in s) / len(s)  # noqa: E731
    assert mean(missing) < mean(arrived), (mean(missing), mean(arrived))


@pytest.fixture
def small_disk(httpd_event):
    """A 256 KiB tmpfs inside the server root, for the spool."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mount = httpd_event.root / "smalldisk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k,mode=0755", "tmpfs", str(mount)],
                   check=True)
    yield mount
    httpd_event.stop()
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_full_disk_keeps_lines_in_memory_and_counts_the_rest(httpd_event, collector, small_disk):
    """The spool's disk fills up while the collector is away: the child stops
    writing to it for a while (one report, not one per batch), keeps lines in
    its queue, and delivers them once the collector is back; nothing is lost
    silently."""
    httpd = httpd_event
    httpd.expect_log_id(*TROUBLE, "DE0011", "DE0010", "DE0007", "DE0004")
    collector.kill()
    httpd.start(scribe_conf(httpd, [collector], PAD_FORMAT, "ScribeQueueSize 1M",
                            "MaxKeepAliveRequests 0",
                            f'ScribeSpoolDir "{small_disk}/spool"',
                            f'CustomLog "scribe:www" {PADDED}'))
    # One keep-alive connection (never closed by the server), so one child:
    # its 900 KB are past the half of its queue where it spills to the spool,
    # and within the queue. Spread over two children they might stay under
    # both.
    ok = fetch(httpd, [f"full-{n}" for n in range(600)], pad=1500, concurrency=1)
    assert len(ok) == 600
    # The sender spills as its queue fills: on a busy machine that may take
    # a moment after the last answer.
    deadline = time.monotonic() + 10
    while True:
        time.sleep(0.5)
        log = httpd.read_error_log()
        failures = len(re.findall(r"DE001[01]: ", log))
        if failures >= 1 or time.monotonic() > deadline:
            break
    assert failures >= 1, log
    # Every child reports the start of the trouble, not each batch it kept.
    assert failures <= 2 * len(httpd.children()), log
    collector.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        arrived = set(ids_in(collector.lines("www"))) & set(ok)
        log = httpd.read_error_log()
        lost = counted(log, r"DE0007: .*: (\d+) lines could be neither")
        refused = counted(log, r"DE0004: .*: dropped (\d+) lines because the queue")
        if len(arrived) + lost + refused >= len(ok):
            break
        time.sleep(0.2)
    print(f"\nsent {len(ok)}, arrived {len(arrived)}, lost {lost}, refused {refused}")
    assert len(arrived) + lost + refused == len(ok)
    # The queue had room: what the disk could not take waited in memory.
    assert lost == 0 and refused == 0


# ---- replay pacing -------------------------------------------------------------

def test_replay_is_paced(httpd_event, collector):
    """ScribeReplayRate: a child replays at most that many spooled lines a
    second (after a first second's worth), so a fleet's children coming back
    together do not flatten the collector."""
    httpd = httpd_event
    httpd.expect_log_id(*TROUBLE)
    one_child = ["ServerLimit 1", "StartServers 1", "MaxRequestWorkers 16",
                 "ThreadsPerChild 16", "MinSpareThreads 1", "MaxSpareThreads 16"]
    rate, count = 1000, 3000
    collector.kill()
    httpd.start(scribe_conf(httpd, [collector], *one_child, f"ScribeReplayRate {rate}",
                            f'CustomLog "scribe:www" {IDS}'))
    ok, failed = burst(httpd, count, concurrency=4, prefix="paced")
    assert not failed
    httpd.stop()
    assert spool_files(httpd)
    collector.start()
    httpd.start()
    first = last = None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        n = len(set(ids_in(collector.lines("www"))) & set(ok))
        now = time.monotonic()
        if n and first is None:
            first = now
        if n == len(ok):
            last = now
            break
        time.sleep(0.05)
    assert last is not None, "the replay did not finish"
    took = last - first
    print(f"\nreplayed {count} lines at ScribeReplayRate {rate} in {took:.2f} s")
    # A second's worth at once, then `rate` a second: at least 2 s for the
    # rest (a slower machine only makes it longer).
    assert took >= (count - rate) / rate * 0.8, took
