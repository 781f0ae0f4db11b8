"""Table images in a real httpd: built once and reused by later generations
and by every context naming the same lists; a damaged or foreign image is
rebuilt, never trusted; who owns what; CIDRLookupOnError; client_type() in
expressions; the new directives' errors.
"""
import os
import random
import re
import subprocess

import pytest

from lib.cidr_helpers import (ECHO_TYPE, cgi_env, cidr_conf, image_dir, images, replace_list,
                              write_list)
from lib.paths import BUILD

NOBODY = 65534


def summary_lines(httpd):
    return re.findall(r"CL0010: .*", httpd.read_error_log())


def test_images_are_built_once_and_shared(httpd_event):
    """Every context naming the same lists shares one table and one image;
    a graceful restart maps it again instead of building; the image and its
    directory are root's, not writable by anyone else (no reloads here)."""
    h = httpd_event
    office = write_list(h, "office.txt", "127.0.0.0/8\n2001:db8::/32\n")
    conf = cidr_conf(h, "headers").add(f'CIDRFile "{office}"\n{ECHO_TYPE}')
    for name in ("a.test", "b.test"):
        conf.add_vhost(f'CIDRFile "{office}"', server_name=name)
    conf.add(f'<Location "/cgi/">\n  CIDRFile "{h.root}/cidr/*.txt"\n</Location>')
    h.start(conf)
    assert h.get("/small.txt", headers={"Host": "b.test"}).headers["X-Seen-Type"] == "office"
    assert cgi_env(h)["X_CLIENT_TYPE"] == "office"
    imgs = images(h)
    # The glob names the same file: another context, the same image.
    assert len(imgs) == 1, imgs
    assert len(summary_lines(h)) == 2, summary_lines(h)  # the file's, and the glob's
    line = summary_lines(h)[0]
    assert "1 IPv4 and 1 IPv6 prefixes (per type, IPv4+IPv6: office 1+1)" in line, line
    st_dir, st_img = os.stat(image_dir(h)), os.stat(imgs[0])
    assert (st_dir.st_uid, st_dir.st_mode & 0o777) == (0, 0o755)
    assert (st_img.st_uid, st_img.st_mode & 0o777) == (0, 0o644)
    built = st_img.st_mtime_ns

    h.graceful()
    assert h.get("/small.txt").headers["X-Seen-Type"] == "office"
    later = summary_lines(h)[2:]
    assert later and all("reused" in l for l in later), later
    assert [p.name for p in images(h)] == [imgs[0].name]
    assert os.stat(imgs[0]).st_mtime_ns == built  # not written again

    # The same bytes, now writable by the group: the image is reused, and
    # the warning is about the list as it is now.
    h.expect_log_id("CL0001")
    os.chmod(office, 0o664)
    h.graceful()
    assert "reused" in summary_lines(h)[-1]
    assert re.search(rf"CL0001: {re.escape(str(office))}: is writable by its group",
                     h.read_error_log())
    os.chmod(office, 0o644)

    # A list changed: a new image, and the old one goes.
    replace_list(office, "127.0.0.1\n")
    h.graceful()
    now = images(h)
    assert len(now) == 1 and now[0].name != imgs[0].name
    assert cgi_env(h)["X_CLIENT_TYPE"] == "office"


