"""mod_syslog end to end: a real httpd (event and prefork) sending its access
log to a real rsyslogd over unix, udp and tcp.

Every request carries ?id=...; the log format starts with %P (the serving
child's pid). A test compares the set of ids that got a 200 with the set that
arrived, and the pid rsyslogd parsed out of the header with %P.
"""
import os
import re
import socket
import time

import pytest
import requests

from lib.load import BackgroundLoad, burst, ids_in
from lib.paths import BUILD
from lib.ports import free_port, free_tcp_udp_port
from lib.rsyslog import Rsyslogd
from lib.syslog_helpers import (UnixStreamReceiver, ids_of, records_for, reported_counts,
                                stall_then_kill, syslog_conf, wait_ids)

# The ident when neither the target nor SyslogIdent names one: the name httpd
# was started as.
DEFAULT_TAG = "apache2"


def line_pid(rec):
    return rec["text"].split(" ", 1)[0]


def assert_every_id_once(recs, ok):
    got = ids_of(recs)
    assert sorted(got) == sorted(ok), (
        f"missing {sorted(set(ok) - set(got))[:10]}, extra {sorted(set(got) - set(ok))[:10]}")


def test_unix_udp_tcp_reach_rsyslogd_with_facility_severity_tag_pid(rsyslog, httpd):
    conf = syslog_conf(
        httpd,
        f'CustomLog "syslog:local3.notice:webtag@unix:{rsyslog.socket}" pidline',
        f'CustomLog "syslog:LOCAL4.warning@udp://127.0.0.1:{rsyslog.udp_port}" pidline',
        f'CustomLog "syslog:local5.err:tcptag@tcp://127.0.0.1:{rsyslog.tcp_port}" pidline')
    httpd.start(conf)
    ok, failed = burst(httpd, 60, prefix=f"tr-{httpd.mpm}")
    assert not failed
    parent = str(httpd.pid())
    for facility, severity, tag in (("local3", "notice", "webtag"),
                                    ("local4", "warning", DEFAULT_TAG),
                                    ("local5", "err", "tcptag")):
        recs = wait_ids(rsyslog, facility, ok)
        mine = [r for r in recs if ids_in([r["text"]])]
        assert_every_id_once(mine, ok)
        for r in mine:
            assert (r["severity"], r["tag"]) == (severity, tag), r
            # The child that served the request, not the parent.
            assert r["pid"] == line_pid(r) and r["pid"] != parent, r
    # Default formats: bsd on the unix socket, rfc5424 on the network.
    raw = {r["facility"]: r["raw"] for r in rsyslog.records()}
    assert re.match(r"<157>\w{3} [ \d]\d \d\d:\d\d:\d\d webtag\[\d+\]: \d+ GET ", raw["local3"])
    assert re.match(r"<164>1 \d{4}-\d\d-\d\dT[\d:.]+[+-]\d\d:\d\d \S+ apache2 \d+ - - \d+ GET ",
                    raw["local4"])
    assert raw["local5"].startswith("<171>1 ")


def test_file_pipe_and_syslog_side_by_side(rsyslog, httpd):
    access = httpd.root / "logs" / "access_log"
    piped = httpd.root / "logs" / "piped_log"
    conf = syslog_conf(
        httpd,
        f'CustomLog "{access}" pidline',
        f'CustomLog "syslog:local1.info@unix:{rsyslog.socket}" pidline',
        f'CustomLog "|$exec cat >> {piped}" pidline')
    httpd.start(conf)
    ok, failed = burst(httpd, 80, prefix="side")
    assert not failed
    # Read the piped log while httpd runs: at stop httpd ends the piped
    # process, and whatever it had not read from the pipe yet is gone.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if len(ids_in(piped.read_text().splitlines())) >= len(ok):
            break
        time.sleep(0.1)
    assert sorted(ids_in(piped.read_text().splitlines())) == sorted(ok)
    httpd.stop()
    assert_every_id_once(records_for(rsyslog, "local1", len(ok) + 1), ok)
    assert sorted(ids_in(access.read_text().splitlines())) == sorted(ok)


