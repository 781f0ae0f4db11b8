"""The message catalogue, MESSAGES.md: the IDs our error-log messages carry."""
import re

from .paths import REPO

CATALOGUE = REPO / "MESSAGES.md"
PREFIXES = ("DE", "SC", "SY", "CL")
ID_FORM = re.compile(r"^(?:%s)\d{4}$" % "|".join(PREFIXES))
# A row of one of the catalogue's tables: "| DE0001 | warn | ... | ... |".
ROW = re.compile(r"^\|\s*([A-Z]{2}\d{4})\s*\|\s*([\w]+)\s*\|(.*)\|(.*)\|\s*$")
SECTION = re.compile(r"^##\s+([A-Z]{2}):")


def catalogue(path=CATALOGUE):
    """{id: (prefix of the section it is listed under, level, message)} for
    every row; raises ValueError on an ID listed twice."""
    rows = {}
    section = None
    for number, line in enumerate(path.read_text().splitlines(), 1):
        m = SECTION.match(line)
        if m:
            section = m.group(1)
            continue
        m = ROW.match(line)
        if not m:
            continue
        mid, level, message = m.group(1), m.group(2), m.group(3).strip()
        if mid in rows:
            raise ValueError(f"{path.name}:{number}: {mid} is listed twice")
        rows[mid] = (section, level, message)
    return rows