@pytest.mark.parametrize("damage", ["corrupt", "foreign", "not a file"])
def test_a_bad_image_is_rebuilt_never_trusted(httpd_event, damage):
    """An image that is damaged, owned by another user, or not a file at
    all is refused (CL0014) and the table built again from the lists."""
    h = httpd_event
    h.expect_log_id("CL0014")
    lists = write_list(h, "clients.map", "127.0.0.0/8 right\n")
    conf = cidr_conf(h, "headers").add(f'CIDRMap "{lists}"\n{ECHO_TYPE}')
    h.start(conf)
    h.stop()
    [img] = images(h)
    if damage == "corrupt":
        # The same size, other bytes: a lookup would answer something else.
        data = bytearray(img.read_bytes())
        data[len(data) // 2:len(data) // 2 + 64] = b"\xff" * 64
        img.write_bytes(bytes(data))
    elif damage == "foreign":
        os.chown(img, NOBODY, NOBODY)
    else:
        img.unlink()
        os.mkfifo(img)
    h.start(conf)
    assert h.get("/small.txt").headers["X-Seen-Type"] == "right"
    log = h.read_error_log()
    assert re.search(r"CL0014: lists of .*: the image " + img.name + r" in .* was refused \(", log), log
    if damage == "foreign":
        assert "owned by uid 65534" in log
    # Written again, as root's.
    assert os.stat(img).st_uid == 0 and img.is_file()
    p = subprocess.run([str(BUILD / "cidr-lookup"), "--image", str(img), "--check"],
                       capture_output=True, text=True)
    assert p.returncode == 0 and "OK: image of 1 networks" in p.stdout, p.stdout + p.stderr


def test_an_image_compiled_beforehand_is_used(httpd_event):
    """`cidr-lookup --compile DIR` with the lists httpd.conf names writes the
    image httpd then maps at startup, instead of building."""
    h = httpd_event
    office = write_list(h, "office.txt", "127.0.0.0/8\n")
    image_dir(h).mkdir(mode=0o755)
    p = subprocess.run([str(BUILD / "cidr-lookup"), "-f", str(office), "--compile",
                        str(image_dir(h))], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    [img] = images(h)
    h.start(cidr_conf(h).add(f'CIDRFile "{office}"'))
    assert cgi_env(h)["X_CLIENT_TYPE"] == "office"
    assert "reused" in summary_lines(h)[0]
    assert [p.name for p in images(h)] == [img.name]


def test_unusable_image_directory(httpd_event):
    """When the image directory cannot be made (a file in its place), tables
    are built in memory, with a warning, and lists are not reloaded."""
    h = httpd_event
    h.expect_log_id("CL0013")
    image_dir(h).write_text("not a directory")
    office = write_list(h, "office.txt", "127.0.0.0/8\n")
    h.start(cidr_conf(h).add(f'CIDRFile "{office}"\nCIDRLookupReload 1'))
    assert cgi_env(h)["X_CLIENT_TYPE"] == "office"
    assert re.search(r"CL0013: image directory: cannot open .*cidr-lookup.*"
                     r"builds its tables in memory, and lists are not reloaded", h.read_error_log())


def test_on_error_keep(httpd_event):
    """CIDRLookupOnError keep: a bad list at a graceful restart keeps the
    table the lists last made (CL0012), and `apachectl -t` says so without
    failing; with nothing to keep, the start fails as with fail."""
    h = httpd_event
    h.expect_log_id("CL0012")
    lists = write_list(h, "clients.map", "127.0.0.0/8 good\n")
    conf = cidr_conf(h, "headers").add(f'CIDRMap "{lists}"\nCIDRLookupOnError keep\n{ECHO_TYPE}')
    h.start(conf)
    replace_list(lists, "127.0.0.0/8 better\n127.0.0.1/33 broken\n")
    rc, out = h.config_test(conf)
    assert rc == 0 and "CL0012" in out and f"{lists}:2: prefix length /33 out of range" in out, out
    h.graceful()
    assert h.get("/small.txt").headers["X-Seen-Type"] == "good"
    log = h.read_error_log()
    assert re.search(rf"CL0012: lists of .*: {re.escape(str(lists))}:2: prefix length /33", log)
    assert "the lists failed to load (CL0012)" in summary_lines(h)[-1]
    # Mended: loaded again.
    replace_list(lists, "127.0.0.0/8 better\n")
    h.graceful()
    assert h.get("/small.txt").headers["X-Seen-Type"] == "better"
    h.stop()

    # Nothing kept from before (a new server root): the start fails.
    for img in images(h):
        img.unlink()
    replace_list(lists, "127.0.0.1/33 broken\n")
    rc, out = h.config_test(conf)
    assert rc != 0 and "found no table of these lists to keep" in out, out


def test_client_type_in_expressions(httpd_event):
    """client_type('') in <If>, Require expr and RewriteCond: the
    request's answer; client_type(ADDRESS): any address's."""
    h = httpd_event
    h.expect_log(r"AH01630: client denied by server configuration")
    write_list(h, "office.txt", "127.0.0.0/8\n")
    write_list(h, "partners.map", "192.0.2.0/24 partner\n")
    conf = cidr_conf(h, "headers", "rewrite")
    conf.add(f'CIDRFile "{h.root}/cidr/office.txt"\nCIDRMap "{h.root}/cidr/partners.map"')
    conf.add("CIDRLookupDefault elsewhere")
    conf.add("<If \"client_type('') == 'office'\">\n  Header always set X-If office\n</If>")
    conf.add("RewriteEngine On\n"
             "RewriteCond expr \"client_type('192.0.2.9') == 'partner'\"\n"
             "RewriteCond expr \"client_type('198.51.100.1') == 'elsewhere'\"\n"
             "RewriteRule ^/rewritten$ /small.txt [PT]")
    htdocs = h.root / "htdocs"
    for name, rule in {"mine": "Require expr \"client_type('') == 'office'\"",
                       "either": "Require expr \"client_type('') in { 'crawler', 'office' }\"",
                       "theirs": "Require expr \"client_type('') == 'partner'\""}.items():
        (htdocs / name).mkdir()
        (htdocs / name / "index.html").write_text(name)
        conf.add(f'<Directory "{htdocs}/{name}">\n  {rule}\n</Directory>')
    h.start(conf)
    r = h.get("/small.txt", headers={"X-Client-Type": "partner"})
    assert r.headers.get("X-If") == "office"
    assert h.get("/mine/").status_code == 200
    assert h.get("/either/").status_code == 200
    assert h.get("/theirs/", headers={"X-Client-Type": "partner"}).status_code == 403
    assert h.get("/rewritten").text == "x" * 64


@pytest.mark.parametrize("directive,message", [
    ("CIDRLookupReload 0", "CIDRLookupReload: '0' is out of range (1-86400) (seconds, or off)"),
    ("CIDRLookupReload soon", "CIDRLookupReload: 'soon' is not a number"),
    ("CIDRLookupOnError maybe", "CIDRLookupOnError: 'maybe' is neither fail nor keep"),
    ("<VirtualHost 127.0.0.1:80>\nCIDRLookupReload 5\n</VirtualHost>",
     "CIDRLookupReload cannot occur within <VirtualHost> section"),
])
def test_directive_errors(httpd_event, directive, message):
    rc, out = httpd_event.config_test(cidr_conf(httpd_event).add(directive))
    assert rc != 0 and message in out, out


def test_routing_table_sized_list_through_its_image(httpd_event):
    """A list the size of a full IPv4 routing table (900,000 /24s and some
    longer prefixes): its image carries the direct index (one byte per /24,
    16 MiB), and children mapping it answer from the index where a /24 holds
    nothing longer, and from the trie where it does."""
    h = httpd_event
    rng = random.Random(5)
    lines = set()
    while len(lines) < 900_000:
        a = rng.randrange(0x01000000, 0x7E000000) & ~0xFF
        lines.add(f"{a >> 24}.{a >> 16 & 255}.{a >> 8 & 255}.0/24")
    for _ in range(2000):
        a = rng.randrange(0x01000000, 0x7E000000)
        lines.add(f"{a >> 24}.{a >> 16 & 255}.{a >> 8 & 255}.{a & 255}/32")
    routes = write_list(h, "routes.txt", "\n".join(sorted(lines)) + "\n127.0.0.0/24\n")
    host = write_list(h, "host.txt", "127.0.0.1/32\n")
    conf = cidr_conf(h, "headers").add(
        f'CIDRFile "{h.root}/cidr/*.txt"\nCIDRLookupNetworkEnv X_CLIENT_CIDR\n{ECHO_TYPE}')
    h.start(conf)
    def image_size():
        imgs = images(h)
        assert len(imgs) == 1, imgs
        return os.stat(imgs[0]).st_size

    # The 16 MiB index and a trie of the few /24s holding /32s; the trie
    # alone would take about 15 MB for this list.
    assert 16 << 20 < image_size() < 17 << 20, image_size()
    assert re.search(r"CL0010: .* 902002 IPv4 and 0 IPv6 prefixes .* bytes "
                     r"\(with an IPv4 direct index\), image ", h.read_error_log())
    # 127.0.0.0/24 holds a /32: the trie answers.
    env = cgi_env(h)
    assert (env["X_CLIENT_TYPE"], env["X_CLIENT_CIDR"]) == ("host", "127.0.0.1/32"), env

    # Without the /32, the index answers for the whole /24.
    os.unlink(host)
    h.graceful()
    assert 16 << 20 < image_size() < 17 << 20, image_size()
    env = cgi_env(h)
    assert (env["X_CLIENT_TYPE"], env["X_CLIENT_CIDR"]) == ("routes", "127.0.0.0/24"), env
    assert routes.exists()