def test_buffered_logs_beside_syslog(rsyslog, httpd):
    access = httpd.root / "logs" / "access_log"
    conf = syslog_conf(
        httpd,
        "BufferedLogs On",
        f'CustomLog "{access}" pidline',
        f'CustomLog "syslog:local6.info@unix:{rsyslog.socket}" pidline',
        f'CustomLog "syslog:local5.info@tcp://127.0.0.1:{rsyslog.tcp_port}" pidline')
    httpd.start(conf)
    ok, failed = burst(httpd, 120, prefix="buf")
    assert not failed
    httpd.stop()  # BufferedLogs flushes at child exit
    assert sorted(ids_in(access.read_text().splitlines())) == sorted(ok)
    assert_every_id_once(wait_ids(rsyslog, "local6", ok), ok)
    assert set(ids_of(wait_ids(rsyslog, "local5", ok))) == set(ok)


def test_vhosts_inherit_or_have_their_own(rsyslog, httpd):
    port_a, port_b = free_port(), free_port()
    conf = syslog_conf(
        httpd,
        'LogFormat "%v %P %r" vline',
        f'CustomLog "syslog:local1.info@unix:{rsyslog.socket}" vline')
    # a.test has no log of its own: it uses the main server's handle.
    conf.add_vhost("", server_name="a.test", listen=f"127.0.0.1:{port_a}")
    # b.test has its own target, ident and format.
    conf.add_vhost(f'SyslogIdent btag\nSyslogFormat rfc5424\n'
                   f'CustomLog "syslog:local2.info@unix:{rsyslog.socket}" vline',
                   server_name="b.test", listen=f"127.0.0.1:{port_b}")
    httpd.start(conf)
    sent = {"main": [], "a": [], "b": []}
    s = requests.Session()
    for i in range(15):
        for name, port in (("main", httpd.port), ("a", port_a), ("b", port_b)):
            rid = f"vh-{name}-{i}"
            r = s.get(f"http://127.0.0.1:{port}/small.txt?id={rid}", timeout=10)
            assert r.status_code == 200
            sent[name].append(rid)
    inherited = wait_ids(rsyslog, "local1", sent["main"] + sent["a"])
    inherited = [r for r in inherited if ids_in([r["text"]])]
    assert_every_id_once(inherited, sent["main"] + sent["a"])
    for r in inherited:
        vhost = r["text"].split(" ", 1)[0]
        assert vhost == ("a.test" if "vh-a-" in r["text"] else "127.0.0.1"), r
        assert r["tag"] == DEFAULT_TAG
    own = wait_ids(rsyslog, "local2", sent["b"])
    assert_every_id_once(own, sent["b"])
    for r in own:
        assert r["tag"] == "btag" and r["text"].startswith("b.test ")
        assert r["raw"].startswith("<150>1 ")


def test_two_facilities_each_get_every_line(rsyslog, httpd):
    conf = syslog_conf(
        httpd,
        f'CustomLog "syslog:local1.info:one@unix:{rsyslog.socket}" pidline',
        f'CustomLog "syslog:local2.warning:two@unix:{rsyslog.socket}" pidline')
    httpd.start(conf)
    ok, failed = burst(httpd, 100, prefix="two")
    assert not failed
    for facility, severity, tag in (("local1", "info", "one"), ("local2", "warning", "two")):
        recs = [r for r in wait_ids(rsyslog, facility, ok) if ids_in([r["text"]])]
        assert_every_id_once(recs, ok)
        assert {(r["severity"], r["tag"]) for r in recs} == {(severity, tag)}


