#!/usr/bin/python3
"""CGI for the integration tests: answers with its environment as JSON."""
import json
import os
import sys

body = json.dumps(dict(os.environ), sort_keys=True).encode()
sys.stdout.write("Content-Type: application/json\r\n")
sys.stdout.write(f"Content-Length: {len(body)}\r\n\r\n")
sys.stdout.flush()
sys.stdout.buffer.write(body)
