"""mod_scribe against a real httpd and a real Thrift Scribe collector.

Every request carries a unique id; a test passes when the set of ids the
collector stored equals the set of requests that got a 200 (duplicates are
allowed: delivery is at-least-once). Faults are real: the collector is killed
and restarted, answers TRY_LATER, accepts and never replies; httpd is
restarted and stopped under load.
"""
import re
import statistics
import time

import pytest
import requests

from lib.load import BackgroundLoad, burst, ids_in
from lib.paths import BUILD

# Short intervals so that recovery after a fault takes a fraction of a second.
FAST = """\
ScribeFlushInterval 50
ScribeRetryInterval 50 500
"""

# What mod_scribe says while a collector is away or busy (MESSAGES.md:
# delivery failed, TRY_LATER, failover): expected in the fault tests. Dropped
# or lost lines are [error]s and are never expected unless the test is about
# them.
TROUBLE = ("DE0001", "DE0002", "DE0026")


def scribe_conf(httpd, collector, body, fast=True):
    conf = httpd.conf().load("scribe")
    conf.add(f"ScribeServer {collector.address}")
    if fast:
        conf.add(FAST)
    conf.add(body)
    return conf


def spool_dir(httpd):
    return httpd.root / "run" / "scribe-spool"


def spool_files(httpd):
    return sorted(spool_dir(httpd).glob("*.spool"))


def send(httpd, count, prefix, host=None):
    """Sequential GETs on one keep-alive connection; returns the ids served."""
    s = requests.Session()
    headers = {"Host": host} if host else {}
    ok = []
    for n in range(count):
        rid = f"{prefix}-{n}"
        r = s.get(httpd.url(f"/small.txt?id={rid}"), headers=headers, timeout=10)
        assert r.status_code == 200
        ok.append(rid)
    return ok


def timed(httpd, count, prefix):
    """Like send(), also returning each request's latency in seconds."""
    s = requests.Session()
    ok, lat = [], []
    for n in range(count):
        rid = f"{prefix}-{n}"
        t = time.perf_counter()
        r = s.get(httpd.url(f"/small.txt?id={rid}"), timeout=30)
        lat.append(time.perf_counter() - t)
        assert r.status_code == 200
        ok.append(rid)
    return ok, lat


def p95(values):
    return statistics.quantiles(values, n=20)[-1]


def assert_all_arrive(collector, category, ids, timeout=30):
    missing = collector.wait_for_ids(category, ids, timeout=timeout)
    assert not missing, f"{len(missing)} of {len(set(ids))} lines never arrived, e.g. " \
                        f"{sorted(missing)[:5]}"


# ---- delivery ---------------------------------------------------------------

def test_every_line_arrives_under_its_category(httpd, collector):
    httpd.start(scribe_conf(httpd, collector, 'CustomLog "scribe:www" idline', fast=False))
    ok, failed = burst(httpd, 600, concurrency=8)
    assert not failed
    assert_all_arrive(collector, "www", ok)
    lines = collector.lines("www")
    assert all(re.fullmatch(r"GET /\S* HTTP/1\.1", line) for line in lines)
    # The line end travels with the message by default (Scribe's file store
    # expects it), so the collector had nothing to add.
    assert collector.stats()["without_newline"] == {}
    assert collector.categories() == ["www"]


def test_categories_vhosts_and_one_connection_per_collector(httpd, collector, collector2):
    conf = scribe_conf(httpd, collector, """
LogFormat "%P %r" pidline
CustomLog "scribe:main" pidline
""")
    conf.add_vhost('CustomLog "scribe:vhost-a" pidline', server_name="a.test")
    conf.add_vhost(f'ScribeServer {collector2.address}\nCustomLog "scribe:vhost-b" pidline',
                   server_name="b.test")
    conf.add_vhost(f'CustomLog "scribe:explicit@{collector2.address}" pidline',
                   server_name="c.test")
    conf.add_vhost("# inherits the main server's CustomLog", server_name="d.test")
    httpd.start(conf)
    sent = {host: send(httpd, 120, host.split(".")[0], host=host)
            for host in ("a.test", "b.test", "c.test", "d.test")}
    where = {"a.test": (collector, "vhost-a"), "b.test": (collector2, "vhost-b"),
             "c.test": (collector2, "explicit"), "d.test": (collector, "main")}
    for host, (coll, category) in where.items():
        assert_all_arrive(coll, category, sent[host])
    # Nothing strays into another category.
    for host, (coll, category) in where.items():
        got = set(ids_in(coll.lines(category)))
        assert got <= set(sent[host])
    assert set(collector.categories()) == {"vhost-a", "main"}
    assert set(collector2.categories()) == {"vhost-b", "explicit"}
    # Categories share their collector's connection: each child opened at
    # most one connection to each collector set.
    for coll in (collector, collector2):
        pids = {line.split()[0] for cat in coll.categories() for line in coll.lines(cat)}
        assert coll.stats()["connections_total"] <= len(pids)


