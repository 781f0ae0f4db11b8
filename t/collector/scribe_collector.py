#!/usr/bin/python3
"""A Scribe collector for tests, benchmarks and `make run`.

Speaks Scribe's Log() over framed transport and binary protocol (strict and
non-strict message headers both accepted, as scribed does) on a loopback port,
and appends each category's messages to DIR/<category>.log. A message that
does not end in a newline gets one in the file (as Scribe's file store does
with add_newlines), so the files stay line-oriented either way.

Tests steer it through a control port that speaks JSON, one object per line:

  {"cmd": "ping"}                          -> {"ok": true}
  {"cmd": "stats"}                         -> counters (see Collector.stats)
  {"cmd": "try_later", "count": N}         answer TRY_LATER to the next N calls
  {"cmd": "delay", "ms": X}                wait X ms before each answer
  {"cmd": "hang", "on": true|false}        accept and read calls, never answer;
                                           turning it off closes those
                                           connections unanswered
  {"cmd": "close_next", "count": N}        close the connection on the next N
                                           calls without answering
  {"cmd": "drop_connections"}              close every open client connection
  {"cmd": "max_frame", "bytes": N}         close the connection, unanswered, on
                                           a frame over N bytes (as Thrift >= 0.14
                                           servers do over 16,384,000); 0: no limit
  {"cmd": "refuse", "text": T}             close the connection, unanswered, on a
                                           call with a message containing T (as a
                                           server that cannot decode a line does);
                                           "": refuse nothing
  {"cmd": "reset"}                         back to normal behaviour

Stopping and starting is done by killing and restarting the process.

Usage: scribe_collector.py --port P --dir D [--control-port C] [--discard]
                           [--max-frame BYTES]
Prints "READY <port> <control-port>" on stdout once both ports listen.
"""
import argparse
import json
import os
import re
import select
import signal
import socket
import struct
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, os.environ.get("SCRIBE_PY_GEN", str(REPO / "build" / "gen" / "py")))

from thrift.protocol.TBinaryProtocol import TBinaryProtocolAccelerated  # noqa: E402
from thrift.Thrift import TApplicationException, TMessageType, TType  # noqa: E402
from thrift.transport import TSocket, TTransport  # noqa: E402

try:
    from scribe import scribe as scribe_service  # noqa: E402
    from scribe.ttypes import ResultCode  # noqa: E402
except ImportError:  # reported by main(); importers only want the helpers
    scribe_service = ResultCode = None

SAFE = re.compile(r"[^A-Za-z0-9_.@-]")


def category_file_name(category):
    """The file a category's messages go to (also used by the test helper)."""
    name = SAFE.sub("_", category) or "_"
    if name.startswith("."):
        name = "_" + name[1:]
    return name + ".log"


