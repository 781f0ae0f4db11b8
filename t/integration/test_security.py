"""Attacks on the suite, each tried the way an attacker would.

The spool tests run what a CGI or mod_php (code running as User, www-data)
can do against the root parent; the client-type tests send what any client
can send. Each test asserts what the operator would check afterwards: the
victim file's bytes, the owner of a directory, the variable a CGI sees, the
status of a request.
"""
import json
import os
import pwd
import re
import subprocess

import pytest

from lib.cidr_helpers import recording_backend, cgi_env, cidr_conf, write_list
from lib.paths import BUILD, CGI_DIR, HTTPD_BIN
from lib.scribe import Collector

pytestmark = pytest.mark.skipif(os.geteuid() != 0,
                                reason="the parent must run as root and the children as www-data")

USER = "www-data"


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
    # About the directories only: a sender that once finds the collector busy
    # (seen once in a sanitizer run) says so, which is not this test's concern.
    httpd.expect_log_id("DE0001")  # delivery failed
    spool = httpd.root / "var" / "spool" / "scribe"
    httpd.start(scribe_conf(httpd, collector, f"ScribeSpoolDir {spool}"))
    for parent in (httpd.root / "var", httpd.root / "var" / "spool"):
        assert owner(parent) == "root" and parent.stat().st_mode & 0o777 == 0o755
    assert owner(spool) == USER and spool.stat().st_mode & 0o777 == 0o700
    httpd.graceful()
    assert httpd.get("/small.txt").status_code == 200


# ---- 3. a client choosing its own client type ---------------------------------

# Every spelling that reaches the same name somewhere: SetEnvIf reads a header
# named like the variable (ignoring case), CGI/WSGI/Rack fold '-' and '_'.
SPELLINGS = ["X_CLIENT_TYPE", "x_client_type", "X-CLIENT_TYPE", "X_Client-Type",
             "X-Client-Type", "x-client-type"]


def test_setenvif_on_the_variable_cannot_be_fooled_by_a_header(httpd):
    """`SetEnvIf X_CLIENT_TYPE ^office$ trusted`: mod_setenvif reads a request
    header of that name before the variable."""
    write_list(httpd, "office.txt", "192.0.2.0/24\n")  # the client is not in it
    conf = cidr_conf(httpd, "setenvif")
    conf.add(f'CIDRFile "{httpd.root}/cidr/office.txt"')
    conf.add("SetEnvIf X_CLIENT_TYPE ^office$ trusted")
    httpd.start(conf)
    for name in SPELLINGS:
        env = cgi_env(httpd, headers={name: "office"})
        assert "trusted" not in env, name
        assert "X_CLIENT_TYPE" not in env and "HTTP_X_CLIENT_TYPE" not in env, name


def test_readme_idioms_see_the_real_answer_only(httpd_event):
    """What the README recommends: set for a listed client, never for a
    forged header."""
    httpd = httpd_event
    office = write_list(httpd, "office.txt", "192.0.2.0/24\n")
    conf = cidr_conf(httpd, "setenvif", "env")
    conf.add(f'CIDRFile "{office}"')
    conf.add("""SetEnvIfExpr "reqenv('X_CLIENT_TYPE') == 'office'" trusted""")
    conf.add("""<If "reqenv('X_CLIENT_TYPE') == 'office'">\n  SetEnv in_office 1\n</If>""")
    httpd.start(conf)
    for name in SPELLINGS:
        env = cgi_env(httpd, headers={name: "office"})
        assert "trusted" not in env and "in_office" not in env, name
    office.write_text("127.0.0.0/8\n")
    httpd.graceful()
    env = cgi_env(httpd)
    assert env.get("trusted") == "1" and env.get("in_office") == "1", env


@pytest.fixture
def backend():
    yield from recording_backend()


def folded(name):
    return name.lower().replace("_", "-")


@pytest.mark.parametrize("header", ["X-Client-Type", "off"])
def test_proxied_backend_gets_no_forged_spelling(httpd_event, backend, header):
    """mod_proxy_http forwards `X_Client_Type`; WSGI and Rack map it to the
    HTTP_X_CLIENT_TYPE the real header gets. Also with the header off."""
    httpd = httpd_event
    write_list(httpd, "office.txt", "192.0.2.0/24\n")
    conf = cidr_conf(httpd, "proxy", "proxy_http")
    conf.add(f'CIDRFile "{httpd.root}/cidr/office.txt"')
    conf.add(f"CIDRLookupHeader {header}\nCIDRLookupNetworkEnv X_CLIENT_CIDR")
    conf.add(f"ProxyPass /app/ http://127.0.0.1:{backend.server_address[1]}/")
    httpd.start(conf)
    for name in SPELLINGS + ["X_Client_Cidr", "x-client-cidr"]:
        r = httpd.get("/app/x", headers={name: "office"})
        assert r.status_code == 200 and r.text == "backend"
        got = [folded(k) for k in backend.seen[-1].keys()]
        assert "x-client-type" not in got and "x-client-cidr" not in got, (name, got)


