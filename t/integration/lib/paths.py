"""Where things are: the repo, its build output, Debian's httpd."""
import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
# MODSUITE_BUILD: another build tree (make BUILD=...), e.g. to run a bench
# against an older build; its modules and generated Thrift code are used.
BUILD = (Path(os.environ["MODSUITE_BUILD"]).absolute() if os.environ.get("MODSUITE_BUILD")
         else REPO / "build")
HTTPD_BIN = os.environ.get("HTTPD", "/usr/sbin/apache2")
DEBIAN_MODULES = Path("/usr/lib/apache2/modules")
OUR_MODULES = {"syslog", "cidr_lookup", "scribe"}
CGI_DIR = REPO / "t" / "integration" / "cgi"


def module_path(name):
    if name in OUR_MODULES:
        return BUILD / f"mod_{name}.so"
    return DEBIAN_MODULES / f"mod_{name}.so"
