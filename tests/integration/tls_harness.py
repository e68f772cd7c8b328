"""Test certificates made at test time with the `openssl` command: a CA, a
server certificate for 127.0.0.1 / localhost, a client certificate, and a
certificate from another CA. Nothing is kept: everything lives in a
temporary directory removed by cleanup().
"""
import os
import shutil
import subprocess
import tempfile


def _run(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True,
                   capture_output=True, text=True)


class Certs:
    """Paths: ca, ca_key; server_cert/server_key (CN localhost, SAN
    127.0.0.1 and localhost, server and client use: members use it both
    ways); client_cert/client_key; other_ca, other_cert/other_key (a
    certificate signed by another CA)."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="qmesh-tls-")
        try:
            self.ca, self.ca_key = self._ca("qmesh test CA")
            self.other_ca, other_ca_key = self._ca("another CA")
            san = "subjectAltName=DNS:localhost,IP:127.0.0.1"
            self.server_cert, self.server_key = self._leaf(
                "server", "localhost", self.ca, self.ca_key, san)
            self.client_cert, self.client_key = self._leaf(
                "client", "qmesh test client", self.ca, self.ca_key, None)
            self.other_cert, self.other_key = self._leaf(
                "other", "localhost", self.other_ca, other_ca_key, san)
        except Exception:
            self.cleanup()
            raise

    def path(self, name):
        return os.path.join(self.dir, name)

    def _ca(self, cn):
        stem = cn.replace(" ", "_")
        _run("req", "-x509", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
             "-subj", f"/CN={cn}", "-keyout", f"{stem}.key",
             "-out", f"{stem}.pem",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign",
             cwd=self.dir)
        return self.path(f"{stem}.pem"), self.path(f"{stem}.key")

    def _leaf(self, stem, cn, ca, ca_key, san):
        _run("req", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:prime256v1", "-nodes", "-subj", f"/CN={cn}",
             "-keyout", f"{stem}.key", "-out", f"{stem}.csr", cwd=self.dir)
        ext = self.path(f"{stem}.ext")
        with open(ext, "w") as f:
            f.write("basicConstraints=CA:FALSE\n"
                    "keyUsage=critical,digitalSignature,keyEncipherment\n"
                    "extendedKeyUsage=serverAuth,clientAuth\n")
            if san:
                f.write(san + "\n")
        _run("x509", "-req", "-in", f"{stem}.csr", "-CA", ca, "-CAkey",
             ca_key, "-CAcreateserial", "-days", "2", "-out", f"{stem}.pem",
             "-extfile", ext, cwd=self.dir)
        return self.path(f"{stem}.pem"), self.path(f"{stem}.key")

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)
