"""SyslogTarget: receivers declared once and named by CustomLog, with one
sender per distinct target per child however many logs and vhosts use it.

What an operator checks: every log's lines arrive with that log's facility,
level and tag; `ps -L` shows one sender thread per target in each child; a
target's keys (format, framing, maxlength) show on the wire. Bad names and
keys (which stop `apachectl -t` with the directive and the word at fault)
are cases of test_syslog.py's CONFIG_ERRORS.
"""
import re
import time
from pathlib import Path

import pytest
import requests

from lib.load import burst, ids_in
from lib.syslog_helpers import TcpLineReceiver, ids_of, reported_counts, syslog_conf, wait_ids

SENDER_THREAD = "syslog-sender"  # what the kit names a sender thread


def sender_threads(pid):
    """How many threads of process `pid` are sender threads."""
    n = 0
    for comm in Path(f"/proc/{pid}/task").glob("*/comm"):
        try:
            if comm.read_text().strip() == SENDER_THREAD:
                n += 1
        except OSError:
            pass  # the thread ended meanwhile
    return n


def assert_senders_per_child(httpd, want):
    children = httpd.children()
    assert children, "no children"
    counts = {pid: sender_threads(pid) for pid in children}
    assert set(counts.values()) == {want}, counts


def get_vhost(httpd, name, rid):
    r = requests.get(httpd.url(f"/small.txt?id={rid}"), headers={"Host": name}, timeout=10)
    assert r.status_code == 200
    return rid


def test_named_target_shared_by_logs_and_vhosts(rsyslog, httpd):
    conf = syslog_conf(
        httpd,
        f"SyslogTarget relay tcp://127.0.0.1:{rsyslog.tcp_port}",
        'CustomLog "syslog:local1.info:mainlog@relay" pidline',
        'CustomLog "syslog:local3.notice@relay" pidline')
    # a.test, the first vhost of the address, logs through the main server's.
    conf.add_vhost("", server_name="a.test")
    conf.add_vhost('SyslogIdent btag\nCustomLog "syslog:local2.warn@relay" pidline',
                   server_name="b.test")
    httpd.start(conf)
    main_ids = [get_vhost(httpd, "a.test", f"nm-main-{i}") for i in range(20)]
    b_ids = [get_vhost(httpd, "b.test", f"nm-b-{i}") for i in range(20)]
    for facility, severity, tag, ids in (("local1", "info", "mainlog", main_ids),
                                         ("local3", "notice", "apache2", main_ids),
                                         ("local2", "warning", "btag", b_ids)):
        recs = [r for r in wait_ids(rsyslog, facility, ids) if ids_in([r["text"]])]
        assert sorted(ids_of(recs)) == sorted(ids), facility
        assert {(r["severity"], r["tag"]) for r in recs} == {(severity, tag)}
        # Over tcp, the default format is RFC 5424.
        assert all(re.match(r"<\d+>1 ", r["raw"]) for r in recs), recs[0]["raw"]
    # Three logs, two servers, one target: one sender in each child.
    assert_senders_per_child(httpd, 1)


@pytest.mark.parametrize("httpd", ["prefork", "event"], indirect=True)
def test_500_vhosts_one_sender_per_target(rsyslog, httpd):
    """500 vhosts, each with its own log to a named target, and every other
    one with a second log to one inline URL: two targets, so two sender
    threads per child, not 750."""
    conf = syslog_conf(httpd, f"SyslogTarget relay tcp://127.0.0.1:{rsyslog.tcp_port}")
    for i in range(500):
        logs = f'CustomLog "syslog:local4.info:v{i}@relay" pidline'
        if i % 2 == 0:
            logs += f'\nCustomLog "syslog:local5.info:u{i}@unix:{rsyslog.socket}" pidline'
        conf.add_vhost(logs, server_name=f"v{i}.test")
    httpd.start(conf)
    picked = [0, 1, 2, 137, 250, 498, 499]
    sent = {i: [get_vhost(httpd, f"v{i}.test", f"v{i}-{k}") for k in range(3)] for i in picked}
    every = [rid for ids in sent.values() for rid in ids]
    recs = [r for r in wait_ids(rsyslog, "local4", every) if ids_in([r["text"]])]
    assert sorted(ids_of(recs)) == sorted(every)
    for r in recs:
        assert r["tag"] == "v" + ids_in([r["text"]])[0].split("-")[0][1:], r
    inline = [rid for i, ids in sent.items() if i % 2 == 0 for rid in ids]
    recs = [r for r in wait_ids(rsyslog, "local5", inline) if ids_in([r["text"]])]
    assert sorted(ids_of(recs)) == sorted(inline)
    assert_senders_per_child(httpd, 2)


