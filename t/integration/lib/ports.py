"""Loopback ports for test servers.

Ports come from below the kernel's ephemeral range, so no outgoing
connection (httpd's children reconnecting to a collector, the test's own
clients) can be holding one as its local port when a server binds it, and a
port is handed out once per test session, so a port found free for one
server is never given to another before the first has bound it (CI once saw
httpd fail to bind, AH00072, a port picked from the ephemeral range).
"""
import os
import socket
import time


def _port_pool():
    low = 32768
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        pass
    top = max(low, 2048)
    return max(1024, top - 12000), top


_LOW, _HIGH = _port_pool()
_handed_out = set()
_cursor = _LOW + (os.getpid() * 7919) % (_HIGH - _LOW)


def _bindable(port, host, kinds):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for kind in kinds:
        try:
            with socket.socket(family, kind) as s:
                s.bind((host, port))
        except OSError:
            return False
    return True


def _take(host, kinds):
    global _cursor
    for _ in range(_HIGH - _LOW):
        port = _cursor
        _cursor = _LOW + (_cursor - _LOW + 1) % (_HIGH - _LOW)
        if port in _handed_out or not _bindable(port, host, kinds):
            continue
        _handed_out.add(port)
        return port
    raise RuntimeError("no free port")


def free_port(kind=socket.SOCK_STREAM, host="127.0.0.1"):
    return _take(host, (kind,))


def free_tcp_udp_port(host="127.0.0.1"):
    """A port free for both TCP and UDP (rsyslogd listens on both)."""
    return _take(host, (socket.SOCK_STREAM, socket.SOCK_DGRAM))


def wait_tcp(host, port, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False
