"""The Debian package, round trip: make deb, lintian, dpkg -i, a2enmod,
apache2ctl -t, one request through each installed module, dpkg -r, dpkg --purge.

The machine is left as it was found. The test needs root, and skips when the
package, or a file it would install, is already there (it would otherwise
purge someone's install); the maintainer scripts' restart of the system
apache2 is refused by a policy-rc.d (the one in place if it refuses, else a
temporary one); and a finally purges the package whatever failed, and
removes what a failure left of the modules' links and a2enmod state. The httpd that serves is the
harness's (own ServerRoot, loopback port): it loads the modules through the
.load files a2enmod linked into /etc/apache2/mods-enabled, and /proc shows
that the installed copies are mapped, not build/'s.
"""
import os
import re
import subprocess
from pathlib import Path

import pytest

from lib.cidr_helpers import ENV_CGI, cgi_env, write_list
from lib.paths import BUILD, CGI_DIR, DEBIAN_MODULES, REPO
from lib.syslog_helpers import wait_ids

PACKAGING = REPO / "packaging"
PACKAGE = re.search(r"^Package: *(\S+)", (PACKAGING / "control").read_text(), re.M).group(1)
MODULES = ("syslog", "cidr_lookup", "scribe")
MODS_AVAILABLE = Path("/etc/apache2/mods-available")
MODS_ENABLED = Path("/etc/apache2/mods-enabled")
# Where a2enmod, a2dismod and apache2-maintscript-helper remember who enabled
# or disabled what.
MODULE_STATE = Path("/var/lib/apache2/module")
CLI = Path("/usr/bin/cidr-lookup")
POLICY_RC_D = Path("/usr/sbin/policy-rc.d")
# What policy-rc.d answers to forbid an action (invoke-rc.d(8)).
POLICY_FORBIDS = 101
SYSTEM_PIDFILE = Path("/run/apache2/apache2.pid")
# Directories Debian's apache2 tools create and never remove: apache2ctl
# on every run (apache2ctl -t and the maintainer scripts' configtest too),
# a2enmod and a2dismod for their state. The test removes those it created,
# when empty, deepest first.
TOOL_DIRS = (Path("/run/apache2/socks"), Path("/run/apache2"), Path("/run/lock/apache2"),
             *(MODULE_STATE / d for d in ("enabled_by_admin", "disabled_by_admin",
                                          "enabled_by_maint", "disabled_by_maint")))

CONFFILES = sorted(str(MODS_AVAILABLE / f"{m}.{ext}") for m in MODULES for ext in ("load", "conf"))
DOC_DIR = Path("/usr/share/doc") / PACKAGE
PACKAGE_FILES = sorted(CONFFILES + [str(DEBIAN_MODULES / f"mod_{m}.so") for m in MODULES] + [
    str(CLI),
    "/usr/share/man/man1/cidr-lookup.1.gz",
    str(DOC_DIR / "README.md.gz"),
    str(DOC_DIR / "MESSAGES.md.gz"),
    str(DOC_DIR / "changelog.Debian.gz"),
    str(DOC_DIR / "copyright"),
    f"/usr/share/lintian/overrides/{PACKAGE}",
])

DPKG_ENV = dict(os.environ, DEBIAN_FRONTEND="noninteractive")


def run(*cmd, check=True, timeout=120):
    p = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, env=DPKG_ENV,
                       stdin=subprocess.DEVNULL, timeout=timeout)
    if check and p.returncode != 0:
        command = " ".join(map(str, cmd))
        raise AssertionError(f"{command}: exit {p.returncode}\n{p.stdout}{p.stderr}")
    return p


def package_status():
    """dpkg's status of the package ('install ok installed', 'deinstall ok
    config-files'), or None when dpkg does not know it."""
    p = run("dpkg-query", "-W", "-f=${Status}", PACKAGE, check=False)
    status = p.stdout.strip()
    return status if p.returncode == 0 and not status.endswith("not-installed") else None


def machine_state():
    """The files and links in what the package may touch: Apache's module and
    mods-* directories, the module state of a2enmod and the helper, and
    /usr/bin/cidr-lookup."""
    state = {}
    for top in (DEBIAN_MODULES, MODS_AVAILABLE, MODS_ENABLED, MODULE_STATE):
        state[str(top)] = sorted(str(p.relative_to(top)) for p in top.rglob("*")
                                 if p.is_symlink() or not p.is_dir())
    state[str(CLI)] = CLI.exists()
    return state


