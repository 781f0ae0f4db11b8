"""Both log modules through everything mod_log_config, the MPMs and a hung
peer can do to them.

The fault matrix runs a file log, a piped log, mod_syslog over unix and tcp
and mod_scribe side by side, with BufferedLogs on and off, the module logs
listed before and after the file log, under event, worker and prefork, through
a graceful restart, a stop and MaxConnectionsPerChild recycling. Every
request's line must be in every log, and no child may die on a signal (the
fixture fails the test on AH00052 and on any escalated stop).

The hung-peer tests point the modules at a tcp receiver that never reads and a
collector that never answers, then stop or restart httpd: httpd must not have
to escalate the stop, and every line is either delivered or counted.
"""
import time

import pytest
import requests

from lib.load import fetch_all, ids_in
from lib.ports import free_port
from lib.syslog_helpers import HungTcpReceiver, ids_of, reported_counts, wait_ids

FAST_SCRIBE = "ScribeFlushInterval 50\nScribeRetryInterval 50 500"

# The exit report of a child whose lines could not all be delivered in time.
EXIT_LOSS = r"(\d+) lines could not be delivered before the child exited"
# Lines a full queue refused.
QUEUE_FULL = r"DE0004: .*: dropped (\d+) lines because the queue"


def wait_file_ids(path, want, timeout=10.0):
    deadline = time.monotonic() + timeout
    while True:
        try:
            got = set(ids_in(path.read_text().splitlines()))
        except FileNotFoundError:
            got = set()
        if set(want) <= got or time.monotonic() >= deadline:
            return got
        time.sleep(0.1)


@pytest.mark.parametrize("event", ["graceful", "stop", "recycle"])
@pytest.mark.parametrize("order", ["modules_first", "file_first"])
@pytest.mark.parametrize("buffered", ["On", "Off"])
def test_fault_matrix(httpd, rsyslog, collector, buffered, order, event):
    logs = httpd.root / "logs"
    file_log = f'CustomLog "{logs}/access_log" idline'
    piped_log = f"CustomLog \"|/bin/sh -c 'cat >> {logs}/piped_log'\" idline"
    module_logs = [
        f'CustomLog "syslog:local6.info:matrix@unix:{rsyslog.socket}" idline',
        f'CustomLog "syslog:local5.info:matrix@tcp://127.0.0.1:{rsyslog.tcp_port}" idline',
        'CustomLog "scribe:www" idline',
    ]
    logs_in_order = (module_logs + [file_log, piped_log] if order == "modules_first"
                     else [file_log, piped_log] + module_logs)
    conf = httpd.conf().load("syslog", "scribe").add(
        f"ScribeServer {collector.address}\n{FAST_SCRIBE}\nBufferedLogs {buffered}")
    if event == "recycle":
        conf.add("MaxConnectionsPerChild 10")
    for line in logs_in_order:
        conf.add(line)
    # A graceful restart replaces the piped logger; the parent then reaps the
    # old one as a child it no longer knows (AH00488 event, AH00291 worker).
    httpd.expect_log(r"long lost child came home")
    httpd.start(conf)

    tag = f"mx-{buffered}-{order}-{event}-{httpd.mpm}"
    ids = [f"{tag}-{n}" for n in range(60)]
    ok = fetch_all(httpd, ids[:30], new_connection=event == "recycle")
    if event == "graceful":
        httpd.graceful()
    ok += fetch_all(httpd, ids[30:], new_connection=event == "recycle")
    assert sorted(ok) == sorted(ids)
    httpd.stop()

    missing = {}
    # httpd's own limit, not ours: under prefork the stop's SIGTERM to the
    # process group kills the piped logger before the children flush their
    # buffers into it (measured with no module of ours loaded: 60 of 60 lines
    # lost). The piped log is checked everywhere else.
    piped_loses_at_stop = httpd.mpm == "prefork" and buffered == "On"
    for name in ("access_log",) + (() if piped_loses_at_stop else ("piped_log",)):
        got = wait_file_ids(logs / name, ok)
        missing[name] = set(ok) - got
    for facility in ("local6", "local5"):
        got = set(ids_of(wait_ids(rsyslog, facility, ok)))
        missing[facility] = set(ok) - got
    missing["scribe"] = collector.wait_for_ids("www", ok, timeout=15)
    assert not any(missing.values()), {k: sorted(v)[:5] for k, v in missing.items() if v}


# ---- hung peers ----------------------------------------------------------------

# Long lines fill a wedged receiver's buffers within a few hundred requests.
PAD = "p" * 7000


def pad_conf(httpd, *lines):
    conf = httpd.conf().load("syslog", "scribe").add('LogFormat "%r %{X-Pad}i" padline')
    for line in lines:
        conf.add(line)
    return conf


def timed_stop(httpd):
    start = time.monotonic()
    httpd.stop()
    return time.monotonic() - start


