"""Where things are: the repo, its build output, Debian's httpd."""
import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
BUILD = REPO / "build"
HTTPD_BIN = os.environ.get("HTTPD", "/usr/sbin/apache2")
DEBIAN_MODULES = Path("/usr/lib/apache2/modules")
OUR_MODULES = {"syslog", "cidr_lookup", "scribe"}
CGI_DIR = REPO / "t" / "integration" / "cgi"


def module_path(name):
    if name in OUR_MODULES:
        return BUILD / f"mod_{name}.so"
    return DEBIAN_MODULES / f"mod_{name}.so"
