#!/usr/bin/python3
"""The piped-log way of feeding Scribe, for comparison with mod_scribe:

    CustomLog "|/usr/bin/python3 t/bench/scribe_pipe.py --port 1463 www" common

Reads access-log lines on stdin and sends each with its own Log() call over
one framed/binary Thrift connection (reconnecting after an error, retrying on
TRY_LATER). This is what a simple scribe_cat-style forwarder does; with
--connect-per-line it also opens a new connection for every line, as the
most naive ones do.
"""
import argparse
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, os.environ.get("SCRIBE_PY_GEN", str(REPO / "build" / "gen" / "py")))

from thrift.protocol.TBinaryProtocol import TBinaryProtocol  # noqa: E402
from thrift.transport import TSocket, TTransport  # noqa: E402

from scribe import scribe  # noqa: E402
from scribe.ttypes import LogEntry, ResultCode  # noqa: E402


def connect(host, port):
    sock = TSocket.TSocket(host, port)
    sock.setTimeout(5000)
    trans = TTransport.TFramedTransport(sock)
    trans.open()
    # As Scribe's own scribe_cat does: plain binary protocol, non-strict
    # headers (so this also exercises the collector's non-strict reading).
    return trans, scribe.Client(TBinaryProtocol(trans, strictRead=False, strictWrite=False))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=1463)
    ap.add_argument("--connect-per-line", action="store_true")
    ap.add_argument("category")
    opts = ap.parse_args()

    trans = client = None
    stdin = sys.stdin.buffer
    for raw in stdin:
        entry = [LogEntry(category=opts.category, message=raw.decode("utf-8", "replace"))]
        while True:
            try:
                if client is None:
                    trans, client = connect(opts.host, opts.port)
                if client.Log(entry) == ResultCode.OK:
                    break
                time.sleep(0.1)  # TRY_LATER
            except (TTransport.TTransportException, OSError):
                if trans:
                    trans.close()
                trans = client = None
                time.sleep(0.1)
        if opts.connect_per_line:
            trans.close()
            trans = client = None


if __name__ == "__main__":
    main()
