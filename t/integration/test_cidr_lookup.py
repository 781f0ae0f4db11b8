"""mod_cidr_lookup in a real httpd: what CGIs, backends and httpd.conf see.

Clients are 127.0.0.1 and ::1, so lists name those (or documentation
networks, to not match). Each test writes its lists under the server root.
"""
import re
import socket

import pytest
import requests

from lib.cidr_helpers import recording_backend, ENV_CGI, cgi_env, cidr_conf, write_list
from lib.paths import CGI_DIR
from lib.ports import free_port

def test_env_and_header_reach_cgi(httpd):
    write_list(httpd, "local.txt", "# loopback\n127.0.0.0/8\n")
    write_list(httpd, "other.txt", "192.0.2.0/24\n")
    conf = cidr_conf(httpd)
    conf.add(f'CIDRFile "{httpd.root}/cidr/*.txt"')
    conf.add("CIDRLookupNetworkEnv X_CLIENT_CIDR")
    httpd.start(conf)
    env = cgi_env(httpd)
    assert env["X_CLIENT_TYPE"] == "local"
    assert env["HTTP_X_CLIENT_TYPE"] == "local"
    assert env["X_CLIENT_CIDR"] == "127.0.0.0/8"
    # The same answer on a kept-alive connection and after an internal redirect.
    with requests.Session() as s:
        for _ in range(3):
            assert s.get(httpd.url(ENV_CGI), timeout=10).json()["X_CLIENT_TYPE"] == "local"


def test_spoofed_header_removed(httpd):
    write_list(httpd, "elsewhere.txt", "192.0.2.0/24\n")
    write_list(httpd, "local.txt", "127.0.0.1\n")
    conf = cidr_conf(httpd)
    conf.add(f'<Location "/cgi/">\n  CIDRFile "{httpd.root}/cidr/elsewhere.txt"\n</Location>')
    conf.add(f'ScriptAlias /local/ "{CGI_DIR}/"')
    conf.add(f'<Location "/local/">\n  CIDRFile "{httpd.root}/cidr/local.txt"\n</Location>')
    httpd.start(conf)
    for spoof in ({"X-Client-Type": "admin"}, {"x-client-type": "admin"}):
        # No list matches: no type at all, not the client's.
        env = cgi_env(httpd, headers=spoof)
        assert "HTTP_X_CLIENT_TYPE" not in env and "X_CLIENT_TYPE" not in env
        # A list matches: our value replaces the client's.
        env = cgi_env(httpd, "/local/env.json.py", headers=spoof)
        assert env["HTTP_X_CLIENT_TYPE"] == "local"


def test_spoofed_header_removed_without_any_list(httpd):
    conf = cidr_conf(httpd)
    httpd.start(conf)
    env = cgi_env(httpd, headers={"X-Client-Type": "admin"})
    assert "HTTP_X_CLIENT_TYPE" not in env and "X_CLIENT_TYPE" not in env


def test_custom_names_and_default(httpd):
    write_list(httpd, "partners.map", "192.0.2.0/24 partner\n")
    conf = cidr_conf(httpd)
    conf.add(f'CIDRMap "{httpd.root}/cidr/partners.map"')
    conf.add("CIDRLookupDefault unknown\nCIDRLookupEnv CLIENT_KIND\nCIDRLookupHeader X-Carrier")
    conf.add("CIDRLookupNetworkEnv CLIENT_NET")
    httpd.start(conf)
    env = cgi_env(httpd, headers={"X-Carrier": "spoofed"})
    assert env["CLIENT_KIND"] == "unknown"
    assert env["HTTP_X_CARRIER"] == "unknown"
    assert "CLIENT_NET" not in env  # a default matched no network
    assert "X_CLIENT_TYPE" not in env


def test_ipv6_client(httpd):
    port6 = free_port(host="::1")
    write_list(httpd, "clients.map", "::1/128 v6-loopback\n127.0.0.0/8 v4-loopback\n")
    conf = cidr_conf(httpd)
    conf.add(f"Listen [::1]:{port6}")
    conf.add(f'CIDRMap "{httpd.root}/cidr/clients.map"')
    conf.add("CIDRLookupNetworkEnv X_CLIENT_CIDR")
    httpd.start(conf)
    r = requests.get(f"http://[::1]:{port6}{ENV_CGI}", timeout=10)
    env = r.json()
    assert env["REMOTE_ADDR"] == "::1"
    assert env["X_CLIENT_TYPE"] == "v6-loopback"
    assert env["X_CLIENT_CIDR"] == "::1/128"
    env = cgi_env(httpd)
    assert env["X_CLIENT_TYPE"] == "v4-loopback"