def test_forged_spellings_removed_without_any_list(httpd_event):
    httpd = httpd_event
    conf = cidr_conf(httpd, "setenvif")
    conf.add("SetEnvIf X_CLIENT_TYPE ^office$ trusted")
    httpd.start(conf)
    for name in SPELLINGS:
        env = cgi_env(httpd, headers={name: "office"})
        assert "trusted" not in env and "HTTP_X_CLIENT_TYPE" not in env, name


# ---- 4. subrequests and their own directory section ---------------------------

DENIED = r"AH01630: client denied by server configuration"


def ssi_conf(httpd):
    """Everyone local is `office` for the server; /admin has its own lists,
    where only 192.0.2.0/24 is, and lets only office in."""
    write_list(httpd, "office.txt", "127.0.0.0/8\n")
    write_list(httpd, "admin/office.txt", "192.0.2.0/24\n")
    write_list(httpd, "partners/partner.txt", "127.0.0.0/8\n")
    (httpd.root / "htdocs" / "admin").mkdir()
    (httpd.root / "htdocs" / "admin" / "secret.txt").write_text("TOPSECRET\n")
    (httpd.root / "htdocs" / "page.shtml").write_text(
        'before <!--#include virtual="/admin/secret.txt" --> after\n')
    # A CGI included by an SSI page runs in a subrequest with its own
    # environment (nested SSI documents share the page's by design).
    (httpd.root / "htdocs" / "types.shtml").write_text(
        'main=<!--#echo var="X_CLIENT_TYPE" -->\n'
        '<!--#include virtual="/partners/env.json.py" -->')
    conf = cidr_conf(httpd, "include")
    conf.add(f'CIDRFile "{httpd.root}/cidr/office.txt"')
    conf.add(f'<Directory "{httpd.root}/htdocs">\n  Options +Includes\n</Directory>')
    conf.add("AddOutputFilter INCLUDES .shtml\nAddType text/html .shtml")
    conf.add(f'<Location "/admin">\n  CIDRFile "{httpd.root}/cidr/admin/office.txt"\n'
             "  Require client-type office\n</Location>")
    conf.add(f'ScriptAlias /partners/ "{CGI_DIR}/"')
    conf.add(f'<Location "/partners">\n  CIDRFile "{httpd.root}/cidr/partners/partner.txt"\n'
             "</Location>")
    return conf


def test_ssi_include_cannot_reach_what_require_denies(httpd):
    httpd.expect_log(DENIED)
    httpd.expect_log(r"AH01339|unable to include")
    httpd.start(ssi_conf(httpd))
    assert httpd.get("/admin/secret.txt").status_code == 403
    r = httpd.get("/page.shtml")
    assert r.status_code == 200 and r.text.startswith("before")
    assert "TOPSECRET" not in r.text


def test_subrequest_gets_the_answer_of_its_own_section(httpd_event):
    httpd = httpd_event
    httpd.start(ssi_conf(httpd))
    r = httpd.get("/types.shtml")
    assert r.status_code == 200
    main, included = r.text.split("\n", 1)
    assert main == "main=office"
    env = json.loads(included)
    assert env["X_CLIENT_TYPE"] == "partner" and env["HTTP_X_CLIENT_TYPE"] == "partner"
    # The page itself, asked for directly, is still the server's answer.
    assert cgi_env(httpd)["X_CLIENT_TYPE"] == "office"


def test_directory_index_cannot_serve_what_require_denies(httpd_event):
    """mod_dir looks the index up as a subrequest and serves it as the main
    request: the index's own section decides."""
    httpd = httpd_event
    httpd.expect_log(DENIED)
    write_list(httpd, "office.txt", "127.0.0.0/8\n")
    write_list(httpd, "admin/office.txt", "192.0.2.0/24\n")
    dl = httpd.root / "htdocs" / "dl"
    dl.mkdir()
    (dl / "secret.html").write_text("TOPSECRET\n")
    conf = cidr_conf(httpd)
    conf.add(f'CIDRFile "{httpd.root}/cidr/office.txt"')
    conf.add(f'<Directory "{dl}">\n  DirectoryIndex secret.html\n'
             f'  <Files "secret.html">\n    CIDRFile "{httpd.root}/cidr/admin/office.txt"\n'
             "    Require client-type office\n  </Files>\n</Directory>")
    httpd.start(conf)
    assert httpd.get("/dl/secret.html").status_code == 403
    r = httpd.get("/dl/")
    assert "TOPSECRET" not in r.text
    assert r.status_code == 403


