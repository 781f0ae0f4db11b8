"""Certificates for the TLS tests, made with the openssl command-line tool:
a CA, a relay certificate it signed for localhost and 127.0.0.1, one for
another name, one that has expired, another CA nobody trusts, and a client
certificate. All in one temp directory, readable by root alone, as an
operator keeps a private key."""
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

OPENSSL = "/usr/bin/openssl"

CA_CONF = """\
[ca]
default_ca = test_ca
[test_ca]
dir = {dir}
database = {dir}/index.txt
new_certs_dir = {dir}
serial = {dir}/serial
default_md = sha256
policy = anything
copy_extensions = copy
[anything]
commonName = supplied
"""


def _run(*args, cwd):
    subprocess.run([OPENSSL, *args], cwd=cwd, check=True, capture_output=True, timeout=60)


class Certs:
    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="modsuite-certs-"))
        os.chmod(self.dir, 0o700)
        d = self.dir
        self._ca("ca")
        self._ca("other_ca")
        self.relay = self._signed("relay", "localhost", "DNS:localhost,IP:127.0.0.1")
        self.wrong_name = self._signed("wrong_name", "elsewhere.test", "DNS:elsewhere.test")
        self.client = self._signed("client", "httpd.test", "DNS:httpd.test")
        # Expired: valid for one day in 2020, signed by the trusted CA.
        (d / "index.txt").write_text("")
        (d / "serial").write_text("1000\n")
        (d / "ca.cnf").write_text(CA_CONF.format(dir=d))
        self._request("expired", "localhost", "DNS:localhost,IP:127.0.0.1")
        _run("ca", "-batch", "-config", "ca.cnf", "-cert", "ca.pem", "-keyfile", "ca.key",
             "-startdate", "20200101000000Z", "-enddate", "20200102000000Z",
             "-in", "expired.csr", "-out", "expired.pem", "-notext", cwd=d)
        self.expired = (d / "expired.pem", d / "expired.key")

    @property
    def ca(self):
        return self.dir / "ca.pem"

    @property
    def other_ca(self):
        return self.dir / "other_ca.pem"

    def _ca(self, name):
        _run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key",
             "-out", f"{name}.pem", "-days", "30", "-subj", f"/CN=Test {name}",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=self.dir)

    def _request(self, name, cn, san):
        _run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out",
             f"{name}.csr", "-subj", f"/CN={cn}", "-addext", f"subjectAltName={san}",
             "-addext", "extendedKeyUsage=serverAuth,clientAuth", cwd=self.dir)

    def _signed(self, name, cn, san):
        self._request(name, cn, san)
        _run("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-CAcreateserial", "-out", f"{name}.pem", "-days", "30", "-copy_extensions", "copy",
             cwd=self.dir)
        return (self.dir / f"{name}.pem", self.dir / f"{name}.key")

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)