def test_ipv4_mapped_client_matches_ipv4_lists(httpd_event):
    """A dual-stack listener sees IPv4 clients as ::ffff:a.b.c.d."""
    httpd = httpd_event
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            s.bind(("::", 0))
            port = s.getsockname()[1]
    except OSError:
        pytest.skip("no dual-stack sockets here")
    write_list(httpd, "local.txt", "127.0.0.0/8\n")
    conf = cidr_conf(httpd)
    conf.add(f"Listen [::]:{port}")
    conf.add(f'CIDRFile "{httpd.root}/cidr/local.txt"')
    conf.add("CIDRLookupNetworkEnv X_CLIENT_CIDR")
    httpd.start(conf)
    env = requests.get(f"http://127.0.0.1:{port}{ENV_CGI}", timeout=10).json()
    assert env["X_CLIENT_TYPE"] == "local"
    assert env["X_CLIENT_CIDR"] == "127.0.0.0/8"


def test_remoteip_x_forwarded_for(httpd):
    write_list(httpd, "partners.map", "203.0.113.0/24 partner\n2001:db8::/32 partner6\n"
                                 "127.0.0.0/8 proxy\n")
    conf = cidr_conf(httpd, "remoteip")
    conf.add("RemoteIPHeader X-Forwarded-For\nRemoteIPInternalProxy 127.0.0.1")
    conf.add(f'CIDRMap "{httpd.root}/cidr/partners.map"')
    httpd.start(conf)
    env = cgi_env(httpd, headers={"X-Forwarded-For": "203.0.113.9"})
    assert env["REMOTE_ADDR"] == "203.0.113.9" and env["X_CLIENT_TYPE"] == "partner"
    env = cgi_env(httpd, headers={"X-Forwarded-For": "2001:db8::5"})
    assert env["X_CLIENT_TYPE"] == "partner6"
    env = cgi_env(httpd, headers={"X-Forwarded-For": "198.51.100.1"})
    assert "X_CLIENT_TYPE" not in env
    env = cgi_env(httpd)
    assert env["X_CLIENT_TYPE"] == "proxy"


def test_setenvif_rewrite_if_and_custom_log(httpd):
    write_list(httpd, "crawler.txt", "127.0.0.1/32\n")
    conf = cidr_conf(httpd, "setenvif", "rewrite", "headers")
    conf.add(f'CIDRFile "{httpd.root}/cidr/crawler.txt"')
    conf.add("SetEnvIf X_CLIENT_TYPE ^crawler$ IS_CRAWLER=yes")
    conf.add("RewriteEngine On\n"
             "RewriteCond %{ENV:X_CLIENT_TYPE} =crawler\n"
             "RewriteRule ^/for-crawlers$ /small.txt [PT]")
    conf.add("<If \"env('X_CLIENT_TYPE') == 'crawler'\">\n"
             "  Header always set X-If-Saw crawler\n</If>")
    conf.add('LogFormat "%{X_CLIENT_TYPE}e %{X-Client-Type}i %U" cidr\n'
             f'CustomLog "{httpd.root}/logs/cidr_log" cidr')
    httpd.start(conf)
    env = cgi_env(httpd)
    assert env["IS_CRAWLER"] == "yes"
    r = httpd.get("/for-crawlers")
    assert r.status_code == 200 and r.text == "x" * 64
    assert r.headers.get("X-If-Saw") == "crawler"
    httpd.stop()
    log = (httpd.root / "logs" / "cidr_log").read_text()
    assert "crawler crawler /for-crawlers" in log or "crawler crawler /small.txt" in log


def test_require_client_type(httpd):
    write_list(httpd, "office.txt", "127.0.0.0/8\n")
    conf = cidr_conf(httpd)
    conf.add(f'CIDRFile "{httpd.root}/cidr/office.txt"')
    htdocs = httpd.root / "htdocs"
    cases = {
        "office": "Require client-type office",
        "several": "Require client-type crawler office",
        "crawler": "Require client-type crawler",
        "any": "<RequireAny>\n Require client-type crawler\n Require ip 192.0.2.1\n"
               " Require client-type office\n</RequireAny>",
        "all": "<RequireAll>\n Require client-type office\n"
               " Require not client-type crawler\n</RequireAll>",
        "allnot": "<RequireAll>\n Require all granted\n Require not client-type office\n"
                  "</RequireAll>",
        "env": "Require env X_CLIENT_TYPE",
    }
    for name, rule in cases.items():
        (htdocs / name).mkdir()
        (htdocs / name / "index.html").write_text(name)
        conf.add(f'<Directory "{htdocs}/{name}">\n{rule}\n</Directory>')
    httpd.start(conf)
    want = {"office": 200, "several": 200, "crawler": 403, "any": 200, "all": 200,
            "allnot": 403, "env": 200}
    got = {name: httpd.get(f"/{name}/").status_code for name in cases}
    assert got == want
    # A spoofed header does not get a client past Require client-type.
    assert httpd.get("/crawler/", headers={"X-Client-Type": "crawler"}).status_code == 403
    # 403s from authz are access errors, logged at [error] by mod_authz_core.
    httpd.expect_log(r"AH01630: client denied by server configuration")