def forget_what_the_test_left(before):
    """After a failure: links and a2enmod state of our modules that were not
    there before the test (a purge after a working prerm leaves none)."""
    for top in (MODS_ENABLED, MODULE_STATE):
        for p in list(top.rglob("*")):
            name = str(p.relative_to(top))
            if p.name.split(".")[0] in MODULES and name not in before[str(top)]:
                p.unlink()


def enabled_links():
    return sorted(p.name for p in MODS_ENABLED.iterdir()
                  if p.stem in MODULES and p.is_symlink())


def mapped_modules(pid):
    """The paths of our modules mapped into process `pid`."""
    maps = Path(f"/proc/{pid}/maps").read_text()
    names = {f"mod_{m}.so" for m in MODULES}
    return {line.split()[-1] for line in maps.splitlines()
            if line.split()[-1].rsplit("/", 1)[-1] in names}


@pytest.fixture(scope="module")
def deb():
    if os.environ.get("SANITIZE") == "1":
        pytest.skip("sanitizer builds are not packaged (make deb refuses them)")
    run("make", "-C", REPO, "--no-print-directory", "deb", timeout=600)
    path = Path(run("make", "-C", REPO, "-s", "--no-print-directory", "deb-path").stdout.strip())
    path = path if path.is_absolute() else REPO / path
    assert path.is_file() and path.parent == BUILD, path
    return path


@pytest.fixture
def service_starts_refused():
    """Keeps the maintainer scripts from starting or restarting the system
    apache2: invoke-rc.d asks policy-rc.d first."""
    if os.geteuid() != 0:
        pytest.skip("installing a package needs root")
    if POLICY_RC_D.exists():
        if run(POLICY_RC_D, "apache2", "restart", check=False).returncode != POLICY_FORBIDS:
            pytest.skip(f"{POLICY_RC_D} allows restarting apache2: dpkg -i would restart it")
        yield
        return
    POLICY_RC_D.write_text("#!/bin/sh\n# Written by t/integration/test_package.py for the "
                           f"duration of one test.\nexit {POLICY_FORBIDS}\n")
    POLICY_RC_D.chmod(0o755)
    try:
        yield
    finally:
        POLICY_RC_D.unlink()


def test_deb_contents_and_depends(deb):
    listing = run("dpkg-deb", "--contents", deb).stdout.splitlines()
    files = sorted(line.split()[-1][1:] for line in listing if line.startswith("-"))
    assert files == PACKAGE_FILES
    control = run("dpkg-deb", "--field", deb, "Depends").stdout
    for dep in ("apache2-api-", "apache2-bin", "libapr1", "libthrift-", "libstdc++6"):
        assert dep in control, control


def test_lintian_reports_nothing_unjustified(deb):
    p = run("lintian", "--fail-on", "error,warning", "--display-info", deb, check=False,
            timeout=300)
    print(p.stdout)
    assert p.returncode == 0, p.stdout + p.stderr


def test_every_lintian_override_says_why():
    previous = ""
    for line in (PACKAGING / "lintian-overrides").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            assert previous.startswith("#"), f"override without a comment above it: {line}"
        previous = line


