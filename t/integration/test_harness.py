"""The harness itself: httpd and rsyslogd come up, serve, restart, stop."""
import subprocess

from lib.load import burst, ids_in


def test_httpd_serves_and_restarts(httpd):
    conf = httpd.conf()
    conf.add(f'CustomLog "{httpd.root}/logs/access_log" idline')
    httpd.start(conf)
    assert httpd.get("/index.html").text == "<html>ok</html>\n"
    ok, failed = burst(httpd, 50, prefix="h")
    assert not failed
    httpd.graceful()
    assert httpd.get("/small.txt").status_code == 200
    httpd.stop()
    lines = (httpd.root / "logs" / "access_log").read_text().splitlines()
    assert set(ids_in(lines)) == set(ok)


def test_config_test_reports_errors(httpd_event):
    conf = httpd_event.conf().add("NoSuchDirective here")
    rc, out = httpd_event.config_test(conf)
    assert rc != 0 and "NoSuchDirective" in out


def test_rsyslog_receives_from_logger(rsyslog):
    subprocess.run(["logger", "-u", rsyslog.socket, "-p", "local6.notice", "-t", "probe",
                    "hello unix"], check=True)
    subprocess.run(["logger", "-n", "127.0.0.1", "-P", str(rsyslog.udp_port), "-d",
                    "-p", "local5.info", "-t", "probe", "hello udp"], check=True)
    recs = rsyslog.records(2, where=lambda r: r["tag"] == "probe")
    got = {(r["facility"], r["severity"], r["text"]) for r in recs}
    assert ("local6", "notice", "hello unix") in got
    assert ("local5", "info", "hello udp") in got


def test_scan_catches_a_child_killed_by_a_signal():
    """The fixtures fail a test on AH00052 ([notice]); this proves the scan
    sees one, so that a crash at child exit cannot pass unnoticed, and that
    the child's core is where core_report() looks (or, in a sanitizer
    build, that ASan's report of the signal reaches the error log)."""
    import os
    import re
    import signal
    import time
    from pathlib import Path
    from lib.httpd import Httpd
    h = Httpd(mpm="prefork")
    try:
        h.start(h.conf())
        victim = h.children()[0]
        os.kill(victim, signal.SIGSEGV)
        deadline = time.monotonic() + 10
        if os.environ.get("SANITIZE") == "1":
            # ASan keeps the SIGSEGV handler (lib.httpd.sanitizer_env): the
            # child reports the signal with its stack and exits.
            def frames():
                return [l for l in h.sanitizer_reports() if re.match(r"\s+#\d+ ", l)]
            while len(frames()) < 2 and time.monotonic() < deadline:
                time.sleep(0.1)
            assert any(f"=={victim}==ERROR: AddressSanitizer: SEGV" in l
                       for l in h.sanitizer_reports())
            assert frames(), h.read_error_log()
            return
        while not h.fatal_log_lines() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert any(re.search(r"AH0005[12]: child pid %d " % victim, l)
                   for l in h.fatal_log_lines())
        # The core goes to CoreDumpDirectory when the kernel writes it to a
        # file in the cwd (core_pattern without a '/' or a '|').
        pattern = Path("/proc/sys/kernel/core_pattern").read_text().strip()
        if "/" not in pattern and not pattern.startswith("|"):
            deadline = time.monotonic() + 10
            while not h.cores() and time.monotonic() < deadline:
                time.sleep(0.1)
            assert h.cores(), h.core_report()
            assert f"core file: {h.cores()[0]}" in h.core_report()
    finally:
        h.cleanup()
