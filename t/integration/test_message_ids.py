"""Message IDs: the catalogue (MESSAGES.md) and the sources agree.

Plain pytest, no httpd. An ID is a literal `XX0000: ` (DE, SC, SY, CL) at the
start of a message's text in the C/C++ sources of include/ and mod_*/. Every
ID used is catalogued, every catalogued ID is used, and each at one call site
only; the log calls of the files in LOG_CALL_FILES all carry one. The
harness's expect_log_id() takes catalogued IDs only.
"""
import re

import pytest

from lib.httpd import Httpd
from lib.messages import CATALOGUE, PREFIXES, catalogue
from lib.paths import REPO

# Files whose every ap_log_error / ap_log_rerror / ap_log_perror call must
# start its format string with an ID. Add a file once its messages have IDs.
LOG_CALL_FILES = [
    "include/log_target_kit.h",
    "include/module_kit.h",
    "mod_cidr_lookup/cidr_glue.cpp",
    "mod_cidr_lookup/cidr_list_sets.cpp",
    "mod_scribe/scribe_glue.cpp",
    "mod_syslog/syslog_glue.cpp",
]
# A call whose format is exactly this passes on a message made elsewhere
# (a Reporter's or a DropLedger's text), which carries its own ID: the ID
# check of the sources covers where it was made.
PASS_THROUGH = '"%s"'


SOURCE_DIRS = ["include"] + sorted(p.name for p in REPO.glob("mod_*") if p.is_dir())
SOURCE_SUFFIXES = {".c", ".cpp", ".h"}
ID_USE = re.compile(r"\b((?:%s)\d{4}): " % "|".join(PREFIXES))
# Where the IDs of each prefix belong.
HOME = {"DE": "include", "SC": "mod_scribe", "SY": "mod_syslog", "CL": "mod_cidr_lookup"}
LEVELS = {"emerg", "alert", "crit", "error", "warn", "notice", "info", "debug"} | {
    f"trace{n}" for n in range(1, 9)}
LOG_CALL = re.compile(r"\bap_log_(?:error|rerror|perror)\s*\(")
ID_FORMAT = re.compile(r'^"(?:%s)\d{4}: ' % "|".join(PREFIXES))