def test_20k_request_line_is_truncated_counted_and_reported(rsyslog, httpd):
    unix_spec = f"syslog:local1.info@unix:{rsyslog.socket}"
    tcp_spec = f"syslog:local2.info@tcp://127.0.0.1:{rsyslog.tcp_port}"
    conf = syslog_conf(httpd, "LimitRequestLine 32768",
                       f'CustomLog "{unix_spec}" pidline', f'CustomLog "{tcp_spec}" pidline')
    httpd.expect_log_id("DE0015")  # lines truncated to SyslogMaxLength
    httpd.start(conf)
    pad = "p" * (20 * 1024)
    ids = [f"long-{i}" for i in range(3)]
    for rid in ids:
        assert httpd.get(f"/small.txt?id={rid}&pad={pad}").status_code == 200
    httpd.stop()  # the last counts are reported at child exit
    for facility in ("local1", "local2"):
        recs = [r for r in wait_ids(rsyslog, facility, ids) if "long-" in r["text"]]
        assert sorted(ids_of(recs)) == ids
        for r in recs:
            # One record each, exactly SyslogMaxLength long, cut in the padding.
            assert len(r["raw"].encode()) == 8192, len(r["raw"])
            assert re.fullmatch(r"\d+ GET /small\.txt\?id=long-\d&pad=p+", r["text"]), r["text"][:80]
    log = httpd.read_error_log()
    # Reported per target: its URL names it.
    for spec in (unix_spec, tcp_spec):
        n = reported_counts(log, "DE0015: " + re.escape(spec.split("@", 1)[1]) +
                            r": (\d+) lines truncated to SyslogMaxLength")
        assert n == 3, log


def test_rsyslogd_restart_during_tcp_burst_loses_no_line(rsyslog, httpd):
    spec = f"syslog:local5.info@tcp://127.0.0.1:{rsyslog.tcp_port}"
    httpd.expect_log_id("DE0001")  # delivery failed
    httpd.start(syslog_conf(httpd, f'CustomLog "{spec}" pidline'))
    with BackgroundLoad(httpd, concurrency=4, prefix=f"rr-{httpd.mpm}", max_seconds=40) as load:
        time.sleep(1.0)
        # A receiver that hangs and is killed: what the kernel took for it
        # and it never read is gone, and only the resend brings it back.
        stall_then_kill(rsyslog, stall=1.0)
        rsyslog.start()
        time.sleep(1.5)
        # An orderly restart.
        rsyslog.restart()
        time.sleep(1.5)
    assert len(load.ok) > 100 and not load.failed
    recs = wait_ids(rsyslog, "local5", load.ok, timeout=20)
    missing = set(load.ok) - set(ids_of(recs))
    assert not missing, f"{len(missing)} of {len(load.ok)} lines lost: {sorted(missing)[:10]}"


def test_graceful_restart_under_load_loses_no_line(rsyslog, httpd):
    conf = syslog_conf(
        httpd,
        f'CustomLog "syslog:local4.info@tcp://127.0.0.1:{rsyslog.tcp_port}" pidline',
        f'CustomLog "syslog:local3.info@unix:{rsyslog.socket}" pidline')
    httpd.start(conf)
    with BackgroundLoad(httpd, concurrency=4, prefix=f"gr-{httpd.mpm}", max_seconds=40) as load:
        time.sleep(1.0)
        httpd.graceful()
        time.sleep(1.0)
        httpd.graceful()
        time.sleep(1.0)
    assert len(load.ok) > 100
    httpd.stop()
    for facility in ("local4", "local3"):
        recs = wait_ids(rsyslog, facility, load.ok)
        missing = set(load.ok) - set(ids_of(recs))
        assert not missing, f"{facility}: {len(missing)} lines lost: {sorted(missing)[:10]}"