def test_target_keys_show_on_the_wire(httpd_event):
    """framing=lf, format=bsd and maxlength= of a SyslogTarget, read at a
    receiver that sees the bytes as sent."""
    httpd = httpd_event
    rx = TcpLineReceiver()
    try:
        conf = syslog_conf(
            httpd, "LimitRequestLine 16384",
            f"SyslogTarget lfrelay tcp://127.0.0.1:{rx.port} framing=lf format=bsd "
            f"maxlength=1024",
            'CustomLog "syslog:local1.notice:lftag@lfrelay" pidline')
        httpd.expect_log_id("DE0015")  # lines truncated to maxlength
        httpd.start(conf)
        ok, failed = burst(httpd, 30, prefix="lf")
        assert not failed
        long_id = "lf-long"
        assert httpd.get(f"/small.txt?id={long_id}&pad={'p' * 4000}").status_code == 200
        httpd.stop()
        msgs = [m for m in rx.wait(len(ok) + 2) if "id=" in m]
        # One record per line (no octet count in front), the bsd network form.
        pattern = re.compile(r"<141>\w{3} [ \d]\d \d\d:\d\d:\d\d \S+ lftag\[(\d+)\]: (\d+) GET ")
        for m in msgs:
            match = pattern.match(m)
            assert match and match.group(1) == match.group(2), m
        assert sorted(ids_in(msgs)) == sorted(ok + [long_id])
        long = [m for m in msgs if long_id in m]
        assert len(long) == 1 and len(long[0].encode()) == 1024, len(long[0])
        log = httpd.read_error_log()
        assert re.search(r"DE0015: lfrelay \(tcp://127\.0\.0\.1:\d+\): 1 lines truncated", log), log
    finally:
        rx.close()


def test_idle_connection_loss_resends_no_stale_line(httpd_event):
    """A relay that closes an idle connection (a restart, an idle timeout):
    lines it took long before are not sent again on the next connection,
    and are counted as unconfirmed (its kernel took them; only the relay
    knows whether it read them); what is sent after arrives once."""
    httpd = httpd_event
    rx = TcpLineReceiver()
    try:
        conf = syslog_conf(httpd, f"SyslogTarget lf tcp://127.0.0.1:{rx.port} framing=lf",
                           'CustomLog "syslog:local1@lf" pidline')
        # Delivery failed (on a connection found dead); lines not sent again.
        httpd.expect_log_id("DE0001", "DE0028")
        httpd.start(conf)
        first, failed = burst(httpd, 20, prefix="idle-a")
        assert not failed
        assert set(first) <= set(ids_in(rx.wait(len(first) + 1)))
        time.sleep(6)  # past the 5 s resend window
        before = rx.wait(0)  # the harness's requests too
        rx.drop_connections()
        time.sleep(1)  # the idle check notices
        second, failed = burst(httpd, 20, prefix="idle-b")
        assert not failed
        httpd.stop()
        got = ids_in(m for m in rx.wait(len(first) + len(second) + 1) if "id=" in m)
        assert sorted(i for i in got if i.startswith("idle-a")) == sorted(first)
        assert set(second) <= set(got)
        unconfirmed = reported_counts(httpd.read_error_log(), r"DE0028: .*?: (\d+) lines sent")
        assert unconfirmed == len(before), (unconfirmed, len(before))
    finally:
        rx.close()


def test_names_need_no_help_from_mod_log_config(rsyslog, httpd_event):
    """A CustomLog that names a target holds no '/': mod_log_config's own
    directory check passes it, and only inline URLs need mod_syslog's
    exemption. Beside a file log in a missing directory, which still fails."""
    httpd = httpd_event
    conf = syslog_conf(httpd, f"SyslogTarget local unix:{rsyslog.socket}",
                       'CustomLog "syslog:local1@local" pidline',
                       f'CustomLog "{httpd.root}/no-such-dir/access_log" pidline')
    rc, out = httpd.config_test(conf)
    assert rc != 0 and "AH02297" in out and "no-such-dir" in out, out
    assert "syslog:" not in out, out


def test_syslog_target_is_main_server_only(httpd_event):
    conf = syslog_conf(httpd_event)
    conf.add_vhost("SyslogTarget relay tcp://127.0.0.1", server_name="v.test")
    rc, out = httpd_event.config_test(conf)
    assert rc != 0 and "SyslogTarget" in out and "VirtualHost" in out, out


def test_shipped_example_config_is_valid(httpd_event):
    """conf.d/syslog.conf with every example line uncommented passes
    `apachectl -t`: what it shows an operator works as written."""
    example = Path(__file__).resolve().parents[2] / "conf.d" / "syslog.conf"
    lines = [re.sub(r"^(\s*)#(?=[A-Z])", r"\1", line) for line in example.read_text().splitlines()]
    active = [line for line in lines if re.match(r"\s*[A-Z<]", line)]
    assert any("SyslogTarget" in line for line in active), active
    rc, out = httpd_event.config_test(syslog_conf(httpd_event, *active).load("setenvif"))
    assert rc == 0 and "Syntax OK" in out, out
