"""mod_status integration: delivery and lookup figures in /server-status.

What an operator (or Prometheus' apache exporter, or Munin) reads from
`/server-status?auto`: one `Key: value` line per figure, summed over every
child of the current generation, and the same figures in the HTML page.
"""
import re
import time

import pytest
import requests

from lib.cidr_helpers import write_list
from lib.load import burst
from lib.syslog_helpers import LOG_FORMAT, wait_ids
from conftest import _make_httpd
from test_scribe import FAST, TROUBLE

STATUS_CONF = """
<Location "/server-status">
  SetHandler server-status
  Require ip 127.0.0.1
</Location>
"""


PAD = "p" * 1000


def auto_status(httpd):
    r = requests.get(httpd.url("/server-status?auto"), timeout=10)
    assert r.status_code == 200, r.text
    return r.text


def parse_auto(text):
    """`Key: value` lines into a dict. Fails on a line of ours that is not one
    (what the apache exporter would mis-read). mod_status's own first line is
    the bare server name."""
    out = {}
    for line in text.splitlines()[1:]:
        key, sep, value = line.partition(": ")
        if key.startswith(("Syslog ", "Scribe ", "CIDR ")):
            assert sep and ":" not in key and value.strip(), f"not a Key: value line: {line!r}"
        if sep:
            out[key] = value
    return out


def figures(httpd, prefix):
    """The figures under `prefix` ("Syslog tcp%3A//host%3A514"), as ints where
    they are numbers."""
    out = {}
    for key, value in parse_auto(auto_status(httpd)).items():
        if key.startswith(prefix + " "):
            name = key[len(prefix) + 1:]
            out[name] = int(value) if re.fullmatch(r"-?\d+", value) else value
    return out


def wait_figures(httpd, prefix, ok, timeout=15.0):
    deadline = time.monotonic() + timeout
    while True:
        f = figures(httpd, prefix)
        if (f and ok(f)) or time.monotonic() >= deadline:
            return f
        time.sleep(0.2)


@pytest.fixture(params=["event", "prefork"])
def httpd_ep(request):
    """A threaded MPM and prefork: the sums must span processes either way."""
    yield from _make_httpd(request, request.param)


def status_conf(httpd, *lines):
    conf = httpd.conf().load("status", "syslog", "scribe", "cidr_lookup").add(LOG_FORMAT)
    conf.add(STATUS_CONF)
    for line in lines:
        conf.add(line)
    return conf


# Only the test's requests (they carry ?id=) are logged, not the status page
# nor the harness's readiness probe, so that the figures count them exactly.
ONLY_TEST_REQUESTS = '"expr=%{QUERY_STRING} =~ /id=/"'


def tcp_log(rsyslog):
    """A CustomLog to rsyslogd over TCP, of the test's requests only."""
    return (f'CustomLog "syslog:local5@tcp://127.0.0.1:{rsyslog.tcp_port}" pidline '
            f'{ONLY_TEST_REQUESTS}')


def syslog_key(rsyslog):
    # The target as the status page names it (its URL; every log that sends
    # there counts in it), ':' percent-encoded.
    return f"Syslog tcp%3A//127.0.0.1%3A{rsyslog.tcp_port}"


def scribe_key(collector):
    return f"Scribe {collector.address.replace(':', '%3A')}"


def test_counters_sum_over_children(rsyslog, collector, httpd_ep):
    httpd = httpd_ep
    cidr = write_list(httpd, "crawler.txt", "192.0.2.0/24\n198.51.100.7\n2001:db8::/32\n")
    httpd.start(status_conf(
        httpd,
        f"ScribeServer {collector.address}",
        FAST,
        tcp_log(rsyslog),
        f'CustomLog "scribe:www" pidline {ONLY_TEST_REQUESTS}',
        f'CIDRFile "{cidr}"',
    ))
    n = 120
    ids, failed = burst(httpd, n, concurrency=8, prefix="st")
    assert not failed, failed
    recs = wait_ids(rsyslog, "local5", ids)
    pids = {r["text"].split()[0] for r in recs}
    collector.wait_for_ids("www", ids)

    # Summed over every child: exactly the requests sent, all delivered.
    s = wait_figures(httpd, syslog_key(rsyslog), lambda f: f["Sent"] >= n)
    assert s["Queued"] == n and s["Sent"] == n, s
    assert s["Dropped"] == 0 and s["DroppedQueueFull"] == 0, s
    assert s["State"] == "up" and s["Children"] >= 1 and s["ChildrenFailing"] == 0, s
    assert s["Reconnects"] == 0 and s["FailingSince"] == 0, s
    c = wait_figures(httpd, scribe_key(collector), lambda f: f["Sent"] >= n)
    assert c["Queued"] == n and c["Sent"] == n and c["Dropped"] == 0, c
    assert c["Spooled"] == 0 and c["Replayed"] == 0, c
    assert len(collector.lines("www")) == n
    if httpd.mpm == "prefork":
        # The sum spans children: the burst was served by more than one.
        assert len(pids) > 1, pids

    keys = [k for k in parse_auto(auto_status(httpd)) if k.startswith("CIDR ")]
    assert keys, auto_status(httpd)
    prefix = keys[0].rsplit(" ", 1)[0]
    cidr_figs = figures(httpd, prefix)
    assert cidr_figs["IPv4Prefixes"] == 2 and cidr_figs["IPv6Prefixes"] == 1, cidr_figs
    assert cidr_figs["Types"] >= 1 and cidr_figs["LoadedAt"] > 0, cidr_figs

    html = requests.get(httpd.url("/server-status"), timeout=10).text
    assert "Syslog delivery" in html and "Scribe delivery" in html and "CIDR lists" in html
    assert f"tcp://127.0.0.1:{rsyslog.tcp_port}" in html
    # Without tables (?notable): the same lines as ?auto, in the page.
    notable = requests.get(httpd.url("/server-status?notable"), timeout=10).text
    assert f"{syslog_key(rsyslog)} Sent: {n}" in notable and "<table" not in notable.split(
        "Syslog delivery")[1]