def test_receiver_down_at_startup_warns_then_lines_flow(httpd):
    later = Rsyslogd()  # not running yet
    try:
        tcp_spec = f"syslog:local2.info@tcp://127.0.0.1:{later.tcp_port}"
        unix_spec = f"syslog:local3.info@unix:{later.socket}"
        conf = syslog_conf(httpd, f'CustomLog "{tcp_spec}" pidline',
                           f'CustomLog "{unix_spec}" pidline')
        httpd.expect_log_id("SY0003", "DE0001")  # not reachable now; delivery failed
        httpd.start(conf)
        log = httpd.read_error_log()
        for spec in (tcp_spec, unix_spec):
            url = spec.split("@", 1)[1]
            assert re.search(r"SY0003: " + re.escape(url) + r" is not reachable now", log), log
        before, failed = burst(httpd, 30, prefix="before")
        assert not failed
        later.start()
        after, failed = burst(httpd, 30, prefix="after")
        assert not failed
        httpd.stop()
        # Both queued what the receiver could not take and deliver it all,
        # the datagram target once each.
        recs = wait_ids(later, "local2", before + after)
        assert set(ids_of(recs)) == set(before + after)
        recs = [r for r in wait_ids(later, "local3", before + after) if ids_in([r["text"]])]
        assert sorted(ids_of(recs)) == sorted(before + after)
    finally:
        later.cleanup()


@pytest.mark.parametrize("transport", ["tcp", "unix"])
def test_queue_full_drops_are_counted_and_reported(httpd, transport):
    if transport == "tcp":
        spec = f"syslog:local4.info@tcp://127.0.0.1:{free_tcp_udp_port()}"  # nobody there
    else:
        spec = f"syslog:local4.info@unix:{httpd.root}/run/nobody.sock"
    conf = syslog_conf(httpd, "SyslogQueueSize 64K", "LimitRequestLine 16384",
                       f'CustomLog "{spec}" pidline')
    # Not reachable at startup, delivery failed, the queue was full, lines
    # lost at the child's exit.
    httpd.expect_log_id("SY0003", "DE0001", "DE0004", "DE0006")
    httpd.start(conf)
    # Long lines, so that every child's 64K queue overflows.
    ok, failed = burst(httpd, 400, path="/small.txt", prefix="q" + "x" * 2000)
    assert not failed
    # A client has its response before httpd logs the request: under
    # prefork a stop right now could end a child before its last log phase.
    time.sleep(0.5)
    httpd.stop()
    log = httpd.read_error_log()
    url = spec.split("@", 1)[1]
    dropped = reported_counts(log, "DE0004: " + re.escape(url) +
                              r": dropped (\d+) lines because the queue")
    lost = reported_counts(log, "DE0006: " + re.escape(url) +
                           r": (\d+) lines could not be delivered")
    assert dropped > 0
    # Every line is accounted for: dropped when the queue was full, or lost
    # at exit because the receiver never came.
    assert dropped + lost == len(ok) + 1  # +1: the harness's readiness request


def test_unix_stream_socket_fallback(httpd):
    rx = UnixStreamReceiver()
    try:
        conf = syslog_conf(httpd, f'CustomLog "syslog:local1.notice:streamtag@unix:{rx.path}" '
                                  f"pidline")
        httpd.start(conf)
        ok, failed = burst(httpd, 50, prefix="stream")
        assert not failed
        httpd.stop()
        msgs = [m for m in rx.wait(len(ok) + 1) if "id=" in m]
        pattern = re.compile(r"<141>\w{3} [ \d]\d \d\d:\d\d:\d\d streamtag\[(\d+)\]: (\d+) GET ")
        for m in msgs:
            match = pattern.match(m)
            assert match and match.group(1) == match.group(2), m
        assert sorted(ids_in(msgs)) == sorted(ok)
    finally:
        rx.close()