def test_install_enable_serve_remove_purge(deb, service_starts_refused, httpd_event, rsyslog,
                                           collector):
    httpd = httpd_event
    if package_status():
        pytest.skip(f"{PACKAGE} is installed here; the test would purge it")
    present = [f for f in PACKAGE_FILES if os.path.lexists(f)]
    if present:
        pytest.skip(f"files the package installs exist already (make install?): {present}")
    before = machine_state()
    system_apache_ran = SYSTEM_PIDFILE.exists()
    tool_dirs_before = {d for d in TOOL_DIRS if d.exists()}
    try:
        # Installed: the postinst enabled every module through the helper.
        run("dpkg", "-i", deb)
        assert package_status() == "install ok installed"
        conffiles = run("dpkg-query", "-W", "-f=${Conffiles}", PACKAGE).stdout.split()
        assert sorted(f for f in conffiles if f.startswith("/")) == CONFFILES
        assert enabled_links() == sorted(f"{m}.{ext}" for m in MODULES for ext in ("conf", "load"))
        for m in MODULES:
            assert "maintainer script" in run("a2query", "-m", m).stdout
            load = (MODS_ENABLED / f"{m}.load").read_text()
            assert f"{DEBIAN_MODULES}/mod_{m}.so" in load, load

        # What an administrator does: a2dismod and a2enmod work on them.
        run("a2dismod", "-q", *MODULES)
        assert enabled_links() == []
        run("a2enmod", "-q", *MODULES)
        assert len(enabled_links()) == 2 * len(MODULES)

        # The system configuration, with the modules in it, passes the test.
        p = run("apache2ctl", "-t")
        assert "Syntax OK" in p.stdout + p.stderr
        loaded = run("apache2ctl", "-M").stdout
        for m in MODULES:
            assert f" {m}_module (shared)" in loaded, loaded

        # The installed tool.
        lists = write_list(httpd, "local.txt", "127.0.0.0/8\n")
        assert run(CLI, "-f", lists, "127.0.0.1").stdout == "127.0.0.1 local 127.0.0.0/8\n"
        assert run(CLI, "--check", "-f", lists).stdout.startswith("OK: 1 networks")

        # One request through each installed module.
        conf = httpd.conf().load("alias", "cgid")
        for m in MODULES:
            conf.add(f"Include {MODS_ENABLED}/{m}.load\nInclude {MODS_ENABLED}/{m}.conf")
        conf.add(f'ScriptAlias /cgi/ "{CGI_DIR}/"')
        conf.add(f'<Directory "{CGI_DIR}">\n  Require all granted\n</Directory>')
        conf.add(f'CIDRFile "{lists}"')
        conf.add(f"ScribeServer {collector.address}\nScribeFlushInterval 50")
        conf.add('LogFormat "%r %{X_CLIENT_TYPE}e" typeline')
        conf.add(f'CustomLog "syslog:local3.info:pkgtest@unix:{rsyslog.socket}" typeline')
        conf.add('CustomLog "scribe:pkgtest" typeline')
        httpd.start(conf)
        assert mapped_modules(httpd.pid()) == {str(DEBIAN_MODULES / f"mod_{m}.so")
                                              for m in MODULES}
        env = cgi_env(httpd, f"{ENV_CGI}?id=pkg-1", headers={"X-Client-Type": "forged"})
        assert (env["X_CLIENT_TYPE"], env["HTTP_X_CLIENT_TYPE"]) == ("local", "local")
        # The harness's readiness probe (GET /index.html) is logged too.
        line = f"GET {ENV_CGI}?id=pkg-1 HTTP/1.1 local"
        syslogged = [r["text"] for r in wait_ids(rsyslog, "local3", ["pkg-1"])
                     if r["tag"] == "pkgtest" and "id=" in r["text"]]
        assert syslogged == [line]
        assert not collector.wait_for_ids("pkgtest", ["pkg-1"], timeout=15)
        assert [l for l in collector.lines("pkgtest") if "id=" in l] == [line]
        httpd.stop()

        # Removed: modules disabled, files gone, conffiles kept until purge.
        run("dpkg", "-r", PACKAGE)
        assert package_status() == "deinstall ok config-files"
        assert enabled_links() == []
        left = [f for f in PACKAGE_FILES if os.path.lexists(f) and f not in CONFFILES]
        assert left == []
        assert all(os.path.exists(f) for f in CONFFILES)
        p = run("apache2ctl", "-t")
        assert "Syntax OK" in p.stdout + p.stderr

        # Purged: nothing of the package is left, and the machine is as it was.
        run("dpkg", "--purge", PACKAGE)
        assert package_status() is None
        assert [f for f in PACKAGE_FILES if os.path.lexists(f)] == []
        assert machine_state() == before
        assert SYSTEM_PIDFILE.exists() == system_apache_ran
    finally:
        httpd.stop()
        if package_status():
            run("dpkg", "--purge", PACKAGE, check=False)
        forget_what_the_test_left(before)
        for d in TOOL_DIRS:
            if d not in tool_dirs_before:
                try:
                    d.rmdir()
                except OSError:
                    pass