def test_beside_file_piped_and_syslog_logs(httpd_event, collector, rsyslog):
    """The writer chain: file (buffered), piped and syslog logs keep working."""
    httpd = httpd_event
    if not (BUILD / "mod_syslog.so").exists():
        pytest.skip("build/mod_syslog.so not built")
    logs = httpd.root / "logs"
    conf = httpd.conf().load("syslog", "scribe").add(f"""
ScribeServer {collector.address}
BufferedLogs On
CustomLog "{logs}/access_log" idline
CustomLog "|/bin/sh -c 'cat >> {logs}/piped_log'" idline
CustomLog "syslog:local6.info:scribetest@unix:{rsyslog.socket}" idline
CustomLog "scribe:www" idline
""")
    httpd.start(conf)
    ok, failed = burst(httpd, 300, concurrency=6)
    assert not failed
    assert_all_arrive(collector, "www", ok)
    recs = rsyslog.records(len(ok), where=lambda r: r["tag"] == "scribetest")
    assert set(ok) <= set(ids_in(r["text"] for r in recs))
    httpd.stop()  # flushes the file and the pipe
    assert set(ok) <= set(ids_in((logs / "access_log").read_text().splitlines()))
    assert set(ok) <= set(ids_in((logs / "piped_log").read_text().splitlines()))


def test_strip_newline(httpd_event, collector):
    httpd = httpd_event
    httpd.start(scribe_conf(httpd, collector, """
ScribeStripNewline On
CustomLog "scribe:bare" idline
"""))
    ok = send(httpd, 50, "s")
    assert_all_arrive(collector, "bare", ok)
    st = collector.stats()
    assert st["without_newline"]["bare"] == st["by_category"]["bare"]


# ---- collector faults ---------------------------------------------------------

def test_collector_down_at_start_then_up(httpd_event, collector):
    httpd = httpd_event
    # The line never goes: it is counted lost when the child exits.
    httpd.expect_log_id(*TROUBLE, "DE0006", "DE0007")
    collector.kill()
    httpd.start(scribe_conf(httpd, collector, 'CustomLog "scribe:www" idline'))
    ok = send(httpd, 100, "early")
    time.sleep(0.5)
    collector.start()
    assert_all_arrive(collector, "www", ok)


def test_collector_stopped_during_burst(httpd, collector):
    httpd.expect_log_id(*TROUBLE)
    httpd.start(scribe_conf(httpd, collector, 'CustomLog "scribe:www" idline'))
    with BackgroundLoad(httpd, concurrency=4, max_seconds=30) as load:
        time.sleep(1.0)
        collector.kill()
        time.sleep(2.0)
        collector.start()
        time.sleep(1.0)
    assert len(load.ok) > 100 and not load.failed
    assert_all_arrive(collector, "www", load.ok)
    assert "delivery failed" in httpd.read_error_log()


@pytest.mark.parametrize("interval,first_wait", [("100", 100), ("40000", 40000)])
def test_retry_interval_with_the_minimum_alone(httpd_event, collector, interval, first_wait):
    """`ScribeRetryInterval min`: the first wait is the minimum, and a
    minimum above the default maximum (30000) is the maximum too."""
    httpd = httpd_event
    # The line never goes: it is counted lost when the child exits.
    httpd.expect_log_id(*TROUBLE, "DE0006", "DE0007")
    collector.kill()
    httpd.start(httpd.conf().load("scribe").add(f"""
ScribeServer {collector.address}
ScribeFlushInterval 50
ScribeRetryInterval {interval}
CustomLog "scribe:www" idline
"""))
    send(httpd, 1, "retry")
    want = f"; retrying in up to {first_wait} ms"
    deadline = time.monotonic() + 10
    while want not in httpd.read_error_log() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert want in httpd.read_error_log()


