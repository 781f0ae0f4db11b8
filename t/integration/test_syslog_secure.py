"""tls:// and relp:// targets of mod_syslog against a real rsyslogd: imtcp
with the ossl stream driver (RFC 5425) and imrelp. The certificates are made
by the test with the openssl tool (lib/certs.py) and kept in a directory only
root can read: the children never open them.

What an operator checks: lines arrive parsed (facility, level, tag, pid);
a relay whose certificate does not verify (another CA, another name,
expired) gets nothing, not even in clear, and the error log says why; lines
survive a relay that is killed and restarted mid-burst (RELP: every one,
duplicates bounded), and one that stays away longer than the queue holds
(RELP with spool=); what could not be delivered is counted.
"""
import re
import socket
import threading
import time

import pytest

from lib.certs import Certs
from lib.load import BackgroundLoad, burst
from lib.process_memory import memory_contains
from lib.rsyslog import Rsyslogd
from lib.syslog_helpers import ids_of, reported_counts, syslog_conf, wait_ids

EXIT_LOSS = r"DE0006: .*: (\d+) lines could not be delivered before the child exited"
QUEUE_FULL = r"DE0004: .*: dropped (\d+) lines because the queue"


@pytest.fixture(scope="module")
def certs():
    c = Certs()
    yield c
    c.cleanup()


def relay_with(certs, cert=None, auth="anon"):
    cert = cert or certs.relay
    return Rsyslogd(tls=(cert[0], cert[1], certs.ca), tls_auth=auth, relp=True).start()


@pytest.fixture
def relay(certs):
    r = relay_with(certs)
    yield r
    r.cleanup()


def tls_target(relay, *keys, host="localhost"):
    return f"SyslogTarget relay tls://{host}:{relay.tls_port} " + " ".join(keys)


# ---- tls:// ------------------------------------------------------------------

def test_tls_lines_arrive_parsed(relay, certs, httpd):
    httpd.start(syslog_conf(httpd, tls_target(relay, f"ca={certs.ca}"),
                            'CustomLog "syslog:local4.notice:webtls@relay" pidline'))
    children = set(httpd.children())
    ok, failed = burst(httpd, 300, concurrency=4, prefix=f"tls-{httpd.mpm}")
    assert not failed
    recs = wait_ids(relay, "local4", ok)
    assert set(ok) <= set(ids_of(recs))
    assert {r["tag"] for r in recs} == {"webtls"}
    assert {r["severity"] for r in recs} == {"notice"}
    assert {int(r["pid"]) for r in recs} <= children | set(httpd.children())


