"""tls:// and relp:// targets of mod_syslog against a real rsyslogd: imtcp
with the ossl driver (RFC 5425) and imrelp, certificates made by the test
with the openssl tool.
"""
import pytest

from lib.certs import Certs
from lib.load import burst
from lib.rsyslog import Rsyslogd
from lib.syslog_helpers import ids_of, syslog_conf, wait_ids


@pytest.fixture(scope="module")
def certs():
    c = Certs()
    yield c
    c.cleanup()


@pytest.fixture
def relay(certs):
    r = Rsyslogd(tls=(certs.relay[0], certs.relay[1], certs.ca), relp=True).start()
    yield r
    r.cleanup()


def test_tls_lines_arrive_parsed(relay, certs, httpd):
    httpd.start(syslog_conf(
        httpd, f"SyslogTarget relay tls://localhost:{relay.tls_port} ca={certs.ca}",
        'CustomLog "syslog:local4.notice:webtls@relay" pidline'))
    ok, failed = burst(httpd, 200, concurrency=4, prefix=f"tls-{httpd.mpm}")
    assert not failed
    recs = wait_ids(relay, "local4", ok)
    assert set(ok) <= set(ids_of(recs))
    r = recs[0]
    assert r["tag"] == "webtls" and r["severity"] == "notice"
    assert int(r["pid"]) in httpd.children() or r["pid"]


def test_relp_lines_arrive(relay, httpd):
    httpd.start(syslog_conf(
        httpd, f"SyslogTarget relp relp://127.0.0.1:{relay.relp_port}",
        'CustomLog "syslog:local5.info:webrelp@relp" pidline'))
    ok, failed = burst(httpd, 200, concurrency=4, prefix=f"relp-{httpd.mpm}")
    assert not failed
    recs = wait_ids(relay, "local5", ok)
    assert set(ok) <= set(ids_of(recs))
    assert recs[0]["tag"] == "webrelp"
