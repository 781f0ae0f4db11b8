"""A real rsyslogd for tests, with its own config, socket, ports and output.

It listens on a unix datagram socket (imuxsock), UDP and TCP on free loopback
ports, and writes each message as one JSON object a line with the fields a
user checks: facility, severity, tag (program name), pid and message.
"""
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from .ports import free_tcp_udp_port, wait_tcp

RSYSLOGD = "/usr/sbin/rsyslogd"

CONF = """\
global(workDirectory="{work}" maxMessageSize="64k"
       parser.escapeControlCharactersOnReceive="off" net.enableDNS="off")
module(load="imuxsock" SysSock.Use="off")
input(type="imuxsock" Socket="{socket}" CreatePath="on" RateLimit.Interval="0"
      UseSpecialParser="off")
module(load="imudp")
input(type="imudp" address="127.0.0.1" port="{port}" RateLimit.Interval="0")
module(load="imtcp" MaxSessions="2000")
input(type="imtcp" address="127.0.0.1" port="{port}")
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


class Rsyslogd:
    def __init__(self, root=None):
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
        self.conf.write_text(CONF.format(work=self.root / "work", socket=self.socket,
                                         port=self.port, out=self.out))
        log = open(self.root / "rsyslogd.stderr", "ab")
        self.proc = subprocess.Popen(
            [RSYSLOGD, "-n", "-f", str(self.conf), "-i", str(self.pidfile)],
            stdout=log, stderr=log, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("rsyslogd exited: " +
                                   (self.root / "rsyslogd.stderr").read_text())
            if os.path.exists(self.socket) and wait_tcp("127.0.0.1", self.tcp_port, 0.2):
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