class Collector:
    def __init__(self, store_dir, discard=False):
        self.dir = Path(store_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.discard = discard
        self.lock = threading.Lock()
        self.files = {}
        self.file_locks = {}
        # Steering.
        self.try_later = 0
        self.delay_ms = 0
        self.hang = False
        self.close_next = 0
        self.max_frame = 0
        self.refuse = ""
        # Counters.
        self.calls = 0
        self.messages = 0
        self.answered_ok = 0
        self.answered_try_later = 0
        self.hung_calls = 0
        self.closed_calls = 0
        self.frames_refused = 0
        self.calls_refused = 0
        self.largest_frame = 0
        self.connections_total = 0
        self.by_category = {}
        self.without_newline = {}
        self.clients = set()

    # -- control -------------------------------------------------------
    def control(self, req):
        cmd = req.get("cmd")
        with self.lock:
            if cmd == "ping":
                return {"ok": True}
            if cmd == "stats":
                return self.stats_locked()
            if cmd == "try_later":
                self.try_later = int(req.get("count", 0))
            elif cmd == "delay":
                self.delay_ms = int(req.get("ms", 0))
            elif cmd == "hang":
                self.hang = bool(req.get("on", True))
            elif cmd == "close_next":
                self.close_next = int(req.get("count", 0))
            elif cmd == "max_frame":
                self.max_frame = int(req.get("bytes", 0))
            elif cmd == "refuse":
                self.refuse = str(req.get("text", ""))
            elif cmd == "drop_connections":
                for sock in list(self.clients):
                    try:
                        sock.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
            elif cmd == "reset":
                self.try_later = self.delay_ms = self.close_next = 0
                self.hang = False
                self.refuse = ""
            else:
                return {"ok": False, "error": f"unknown command {cmd!r}"}
            return {"ok": True}

    def stats_locked(self):
        return {
            "ok": True,
            "calls": self.calls,
            "messages": self.messages,
            "answered_ok": self.answered_ok,
            "answered_try_later": self.answered_try_later,
            "hung_calls": self.hung_calls,
            "closed_calls": self.closed_calls,
            "frames_refused": self.frames_refused,
            "calls_refused": self.calls_refused,
            "largest_frame": self.largest_frame,
            "connections_total": self.connections_total,
            "connections_open": len(self.clients),
            "by_category": dict(self.by_category),
            "without_newline": dict(self.without_newline),
            "try_later_pending": self.try_later,
            "hang": self.hang,
        }

    # -- frames and calls it refuses -------------------------------------
    def frame_allowed(self, size):
        with self.lock:
            self.largest_frame = max(self.largest_frame, size)
            if self.max_frame and size > self.max_frame:
                self.frames_refused += 1
                return False
            return True

    def refuses(self, entries):
        with self.lock:
            text = self.refuse
        if not text or not any(text in e.message for e in entries):
            return False
        with self.lock:
            self.calls_refused += 1
        return True

    # -- one Log() call ------------------------------------------------
    def decide(self):
        """What to do with the call just read: ok, try_later, close or hang."""
        with self.lock:
            self.calls += 1
            if self.close_next > 0:
                self.close_next -= 1
                self.closed_calls += 1
                return "close", 0
            if self.hang:
                self.hung_calls += 1
                return "hang", 0
            delay = self.delay_ms
            if self.try_later > 0:
                self.try_later -= 1
                self.answered_try_later += 1
                return "try_later", delay
            return "ok", delay

    def wait_unhang(self, sock):
        """Holds an unanswered call until hanging is turned off or the client
        gives up and closes the connection."""
        while True:
            with self.lock:
                if not self.hang or sock not in self.clients:
                    return
            readable, _, _ = select.select([sock], [], [], 0.2)
            if readable:
                try:
                    if not sock.recv(1, socket.MSG_PEEK):
                        return  # closed by the client
                except OSError:
                    return
                time.sleep(0.2)  # it sent more without waiting: keep ignoring it

    def store(self, entries):
        by_cat = {}
        for e in entries:
            by_cat.setdefault(e.category, []).append(e.message)
        for cat, msgs in by_cat.items():
            missing_nl = sum(1 for m in msgs if not m.endswith("\n"))
            if not self.discard:
                text = "".join(m if m.endswith("\n") else m + "\n" for m in msgs)
                with self.lock:
                    f = self.files.get(cat)
                    if f is None:
                        f = open(self.dir / category_file_name(cat), "a", encoding="utf-8",
                                 errors="surrogateescape")
                        self.files[cat] = f
                        self.file_locks[cat] = threading.Lock()
                    flock = self.file_locks[cat]
                with flock:
                    f.write(text)
                    f.flush()
            with self.lock:
                self.messages += len(msgs)
                self.by_category[cat] = self.by_category.get(cat, 0) + len(msgs)
                if missing_nl:
                    self.without_newline[cat] = self.without_newline.get(cat, 0) + missing_nl
        with self.lock:
            self.answered_ok += 1

    # -- a client connection -------------------------------------------
    def serve(self, sock):
        with self.lock:
            self.clients.add(sock)
            self.connections_total += 1
        tsock = FrameCheckingSocket(self)
        tsock.setHandle(sock)
        trans = TTransport.TFramedTransport(tsock)
        # strictRead=False: accepts headers with and without the version word.
        prot = TBinaryProtocolAccelerated(trans, strictRead=False)
        try:
            while True:
                name, mtype, seqid = prot.readMessageBegin()
                if isinstance(name, bytes):  # python3-thrift's non-strict branch
                    name = name.decode("utf-8", "replace")
                if name != "Log" or mtype not in (TMessageType.CALL, TMessageType.ONEWAY):
                    prot.skip(TType.STRUCT)
                    prot.readMessageEnd()
                    err = TApplicationException(TApplicationException.UNKNOWN_METHOD,
                                                f"unknown method {name}")
                    prot.writeMessageBegin(name, TMessageType.EXCEPTION, seqid)
                    err.write(prot)
                    prot.writeMessageEnd()
                    trans.flush()
                    continue
                args = scribe_service.Log_args()
                args.read(prot)
                prot.readMessageEnd()
                if self.refuses(args.messages or []):
                    return
                action, delay = self.decide()
                if action == "close":
                    return
                if action == "hang":
                    self.wait_unhang(sock)
                    return  # never answered, nothing stored
                if delay:
                    time.sleep(delay / 1000.0)
                if action == "try_later":
                    code = ResultCode.TRY_LATER
                else:
                    self.store(args.messages or [])
                    code = ResultCode.OK
                prot.writeMessageBegin("Log", TMessageType.REPLY, seqid)
                scribe_service.Log_result(success=code).write(prot)
                prot.writeMessageEnd()
                trans.flush()
        except (TTransport.TTransportException, OSError, EOFError, FrameTooLarge):
            pass
        except Exception as e:  # a malformed call: report, drop the connection
            print(f"scribe_collector: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
        finally:
            with self.lock:
                self.clients.discard(sock)
            try:
                sock.close()
            except OSError:
                pass


class FrameTooLarge(Exception):
    pass


class FrameCheckingSocket(TSocket.TSocket):
    """The socket under TFramedTransport, which reads a frame's 4-byte length
    and then the frame: a length over the collector's limit ends the
    connection before the frame is read, as Thrift's C++ servers do."""

    def __init__(self, collector):
        super().__init__()
        self.collector = collector
        self.at_length = True

    def readAll(self, sz):
        data = super().readAll(sz)
        if self.at_length and sz == 4:
            if not self.collector.frame_allowed(struct.unpack("!i", data)[0]):
                raise FrameTooLarge()
            self.at_length = False
        else:
            self.at_length = True
        return data


def listen(host, port):
    s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, port))
    s.listen(512)
    return s