def test_try_later_for_a_while(httpd, collector):
    httpd.expect_log_id(*TROUBLE)
    httpd.start(scribe_conf(httpd, collector, 'CustomLog "scribe:www" idline'))
    collector.try_later(8)
    ok, failed = burst(httpd, 400, concurrency=6)
    assert not failed
    assert_all_arrive(collector, "www", ok)
    st = collector.stats()
    assert st["answered_try_later"] == 8
    # TRY_LATER took nothing, so nothing was duplicated either.
    assert len(ids_in(collector.lines("www"))) == len(ok)


def test_collector_closing_connections(httpd_event, collector):
    """An idle connection closed by the collector is replaced before the next
    batch; a call answered by a close is sent again on a new connection."""
    httpd = httpd_event
    httpd.expect_log_id(*TROUBLE)
    httpd.start(scribe_conf(httpd, collector, 'CustomLog "scribe:www" idline'))
    first = send(httpd, 50, "first")
    assert_all_arrive(collector, "www", first)
    collector.drop_connections()
    time.sleep(0.3)
    second = send(httpd, 50, "second")
    assert_all_arrive(collector, "www", second)
    assert "delivery failed" not in httpd.read_error_log()
    collector.close_next(3)
    third = send(httpd, 100, "third")
    assert_all_arrive(collector, "www", third)
    assert collector.stats()["closed_calls"] == 3


def test_collector_that_never_replies(httpd, collector):
    """Requests do not wait on the collector: with the sender stuck on a call
    that is never answered, request latency stays near the collector-up
    figure measured in this same test (generous bound: it fails only if
    requests really wait for the collector, whose timeout is 4 s)."""
    httpd.expect_log_id(*TROUBLE)
    httpd.start(scribe_conf(httpd, collector, """
ScribeTimeout 4000
CustomLog "scribe:www" idline
"""))
    up_ids, up_lat = timed(httpd, 200, "up")
    assert_all_arrive(collector, "www", up_ids)
    collector.hang(True)
    stuck = send(httpd, 5, "trigger")
    deadline = time.monotonic() + 10
    while collector.stats()["hung_calls"] == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert collector.stats()["hung_calls"] > 0
    hang_ids, hang_lat = timed(httpd, 200, "hang")
    # The sender really was stuck: nothing of this phase got through.
    assert not set(ids_in(collector.lines("www"))) & set(hang_ids)
    bound = max(10 * p95(up_lat), 0.5)
    assert p95(hang_lat) < bound, (p95(up_lat), p95(hang_lat))
    collector.hang(False)
    assert_all_arrive(collector, "www", up_ids + stuck + hang_ids)


def test_failover_to_second_server_and_back(httpd, collector, collector2):
    httpd.expect_log_id(*TROUBLE)
    collector.kill()  # the preferred collector is away from the start
    conf = httpd.conf().load("scribe").add(f"""
ScribeServer {collector.address} {collector2.address}
ScribeFlushInterval 50
ScribeRetryInterval 100 400
CustomLog "scribe:www" idline
""")
    httpd.start(conf)
    first = send(httpd, 200, "first")
    assert_all_arrive(collector2, "www", first)
    collector.start()
    # Once its backoff has passed, the first collector is used again.
    later, back = [], False
    deadline = time.monotonic() + 20
    while not back and time.monotonic() < deadline:
        batch = send(httpd, 20, f"later{len(later)}")
        later += batch
        time.sleep(0.3)
        back = bool(set(ids_in(collector.lines("www"))) & set(batch))
    assert back, "never went back to the first collector"
    got = set(ids_in(collector.lines("www"))) | set(ids_in(collector2.lines("www")))
    deadline = time.monotonic() + 20
    while not set(first + later) <= got and time.monotonic() < deadline:
        time.sleep(0.2)
        got = set(ids_in(collector.lines("www"))) | set(ids_in(collector2.lines("www")))
    assert set(first + later) <= got


# ---- httpd restarts ---------------------------------------------------------------

def test_graceful_restart_under_load_with_collector_away(httpd, collector):
    """Old children spool what the absent collector could not take; the new
    generation replays it once the collector is back."""
    httpd.expect_log_id(*TROUBLE)
    httpd.start(scribe_conf(httpd, collector, 'CustomLog "scribe:www" idline'))
    with BackgroundLoad(httpd, concurrency=4, max_seconds=40) as load:
        time.sleep(0.8)
        httpd.graceful()
        time.sleep(0.5)
        collector.kill()
        time.sleep(0.8)
        httpd.graceful()
        time.sleep(0.8)
        collector.start()
        time.sleep(0.5)
        httpd.graceful()
        time.sleep(0.5)
    assert len(load.ok) > 100
    assert_all_arrive(collector, "www", load.ok)