def test_tls_client_certificate_for_a_relay_that_asks_for_one(certs, httpd_event):
    """A relay that takes only clients with a certificate of its CA: cert=
    and key= present one. The key file is readable by root alone."""
    httpd = httpd_event
    r = relay_with(certs, auth="x509/certvalid")
    try:
        httpd.start(syslog_conf(
            httpd, tls_target(r, f"ca={certs.ca}", f"cert={certs.client[0]}",
                              f"key={certs.client[1]}"),
            'CustomLog "syslog:local4.info:withcert@relay" pidline'))
        ok, failed = burst(httpd, 50, concurrency=2, prefix=f"cc-{httpd.mpm}")
        assert not failed
        assert set(ok) <= set(ids_of(wait_ids(r, "local4", ok)))
        # The parent (root) read the key and keeps it for the children it
        # will start; a child, running as User, keeps only OpenSSL's parsed
        # key in its context, never the key file's text.
        key_lines = certs.client[1].read_text().splitlines()
        needle = key_lines[len(key_lines) // 2].encode()
        assert len(needle) >= 40
        assert memory_contains(httpd.pid(), needle), "the search finds the key in the parent"
        for child in httpd.children():
            assert not memory_contains(child, needle), f"child {child} holds the key's text"
        httpd.stop()
    finally:
        r.cleanup()


REJECTIONS = {
    # name: (relay's certificate, its authMode, our keys, what the error log says)
    # rsyslogd sends its CA along: the chain ends in a root we do not trust.
    "another CA": ("relay", "anon", ["ca={other_ca}"],
                   "certificate rejected: self-signed certificate in certificate chain"),
    "another name": ("wrong_name", "anon", ["ca={ca}"], "certificate rejected: hostname mismatch"),
    "expired": ("expired", "anon", ["ca={ca}"], "certificate rejected: certificate has expired"),
    # The relay wants a client certificate and we have none: it says so
    # after the handshake is over on our side.
    "no client certificate": ("relay", "x509/certvalid", ["ca={ca}"],
                              "the relay ended the connection right after the handshake"),
}


@pytest.mark.parametrize("case", list(REJECTIONS))
def test_tls_relay_that_does_not_verify_gets_nothing(certs, httpd_event, case):
    httpd = httpd_event
    cert_name, auth, keys, reason = REJECTIONS[case]
    r = relay_with(certs, cert=getattr(certs, cert_name), auth=auth)
    httpd.expect_log_id("DE0001", "DE0006")  # delivery failed; lines lost at the stop
    try:
        keys = [k.format(ca=certs.ca, other_ca=certs.other_ca) for k in keys]
        httpd.start(syslog_conf(httpd, tls_target(r, *keys),
                                'CustomLog "syslog:local4.info:rejected@relay" pidline '
                                '"expr=%{QUERY_STRING} =~ /id=/"'))
        ok, failed = burst(httpd, 30, concurrency=2, prefix="rej")
        assert not failed
        deadline = time.monotonic() + 10
        while reason not in httpd.read_error_log() and time.monotonic() < deadline:
            time.sleep(0.1)
        log = httpd.read_error_log()
        assert re.search(r"DE0001: relay \(tls://localhost:\d+\): delivery failed: "
                         r"127\.0\.0\.1:\d+: " + re.escape(reason), log), log
        httpd.stop()
        assert r.records(where=lambda x: x["tag"] == "rejected") == []
        # Everything the children held is counted.
        log = httpd.read_error_log()
        counted = reported_counts(log, EXIT_LOSS) + reported_counts(log, QUEUE_FULL)
        assert counted == len(ok), (counted, len(ok), log)
    finally:
        r.cleanup()


class RawListener:
    """Accepts connections and keeps every byte it is sent, answering
    nothing: what a sender puts on the wire before a TLS handshake."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.data = b""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        conns = []
        while not self._stop.is_set():
            try:
                c, _ = self.sock.accept()
                c.setblocking(False)
                conns.append(c)
            except socket.timeout:
                pass
            for c in conns:
                try:
                    self.data += c.recv(65536)
                except (BlockingIOError, OSError):
                    pass
        for c in conns:
            c.close()

    def close(self):
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


def test_tls_nothing_in_clear_before_the_handshake(certs, httpd_event):
    httpd = httpd_event
    httpd.expect_log_id("DE0001", "DE0006")
    listener = RawListener()
    try:
        httpd.start(syslog_conf(
            httpd, f"SyslogTarget relay tls://localhost:{listener.port} ca={certs.ca}",
            'CustomLog "syslog:local4.info:secret@relay" pidline'))
        ok, failed = burst(httpd, 20, concurrency=2, prefix="cleartext-marker")
        assert not failed
        time.sleep(3)  # the handshake waits for an answer that never comes
        httpd.stop()
    finally:
        listener.close()
    assert listener.data.startswith(b"\x16\x03"), listener.data[:16]  # a TLS ClientHello
    assert b"cleartext-marker" not in listener.data
    assert b"secret" not in listener.data
    assert "the TLS handshake did not finish in time" in httpd.read_error_log()


def test_tls_relay_killed_mid_burst(relay, certs, httpd_event):
    """The relay is killed and comes back: the lines its kernel had taken
    are sent again on the new connection; whatever does not arrive is
    counted. (The MPMs differ only below TLS: test_syslog.py's tcp tests run
    them all.)"""
    httpd = httpd_event
    httpd.expect_log_id("DE0001")
    httpd.start(syslog_conf(httpd, tls_target(relay, f"ca={certs.ca}"),
                            'CustomLog "syslog:local4.info:midburst@relay" pidline'))
    with BackgroundLoad(httpd, concurrency=4, prefix=f"tk-{httpd.mpm}", max_seconds=40) as load:
        time.sleep(1.0)
        relay.kill()
        time.sleep(0.5)
        relay.start()
        time.sleep(1.5)
    assert len(load.ok) > 100 and not load.failed
    recs = wait_ids(relay, "local4", load.ok, timeout=20)
    httpd.stop()
    log = httpd.read_error_log()
    missing = set(load.ok) - set(ids_of(recs))
    counted = reported_counts(log, EXIT_LOSS) + reported_counts(log, QUEUE_FULL)
    print(f"\n{httpd.mpm}: sent {len(load.ok)}, missing {len(missing)}, counted {counted}")
    assert len(missing) == counted, (len(missing), counted)


CONFIG_ERRORS = [
    ("SyslogTarget r tls://localhost ca=/nonexistent/ca.pem",
     "SyslogTarget r: /nonexistent: cannot read it: No such file or directory"),
    ("SyslogTarget r tls://localhost ca={relay_key}", "no PEM certificate in it"),
    ("SyslogTarget r tls://localhost cert={client_cert}", "cert= needs key="),
    ("SyslogTarget r tls://localhost cert={client_cert} key={relay_key}",
     "not the private key of the certificate in"),
    ("SyslogTarget r tcp://localhost ca={ca}", "ca= applies to tls:// targets only"),
    ("SyslogTarget r tls://localhost window=5", "window= applies to relp:// targets only"),
    ("SyslogTarget r relp://localhost window=1", "window: '1' is out of range (2-1024)"),
    ("SyslogTarget r relp://localhost spoolsize=1K", "spoolsize: '1K' is out of range"),
    # A directory root owns and everybody can write is never handed over.
    ("SyslogTarget r relp://localhost spool=/tmp", "SY0008: SyslogTarget r: /tmp"),
    ("SyslogTarget q relp://localhost spool=/var/spool/x\nSyslogTarget r relp://h spool=/var/spool/x",
     "spool=/var/spool/x is the spool of SyslogTarget q already"),
]


@pytest.mark.parametrize("line,message", CONFIG_ERRORS)
def test_config_errors_name_the_file(certs, httpd_event, line, message):
    line = line.format(relay_key=certs.relay[1], client_cert=certs.client[0], ca=certs.ca)
    conf = syslog_conf(httpd_event, line, 'CustomLog "syslog:local0@r" pidline')
    rc, out = httpd_event.config_test(conf)
    assert rc != 0
    assert message in out, out


# ---- relp:// -------------------------------------------------------------------

def relp_conf(httpd, relay, *keys, log="local5.info:webrelp"):
    return syslog_conf(httpd, f"SyslogTarget relp relp://127.0.0.1:{relay.relp_port} " +
                       " ".join(keys), f'CustomLog "syslog:{log}@relp" pidline')


def test_relp_lines_arrive(relay, httpd):
    httpd.start(relp_conf(httpd, relay))
    ok, failed = burst(httpd, 300, concurrency=4, prefix=f"relp-{httpd.mpm}")
    assert not failed
    recs = wait_ids(relay, "local5", ok)
    assert set(ok) <= set(ids_of(recs))
    assert {r["tag"] for r in recs} == {"webrelp"}


def test_relp_relay_killed_and_restarted_mid_burst(relay, httpd):
    """RELP's acknowledgements: every line arrives, the ones the killed
    relay had not acknowledged twice at most (a window per break)."""
    httpd.expect_log_id("DE0001")
    window = 64
    httpd.start(relp_conf(httpd, relay, f"window={window}"))
    breaks = 2
    with BackgroundLoad(httpd, concurrency=4, prefix=f"rk-{httpd.mpm}", max_seconds=40) as load:
        for _ in range(breaks):
            time.sleep(1.0)
            relay.kill()
            time.sleep(0.5)
            relay.start()
        time.sleep(1.0)
    assert len(load.ok) > 100 and not load.failed
    recs = wait_ids(relay, "local5", load.ok, timeout=20)
    got = ids_of(recs)
    missing = set(load.ok) - set(got)
    duplicates = len(got) - len(set(got))
    print(f"\n{httpd.mpm}: sent {len(load.ok)}, missing {len(missing)}, duplicates {duplicates}")
    assert not missing, sorted(missing)[:10]
    children = 4 if httpd.mpm != "prefork" else 32
    assert duplicates <= window * breaks * children


def test_relp_relay_away_longer_than_the_queue_holds(relay, httpd_event, tmp_path):
    """With spool=, lines the queue cannot hold wait on disk, and so do those
    a child holds when it exits: every line arrives once the relay is back,
    after a restart of httpd too."""
    httpd = httpd_event
    httpd.expect_log_id("DE0001", "SY0003")  # delivery failed, not reachable at startup
    spool = httpd.root / "relp-spool"
    relay.stop()
    httpd.start(relp_conf(httpd, relay, f"spool={spool}", "queuesize=64K"))
    first = [f"away-{n}" for n in range(1500)]
    ok, failed = burst(httpd, 1500, concurrency=4, prefix="away")
    assert not failed
    httpd.stop()  # what the children hold goes to the spool too
    assert any(spool.glob("*.spool"))
    log = httpd.read_error_log()
    assert reported_counts(log, QUEUE_FULL) == 0 and reported_counts(log, EXIT_LOSS) == 0
    relay.start()
    httpd.start()
    recs = wait_ids(relay, "local5", ok, timeout=30)
    missing = set(ok) - set(ids_of(recs))
    assert not missing, f"{len(missing)} of {len(first)} never arrived"
    deadline = time.monotonic() + 10
    while any(spool.glob("*.spool")) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(spool.glob("*.spool"))


def test_relp_relay_away_while_children_run(relay, httpd_event, tmp_path):
    """The relay goes away while httpd serves more lines than the queue holds:
    they wait in the spool, and the running children send them once the
    relay is back, with no restart. Lines the relay had not acknowledged when
    it went may come twice (a window per child)."""
    httpd = httpd_event
    httpd.expect_log_id("DE0001")
    spool = httpd.root / "relp-spool"
    window = 32
    httpd.start(relp_conf(httpd, relay, f"spool={spool}", "queuesize=128K", f"window={window}"))
    before, failed = burst(httpd, 100, concurrency=4, prefix="present")
    assert not failed
    assert set(before) <= set(ids_of(wait_ids(relay, "local5", before)))
    children = len(httpd.children())
    relay.stop()
    # About 300 KB of lines: past half of each child's queue, where the
    # sender spills to the spool, with room left for what comes meanwhile.
    away, failed = burst(httpd, 3000, concurrency=4, prefix="absent")
    assert not failed
    deadline = time.monotonic() + 10
    while not any(spool.glob("*.spool")) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert any(spool.glob("*.spool")), "the queue held everything: nothing was spooled"
    relay.start()
    recs = wait_ids(relay, "local5", before + away, timeout=60)
    got = ids_of(recs)
    missing = set(before + away) - set(got)
    assert not missing, f"{len(missing)} of {len(before) + len(away)} never arrived"
    duplicates = len(got) - len(set(got))
    assert duplicates <= window * children, duplicates
    deadline = time.monotonic() + 10
    while any(spool.glob("*.spool")) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(spool.glob("*.spool"))
    log = httpd.read_error_log()
    assert reported_counts(log, QUEUE_FULL) == 0


def test_relp_relay_hung_at_exit_loses_nothing_with_spool(relay, httpd_event):
    """The relay stops answering with lines in the window, and the children
    exit: those lines go to the spool, and arrive once the relay is back
    (some twice: it may have read them before it hung)."""
    httpd = httpd_event
    httpd.expect_log_id("DE0001")
    spool = httpd.root / "relp-spool"
    httpd.start(relp_conf(httpd, relay, f"spool={spool}", "window=32"))
    first, failed = burst(httpd, 200, concurrency=4, prefix="beforehang")
    assert not failed
    assert set(first) <= set(ids_of(wait_ids(relay, "local5", first)))
    relay.pause()
    held, failed = burst(httpd, 200, concurrency=4, prefix="hung")
    assert not failed
    time.sleep(0.5)
    httpd.stop()
    assert any(spool.glob("*.spool")), "nothing was spooled"
    log = httpd.read_error_log()
    assert reported_counts(log, EXIT_LOSS) == 0 and reported_counts(log, QUEUE_FULL) == 0
    relay.resume()
    httpd.start()
    recs = wait_ids(relay, "local5", first + held, timeout=30)
    missing = set(first + held) - set(ids_of(recs))
    assert not missing, f"{len(missing)} lines never arrived, e.g. {sorted(missing)[:5]}"