def test_require_client_type_syntax(httpd_event):
    conf = cidr_conf(httpd_event)
    conf.add(f'<Directory "{httpd_event.root}/htdocs">\n Require client-type\n</Directory>')
    rc, out = httpd_event.config_test(conf)
    assert rc != 0 and "Require client-type needs one or more client types" in out
    conf = cidr_conf(httpd_event)
    conf.add(f'<Directory "{httpd_event.root}/htdocs">\n Require client-type "a b"\n</Directory>')
    rc, out = httpd_event.config_test(conf)
    assert rc != 0 and "'a b' is not a valid client type" in out


def test_directory_override(httpd):
    write_list(httpd, "local.txt", "127.0.0.0/8\n")
    write_list(httpd, "inner.map", "127.0.0.1/32 inner\n")
    write_list(httpd, "elsewhere.txt", "192.0.2.0/24\n")
    conf = cidr_conf(httpd)
    conf.add(f'CIDRFile "{httpd.root}/cidr/local.txt"')
    for alias in ("inner", "none", "default"):
        conf.add(f'ScriptAlias /{alias}/ "{CGI_DIR}/"')
    # A section with its own lists uses only those; one without inherits.
    conf.add(f'<Location "/inner/">\n  CIDRMap "{httpd.root}/cidr/inner.map"\n'
             "  CIDRLookupNetworkEnv INNER_NET\n</Location>")
    conf.add(f'<Location "/none/">\n  CIDRFile "{httpd.root}/cidr/elsewhere.txt"\n</Location>')
    conf.add(f'<Location "/default/">\n  CIDRFile "{httpd.root}/cidr/elsewhere.txt"\n'
             "  CIDRLookupDefault outsider\n</Location>")
    httpd.start(conf)
    assert cgi_env(httpd)["X_CLIENT_TYPE"] == "local"
    env = cgi_env(httpd, "/inner/env.json.py")
    assert env["X_CLIENT_TYPE"] == "inner" and env["HTTP_X_CLIENT_TYPE"] == "inner"
    assert env["INNER_NET"] == "127.0.0.1/32"
    env = cgi_env(httpd, "/none/env.json.py")
    assert "X_CLIENT_TYPE" not in env and "HTTP_X_CLIENT_TYPE" not in env
    env = cgi_env(httpd, "/default/env.json.py")
    assert env["X_CLIENT_TYPE"] == "outsider"


def test_vhost_lists(httpd_event):
    httpd = httpd_event
    write_list(httpd, "main.txt", "127.0.0.0/8\n")
    write_list(httpd, "vhost.txt", "127.0.0.1\n")
    conf = cidr_conf(httpd)
    conf.add(f'CIDRFile "{httpd.root}/cidr/main.txt"')
    conf.add_vhost(f'ScriptAlias /cgi/ "{CGI_DIR}/"\nCIDRFile "{httpd.root}/cidr/vhost.txt"',
                   server_name="vhost.test")
    conf.add_vhost(f'ScriptAlias /cgi/ "{CGI_DIR}/"', server_name="inherits.test")
    httpd.start(conf)
    assert cgi_env(httpd, headers={"Host": "vhost.test"})["X_CLIENT_TYPE"] == "vhost"
    assert cgi_env(httpd, headers={"Host": "inherits.test"})["X_CLIENT_TYPE"] == "main"


@pytest.fixture
def backend():
    yield from recording_backend()


def test_proxied_backend_sees_header(httpd, backend):
    write_list(httpd, "local.txt", "127.0.0.0/8\n")
    conf = cidr_conf(httpd, "proxy", "proxy_http")
    conf.add(f'CIDRFile "{httpd.root}/cidr/local.txt"')
    conf.add(f"ProxyPass /app/ http://127.0.0.1:{backend.server_address[1]}/")
    httpd.start(conf)
    r = httpd.get("/app/x", headers={"X-Client-Type": "admin"})
    assert r.status_code == 200 and r.text == "backend"
    headers = {k.lower(): v for k, v in backend.seen[-1].items()}
    assert headers["x-client-type"] == "local"


