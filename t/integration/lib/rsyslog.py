"""A real rsyslogd for tests, with its own config, socket, ports and output.

It listens on a unix datagram socket (imuxsock), UDP and TCP on free loopback
ports, and writes each message as one JSON object a line with the fields a
user checks: facility, severity, tag (program name), pid and message. Asked
to, it also takes TLS (RFC 5425: imtcp with the ossl stream driver, with the
certificate and key given) and RELP (imrelp) on ports of their own.
"""
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from .ports import free_port, free_tcp_udp_port, wait_tcp

RSYSLOGD = "/usr/sbin/rsyslogd"

CONF = """\
global(workDirectory="{work}" maxMessageSize="64k"
       parser.escapeControlCharactersOnReceive="off" net.enableDNS="off"{tls_global})
module(load="imuxsock" SysSock.Use="off")
input(type="imuxsock" Socket="{socket}" CreatePath="on" RateLimit.Interval="0"
      UseSpecialParser="off")
module(load="imudp")
input(type="imudp" address="127.0.0.1" port="{port}" RateLimit.Interval="0")
module(load="imtcp" MaxSessions="2000")
input(type="imtcp" address="127.0.0.1" port="{port}")
{extra_inputs}
template(name="suite" type="list" option.jsonf="on") {{
  property(outname="facility" name="syslogfacility-text" format="jsonf")
  property(outname="severity" name="syslogseverity-text" format="jsonf")
  property(outname="tag" name="programname" format="jsonf")
  property(outname="pid" name="procid" format="jsonf")
  property(outname="hostname" name="hostname" format="jsonf")
  property(outname="msg" name="msg" format="jsonf")
  property(outname="raw" name="rawmsg" format="jsonf")
}}
if $programname != "rsyslogd" then {{
  action(type="omfile" file="{out}" template="suite")
}}
"""


TLS_GLOBAL = ('\n       DefaultNetstreamDriverCAFile="{ca}" DefaultNetstreamDriverCertFile="{cert}"'
              '\n       DefaultNetstreamDriverKeyFile="{key}"')
TLS_INPUT = """input(type="imtcp" address="127.0.0.1" port="{port}" streamDriver.name="ossl"
      streamDriver.mode="1" streamDriver.authMode="{auth}")"""
RELP_INPUT = """module(load="imrelp")
input(type="imrelp" address="127.0.0.1" port="{port}")"""


class Rsyslogd:
    def __init__(self, root=None, tls=None, tls_auth="anon", relp=False):
        """`tls`: (certificate, key, CA file) of a TLS listener on tls_port,
        which asks clients for a certificate of that CA when `tls_auth` is
        "x509/certvalid"; `relp`: a RELP listener on relp_port."""
        self.tls = tls
        self.tls_auth = tls_auth
        self.tls_port = free_port() if tls else None
        self.relp_port = free_port() if relp else None
        self.root = Path(root or tempfile.mkdtemp(prefix="modsuite-rsyslog-"))
        # httpd children (www-data) must reach the socket.
        os.chmod(self.root, 0o755)
        (self.root / "work").mkdir(exist_ok=True)
        self.socket = str(self.root / "log.sock")
        self.port = free_tcp_udp_port()
        self.udp_port = self.port
        self.tcp_port = self.port
        self.out = self.root / "messages.jsonl"
        self.conf = self.root / "rsyslog.conf"
        self.pidfile = self.root / "rsyslogd.pid"
        self.proc = None

    def start(self, timeout=15):
        tls_global, extra = "", []
        if self.tls:
            cert, key, ca = self.tls
            tls_global = TLS_GLOBAL.format(ca=ca, cert=cert, key=key)
            extra.append(TLS_INPUT.format(port=self.tls_port, auth=self.tls_auth))
        if self.relp_port:
            extra.append(RELP_INPUT.format(port=self.relp_port))
        self.conf.write_text(CONF.format(work=self.root / "work", socket=self.socket,
                                         port=self.port, out=self.out, tls_global=tls_global,
                                         extra_inputs="\n".join(extra)))
        log = open(self.root / "rsyslogd.stderr", "ab")
        self.proc = subprocess.Popen(
            [RSYSLOGD, "-n", "-f", str(self.conf), "-i", str(self.pidfile)],
            stdout=log, stderr=log, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("rsyslogd exited: " +
                                   (self.root / "rsyslogd.stderr").read_text())
            if os.path.exists(self.socket) and wait_tcp("127.0.0.1", self.tcp_port, 0.2) and \
                    all(wait_tcp("127.0.0.1", p, 0.2) for p in (self.tls_port, self.relp_port)
                        if p):
                os.chmod(self.socket, 0o666)
                return self
            time.sleep(0.05)
        raise RuntimeError("rsyslogd did not come up")

    def stop(self, timeout=15):
        """Orderly stop: rsyslogd closes its sockets and drains its queue."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def pause(self):
        """rsyslogd stops reading (SIGSTOP): a relay that hangs."""
        os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self):
        os.kill(self.proc.pid, signal.SIGCONT)

    def restart(self):
        self.stop()
        return self.start()

    def records(self, min_count=0, timeout=10.0, where=None):
        """Parsed records, waiting up to `timeout` for at least `min_count`
        (after filtering with `where`, a predicate on the record)."""
        deadline = time.monotonic() + timeout
        while True:
            recs = self._read()
            if where:
                recs = [r for r in recs if where(r)]
            if len(recs) >= min_count or time.monotonic() >= deadline:
                return recs
            time.sleep(0.1)

    def _read(self):
        recs = []
        try:
            data = self.out.read_text(errors="replace")
        except OSError:
            return recs
        for line in data.splitlines():
            if not line.strip():
                continue
            try:
                r = json.loads(line)
            except ValueError:
                continue
            msg = r.get("msg", "")
            # RFC 3164 leaves the space after "tag:" in MSG.
            r["text"] = msg[1:] if msg.startswith(" ") else msg
            recs.append(r)
        return recs

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
