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
