"""Helpers for mod_cidr_lookup's integration tests: list files under the
server root, a config with CGI at /cgi/, and what the env CGI saw."""
import http.server
import threading

from .paths import CGI_DIR

ENV_CGI = "/cgi/env.json.py"


def write_list(httpd, name, text):
    """Writes a list file at ServerRoot/cidr/NAME; returns its path."""
    path = httpd.root / "cidr" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def cidr_conf(httpd, *modules):
    """Config with mod_cidr_lookup, CGI at /cgi/ and any extra modules."""
    conf = httpd.conf()
    # mod_cgi under every MPM, not mod_cgid's daemon: three child deaths
    # (AH00052) were seen in four sessions, all under event with mod_cgid,
    # none reproduced with core dumps on, and httpd logs AH00052 for the
    # cgid daemon's death too. Without the daemon, a crash that comes back
    # is a worker child's, where this module runs.
    conf.load("alias", "cgi", *modules, "cidr_lookup")
    conf.add(f'ScriptAlias /cgi/ "{CGI_DIR}/"')
    conf.add(f'<Directory "{CGI_DIR}">\n  Require all granted\n</Directory>')
    return conf


def cgi_env(httpd, path=ENV_CGI, **kw):
    """The environment the CGI at `path` saw (t/integration/cgi/env.json.py)."""
    r = httpd.get(path, **kw)
    assert r.status_code == 200, r.text
    return r.json()


class _RecordingHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.server.seen.append(self.headers)
        body = b"backend"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def recording_backend():
    """A generator for a fixture: an HTTP backend on loopback (for
    ProxyPass) that answers "backend" and keeps, in `.seen`, the headers of
    every request it got (http.client.HTTPMessage, in arrival order)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _RecordingHandler)
    server.seen = []
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    yield server
    server.shutdown()
    server.server_close()


# What mod_headers echoes of the module's answer on every response, so that
# a static file shows which table answered (no CGI fork per request).
ECHO_TYPE = 'Header always set X-Seen-Type "%{X_CLIENT_TYPE}e"'


def seen_type(response):
    """The client type a response was answered with ("(null)": none)."""
    return response.headers.get("X-Seen-Type")


def replace_list(path, text):
    """Writes a list as operators should: beside it, then renamed into place,
    so that no reader ever sees it half written."""
    tmp = path.with_name("." + path.name + ".new")
    tmp.write_text(text)
    tmp.rename(path)
    return path


def image_dir(httpd):
    """Where httpd keeps table images (DefaultRuntimeDir/cidr-lookup)."""
    return httpd.root / "run" / "cidr-lookup"


def images(httpd):
    """The table images httpd keeps, by name."""
    d = image_dir(httpd)
    return sorted(d.glob("*.cidr")) if d.is_dir() else []


def bulk_map(count, type_name, seed=5):
    """`count` distinct /24s in 10.0.0.0/8 under one type, as CIDRMap
    lines: a table that takes a measurable time to build, and that never
    covers the loopback clients of the tests."""
    import random
    rng = random.Random(seed)
    nets = rng.sample(range(1 << 16), count)
    return "".join(f"10.{n >> 8}.{n & 255}.0/24 {type_name}\n" for n in nets)
