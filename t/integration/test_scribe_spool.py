"""mod_scribe's spool through what operators do while lines wait in it:
the collector list changed, reordered or shortened, a category retired, the
replaying child recycled mid-file. Real httpd, real Thrift collectors; every
line counted.
"""
import re
import time

import pytest
import requests

from lib.load import burst, ids_in
from test_scribe import FAST, TROUBLE, assert_all_arrive, send, spool_files


# Only the test's own requests: counts are exact (the harness's readiness
# probe is not logged).
IDS = 'idline "expr=%{QUERY_STRING} =~ /^id=/"'


def conf_with(httpd, servers, body):
    conf = httpd.conf().load("scribe")
    conf.add("ScribeServer " + " ".join(c.address for c in servers))
    conf.add(FAST)
    conf.add(body)
    return conf


def wait_spool_empty(httpd, timeout=20):
    deadline = time.monotonic() + timeout
    while spool_files(httpd) and time.monotonic() < deadline:
        time.sleep(0.2)
    return spool_files(httpd)


def arrived(collectors, category):
    ids = []
    for c in collectors:
        ids += ids_in(c.lines(category))
    return ids


CHANGES = {
    # name: (ScribeServer before, after) as indexes into (collector, collector2)
    "failover put in front": ((0,), (1, 0)),
    "reordered": ((0, 1), (1, 0)),
    "shrunk": ((0, 1), (1,)),
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_spooled_lines_survive_a_new_collector_list(httpd_event, collector, collector2, change):
    """Spool files are named after the collector list; lines spooled under
    the old list are adopted by the sender of their category under the new
    one."""
    httpd = httpd_event
    httpd.expect_log_id(*TROUBLE, "DE0023")
    both = (collector, collector2)
    before, after = ([both[i] for i in ix] for ix in CHANGES[change])
    body = f'CustomLog "scribe:www" {IDS}'
    collector.kill()
    collector2.kill()
    httpd.start(conf_with(httpd, before, body))
    ok = send(httpd, 300, "spooled")
    httpd.stop()
    assert spool_files(httpd), "nothing was spooled"
    collector.start()
    collector2.start()
    httpd.start(conf_with(httpd, after, body))
    deadline = time.monotonic() + 30
    while not set(ok) <= set(arrived(both, "www")) and time.monotonic() < deadline:
        time.sleep(0.2)
    missing = set(ok) - set(arrived(both, "www"))
    assert not missing, f"{len(missing)} of {len(ok)} spooled lines never arrived"
    assert not wait_spool_empty(httpd), "spool files stay after replay"
    log = httpd.read_error_log()
    adopted = sum(int(n) for n in re.findall(r"DE0023: replaying (\d+) spooled lines "
                                             r"of category 'www'", log))
    assert adopted == len(ok)


def test_lines_of_a_retired_category_are_kept_reported_and_delivered_later(
        httpd_event, collector, collector2):
    """Neither the list nor the category of the spooled lines is configured
    any more: the files stay, are reported once per generation with their
    counts, and go as soon as a log of that category is configured again."""
    httpd = httpd_event
    httpd.expect_log_id(*TROUBLE, "DE0023", "DE0024")
    collector.kill()
    httpd.start(conf_with(httpd, [collector], f'CustomLog "scribe:retired" {IDS}'))
    ok = send(httpd, 120, "retired")
    httpd.stop()
    files = spool_files(httpd)
    assert files
    spooled_bytes = sum(f.stat().st_size for f in files)

    httpd.start(conf_with(httpd, [collector2], f'CustomLog "scribe:www" {IDS}'))
    www = send(httpd, 20, "www")
    assert_all_arrive(collector2, "www", www)
    time.sleep(1)  # each child's sender has looked at the directory
    reports = re.findall(r"DE0024: (\d+) spooled lines \((\d+) bytes, (\d+) files.*"
                         r"category 'retired'", httpd.read_error_log())
    # One report for the generation, though two children started.
    assert len(reports) == 1, reports
    lines, nbytes, nfiles = (int(x) for x in reports[0])
    assert lines == 120
    assert nfiles == len(files)
    assert nbytes < spooled_bytes  # records only, without the files' headers
    assert spool_files(httpd) == files, "kept files changed"
    assert collector2.lines("retired") == []

    # The operator brings the category back: a graceful restart delivers it.
    conf = conf_with(httpd, [collector2], f'CustomLog "scribe:www" {IDS}\n'
                                          f'CustomLog "scribe:retired" {IDS}')
    httpd.graceful(conf)
    assert_all_arrive(collector2, "retired", ok)
    assert not wait_spool_empty(httpd)


def recycle_children(httpd, how):
    """Ends the children that are replaying: as a graceful restart, as
    MaxConnectionsPerChild does (a few new connections each), or by SIGKILL
    (the kernel's OOM killer). Returns how many children it ended, once
    every one of them is gone."""
    children = set(httpd.children())
    if how == "graceful":
        httpd.graceful()
    elif how == "sigkill":
        for pid in children:
            httpd.kill_child(pid)
    deadline = time.monotonic() + 30
    while children & set(httpd.children()):
        assert time.monotonic() < deadline, f"{how}: children {children} still run"
        if how == "max_connections":  # new connections until each has had its share
            requests.get(httpd.url("/index.html"), headers={"Connection": "close"}, timeout=10)
        else:
            time.sleep(0.1)
    return len(children)


@pytest.mark.parametrize("how", ["graceful", "max_connections", "sigkill"])
def test_replay_recycled_mid_file_sends_at_most_a_batch_again(httpd_event, collector, how):
    """The replay's progress is in the spool file: a child that exits in the
    middle of a file, however it ends, leaves at most its batch in flight to
    be sent again."""
    httpd = httpd_event
    httpd.expect_log_id(*TROUBLE)
    batch = 100
    body = f'ScribeBatchSize {batch}\nScribeReplayRate off\nCustomLog "scribe:www" {IDS}'
    collector.kill()
    httpd.start(conf_with(httpd, [collector], body))
    ok, failed = burst(httpd, 3000, concurrency=4, prefix="replay")
    assert not failed
    httpd.stop()
    assert spool_files(httpd)
    collector.start()
    collector.delay(100)  # a slow collector: the replay takes seconds
    if how == "max_connections":
        body += "\nMaxConnectionsPerChild 2"
    httpd.start(conf_with(httpd, [collector], body))
    rounds, ended = 2, 0
    for n in range(rounds):
        deadline = time.monotonic() + 30
        while len(collector.lines("www")) < 600 * (n + 1) and time.monotonic() < deadline:
            time.sleep(0.1)
        ended += recycle_children(httpd, how)
    collector.delay(0)
    assert_all_arrive(collector, "www", ok, timeout=60)
    assert not wait_spool_empty(httpd)
    got = ids_in(collector.lines("www"))
    duplicates = len(got) - len(set(got))
    print(f"\n{how}: {duplicates} duplicates of {len(got)} lines, {ended} children ended")
    # At most one batch per child that ended mid-replay.
    assert duplicates <= batch * ended, duplicates
