"""Attacks on the suite, each tried the way an attacker would.

The spool tests run what a CGI or mod_php (code running as User, www-data)
can do against the root parent; the client-type tests send what any client
can send. Each test asserts what the operator would check afterwards: the
victim file's bytes, the owner of a directory, the variable a CGI sees, the
status of a request.
"""
import os
import pwd
import re
import subprocess
import time

import pytest
import requests

from lib.paths import BUILD, CGI_DIR
from lib.scribe import Collector

pytestmark = pytest.mark.skipif(os.geteuid() != 0,
                                reason="the parent must run as root and the children as www-data")

USER = "www-data"
ENV_CGI = "/cgi/env.json.py"


def as_user(*cmd):
    """Runs cmd as the children's user, as a CGI would."""
    subprocess.run(list(cmd), user=USER, group=USER, extra_groups=[], check=True,
                   capture_output=True)


def owner(path):
    return pwd.getpwuid(os.lstat(path).st_uid).pw_name


@pytest.fixture
def collector():
    c = Collector().start()
    yield c
    c.cleanup()


def scribe_conf(httpd, collector, *lines):
    conf = httpd.conf().load("scribe")
    conf.add(f"ScribeServer {collector.address}")
    for line in lines:
        conf.add(line)
    conf.add('CustomLog "scribe:www" idline')
    return conf


def root_file(path, text="root's secret\n"):
    path.write_text(text)
    os.chmod(path, 0o600)
    return path


# ---- 1. the root parent following names the children's user planted --------


def test_graceful_restart_does_not_truncate_a_file_linked_into_the_spool(httpd, collector):
    """A CGI links .probe.<parent pid> in the spool to a root file; the next
    graceful restart (logrotate does one daily) must not truncate it."""
    victim = root_file(httpd.root / "shadow")
    httpd.start(scribe_conf(httpd, collector))
    spool = httpd.root / "run" / "scribe-spool"
    assert owner(spool) == USER
    parent = httpd.pid()
    for pid in range(parent - 2, parent + 40):
        as_user("ln", "-sf", str(victim), str(spool / f".probe.{pid}"))
    httpd.graceful()
    httpd.stop()
    assert victim.read_text() == "root's secret\n"
    assert owner(victim) == "root"


def test_spool_dir_swapped_for_a_symlink_is_refused(httpd_event, collector):
    """Where User can write the spool's parent, it can replace the spool
    directory by a link to a root directory: the parent must refuse it, not
    stat, chown or write through the link."""
    httpd = httpd_event
    run = httpd.root / "run"
    assert run.stat().st_mode & 0o002, "the harness's run dir is world-writable"
    treasure = httpd.root / "etc-like"
    treasure.mkdir(mode=0o755)
    root_file(treasure / "passwd")
    conf = scribe_conf(httpd, collector)
    as_user("ln", "-s", str(treasure), str(run / "scribe-spool"))
    rc, out = httpd.config_test(conf)
    assert rc != 0, out
    assert "scribe-spool is a symbolic link in" in out, out
    assert owner(treasure) == "root" and owner(treasure / "passwd") == "root"
    assert sorted(p.name for p in treasure.iterdir()) == ["passwd"]


# ---- 2. existing directories handed to User ----------------------------------


def test_existing_root_directory_is_not_handed_to_user(httpd_event, collector):
    """ScribeSpoolDir /var/log/apache2 would give root's logs to www-data."""
    httpd = httpd_event
    logs = httpd.root / "var-log"
    logs.mkdir(mode=0o750)
    root_file(logs / "error.log", "root's log\n")
    rc, out = httpd.config_test(scribe_conf(httpd, collector, f"ScribeSpoolDir {logs}"))
    assert rc != 0, out
    assert f"ScribeSpoolDir {logs}" in out and "owned by root" in out, out
    assert f"chown {USER} {logs}" in out, out  # says what to do
    assert owner(logs) == "root" and owner(logs / "error.log") == "root"


def test_world_writable_spool_dir_is_refused(httpd_event, collector):
    """Anybody could plant spool files there that get replayed as log lines."""
    httpd = httpd_event
    spool = httpd.root / "open-spool"
    spool.mkdir()
    os.chown(spool, pwd.getpwnam(USER).pw_uid, pwd.getpwnam(USER).pw_gid)
    os.chmod(spool, 0o777)
    rc, out = httpd.config_test(scribe_conf(httpd, collector, f"ScribeSpoolDir {spool}"))
    assert rc != 0, out
    assert "writable by its group or by others (mode 0777)" in out, out
    os.chmod(spool, 0o700)
    rc, out = httpd.config_test(scribe_conf(httpd, collector, f"ScribeSpoolDir {spool}"))
    assert rc == 0, out


def test_missing_spool_dir_is_created_root_parents_user_leaf(httpd_event, collector):
    httpd = httpd_event
    spool = httpd.root / "var" / "spool" / "scribe"
    httpd.start(scribe_conf(httpd, collector, f"ScribeSpoolDir {spool}"))
    for parent in (httpd.root / "var", httpd.root / "var" / "spool"):
        assert owner(parent) == "root" and parent.stat().st_mode & 0o777 == 0o755
    assert owner(spool) == USER and spool.stat().st_mode & 0o777 == 0o700
    httpd.graceful()
    assert httpd.get("/small.txt").status_code == 200