def test_stop_under_load_then_start_replays_spool(httpd, collector):
    httpd.expect_log_id(*TROUBLE)
    collector.kill()
    conf = scribe_conf(httpd, collector, 'CustomLog "scribe:www" idline')
    httpd.start(conf)
    with BackgroundLoad(httpd, concurrency=4, max_seconds=30) as load:
        time.sleep(1.5)
        stopping = time.monotonic()
        httpd.stop()
    assert len(load.ok) > 50
    assert spool_files(httpd), "nothing was spooled at exit"
    collector.start()
    httpd.start()
    # A prefork child ends on SIGTERM wherever it is (prefork.c, just_die):
    # a request answered while the stop was under way may not have reached
    # its log phase, for any CustomLog. Every line of a request answered
    # before is owed; threaded children finish their requests' logging.
    owed = load.ok_before(stopping) if httpd.mpm == "prefork" else load.ok
    assert_all_arrive(collector, "www", owed)
    deadline = time.monotonic() + 15
    while spool_files(httpd) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not spool_files(httpd), "spool files stay after replay"


def test_spool_full_drops_are_counted_and_reported(httpd_event, collector):
    httpd = httpd_event
    httpd.expect_log_id(*TROUBLE)
    httpd.expect_log_id("DE0012")  # spool over its limit: the oldest file went
    httpd.expect_log_id("DE0005")  # dropped N spooled lines
    httpd.expect_log_id("DE0004")  # dropped N lines because the queue was full
    collector.kill()
    conf = scribe_conf(httpd, collector, """
LogFormat "%r padding-padding-padding-padding-padding-padding-padding-padding" padded
ScribeSpoolMaxSize 16K
ScribeQueueSize 64K
ScribeFlushInterval 10
CustomLog "scribe:www" padded "expr=%{QUERY_STRING} =~ /^id=/"
""")
    httpd.start(conf)
    ok, failed = burst(httpd, 1500, concurrency=6)
    assert not failed
    httpd.stop()
    log = httpd.read_error_log()
    spool_drops = sum(int(n) for n in re.findall(r"dropped (\d+) spooled lines", log))
    queue_drops = sum(int(n) for n in re.findall(r"dropped (\d+) lines because the queue", log))
    assert spool_drops > 0
    # Replay what is left: delivered plus dropped accounts for every request.
    collector.start()
    httpd.start()
    expected_left = len(set(ok)) - spool_drops - queue_drops
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        arrived = set(ids_in(collector.lines("www"))) & set(ok)
        if len(arrived) >= expected_left and not spool_files(httpd):
            break
        time.sleep(0.2)
    assert len(arrived) == expected_left, (len(ok), spool_drops, queue_drops, len(arrived))


def test_collector_reads_strict_and_non_strict_headers(collector):
    """The test collector, like scribed, takes both binary-protocol message
    header forms (mod_scribe writes strict ones)."""
    import sys
    sys.path.insert(0, str(BUILD / "gen" / "py"))
    from scribe import scribe as service
    from scribe.ttypes import LogEntry, ResultCode
    from thrift.protocol.TBinaryProtocol import TBinaryProtocol
    from thrift.transport import TSocket, TTransport
    for strict in (True, False):
        sock = TSocket.TSocket("127.0.0.1", collector.port)
        sock.setTimeout(5000)
        trans = TTransport.TFramedTransport(sock)
        trans.open()
        client = service.Client(TBinaryProtocol(trans, strictRead=False, strictWrite=strict))
        assert client.Log([LogEntry("hdr", f"strict={strict}\n")]) == ResultCode.OK
        trans.close()
    assert collector.lines("hdr") == ["strict=True", "strict=False"]


# ---- configuration errors ---------------------------------------------------------

