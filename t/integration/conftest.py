"""Fixtures shared by the integration suites.

`httpd` is parametrized over the event, worker and prefork MPMs. After each
test the error log is scanned: a [warn] or worse that the test did not declare
with httpd.expect_log() fails the test, and so does any sanitizer report, any
child that died on a signal and any stop httpd had to escalate (those at any
level, and no expect_log() excuses them).
"""
import os

import pytest

from lib.httpd import Httpd
from lib.paths import BUILD
from lib.rsyslog import Rsyslogd
from lib.scribe import Collector

MPMS = ["event", "worker", "prefork"]


def _make_httpd(request, mpm):
    h = Httpd(mpm=mpm)
    yield h
    h.stop()
    bad = h.unexpected_log_lines()
    san = h.sanitizer_reports()
    fatal = h.fatal_log_lines()
    failed = getattr(request.node, "rep_call", None)
    if fatal:
        # A dead child's core (CoreDumpDirectory in the server root) is kept
        # with the root's logs; the root of a test that died without one
        # goes like any other.
        report = h.core_report()
        keep = bool(h.cores())
        h.cleanup(keep=keep)
        kept = f"\nserver root kept: {h.root}" if keep else ""
        pytest.fail("children died or a stop was escalated:\n" + "\n".join(fatal + san) +
                    "\n" + report + kept, pytrace=False)
    if (bad or san) and not (failed and failed.failed):
        h.cleanup()
        pytest.fail("unexpected error-log lines:\n" + "\n".join(bad + san), pytrace=False)
    # MODSUITE_KEEP_FAILED=1 keeps the server root (logs, spool) of a failed
    # test, for a look at what httpd wrote.
    keep = bool(os.environ.get("MODSUITE_KEEP_FAILED")) and bool(failed and failed.failed)
    if keep:
        print(f"\nserver root kept: {h.root}")
    h.cleanup(keep=keep)


@pytest.fixture(params=MPMS)
def httpd(request):
    """A real httpd (not started) for each MPM."""
    yield from _make_httpd(request, request.param)


@pytest.fixture
def httpd_event(request):
    """A real httpd with the event MPM, for tests where the MPM does not matter."""
    yield from _make_httpd(request, "event")


@pytest.fixture
def rsyslog():
    r = Rsyslogd().start()
    yield r
    r.cleanup()


@pytest.fixture
def collector():
    c = Collector().start()
    yield c
    c.cleanup()


@pytest.fixture
def collector2():
    c = Collector().start()
    yield c
    c.cleanup()


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


def pytest_report_header(config):
    built = sorted(p.name for p in BUILD.glob("mod_*.so"))
    return "modules built: " + (", ".join(built) or "none")