def strip_comments(text):
    """`text` with its // and /* */ comments blanked out (newlines kept, so
    that offsets and line numbers stay); string and character literals are
    kept as they are."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c == '"' or (c == "'" and not (i and text[i - 1].isalnum())):
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            out.append(text[i:j + 1])
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def sources():
    for d in SOURCE_DIRS:
        for path in sorted((REPO / d).rglob("*")):
            if path.suffix in SOURCE_SUFFIXES and path.is_file():
                yield path


def line_of(text, offset):
    return text.count("\n", 0, offset) + 1


def id_uses():
    """{id: ["file:line", ...]} over the sources, comments left out."""
    uses = {}
    for path in sources():
        text = strip_comments(path.read_text(errors="replace"))
        rel = path.relative_to(REPO)
        for m in ID_USE.finditer(text):
            uses.setdefault(m.group(1), []).append(f"{rel}:{line_of(text, m.start())}")
    return uses


def call_arguments(text, start):
    """The text of a call's arguments, from just after its "(" at `start` to
    the matching ")" (parentheses inside string literals do not count)."""
    depth, i = 1, start
    while i < len(text):
        c = text[i]
        if c == '"':
            i += 1
            while text[i] != '"':
                i += 2 if text[i] == "\\" else 1
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return text[start:i]
        i += 1
    raise ValueError("unbalanced call")


def log_calls(path):
    """(line, format string) for every httpd log call in `path`; the format
    is the call's first string literal (APLOG_MARK, level, status and the
    server, connection or pool come before it), or None."""
    text = strip_comments(path.read_text())
    for m in LOG_CALL.finditer(text):
        args = call_arguments(text, m.end())
        literal = re.search(r'"(?:[^"\\]|\\.)*"', args)
        yield line_of(text, m.start()), literal.group(0) if literal else None


@pytest.fixture(scope="module")
def rows():
    return catalogue()


@pytest.fixture(scope="module")
def uses():
    return id_uses()


def test_catalogue_rows_are_well_formed(rows):
    assert rows, f"no IDs found in {CATALOGUE.name}"
    for mid, (section, level, message) in rows.items():
        assert section == mid[:2], f"{mid} is listed under {section}"
        assert level in LEVELS, f"{mid}: level {level!r}"
        assert message, f"{mid} has no message"


def test_every_id_used_is_catalogued(rows, uses):
    missing = {mid: at for mid, at in uses.items() if mid not in rows}
    assert not missing, f"IDs used but not in {CATALOGUE.name}: {missing}"


def test_every_catalogued_id_is_used(rows, uses):
    unused = sorted(set(rows) - set(uses))
    assert not unused, f"IDs in {CATALOGUE.name} that no source uses: {unused}"


def test_each_id_has_one_call_site(uses):
    twice = {mid: at for mid, at in uses.items() if len(at) > 1}
    assert not twice, f"IDs used at more than one place: {twice}"


def test_ids_live_with_their_code(uses):
    astray = {mid: at for mid, at in uses.items()
              if any(not a.startswith(HOME[mid[:2]] + "/") for a in at)}
    assert not astray, f"IDs outside their prefix's directory ({HOME}): {astray}"


@pytest.mark.parametrize("name", LOG_CALL_FILES)
def test_log_calls_carry_an_id(name):
    calls = list(log_calls(REPO / name))
    assert calls, f"no log calls found in {name}"
    bad = [f"{name}:{line}: {fmt}" for line, fmt in calls
           if not fmt or not (ID_FORMAT.match(fmt) or fmt == PASS_THROUGH)]
    assert not bad, "log calls without an ID at the start of the format:\n" + "\n".join(bad)


def test_expect_log_id_excuses_those_ids_only(tmp_path):
    """The harness's expect_log_id(), on a made-up error log (no httpd)."""
    h = Httpd(root=tmp_path)
    with pytest.raises(ValueError):
        h.expect_log_id("DE9999")  # well formed, not catalogued
    with pytest.raises(ValueError):
        h.expect_log_id("DE001")
    h.expect_log_id("DE0001", "CL0002")
    h.error_log.write_text(
        "[Tue Mar 04 10:12:55 2025] [syslog:warn] [pid 1:tid 2] DE0001: s: delivery failed\n"
        "[Tue Mar 04 10:12:55 2025] [cidr_lookup:warn] [pid 1:tid 1] CL0002: f:1: host bits\n"
        "[Tue Mar 04 10:12:55 2025] [syslog:error] [pid 1:tid 2] DE0004: s: dropped 1\n"
        "[Tue Mar 04 10:12:55 2025] [syslog:warn] [pid 1:tid 2] s: DE0001 in passing\n")
    assert [l.split("] ", 3)[3] for l in h.unexpected_log_lines()] == [
        "DE0004: s: dropped 1", "s: DE0001 in passing"]


def test_the_scanners_see_what_they_should():
    """The comment stripper and the call parser on the tricky cases."""
    text = ('f("a // b", \'"\'); // DE0001: x\n/* SC0001: y */ g("CL0001: z");\n'
            'ap_log_error(APLOG_MARK, 1, 0, s, "SY0001: (%s)", h(")"));\n')
    stripped = strip_comments(text)
    assert [m.group(1) for m in ID_USE.finditer(stripped)] == ["CL0001", "SY0001"]
    assert stripped.count("\n") == text.count("\n")
    start = LOG_CALL.search(stripped).end()
    assert call_arguments(stripped, start) == 'APLOG_MARK, 1, 0, s, "SY0001: (%s)", h(")")'