def test_counters_survive_a_child_that_exits(rsyslog, httpd_ep):
    """Counters are the generation's, not a child's: a child recycled by
    MaxConnectionsPerChild leaves its counts behind."""
    httpd = httpd_ep
    httpd.start(status_conf(
        httpd,
        "MaxConnectionsPerChild 5",
        tcp_log(rsyslog),
    ))
    n = 60
    ids = []
    for i in range(n):  # one connection each: children are recycled
        r = requests.get(httpd.url(f"/small.txt?id=rc-{i}"), timeout=10)
        assert r.status_code == 200
        ids.append(f"rc-{i}")
    recs = wait_ids(rsyslog, "local5", ids)
    pids = {r["text"].split()[0] for r in recs}
    assert len(pids) > 2, pids  # several children served, and exited
    s = wait_figures(httpd, syslog_key(rsyslog), lambda f: f["Sent"] >= n)
    assert s["Sent"] == n and s["Queued"] == n, s


def test_outage_moves_spooled_and_replayed(collector, httpd_event):
    """While the collector is away, lines go to the spool (a small queue
    makes the sender spill early); once it is back they are replayed, and
    the figures say so: every spooled line replayed, none dropped."""
    httpd = httpd_event
    httpd.start(status_conf(
        httpd,
        f"ScribeServer {collector.address}",
        FAST,
        "ScribeQueueSize 64K",
        f'CustomLog "scribe:www" pidline {ONLY_TEST_REQUESTS}',
    ))
    httpd.expect_log_id(*TROUBLE)
    key = scribe_key(collector)
    # Connected first, so that the way back is a reconnection.
    warm, failed = burst(httpd, 20, concurrency=4, prefix="warm")
    assert not failed, failed
    collector.wait_for_ids("www", warm)
    collector.stop()
    ids, failed = burst(httpd, 180, concurrency=4, prefix="out", path=f"/small.txt?pad={PAD}&")
    assert not failed, failed
    n = len(warm) + len(ids)
    # The sender publishes counters and gauges as it goes: wait for all of
    # them, not for the first.
    f = wait_figures(httpd, key,
                     lambda f: f["Queued"] == n and f["Spooled"] > 0 and f["State"] == "failing"
                     and f["SpoolBytes"] > 0 and f["FailingSince"] > 0)
    assert f["Queued"] == n and f["Spooled"] > 0, f
    assert f["State"] == "failing" and f["ChildrenFailing"] >= 1, f
    assert f["FailingSince"] > 0 and f["SpoolBytes"] > 0, f

    collector.start()
    collector.wait_for_ids("www", ids)
    f = wait_figures(httpd, key, lambda f: f["Sent"] == n and f["State"] == "up")
    assert f["Sent"] == n and f["Replayed"] == f["Spooled"] > 0, f
    assert f["State"] == "up" and f["FailingSince"] == 0 and f["ChildrenFailing"] == 0, f
    assert f["Reconnects"] >= 1 and f["Dropped"] == 0, f


def test_dropped_line_shows(httpd_event):
    """A unix datagram target whose socket is gone: lines wait in the queue
    until it is full, and those it refuses show as dropped; every line is
    either queued or dropped."""
    httpd = httpd_event
    missing = httpd.root / "run" / "no-such.sock"
    httpd.start(status_conf(
        httpd,
        "SyslogQueueSize 64K",
        f'CustomLog "syslog:local5@unix:{missing}" pidline {ONLY_TEST_REQUESTS}',
    ))
    httpd.expect_log_id("SY0003")  # not reachable now
    # Delivery failed, the queue was full, lines lost at the child's exit.
    httpd.expect_log_id("DE0001", "DE0004", "DE0006")
    n = 200
    ok, failed = burst(httpd, n, concurrency=2, prefix="drop", path=f"/small.txt?pad={PAD * 4}&")
    assert len(ok) == n, failed
    key = f"Syslog unix%3A{missing}"
    # The state is published between sends: a sender waiting for room shows
    # its last one until the wait ends.
    f = wait_figures(httpd, key,
                     lambda f: f["Queued"] + f["Dropped"] == n and f["State"] == "failing")
    assert f["Queued"] + f["DroppedQueueFull"] == n, f
    assert f["Dropped"] == f["DroppedQueueFull"] > 0, f
    assert f["Sent"] == 0 and f["State"] == "failing", f
    assert f["QueueBytes"] > 0, f