@pytest.mark.parametrize("action", ["stop", "graceful"])
def test_hung_tcp_receiver(httpd, action):
    receiver = HungTcpReceiver()
    try:
        httpd.expect_log_id("DE0001")  # delivery failed (send made no progress)
        httpd.expect_log_id("DE0006")  # lines lost at the exit: EXIT_LOSS
        # 1200 lines of 7 KB are more than one child's 4 MiB queue holds when
        # the requests land mostly on one child: those are dropped, and
        # counted (QUEUE_FULL).
        httpd.expect_log_id("DE0004")
        httpd.start(pad_conf(
            httpd, f'CustomLog "syslog:local5.info@tcp://127.0.0.1:{receiver.port}" padline'))
        ids = [f"hung-{action}-{httpd.mpm}-{n}" for n in range(1200)]
        ok = fetch_all(httpd, ids, headers={"X-Pad": PAD})
        assert sorted(ok) == sorted(ids)
        time.sleep(0.5)  # the senders are now stuck on a full connection
        if action == "graceful":
            httpd.graceful()
        took = timed_stop(httpd)
        delivered = set(ids_in(receiver.drain()))
        log = httpd.read_error_log()
        counted = reported_counts(log, EXIT_LOSS) + reported_counts(log, QUEUE_FULL)
        print(f"\n{httpd.mpm} {action} with a hung tcp receiver: stop took {took:.2f} s; "
              f"sent {len(ok)}, reached the receiver {len(delivered & set(ok))}, "
              f"counted lost {counted}")
        # Every line either reached the receiver's socket or is counted.
        assert len(set(ok) - delivered) <= counted, (len(set(ok) - delivered), counted)
    finally:
        receiver.close()


@pytest.mark.parametrize("action", ["stop", "graceful"])
def test_hung_collector(httpd, collector, action):
    httpd.expect_log_id("DE0001", "DE0002", "DE0026")  # delivery failed, TRY_LATER, failover
    conf = pad_conf(httpd, f"ScribeServer {collector.address}", FAST_SCRIBE,
                    "ScribeTimeout 8000", 'CustomLog "scribe:www" padline')
    httpd.start(conf)
    collector.hang()
    ids = [f"hungc-{action}-{httpd.mpm}-{n}" for n in range(200)]
    ok = fetch_all(httpd, ids, headers={"X-Pad": "x"})
    assert sorted(ok) == sorted(ids)
    time.sleep(0.5)  # a Log() call is now waiting for its answer
    if action == "graceful":
        httpd.graceful()
    took = timed_stop(httpd)
    print(f"\n{httpd.mpm} {action} with a hung collector: stop took {took:.2f} s")
    # Nothing was lost: the lines were spooled and the next start replays them.
    collector.hang(False)
    httpd.start(conf)
    assert not collector.wait_for_ids("www", ok, timeout=30)


# ---- GlobalLog, config cycles ----------------------------------------------------


def test_global_log_for_both_modules(httpd, rsyslog, collector):
    """GlobalLog takes our targets like CustomLog: `apachectl -t` accepts a
    target with a path in it, and a vhost with a CustomLog of its own still
    gets the global logs (that is what GlobalLog is for)."""
    port = free_port()
    conf = httpd.conf().load("syslog", "scribe").add(
        f"ScribeServer {collector.address}\n{FAST_SCRIBE}\n"
        f'GlobalLog "syslog:local6.info:glob@unix:{rsyslog.socket}" idline\n'
        'GlobalLog "scribe:global" idline')
    conf.add_vhost(f'CustomLog "{httpd.root}/logs/vhost_log" idline', server_name="v.test",
                   listen=f"127.0.0.1:{port}")
    rc, out = httpd.config_test(conf)
    assert rc == 0, out
    httpd.start(conf)
    main_ids = fetch_all(httpd, [f"gl-main-{n}" for n in range(20)])
    vhost_ids = []
    for n in range(20):
        rid = f"gl-vhost-{n}"
        assert requests.get(f"http://127.0.0.1:{port}/small.txt?id={rid}", timeout=10).ok
        vhost_ids.append(rid)
    every = main_ids + vhost_ids
    assert set(every) <= set(ids_of(wait_ids(rsyslog, "local6", every)))
    assert not collector.wait_for_ids("global", every)
    httpd.stop()
    assert set(vhost_ids) <= wait_file_ids(httpd.root / "logs" / "vhost_log", vhost_ids)


def test_bad_global_log_target_fails_config_test(httpd_event):
    conf = httpd_event.conf().load("syslog").add('GlobalLog "syslog:nosuchfacility" common')
    rc, out = httpd_event.config_test(conf)
    assert rc != 0 and "GlobalLog" in out and "nosuchfacility" in out, out


# Modules loaded before ours move our DSOs to other addresses when the
# config is read again: anything of ours still registered on a pool that
# outlives pconf (plog) would then run code that is no longer there.
OTHER_MODULES = ["alias", "headers", "rewrite", "setenvif", "env", "expires", "status",
                 "autoindex", "negotiation", "deflate", "filter"]