@pytest.mark.parametrize("name,content,kind,message", [
    ("bad.txt", "192.0.2.0/24\n192.0.2.300\n", "CIDRFile",
     r"bad\.txt:2: invalid IP address '192\.0\.2\.300'"),
    ("range.txt", "# c\n\n10.0.0.0/33\n", "CIDRFile",
     r"range\.txt:3: prefix length /33 out of range for IPv4 \(0-32\)"),
    ("v6.txt", "2001:db8::/129\n", "CIDRFile", r"v6\.txt:1: prefix length /129 out of range"),
    ("nomap.map", "10.0.0.0/8 office\n10.1.0.0/16\n", "CIDRMap",
     r"nomap\.map:2: missing client type after '10\.1\.0\.0/16'"),
    ("extra.txt", "10.0.0.0/8 office\n", "CIDRFile", r"extra\.txt:1: unexpected 'office'"),
])
def test_bad_list_fails_config_test(httpd_event, name, content, kind, message):
    path = write_list(httpd_event, name, content)
    conf = cidr_conf(httpd_event).add(f'{kind} "{path}"')
    rc, out = httpd_event.config_test(conf)
    assert rc != 0, out
    assert re.search(re.escape(str(path.parent)) + "/" + message, out), out
    with pytest.raises(RuntimeError):
        httpd_event.start(conf)


def test_missing_files_fail_config_test(httpd_event):
    h = httpd_event
    for directive, expect in [
        (f'CIDRFile "{h.root}/cidr/none-*.txt"', f"{h.root}/cidr/none-*.txt: no file matches"),
        (f'CIDRFile "{h.root}/cidr/absent"',
         f"{h.root}/cidr/absent: cannot read: No such file or directory"),
        (f'CIDRMap "{h.root}/cidr/emptydir"', f"{h.root}/cidr/emptydir: directory contains no"),
        ("CIDRLookupDefault 'two words'", "is not a valid client type"),
        ("CIDRLookupHeader Bad:Header", "is not a valid header name"),
    ]:
        (h.root / "cidr" / "emptydir").mkdir(parents=True, exist_ok=True)
        rc, out = h.config_test(cidr_conf(h).add(directive))
        assert rc != 0 and expect in out, out


def test_warnings_at_startup(httpd_event):
    h = httpd_event
    write_list(h, "mobile.txt", "10.1.2.3/8\n192.0.2.0/24\n")
    write_list(h, "crawler.txt", "# dup\n192.0.2.0/24\n")
    conf = cidr_conf(h).add(f'CIDRFile "{h.root}/cidr/*.txt"')
    rc, out = h.config_test(conf)
    assert rc == 0 and "Syntax OK" in out
    mobile, crawler = h.root / "cidr" / "mobile.txt", h.root / "cidr" / "crawler.txt"
    host_bits = (rf"{re.escape(str(mobile))}:1: host bits set in '10\.1\.2\.3/8', "
                 r"using 10\.0\.0\.0/8")
    # crawler.txt sorts first, so it wins and mobile.txt:2 is the one dropped.
    dup = (rf"{re.escape(str(mobile))}:2: 192\.0\.2\.0/24 is listed as 'mobile' here and as "
           rf"'crawler' at {re.escape(str(crawler))}:2")
    assert re.search(host_bits, out) and re.search(dup, out), out
    h.expect_log_id("CL0002")  # host bits set
    h.expect_log_id("CL0003")  # a network listed under two types
    h.start(conf)
    log = h.read_error_log()
    # Once per start, not per config pass, each under its message ID.
    assert len(re.findall("CL0002: " + host_bits, log)) == 1, log
    assert len(re.findall("CL0003: " + dup, log)) == 1, log


def test_graceful_restart_reloads_lists(httpd):
    lists = write_list(httpd, "clients.map", "127.0.0.0/8 before\n")
    conf = cidr_conf(httpd).add(f'CIDRMap "{lists}"')
    httpd.start(conf)
    assert cgi_env(httpd)["X_CLIENT_TYPE"] == "before"
    lists.write_text("127.0.0.0/8 after\n127.0.0.1/32 after-host\n")
    httpd.graceful()
    for _ in range(10):  # whichever child answers
        assert cgi_env(httpd)["X_CLIENT_TYPE"] == "after-host"
    # A broken edit is refused by the config test before anyone reloads.
    lists.write_text("127.0.0.0/8 after\n127.0.0.1/33 broken\n")
    rc, out = httpd.config_test(conf)
    assert rc != 0 and f"{lists}:2: prefix length /33 out of range" in out
    # `apache2 -k stop` reads the config too: leave it loadable.
    lists.write_text("127.0.0.0/8 after\n")