def test_lines_of_a_target_without_an_address_show(httpd_event):
    """A udp host that does not resolve: each child's sender keeps trying to
    resolve it, the lines wait in its queue, and the status page says so
    (failing, nothing sent); what is still queued at the stop is counted."""
    httpd = httpd_event
    spec = "syslog:local5@udp://no-such-host.invalid:514"
    httpd.start(status_conf(httpd, f'CustomLog "{spec}" pidline {ONLY_TEST_REQUESTS}'))
    # Not reachable now; delivery failed; lines lost at the child's exit.
    httpd.expect_log_id("SY0003", "DE0001", "DE0006")
    n = 20
    ok, failed = burst(httpd, n, concurrency=2, prefix="noaddr")
    assert len(ok) == n, failed
    key = "Syslog udp%3A//no-such-host.invalid%3A514"
    f = wait_figures(httpd, key, lambda f: f["Queued"] == n and f["State"] == "failing")
    assert f["Queued"] == n and f["Sent"] == 0 and f["Dropped"] == 0, f
    assert f["State"] == "failing" and f["ChildrenFailing"] >= 1, f
    httpd.stop()
    lost = sum(int(m) for m in re.findall(r"DE0006: udp://no-such-host\.invalid:514: (\d+) lines",
                                          httpd.read_error_log()))
    assert lost == n, httpd.read_error_log()


def test_truncated_lines_show(rsyslog, httpd_event):
    httpd = httpd_event
    httpd.start(status_conf(
        httpd,
        "SyslogMaxLength 1024",
        tcp_log(rsyslog),
    ))
    httpd.expect_log_id("DE0015")  # lines truncated to SyslogMaxLength
    n = 10
    ids, failed = burst(httpd, n, concurrency=2, prefix="long", path=f"/small.txt?pad={PAD * 4}&")
    assert not failed, failed
    wait_ids(rsyslog, "local5", ids)
    f = wait_figures(httpd, syslog_key(rsyslog), lambda f: f["Sent"] == n and f["Truncated"] == n)
    assert f["Sent"] == n and f["Truncated"] == n and f["Dropped"] == 0, f


def test_a_named_target_counts_every_log_that_uses_it(rsyslog, httpd_ep):
    """Two logs (two facilities) to one SyslogTarget: one sender, one key,
    named by the target, counting the lines of both."""
    httpd = httpd_ep
    httpd.start(status_conf(
        httpd,
        f"SyslogTarget relay tcp://127.0.0.1:{rsyslog.tcp_port}",
        f'CustomLog "syslog:local5@relay" pidline {ONLY_TEST_REQUESTS}',
        f'CustomLog "syslog:local4.notice:other@relay" pidline {ONLY_TEST_REQUESTS}',
    ))
    n = 25
    ids, failed = burst(httpd, n, concurrency=2, prefix="named")
    assert not failed, failed
    wait_ids(rsyslog, "local5", ids)
    wait_ids(rsyslog, "local4", ids)
    f = wait_figures(httpd, "Syslog relay", lambda f: f["Sent"] == 2 * n)
    assert f["Queued"] == f["Sent"] == 2 * n and f["Dropped"] == 0, f
    keys = [k for k in parse_auto(auto_status(httpd)) if k.startswith("Syslog ")]
    assert {k.rsplit(" ", 1)[0] for k in keys} == {"Syslog relay"}, keys


def test_graceful_restart_starts_a_new_generation(rsyslog, httpd_event):
    """Counters belong to a generation: after a graceful restart they count
    the new children's lines only (a counter reset, as Prometheus reads it)."""
    httpd = httpd_event
    conf = status_conf(httpd, tcp_log(rsyslog))
    httpd.start(conf)
    first, failed = burst(httpd, 30, concurrency=2, prefix="g1")
    assert not failed, failed
    f = wait_figures(httpd, syslog_key(rsyslog), lambda f: f["Sent"] == 30)
    assert f["Sent"] == 30, f
    old = set(httpd.children())
    httpd.graceful(conf)
    # Until the old children are gone, one of them may still take a request.
    deadline = time.monotonic() + 20
    while old & set(httpd.children()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not old & set(httpd.children())
    second, failed = burst(httpd, 12, concurrency=2, prefix="g2")
    assert not failed, failed
    wait_ids(rsyslog, "local5", first + second)
    f = wait_figures(httpd, syslog_key(rsyslog), lambda f: f["Sent"] == 12)
    assert f["Queued"] == 12 and f["Sent"] == 12, f
