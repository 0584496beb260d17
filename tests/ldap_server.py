"""A real OpenLDAP directory for the tests (Debian's slapd), run in a process of its own on loopback with a CA of
its own: LDAPS on one port, ldap:// with StartTLS on another; and what a test does to it: add people and groups,
change a group's members, all as the directory's administrator over LDAPS."""

from __future__ import annotations

import contextlib
import datetime as dt
import shutil
import socket
import subprocess
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from appliance.keys.certificates import issue_ca, issue_server
from tests.running import free_port

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="(tag|type)Map is deprecated", category=DeprecationWarning)
    import ldap3

SLAPD = shutil.which("slapd") or "/usr/sbin/slapd"
BASE = "dc=example,dc=org"
ADMIN_DN = f"cn=admin,{BASE}"
ADMIN_PASSWORD = "directory-admin-secret"
PEOPLE = f"ou=people,{BASE}"
GROUPS = f"ou=groups,{BASE}"
NOBODY = f"cn=nobody,{BASE}"  # a group of names needs a member: this stands in when nobody else is one

_CONFIG = """include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/nis.schema
include /etc/ldap/schema/inetorgperson.schema
modulepath /usr/lib/ldap
moduleload back_mdb
pidfile {folder}/slapd.pid
TLSCACertificateFile {folder}/ca.pem
TLSCertificateFile {folder}/server.pem
TLSCertificateKeyFile {folder}/server.key
database mdb
maxsize 10485760
suffix "{base}"
rootdn "{admin}"
rootpw {password}
directory {folder}/db
"""
_SEED = f"""dn: {BASE}
objectClass: dcObject
objectClass: organization
dc: example
o: Example

dn: {PEOPLE}
objectClass: organizationalUnit
ou: people

dn: {GROUPS}
objectClass: organizationalUnit
ou: groups
"""


@dataclass
class RunningDirectory:
    ldaps_url: str
    starttls_url: str
    ca_file: str

    def settings(self, **changes) -> dict:
        """What an operator enters for this directory (LDAPS, the service account, groups under ou=groups)."""
        return {"kind": "ldap", "name": "Example Directory", "url": self.ldaps_url, "ca_file": self.ca_file,
                "bind_dn": ADMIN_DN, "bind_password": ADMIN_PASSWORD, "user_base": PEOPLE,
                "user_filter": "(|(mail={login})(uid={login}))", "group_base": GROUPS, **changes}

    @contextlib.contextmanager
    def admin(self):
        tls = ldap3.Tls(validate=0)  # the tests' own directory, on loopback
        server = ldap3.Server(self.ldaps_url, use_ssl=True, tls=tls, get_info=ldap3.NONE)
        connection = ldap3.Connection(server, ADMIN_DN, ADMIN_PASSWORD, auto_bind=True)
        try:
            yield connection
        finally:
            connection.unbind()

    def add_person(self, uid: str, *, password: str, mail: str | None = None, name: str | None = None) -> str:
        dn = f"uid={uid},{PEOPLE}"
        attributes = {"uid": uid, "cn": name or uid.title(), "sn": uid, "userPassword": password}
        if mail:
            attributes["mail"] = mail
        with self.admin() as connection:
            assert connection.add(dn, ["inetOrgPerson"], attributes), connection.result
        return dn

    def set_password(self, uid: str, password: str) -> None:
        with self.admin() as connection:
            assert connection.modify(f"uid={uid},{PEOPLE}",
                                     {"userPassword": [(ldap3.MODIFY_REPLACE, [password])]}), connection.result

    def set_group(self, name: str, members: list[str]) -> None:
        """Make the group (cn=<name> under ou=groups) have exactly these members (DNs)."""
        dn = f"cn={name},{GROUPS}"
        with self.admin() as connection:
            if not connection.search(dn, "(objectClass=*)", ldap3.BASE):
                assert connection.add(dn, ["groupOfNames"], {"cn": name, "member": members or [NOBODY]}), \
                    connection.result
            else:
                assert connection.modify(dn, {"member": [(ldap3.MODIFY_REPLACE, members or [NOBODY])]}), \
                    connection.result


@contextlib.contextmanager
def running_directory(folder: Path) -> Iterator[RunningDirectory]:
    folder.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.timezone.utc)
    ca = issue_ca(appliance_id="tests-directory", now=now)
    server = issue_server(ca, names=["127.0.0.1", "localhost"], now=now)
    (folder / "ca.pem").write_bytes(ca.cert_pem)
    (folder / "server.pem").write_bytes(server.cert_pem)
    (folder / "server.key").write_bytes(server.key_pem)
    (folder / "db").mkdir(exist_ok=True)
    config = folder / "slapd.conf"
    config.write_text(_CONFIG.format(folder=folder, base=BASE, admin=ADMIN_DN, password=ADMIN_PASSWORD))
    (folder / "seed.ldif").write_text(_SEED)
    subprocess.run(["slapadd", "-f", str(config), "-l", str(folder / "seed.ldif")], check=True,
                   capture_output=True, env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})
    plain, secure = free_port(), free_port()
    log = (folder / "slapd.log").open("w")
    process = subprocess.Popen([SLAPD, "-f", str(config), "-d", "256",
                                "-h", f"ldap://127.0.0.1:{plain}/ ldaps://127.0.0.1:{secure}/"],
                               stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        for port in (plain, secure):
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    assert process.poll() is None, (folder / "slapd.log").read_text()[-2000:]
                    assert time.monotonic() < deadline, "slapd did not start"
                    time.sleep(0.05)
        yield RunningDirectory(f"ldaps://127.0.0.1:{secure}", f"ldap://127.0.0.1:{plain}", str(folder / "ca.pem"))
    finally:
        process.terminate()
        process.wait(10)
        log.close()