def test_multiviews_cannot_serve_what_require_denies(httpd_event):
    """mod_negotiation looks each variant up as a subrequest."""
    httpd = httpd_event
    httpd.expect_log(DENIED)
    httpd.expect_log(r"AH00687")  # negotiation: no acceptable variant
    write_list(httpd, "office.txt", "127.0.0.0/8\n")
    write_list(httpd, "admin/office.txt", "192.0.2.0/24\n")
    mv = httpd.root / "htdocs" / "mv"
    mv.mkdir()
    (mv / "secret.html").write_text("TOPSECRET\n")
    conf = cidr_conf(httpd, "negotiation")
    conf.add(f'CIDRFile "{httpd.root}/cidr/office.txt"')
    conf.add(f'<Directory "{mv}">\n  Options +MultiViews\n'
             f'  <Files "secret.html">\n    CIDRFile "{httpd.root}/cidr/admin/office.txt"\n'
             "    Require client-type office\n  </Files>\n</Directory>")
    httpd.start(conf)
    assert httpd.get("/mv/secret.html").status_code == 403
    r = httpd.get("/mv/secret")
    assert "TOPSECRET" not in r.text
    assert r.status_code in (403, 404, 406)


def test_rewrite_lookahead_gets_the_answer_of_its_own_section(httpd_event):
    """`RewriteCond PATH -U` runs a subrequest: it may only see PATH as
    reachable when a direct request for PATH would be allowed."""
    httpd = httpd_event
    httpd.expect_log(DENIED)
    conf = ssi_conf(httpd).load("rewrite")
    (httpd.root / "htdocs" / "yes.txt").write_text("reachable\n")
    (httpd.root / "htdocs" / "no.txt").write_text("not reachable\n")
    conf.add("RewriteEngine On\nRewriteCond /admin/secret.txt -U\n"
             "RewriteRule ^/probe$ /yes.txt [PT,L]\nRewriteRule ^/probe$ /no.txt [PT]")
    httpd.start(conf)
    assert httpd.get("/admin/secret.txt").status_code == 403
    assert httpd.get("/probe").text == "not reachable\n"


# ---- names that must not be configurable --------------------------------------


@pytest.mark.parametrize("directive,name", [
    ("CIDRLookupHeader", "Host"),
    ("CIDRLookupHeader", "Content-Length"),
    ("CIDRLookupHeader", "transfer-encoding"),
    ("CIDRLookupHeader", "Connection"),
    ("CIDRLookupHeader", "Authorization"),
    ("CIDRLookupHeader", "Cookie"),
    ("CIDRLookupHeader", "X_Forwarded_For"),
    ("CIDRLookupHeader", "Proxy"),
    ("CIDRLookupEnv", "REMOTE_ADDR"),
    ("CIDRLookupEnv", "HTTPS"),
    ("CIDRLookupEnv", "HTTP_X_CLIENT_TYPE"),
    ("CIDRLookupEnv", "COOKIE"),
    ("CIDRLookupNetworkEnv", "REMOTE_ADDR"),
    ("CIDRLookupNetworkEnv", "HTTP_HOST"),
    ("CIDRLookupNetworkEnv", "CONTENT_LENGTH"),
])
def test_reserved_names_are_refused(httpd_event, directive, name):
    conf = cidr_conf(httpd_event).add(f"{directive} {name}")
    rc, out = httpd_event.config_test(conf)
    assert rc != 0, out
    assert f"{directive}: '{name}' may not be used" in out, out


def test_ordinary_names_are_still_accepted(httpd_event):
    conf = cidr_conf(httpd_event).add(
        "CIDRLookupHeader X-Carrier\nCIDRLookupEnv CLIENT_KIND\nCIDRLookupNetworkEnv CLIENT_NET")
    rc, out = httpd_event.config_test(conf)
    assert rc == 0, out


# ---- list files ------------------------------------------------------------------


def config_test_within(httpd, conf, seconds=15):
    """`apache2 -t` that must answer in time (a FIFO must not hang it)."""
    path = httpd.write(conf, httpd.root / "conf" / "test.conf")
    try:
        p = subprocess.run([HTTPD_BIN, "-t", "-f", str(path)], capture_output=True, text=True,
                           env=httpd.env, timeout=seconds)
    except subprocess.TimeoutExpired:
        pytest.fail(f"apache2 -t still reading after {seconds} s")
    return p.returncode, p.stdout + p.stderr


