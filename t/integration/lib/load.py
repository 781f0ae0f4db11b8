"""Bounded request bursts with unique ids, to count lines end to end."""
import re
import threading
import time

import requests


ID = re.compile(r"[?&]id=([\w.-]+)")


def ids_in(lines):
    """The request ids found in log lines (a list: duplicates kept)."""
    out = []
    for line in lines:
        m = ID.search(line)
        if m:
            out.append(m.group(1))
    return out


def burst(httpd, count, concurrency=8, path="/small.txt", prefix="req", timeout=10):
    """Sends `count` GETs of `path?id=<prefix>-<n>` from `concurrency` threads.
    Returns (ids that got a 200, list of (id, error) for the others)."""
    ok, failed = [], []
    lock = threading.Lock()
    counter = iter(range(count))

    def worker():
        s = requests.Session()
        while True:
            with lock:
                n = next(counter, None)
            if n is None:
                return
            rid = f"{prefix}-{n}"
            try:
                r = s.get(httpd.url(f"{path}?id={rid}"), timeout=timeout)
                with lock:
                    (ok if r.status_code == 200 else failed).append(
                        rid if r.status_code == 200 else (rid, r.status_code))
            except requests.RequestException as e:
                with lock:
                    failed.append((rid, str(e)))

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return ok, failed


def fetch_all(httpd, ids, new_connection=False, concurrency=4, headers=None):
    """GETs /small.txt?id=... for each id; returns the ids that got a 200.
    `new_connection` closes the connection after every request (so that
    MaxConnectionsPerChild recycles children)."""
    ok, lock, queue = [], threading.Lock(), list(ids)
    hdrs = dict(headers or {})
    if new_connection:
        hdrs["Connection"] = "close"

    def worker():
        s = requests.Session()
        while True:
            with lock:
                if not queue:
                    return
                rid = queue.pop(0)
            r = (requests if new_connection else s).get(
                httpd.url(f"/small.txt?id={rid}"), headers=hdrs, timeout=30)
            if r.status_code == 200:
                with lock:
                    ok.append(rid)

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return ok


class BackgroundLoad:
    """Keeps sending requests until stopped (bounded by max_seconds)."""

    def __init__(self, httpd, concurrency=4, path="/small.txt", prefix="bg", max_seconds=60):
        self.httpd, self.path, self.prefix = httpd, path, prefix
        self.concurrency, self.max_seconds = concurrency, max_seconds
        self.ok, self.failed = [], []
        self.done_at = {}  # id -> time.monotonic() its 200 came back
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._n = 0
        self._threads = []

    def _next(self):
        with self._lock:
            self._n += 1
            return f"{self.prefix}-{self._n}"

    def _worker(self):
        s = requests.Session()
        end = time.monotonic() + self.max_seconds
        while not self._stop.is_set() and time.monotonic() < end:
            rid = self._next()
            try:
                r = s.get(self.httpd.url(f"{self.path}?id={rid}"), timeout=10)
                with self._lock:
                    if r.status_code == 200:
                        self.ok.append(rid)
                        self.done_at[rid] = time.monotonic()
                    else:
                        self.failed.append((rid, r.status_code))
            except requests.RequestException as e:
                # A connection refused or reset while httpd restarts: the
                # request was not served, so no line is owed for it.
                with self._lock:
                    self.failed.append((rid, str(e)))
                s = requests.Session()
                time.sleep(0.01)

    def ok_before(self, t):
        """The ids whose 200 came back before time.monotonic() `t`."""
        with self._lock:
            return [rid for rid in self.ok if self.done_at[rid] < t]

    def __enter__(self):
        for _ in range(self.concurrency):
            t = threading.Thread(target=self._worker, daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def __exit__(self, *exc):
        self._stop.set()
        for t in self._threads:
            t.join()