BAD_CONFIGS = [
    ('CustomLog "scribe:" idline', "empty Scribe category"),
    ('CustomLog "scribe:@127.0.0.1:1463" idline', "empty Scribe category"),
    ('CustomLog "scribe:www@127.0.0.1:99999" idline', "out of range"),
    ('CustomLog "scribe:www@127.0.0.1:x" idline', "port 'x' is not a number"),
    ('CustomLog "scribe:w w" idline', "spaces"),
    ("ScribeServer localhost:abc", "ScribeServer: 'localhost:abc': port 'abc' is not a number"),
    ("ScribeServer 127.0.0.1:1463 :1464", "ScribeServer: ':1464': missing host name"),
    ("ScribeServer 127.0.0.1:0", "ScribeServer: '127.0.0.1:0': port '0' is out of range"),
    ("ScribeQueueSize lots", "ScribeQueueSize: 'lots' is not a size"),
    ("ScribeSpoolMaxSize 12Q", "ScribeSpoolMaxSize: '12Q' is not a size"),
    ("ScribeQueueSize 1K", "ScribeQueueSize: '1K' is out of range (4K-1024G)"),
    ("ScribeBatchSize 0", "ScribeBatchSize: '0' is out of range"),
    ("ScribeFlushInterval 1s", "ScribeFlushInterval: '1s' is not a number"),
    ("ScribeTimeout soon", "ScribeTimeout: 'soon' is not a number"),
    ("ScribeRetryInterval 500 100", "ScribeRetryInterval: the maximum '100' is below the minimum"),
    ("ScribeRetryInterval 500 1000 2000", "ScribeRetryInterval takes 1-2 arguments"),
    ("ScribeRetryInterval 0", "ScribeRetryInterval: '0' is out of range"),
    ("ScribeStripNewline maybe", "ScribeStripNewline must be On or Off"),
    ("ScribeBatchBytes 1K", "ScribeBatchBytes: '1K' is out of range (4K-1G)"),
    ("ScribeBatchBytes big", "ScribeBatchBytes: 'big' is not a size"),
    ("ScribeReplayRate 0", "ScribeReplayRate: '0' is out of range"),
    ("ScribeReplayRate fast", "ScribeReplayRate: 'fast' is not a number (lines a second, or off)"),
    ("ScribeTryLaterFailover 0", "ScribeTryLaterFailover: '0' is out of range"),
    ("ScribeTryLaterFailover 5 soon", "ScribeTryLaterFailover: 'soon' is not a number"),
    ("<VirtualHost 127.0.0.1:80>\nScribeReplayRate 10\n</VirtualHost>",
     "ScribeReplayRate cannot occur within <VirtualHost> section"),
    ("<VirtualHost 127.0.0.1:80>\nScribeQueueSize 1M\n</VirtualHost>",
     "ScribeQueueSize cannot occur within <VirtualHost> section"),
]


@pytest.mark.parametrize("text,message", BAD_CONFIGS)
def test_config_errors(httpd_event, text, message):
    conf = httpd_event.conf().load("scribe").add(text)
    if "CustomLog" not in text:
        conf.add('CustomLog "scribe:www" idline')
    rc, out = httpd_event.config_test(conf)
    assert rc != 0
    assert message in out, out


def test_config_error_names_file_and_line(httpd_event):
    conf = httpd_event.conf().load("scribe").add('CustomLog "scribe:" idline')
    rc, out = httpd_event.config_test(conf)
    assert rc != 0
    assert re.search(
        r"CustomLog \"scribe:\" \(line \d+ of [^)]*test\.conf\): 'scribe:': empty Scribe category",
        out), out


def test_spool_dir_that_cannot_be_created(httpd_event, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    conf = httpd_event.conf().load("scribe").add(f"""
ScribeSpoolDir {blocker}/spool
CustomLog "scribe:www" idline
""")
    rc, out = httpd_event.config_test(conf)
    assert rc != 0
    assert f"ScribeSpoolDir {blocker}/spool" in out and "cannot create" in out, out


def test_good_config_without_collector_passes(httpd_event):
    """A collector unreachable at startup is not an error."""
    conf = httpd_event.conf().load("scribe").add("""
ScribeServer 127.0.0.1:9 collector.invalid:1463
ScribeSpoolMaxSize 2G
ScribeQueueSize 16M
ScribeBatchSize 500
ScribeFlushInterval 100
ScribeTimeout 3000
ScribeRetryInterval 250 60000
ScribeBatchBytes 8M
ScribeReplayRate off
ScribeTryLaterFailover 20
ScribeStripNewline Off
CustomLog "scribe:www" idline
CustomLog "scribe:api@[::1]:1463" idline
""")
    rc, out = httpd_event.config_test(conf)
    assert rc == 0, out
    assert "Syntax OK" in out