def accept_loop(server, handler):
    while True:
        try:
            conn, _ = server.accept()
        except OSError:
            return
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=handler, args=(conn,), daemon=True).start()


def control_client(collector, conn):
    f = conn.makefile("rwb")
    try:
        for raw in f:
            raw = raw.strip()
            if not raw:
                continue
            try:
                reply = collector.control(json.loads(raw))
            except (ValueError, TypeError) as e:
                reply = {"ok": False, "error": str(e)}
            f.write(json.dumps(reply).encode() + b"\n")
            f.flush()
    except OSError:
        pass
    finally:
        conn.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=1463)
    ap.add_argument("--control-port", type=int, default=0,
                    help="JSON-lines control port (0: pick a free one)")
    ap.add_argument("--dir", required=True, help="where category files are written")
    ap.add_argument("--discard", action="store_true", help="count messages, store nothing")
    ap.add_argument("--max-frame", type=int, default=0,
                    help="close connections on frames over this many bytes (0: no limit)")
    opts = ap.parse_args()
    if scribe_service is None:
        sys.exit("scribe_collector: generated Python code not found; run `make scribe-py` "
                 "or set SCRIBE_PY_GEN")

    collector = Collector(opts.dir, discard=opts.discard)
    collector.max_frame = opts.max_frame
    server = listen(opts.host, opts.port)
    control = listen(opts.host, opts.control_port)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    threading.Thread(target=accept_loop, args=(control, lambda c: control_client(collector, c)),
                     daemon=True).start()
    print(f"READY {server.getsockname()[1]} {control.getsockname()[1]}", flush=True)
    accept_loop(server, collector.serve)


if __name__ == "__main__":
    main()