def test_graceful_restart_moving_our_modules(httpd, rsyslog, collector):
    def conf_with(extra):
        conf = httpd.conf()
        conf.load(*extra)
        conf.load("syslog", "scribe").add(
            f"ScribeServer {collector.address}\n{FAST_SCRIBE}\n"
            f'CustomLog "syslog:local6.info:mv@unix:{rsyslog.socket}" idline\n'
            f'CustomLog "syslog:local5.info:mv@tcp://127.0.0.1:{rsyslog.tcp_port}" idline\n'
            'CustomLog "scribe:moved" idline')
        return conf

    httpd.start(conf_with([]))
    ok = fetch_all(httpd, [f"mv-0-{n}" for n in range(20)])
    for round_, extra in enumerate([OTHER_MODULES, [], OTHER_MODULES[:5]], start=1):
        httpd.graceful(conf_with(extra))
        ok += fetch_all(httpd, [f"mv-{round_}-{n}" for n in range(20)])
    httpd.stop()
    for facility in ("local6", "local5"):
        assert set(ok) <= set(ids_of(wait_ids(rsyslog, facility, ok)))
    assert not collector.wait_for_ids("moved", ok)


@pytest.mark.parametrize("line, message", [
    ("SyslogExitTimeout 3000", "SyslogExitTimeout"),
    ("SyslogExitTimeout soon", "SyslogExitTimeout"),
    ("ScribeExitTimeout 2600", "ScribeExitTimeout"),
])
def test_exit_timeouts_above_what_httpd_allows_are_refused(httpd_event, line, message):
    conf = httpd_event.conf().load("syslog", "scribe").add(line)
    rc, out = httpd_event.config_test(conf)
    assert rc != 0 and message in out and "3 s" in out, out


def test_exit_timeout_zero_spools_everything_for_the_next_child(httpd_event, collector):
    """ScribeExitTimeout 0: an exiting child spools what it holds and sends
    nothing more; the next start delivers it from the spool. With the default
    the same lines would reach the collector at the stop."""
    httpd = httpd_event
    conf = pad_conf(httpd, f"ScribeServer {collector.address}", "ScribeExitTimeout 0",
                    # Nothing leaves before the stop.
                    "ScribeFlushInterval 60000\nScribeBatchSize 100000",
                    'CustomLog "scribe:www" padline "expr=%{QUERY_STRING} =~ /id=/"')
    httpd.start(conf)
    ok = fetch_all(httpd, [f"ez-{n}" for n in range(40)], headers={"X-Pad": "x"})
    httpd.stop()
    assert not set(ids_in(collector.lines("www"))) & set(ok)
    spooled = httpd.root / "run" / "scribe-spool"
    assert any(p.stat().st_size > 0 for p in spooled.glob("*.spool"))
    httpd.start(conf)
    assert not collector.wait_for_ids("www", ok, timeout=30)


def test_default_exit_timeout_delivers_at_the_stop(httpd_event, collector):
    httpd = httpd_event
    conf = pad_conf(httpd, f"ScribeServer {collector.address}",
                    "ScribeFlushInterval 60000\nScribeBatchSize 100000",
                    'CustomLog "scribe:www" padline "expr=%{QUERY_STRING} =~ /id=/"')
    httpd.start(conf)
    ok = fetch_all(httpd, [f"ed-{n}" for n in range(40)], headers={"X-Pad": "x"})
    assert not set(ids_in(collector.lines("www"))) & set(ok)  # still queued
    httpd.stop()
    assert not collector.wait_for_ids("www", ok, timeout=10)


def test_unwritable_spool_counts_every_line(httpd_event, collector):
    """Collector away and the spool unwritable: nothing can be kept, and the
    error log counts every line."""
    httpd = httpd_event
    spool = httpd.root / "spool"
    httpd.expect_log_id("DE0001", "DE0002", "DE0026")  # delivery failed, TRY_LATER, failover
    # No spool file can be made, and every line is counted as neither
    # delivered nor spooled.
    httpd.expect_log_id("DE0010", "DE0007")
    httpd.start(pad_conf(httpd, f"ScribeServer {collector.address}", FAST_SCRIBE,
                         f'ScribeSpoolDir "{spool}"',
                         # Only the test's requests, not the harness's readiness probe.
                         'CustomLog "scribe:www" padline "expr=%{QUERY_STRING} =~ /id=/"'))
    collector.kill()
    spool.chmod(0o500)  # the children (User) can no longer create files there
    try:
        ok = fetch_all(httpd, [f"us-{n}" for n in range(60)], headers={"X-Pad": "x"})
        httpd.stop()
    finally:
        spool.chmod(0o700)
    counted = reported_counts(httpd.read_error_log(),
                              r"(\d+) lines could be neither delivered nor spooled")
    assert counted == len(ok), (counted, len(ok))