@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_list_that_is_not_a_regular_file_is_an_error(httpd_event, kind):
    httpd = httpd_event
    if kind == "fifo":
        path = httpd.root / "cidr" / "office.txt"
        path.parent.mkdir()
        os.mkfifo(path)
    else:
        path = "/dev/null"
    rc, out = config_test_within(httpd, cidr_conf(httpd).add(f'CIDRFile "{path}"'))
    assert rc != 0, out
    assert f"{path}: not a regular file" in out, out


def test_oversized_list_is_an_error(httpd_event):
    httpd = httpd_event
    path = write_list(httpd, "huge.txt", "")
    with open(path, "r+b") as f:  # sparse: no disk used, nothing to read
        f.truncate(65 << 20)
    rc, out = config_test_within(httpd, cidr_conf(httpd).add(f'CIDRFile "{path}"'))
    assert rc != 0, out
    assert f"{path}: the file has {65 << 20} bytes, more than the limit" in out, out


def test_writable_list_is_warned_about(httpd_event):
    httpd = httpd_event
    path = write_list(httpd, "office.txt", "127.0.0.0/8\n")
    os.chmod(path, 0o666)
    pattern = re.escape(f"{path}: is writable by its group or by others")
    httpd.expect_log_id("CL0001")  # the list is writable by its group or by others
    rc, out = httpd.config_test(cidr_conf(httpd).add(f'CIDRFile "{path}"'))
    assert rc == 0 and re.search(pattern, out), out


def test_backup_files_in_a_list_directory_are_skipped(httpd_event):
    httpd = httpd_event
    d = httpd.root / "cidr" / "lists"
    d.mkdir(parents=True)
    (d / "office.txt").write_text("127.0.0.0/8\n")
    backups = ["office.txt~", "office.txt.bak", "office.txt.orig", "office.txt.rej",
               "office.txt.swp", "office.txt.dpkg-old", "office.txt.rpmnew", "#office.txt#"]
    for name in backups:
        (d / name).write_text("127.0.0.1\n")  # the old entry, under another type
    conf = cidr_conf(httpd).add(f'CIDRFile "{d}"')
    httpd.start(conf)
    assert cgi_env(httpd)["X_CLIENT_TYPE"] == "office"
    log = httpd.read_error_log()
    notice = re.search(r"\[cidr_lookup:notice\].*" + re.escape(f"{d}: skipped backup files: ")
                       + r"(.*)$", log, re.M)
    assert notice, log
    assert sorted(notice.group(1).split(", ")) == sorted(backups)


# ---- the modules do not bind each other's code -------------------------------------


def dynamic_symbols(so, *flags):
    out = subprocess.run(["nm", "-D", *flags, str(so)], capture_output=True, text=True,
                         check=True).stdout
    return [line.split() for line in out.splitlines() if line.strip()]


@pytest.mark.parametrize("module", ["syslog", "cidr_lookup", "scribe"])
def test_module_exports_only_its_record(module):
    """mod_syslog and mod_scribe both carry delivery:: and spool code: with
    anything but the record exported, the dynamic linker would bind one
    module's calls to the other's copy, from whatever build that is."""
    so = BUILD / f"mod_{module}.so"
    # Global bindings (upper case, or GNU unique/weak) are what others bind to.
    exported = [f[-1] for f in dynamic_symbols(so, "--defined-only")
                if f[-2].isupper() or f[-2] in "uvw"]
    assert exported == [f"{module}_module"], exported
    undefined = [f[-1] for f in dynamic_symbols(so, "--undefined-only", "--demangle")]
    ours = [s for s in undefined if re.match(r"(delivery|spool|logchain|scribe|cidr|syslog)::", s)]
    assert not ours, ours


# ---- fuzzing covers every parser of operator or peer input ------------------------


def test_make_fuzz_covers_every_parser():
    """CIDR lists, syslog and scribe targets and directive values, and spool
    files (which a crashed child or anyone able to write the spool leaves)."""
    repo = BUILD.parent
    # Run from `make test`, a nested make would print "Entering directory".
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    fuzzers = subprocess.run(["make", "-s", "--no-print-directory", "list-fuzzers"], cwd=repo,
                             capture_output=True, text=True, check=True, env=env).stdout.split()
    names = {os.path.basename(f) for f in fuzzers}
    assert {"fuzz_cidr_parser", "fuzz_syslog_target", "fuzz_scribe_target",
            "fuzz_spool_reader"} <= names, names
    # Each builds and gets through its seeds without a finding.
    subprocess.run(["make", "-s", "--no-print-directory", *fuzzers], cwd=repo, check=True,
                   capture_output=True, env=env)
    for f in fuzzers:
        corpus = BUILD / "fuzz" / "corpus" / os.path.basename(f)
        p = subprocess.run([str(repo / f), "-runs=0", str(corpus)], capture_output=True,
                           text=True, timeout=120)
        assert p.returncode == 0, p.stderr[-2000:]
