#!/usr/bin/python3
"""`make run`: the suite on embedded defaults, in the foreground.

Starts a real rsyslogd (own config, socket and log file under run/), a Scribe
collector on 127.0.0.1:1463 when mod_scribe is built, and httpd on
127.0.0.1:8080 with every built module loaded. Prints what to try and where
each log lands. Ctrl-C stops all of it.
"""
import os
import signal
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "t" / "integration"))

from lib.httpd import Httpd  # noqa: E402
from lib.paths import BUILD  # noqa: E402
from lib.rsyslog import Rsyslogd  # noqa: E402

HTTP_PORT = int(os.environ.get("PORT", "8080"))
SCRIBE_PORT = int(os.environ.get("SCRIBE_PORT", "1463"))


def reachable_by_children(path):
    """httpd's children run as www-data: every ancestor must be searchable."""
    if os.geteuid() != 0:
        return True
    p = Path(path).resolve()
    for d in [p] + list(p.parents):
        if not os.stat(d).st_mode & 0o001:
            return False
    return True


def main():
    run = REPO / "run"
    if not reachable_by_children(REPO):
        import tempfile
        run = Path(tempfile.mkdtemp(prefix="modsuite-run-"))
        print(f"note: {REPO} is not searchable by www-data; using {run}")
    for d in ("rsyslog", "httpd", "cidr", "collector"):
        (run / d).mkdir(parents=True, exist_ok=True)
    os.chmod(run, 0o755)

    procs = []
    rs = Rsyslogd(root=run / "rsyslog")
    # Fresh output each run so that what you see is this run's.
    rs.out.unlink(missing_ok=True)
    rs.start()
    print(f"rsyslogd: socket {rs.socket}, udp/tcp 127.0.0.1:{rs.port}, writes {rs.out}")

    have = {m: (BUILD / f"mod_{m}.so").exists() for m in ("syslog", "cidr_lookup", "scribe")}
    h = Httpd(mpm="event", root=run / "httpd")
    h.port = HTTP_PORT
    conf = h.conf()
    conf.load("setenvif", "headers")
    access = run / "httpd" / "logs" / "access_log"
    conf.add(f'CustomLog "{access}" "%h \\"%r\\" %>s client-type=%{{X_CLIENT_TYPE}}e"')
    if have["cidr_lookup"]:
        cidr_map = run / "cidr" / "demo.map"
        cidr_map.write_text("# CIDR TYPE\n127.0.0.0/8 office\n::1/128 office\n"
                            "66.249.64.0/19 crawler\n")
        conf.load("cidr_lookup")
        conf.add(f'CIDRMap "{cidr_map}"\nCIDRLookupDefault other')
    if have["syslog"]:
        conf.load("syslog")
        conf.add(f'CustomLog "syslog:local6.info:httpd@unix:{rs.socket}" common')
        conf.add(f'CustomLog "syslog:local5.notice:httpd-tcp@tcp://127.0.0.1:{rs.port}" common')
    if have["scribe"]:
        col = start_collector(run / "collector")
        if col:
            procs.append(col)
            conf.load("scribe")
            conf.add(f"ScribeServer 127.0.0.1:{SCRIBE_PORT}")
            conf.add(f'ScribeSpoolDir "{run / "httpd" / "scribe-spool"}"')
            conf.add('CustomLog "scribe:www" common')
    h.start(conf)
    print(f"httpd: http://127.0.0.1:{h.port}/ (event MPM), modules: "
          + ", ".join(m for m, ok in have.items() if ok) + f"; error log {h.error_log}")
    print("\nTry:")
    print(f"  curl -s http://127.0.0.1:{h.port}/index.html")
    print(f"  curl -s -o /dev/null -w '%{{http_code}}\\n' http://127.0.0.1:{h.port}/small.txt?hello=1")
    print("\nWhere each line lands:")
    print(f"  file:            {access}")
    if have["syslog"]:
        print(f"  syslog (unix):   {rs.out}  (facility local6, tag httpd)")
        print(f"  syslog (tcp):    {rs.out}  (facility local5, tag httpd-tcp)")
    if have["scribe"] and procs:
        print(f"  scribe:          {run / 'collector'}/www.log  (category www)")
    if have["cidr_lookup"]:
        print("  cidr_lookup:     client-type=office in the file log (127.0.0.0/8 is 'office')")
    print("\nCtrl-C stops everything.", flush=True)

    stop = []
    signal.signal(signal.SIGINT, lambda *a: stop.append(1))
    signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
    try:
        while not stop:
            time.sleep(0.2)
    finally:
        print("\nstopping...")
        h.stop()
        for p in procs:
            p.stop()
        rs.stop()
        print("stopped.")


def start_collector(root):
    from lib.scribe import Collector
    try:
        col = Collector(port=SCRIBE_PORT, store_dir=root).start()
    except RuntimeError as e:
        print(f"warning: no Scribe collector on {SCRIBE_PORT}: {e}")
        return None
    print(f"collector: 127.0.0.1:{SCRIBE_PORT}, writes {root}/<category>.log")
    return col


if __name__ == "__main__":
    main()