def test_unix_socket_that_changes_kind_keeps_every_line(httpd):
    """The daemon at a unix path restarts as a stream socket, then as a
    datagram socket again (syslog-ng's unix-dgram / unix-stream): every
    child follows at its next send, and every line arrives."""
    path = httpd.root / "run" / "switch.sock"
    dgram = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    dgram.bind(str(path))
    os.chmod(path, 0o666)
    got = []

    def drain(sock, until):
        sock.settimeout(0.1)
        while time.monotonic() < until:
            try:
                got.append(sock.recv(65536).decode())
            except socket.timeout:
                pass

    stream = None
    # Between one daemon and the next a child that sends finds nobody
    # there (refused, gone, broken pipe): that is a delivery failure.
    httpd.expect_log_id("DE0001")
    try:
        httpd.start(syslog_conf(httpd, f'CustomLog "syslog:local1.info@unix:{path}" pidline'))
        first, failed = burst(httpd, 30, prefix="kind-d1")
        assert not failed
        drain(dgram, time.monotonic() + 1.0)
        dgram.close()
        stream = UnixStreamReceiver(path)
        os.chmod(path, 0o666)
        second, failed = burst(httpd, 30, prefix="kind-s")
        assert not failed
        msgs = [m for m in stream.wait(len(second), timeout=15) if "id=" in m]
        stream.close()
        stream = None
        dgram = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if path.exists():
            os.unlink(path)
        dgram.bind(str(path))
        os.chmod(path, 0o666)
        third, failed = burst(httpd, 30, prefix="kind-d2")
        assert not failed
        drain(dgram, time.monotonic() + 3.0)
        httpd.stop()
        drain(dgram, time.monotonic() + 0.5)
        arrived = ids_in(got + msgs)
        assert set(first + second + third) <= set(arrived), (
            sorted(set(first + second + third) - set(arrived))[:10])
    finally:
        dgram.close()
        if stream:
            stream.close()


def test_explicit_formats(rsyslog, httpd):
    port_b = free_port()
    conf = syslog_conf(
        httpd, "SyslogFormat rfc5424", "SyslogIdent mainident",
        f'CustomLog "syslog:local1.info@unix:{rsyslog.socket}" pidline')
    conf.add_vhost(f'SyslogFormat bsd\n'
                   f'CustomLog "syslog:local2.info:bsdtcp@tcp://127.0.0.1:{rsyslog.tcp_port}" '
                   f'pidline', server_name="b.test", listen=f"127.0.0.1:{port_b}")
    httpd.start(conf)
    main_ids, b_ids = [f"fm-{i}" for i in range(10)], [f"fb-{i}" for i in range(10)]
    for rid in main_ids:
        assert httpd.get(f"/small.txt?id={rid}").status_code == 200
    for rid in b_ids:
        r = requests.get(f"http://127.0.0.1:{port_b}/small.txt?id={rid}", timeout=10)
        assert r.status_code == 200
    for facility, ids, tag, raw in (("local1", main_ids, "mainident", r"<142>1 \S+ \S+ mainident "),
                                    ("local2", b_ids, "bsdtcp",
                                     r"<150>\w{3} [ \d]\d \d\d:\d\d:\d\d \S+ bsdtcp\[\d+\]: ")):
        recs = [r for r in wait_ids(rsyslog, facility, ids) if ids_in([r["text"]])]
        assert sorted(ids_of(recs)) == sorted(ids)
        for r in recs:
            assert r["tag"] == tag and r["pid"] == line_pid(r), r
            assert re.match(raw, r["raw"]), r["raw"]


