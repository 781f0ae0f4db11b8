"""A real Scribe collector process for tests: t/collector/scribe_collector.py.

The collector keeps its port across stop/start/kill/restart, so that httpd
(configured once) sees the same address go away and come back.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .paths import BUILD, REPO
from .ports import free_port

COLLECTOR = REPO / "t" / "collector" / "scribe_collector.py"
PY_GEN = BUILD / "gen" / "py"

sys.path.insert(0, str(REPO / "t" / "collector"))
from scribe_collector import category_file_name  # noqa: E402


class Collector:
    def __init__(self, port=None, store_dir=None, discard=False):
        self.port = port or free_port()
        self.control_port = free_port()
        self.dir = Path(store_dir or tempfile.mkdtemp(prefix="scribe-collector-"))
        self.discard = discard
        self.proc = None
        self._ctl = None

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    # -- lifecycle -----------------------------------------------------
    def start(self, timeout=15):
        if self.running():
            return self
        env = dict(os.environ, SCRIBE_PY_GEN=str(PY_GEN))
        cmd = ["/usr/bin/python3", str(COLLECTOR), "--port", str(self.port),
               "--control-port", str(self.control_port), "--dir", str(self.dir)]
        if self.discard:
            cmd.append("--discard")
        deadline = time.monotonic() + timeout
        while True:
            self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                         env=env, text=True)
            line = self.proc.stdout.readline()
            if line.startswith("READY"):
                return self
            err = self.proc.stderr.read()
            self.proc.wait()
            self.proc = None
            # The port may linger for a moment after a kill.
            if "Address already in use" in err and time.monotonic() < deadline:
                time.sleep(0.2)
                continue
            raise RuntimeError(f"collector did not start: {line}{err}")

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def _end(self, sig):
        self._close_control()
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for f in (self.proc.stdout, self.proc.stderr):
            if f:
                f.close()
        self.proc = None

    def stop(self):
        """Stops the collector (SIGTERM): open connections are reset."""
        self._end(signal.SIGTERM)
        return self

    def kill(self):
        """Kills the collector outright (SIGKILL), as a crash would."""
        self._end(signal.SIGKILL)
        return self

    def restart(self):
        self.stop()
        return self.start()

    def cleanup(self):
        self.kill()
        import shutil
        shutil.rmtree(self.dir, ignore_errors=True)

    # -- steering ------------------------------------------------------
    def _close_control(self):
        if self._ctl:
            try:
                self._ctl[0].close()
                self._ctl[1].close()
            except OSError:
                pass
            self._ctl = None

    def control(self, cmd, **args):
        """Sends one control command; returns the collector's JSON answer."""
        for attempt in range(2):
            try:
                if self._ctl is None:
                    s = socket.create_connection(("127.0.0.1", self.control_port), timeout=10)
                    self._ctl = (s, s.makefile("rwb"))
                f = self._ctl[1]
                f.write(json.dumps(dict(args, cmd=cmd)).encode() + b"\n")
                f.flush()
                line = f.readline()
                if not line:
                    raise OSError("control connection closed")
                reply = json.loads(line)
                if not reply.get("ok"):
                    raise RuntimeError(f"collector refused {cmd}: {reply}")
                return reply
            except OSError:
                self._close_control()
                if attempt:
                    raise

    def stats(self):
        return self.control("stats")

    def try_later(self, count):
        return self.control("try_later", count=count)

    def delay(self, ms):
        return self.control("delay", ms=ms)

    def hang(self, on=True):
        return self.control("hang", on=on)

    def close_next(self, count):
        return self.control("close_next", count=count)

    def drop_connections(self):
        return self.control("drop_connections")

    def max_frame(self, nbytes):
        return self.control("max_frame", bytes=nbytes)

    def refuse(self, text):
        return self.control("refuse", text=text)

    def reset(self):
        return self.control("reset")

    # -- what arrived --------------------------------------------------
    def lines(self, category):
        """Every line stored for `category` so far (duplicates kept)."""
        path = self.dir / category_file_name(category)
        try:
            text = path.read_text(encoding="utf-8", errors="surrogateescape")
        except FileNotFoundError:
            return []
        # Only whole lines: a write may be under way.
        return text.split("\n")[:-1]

    def categories(self):
        return sorted(p.name[:-4] for p in self.dir.glob("*.log"))

    def wait_for_ids(self, category, ids, timeout=30):
        """Waits until every id in `ids` appears in `category`'s lines.
        Returns the ids still missing (empty on success)."""
        from .load import ids_in
        want = set(ids)
        deadline = time.monotonic() + timeout
        while True:
            got = set(ids_in(self.lines(category)))
            missing = want - got
            if not missing or time.monotonic() >= deadline:
                return missing
            time.sleep(0.2)
