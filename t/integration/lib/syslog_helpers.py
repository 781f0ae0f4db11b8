"""Helpers for mod_syslog's integration tests: configs, waiting for lines at
rsyslogd, reading drop reports back from the error log, and a unix stream
receiver (rsyslogd's imuxsock only does datagrams)."""
import os
import re
import signal
import socket
import tempfile
import threading
import time

from .load import ids_in

# The serving child's pid, then the request line (which carries ?id=...).
LOG_FORMAT = 'LogFormat "%P %r" pidline'


def syslog_conf(httpd, *lines):
    """A config with mod_syslog loaded, the `pidline` format and `lines`."""
    conf = httpd.conf().load("syslog").add(LOG_FORMAT)
    for line in lines:
        conf.add(line)
    return conf


def records_for(rsyslog, facility, min_count=0, timeout=10.0):
    return rsyslog.records(min_count, timeout=timeout, where=lambda r: r["facility"] == facility)


def wait_ids(rsyslog, facility, want, timeout=15.0):
    """Waits until every id in `want` arrived with `facility`; returns the
    records of that facility (all of them, duplicates included)."""
    want = set(want)
    deadline = time.monotonic() + timeout
    while True:
        recs = records_for(rsyslog, facility, 0, 0)
        got = set(ids_in(r["text"] for r in recs))
        if want <= got or time.monotonic() >= deadline:
            return recs
        time.sleep(0.1)


def stall_then_kill(rsyslog, stall=1.0):
    """rsyslogd stops reading (SIGSTOP) for `stall` seconds, then dies
    (SIGKILL) with whatever it had not read yet."""
    os.kill(rsyslog.proc.pid, signal.SIGSTOP)
    time.sleep(stall)
    rsyslog.kill()


def ids_of(recs):
    return ids_in(r["text"] for r in recs)


def reported_counts(error_log, pattern):
    """Sum of the first group of `pattern` over error-log lines."""
    return sum(int(m.group(1)) for m in re.finditer(pattern, error_log))


def accept_until_stopped(sock, stop, on_conn):
    """Accepts on `sock` (with a timeout set) until `stop` is set or the
    socket is closed, handing each connection to on_conn."""
    while not stop.is_set():
        try:
            conn, _ = sock.accept()
        except socket.timeout:
            continue
        except OSError:
            return
        on_conn(conn)


class StreamReceiver:
    """Collects the messages that arrive on a listening stream socket, split
    at `delimiter`; the subclasses make the socket."""

    def __init__(self, sock, delimiter):
        self.sock = sock
        self.delimiter = delimiter
        self.sock.listen(64)
        self.sock.settimeout(0.1)
        self.messages = []
        self.conns = []
        self.lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    def _accept(self):
        accept_until_stopped(self.sock, self._stop, self._accepted)

    def _accepted(self, conn):
        with self.lock:
            self.conns.append(conn)
        t = threading.Thread(target=self._read, args=(conn,), daemon=True)
        t.start()
        self._threads.append(t)

    def _read(self, conn):
        buf = b""
        conn.settimeout(0.1)
        with conn:
            while not self._stop.is_set():
                try:
                    data = conn.recv(65536)
                except socket.timeout:
                    continue
                if not data:
                    return
                buf += data
                *done, buf = buf.split(self.delimiter)
                with self.lock:
                    self.messages.extend(m.decode(errors="replace") for m in done)

    def wait(self, count, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.messages) >= count:
                    break
            time.sleep(0.05)
        with self.lock:
            return list(self.messages)

    def drop_connections(self):
        """Closes every connection accepted so far, as a relay that
        restarts does; the listening socket stays."""
        with self.lock:
            conns, self.conns = self.conns, []
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self):
        self._stop.set()
        self.sock.close()
        for t in self._threads:
            t.join(2)


class UnixStreamReceiver(StreamReceiver):
    """A unix stream socket with NUL-terminated messages, the way syslog(3)
    writes to a stream /dev/log."""

    def __init__(self, path=None):
        """At `path` when given (whatever was there is replaced), else in a
        directory of its own."""
        self.dir = None if path else tempfile.mkdtemp(prefix="modsuite-ustream-")
        if self.dir:
            os.chmod(self.dir, 0o755)
        self.path = str(path) if path else os.path.join(self.dir, "stream.sock")
        if path and os.path.exists(self.path):
            os.unlink(self.path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(self.path)
        os.chmod(self.path, 0o666)
        super().__init__(sock, b"\0")

    def close(self):
        super().close()
        try:
            os.unlink(self.path)
            if self.dir:
                os.rmdir(self.dir)
        except OSError:
            pass


class TcpLineReceiver(StreamReceiver):
    """A tcp receiver on loopback that splits what arrives at LF, and keeps
    it as sent: a relay that wants non-transparent framing."""

    def __init__(self):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        super().__init__(sock, b"\n")


class HungTcpReceiver:
    """A syslog tcp receiver that accepts connections and reads nothing until
    drain() is called: a relay that wedged. Its receive buffer is small, so a
    sender fills it within a few hundred lines."""

    def __init__(self, rcvbuf=4096):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self.lock = threading.Lock()
        self._stop = threading.Event()
        self.sock.settimeout(0.1)
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self):
        accept_until_stopped(self.sock, self._stop, self._accepted)

    def _accepted(self, conn):
        with self.lock:
            self.conns.append(conn)

    def drain(self, timeout=10.0):
        """Reads everything the connections hold (the peers have gone) and
        returns the octet-counted messages (RFC 6587) received."""
        self._stop.set()
        self._thread.join(2)
        messages = []
        with self.lock:
            conns = list(self.conns)
        for conn in conns:
            conn.settimeout(timeout)
            buf = b""
            while True:
                try:
                    data = conn.recv(1 << 20)
                except (socket.timeout, OSError):
                    break
                if not data:
                    break
                buf += data
            conn.close()
            while buf:
                length, _, rest = buf.partition(b" ")
                if not length.isdigit() or len(rest) < int(length):
                    break
                n = int(length)
                messages.append(rest[:n].decode(errors="replace"))
                buf = rest[n:]
        return messages

    def close(self):
        self._stop.set()
        self.sock.close()
        with self.lock:
            for c in self.conns:
                c.close()