CONFIG_ERRORS = [
    ('CustomLog "syslog:local9" common', ["CustomLog", "unknown facility 'local9'"]),
    ('CustomLog "syslog:daemon.loud" common', ["CustomLog", "unknown level 'loud'"]),
    ('TransferLog "syslog:kernel"', ["TransferLog", "unknown facility 'kernel'"]),
    ('CustomLog "syslog:local0@tcp://127.0.0.1:70000" common',
     ["CustomLog", "port '70000' out of range"]),
    ('CustomLog "syslog:local0@udp://[::1" common', ["CustomLog", "unterminated '['"]),
    ('CustomLog "syslog:local0@ftp://host" common', ["CustomLog", "malformed target 'ftp://host'"]),
    ('CustomLog "syslog:local0@unix:relative.sock" common',
     ["CustomLog", "socket path 'relative.sock' is not absolute"]),
    ('CustomLog "syslog:local0:my tag" common', ["CustomLog", "tag 'my tag' contains a space"]),
    ('SyslogIdent "my app"', ["SyslogIdent", "'my app' contains a space"]),
    ("SyslogFormat xml", ["SyslogFormat", "unknown format 'xml'"]),
    ("SyslogMaxLength 10", ["SyslogMaxLength: '10' is out of range (480-1048576)"]),
    ("SyslogMaxLength lots", ["SyslogMaxLength: 'lots' is not a number"]),
    ("SyslogMaxLength 8K", ["SyslogMaxLength: '8K' is not a number"]),
    ("SyslogQueueSize 1", ["SyslogQueueSize: '1' is out of range (64K-1G)"]),
    ("SyslogQueueSize 2G", ["SyslogQueueSize: '2G' is out of range (64K-1G)"]),
    ("SyslogQueueSize 4X",
     ["SyslogQueueSize: '4X' is not a size (bytes, optionally with K, M or G)"]),
    # SyslogTarget, and CustomLog naming one
    ('CustomLog "syslog:local0@nope" common',
     ["CustomLog \"syslog:local0@nope\" (line", "no SyslogTarget is named 'nope'"]),
    ("SyslogTarget relay", ["SyslogTarget: expected a name and a URL"]),
    ("SyslogTarget re/lay tcp://127.0.0.1", ["SyslogTarget: target name 're/lay' may hold only"]),
    ("SyslogTarget relay ftp://h", ["SyslogTarget: malformed target 'ftp://h'"]),
    ("SyslogTarget relay tcp://h framing=lf framing", ["expected key=value, not 'framing'"]),
    ("SyslogTarget relay udp://h framing=lf", ["framing= applies to tcp:// targets only"]),
    ("SyslogTarget relay tcp://h format=json", ["format=json: expected bsd or rfc5424"]),
    ("SyslogTarget relay tcp://h maxlength=100", ["maxlength: '100' is out of range"]),
    ("SyslogTarget relay tcp://h queuesize=64K maxlength=65536", ["must be larger than"]),
    ("SyslogTarget relay tcp://h cafile=/etc/ca.pem", ["unknown key 'cafile'"]),
    ("SyslogTarget relay tcp://h\nSyslogTarget relay udp://h",
     ["SyslogTarget: 'relay' is declared twice"]),
]


@pytest.mark.parametrize("line,expected", CONFIG_ERRORS, ids=[c[0] for c in CONFIG_ERRORS])
def test_config_errors_name_the_directive_and_word(httpd_event, line, expected):
    rc, out = httpd_event.config_test(syslog_conf(httpd_event, line))
    assert rc != 0, out
    for text in expected:
        assert text in out, out


def test_config_test_accepts_every_target_form(httpd_event):
    conf = syslog_conf(
        httpd_event,
        "SyslogIdent web", "SyslogFormat RFC5424", "SyslogMaxLength 2048", "SyslogQueueSize 8M",
        'CustomLog "syslog:" common',
        'CustomLog "syslog:local0.err:tag@unix:/nonexistent/dir/log.sock" common',
        'CustomLog "syslog:user@udp://127.0.0.1" common',
        'CustomLog "syslog:daemon.debug@tcp://[::1]:1514" common',
        'TransferLog "syslog:local7"')
    rc, out = httpd_event.config_test(conf)
    assert rc == 0 and "Syntax OK" in out, out


SCRIBE_SO = BUILD / "mod_scribe.so"


@pytest.mark.skipif(not SCRIBE_SO.exists(), reason="build/mod_scribe.so not built")
@pytest.mark.parametrize("order", [("syslog", "scribe"), ("scribe", "syslog")],
                         ids=["syslog-first", "scribe-first"])
def test_load_order_with_mod_scribe(rsyslog, httpd, order):
    access = httpd.root / "logs" / "access_log"
    conf = httpd.conf().load(*order).add('LogFormat "%P %r" pidline')
    conf.add("BufferedLogs On")
    conf.add(f'CustomLog "{access}" pidline')
    conf.add(f'CustomLog "syslog:local1.info@unix:{rsyslog.socket}" pidline')
    httpd.start(conf)
    ok, failed = burst(httpd, 60, prefix="order")
    assert not failed
    httpd.stop()
    assert sorted(ids_in(access.read_text().splitlines())) == sorted(ok)
    assert_every_id_once(wait_ids(rsyslog, "local1", ok), ok)
