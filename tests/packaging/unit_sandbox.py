"""Run a systemd unit's ExecStart under as much of its sandbox as can be built without systemd as PID 1.

Run as root: `python -m tests.packaging.unit_sandbox UNIT_FILE [--env NAME=VALUE]...`. It reads the unit's [Service]
section, builds the sandbox from the same kernel features systemd uses, then becomes the service by exec:

- mount namespace: ProtectSystem=strict (every mount read-only, but ReadWritePaths), PrivateTmp, ProtectHome,
  PrivateDevices (a /dev of null, zero, full, random, urandom, tty, shm and pts), ProtectProc/ProcSubset (a procfs of
  its own, hidepid and subset=pid), ProtectKernelTunables and ProtectControlGroups (/sys read-only);
- PrivateIPC and ProtectHostname: IPC and UTS namespaces of its own;
- User/Group with the user's groups, an empty CapabilityBoundingSet, NoNewPrivileges, UMask, WorkingDirectory;
- MemoryDenyWriteExecute through PR_SET_MDWE (what systemd uses where the kernel has it);
- SystemCallFilter (groups expanded by `systemd-analyze syscall-filter`, with its `~` deny lists) and
  SystemCallErrorNumber, RestrictAddressFamilies, RestrictNamespaces and LockPersonality as a seccomp filter
  (libseccomp, as systemd builds it); other architectures are refused (SystemCallArchitectures=native);
- the environment systemd gives: PATH, LANG, USER, LOGNAME, HOME, SHELL, and NOTIFY_SOCKET/WATCHDOG_USEC when given.

`NOT_REPRODUCED` names what it leaves out; the tests print it.
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import errno
import grp
import os
import pwd
import shlex
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

NOT_REPRODUCED = ("PrivateUsers (user namespace)", "RestrictRealtime", "RestrictSUIDSGID", "RemoveIPC",
                  "KeyringMode", "DevicePolicy (cgroup device filter; PrivateDevices' /dev stands in)",
                  "RestrictAddressFamilies' EAFNOSUPPORT (refused with SystemCallErrorNumber instead)",
                  "Restart=/WatchdogSec= enforcement (the test checks the notifications instead)")

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
NAMESPACE_FLAGS = 0x7E020080  # every CLONE_NEW*: ns, cgroup, uts, ipc, user, pid, net, time
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_MOVE, MS_REC, MS_PRIVATE = 32, 4096, 8192, 16384, 1 << 18
PR_SET_NO_NEW_PRIVS, PR_CAPBSET_DROP, PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN = 38, 24, 65, 1
SCMP_ACT_ALLOW = 0x7FFF0000
SCMP_CMP_EQ, SCMP_CMP_MASKED_EQ = 4, 7
FAMILIES = {"AF_UNIX": socket.AF_UNIX, "AF_INET": socket.AF_INET, "AF_INET6": socket.AF_INET6,
            "AF_NETLINK": 16, "AF_PACKET": 17}
DEVICES = ("null", "zero", "full", "random", "urandom", "tty")

libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)


class SandboxError(RuntimeError):
    pass


def read_unit(path: Path) -> dict[str, list[str]]:
    """The [Service] section: each key's values in order (systemd keys may repeat; an empty value resets)."""
    service: dict[str, list[str]] = {}
    section = None
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            section = line.strip("[]")
        elif section == "Service" and "=" in line:
            key, value = (part.strip() for part in line.split("=", 1))
            service[key] = [] if value == "" else [*service.get(key, []), value]
    return service


def last(service: dict[str, list[str]], key: str, default: str = "") -> str:
    return service[key][-1] if service.get(key) else default


def enabled(service: dict[str, list[str]], key: str) -> bool:
    return last(service, key).lower() in ("yes", "true", "1", "on", "strict", "full", "invisible", "pid")


def syscall_groups() -> dict[str, list[str]]:
    """systemd's system call groups, as this machine's systemd-analyze lists them."""
    listing = subprocess.run(["systemd-analyze", "syscall-filter"], capture_output=True, text=True, check=True).stdout
    groups: dict[str, list[str]] = {}
    current = None
    for line in listing.splitlines():
        if line.startswith("@"):
            current = groups.setdefault(line.strip(), [])
        elif current is not None and line.strip() and not line.strip().startswith("#"):
            current.append(line.strip())
    return groups


def expand(names: list[str], groups: dict[str, list[str]]) -> set[str]:
    found: set[str] = set()
    for name in names:
        found |= expand(groups[name], groups) if name.startswith("@") else {name}
    return found


def allowed_syscalls(service: dict[str, list[str]]) -> set[str]:
    """SystemCallFilter as systemd reads it: the first allow list, minus every `~` list after it."""
    groups = syscall_groups()
    allowed: set[str] | None = None
    for value in service.get("SystemCallFilter", []):
        deny = value.startswith("~")
        names = value.lstrip("~").split()
        if deny:
            if allowed is None:
                raise SandboxError("a deny-only SystemCallFilter is not reproduced here")
            allowed -= expand(names, groups)
        else:
            allowed = (allowed or set()) | expand(names, groups)
    if allowed is None:
        raise SandboxError("the unit has no SystemCallFilter")
    return allowed


def _check(result: int, what: str) -> None:
    if result != 0:
        code = ctypes.get_errno()
        raise SandboxError(f"{what}: {os.strerror(code) if code else f'returned {result}'}")


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    _check(libc.mount(source and source.encode(), target.encode(), fstype and fstype.encode(), ctypes.c_ulong(flags),
                      data and data.encode()), f"mount {target}")


def mount_points() -> list[tuple[str, int]]:
    """Each mount point of this namespace with the MS_* flags it carries."""
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        point = fields[4].encode().decode("unicode_escape")
        options = set(fields[5].split(","))
        flags = (MS_NOSUID if "nosuid" in options else 0) | (MS_NODEV if "nodev" in options else 0) | \
            (MS_NOEXEC if "noexec" in options else 0)
        found.append((point, flags))
    return found


def _under(path: str, folders: list[str]) -> bool:
    return any(path == folder or path.startswith(folder.rstrip("/") + "/") for folder in folders)


def build_mounts(service: dict[str, list[str]]) -> None:
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    if enabled(service, "PrivateDevices"):
        _private_dev()
    writable = [path for value in service.get("ReadWritePaths", []) for path in value.split()]
    for path in writable:
        mount(path, path, None, MS_BIND | MS_REC)
    if last(service, "ProtectSystem") == "strict":
        for point, flags in mount_points():
            if not _under(point, writable + ["/dev", "/proc", "/sys"]):
                mount(None, point, None, MS_REMOUNT | MS_BIND | MS_RDONLY | flags)
    if enabled(service, "PrivateTmp"):
        for path in ("/tmp", "/var/tmp"):
            mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777")
    if enabled(service, "ProtectHome"):
        for path in ("/home", "/root", "/run/user"):
            if os.path.isdir(path):
                mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=000")
    if enabled(service, "ProtectProc") or enabled(service, "ProcSubset"):
        options = []
        if last(service, "ProtectProc") in ("invisible", "noaccess", "ptraceable"):
            options.append(f"hidepid={last(service, 'ProtectProc')}")
        if last(service, "ProcSubset") == "pid":
            options.append("subset=pid")
        mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, ",".join(options))
    if enabled(service, "ProtectKernelTunables") or enabled(service, "ProtectControlGroups"):
        for point, flags in mount_points():
            if _under(point, ["/sys"]):
                mount(None, point, None, MS_REMOUNT | MS_BIND | MS_RDONLY | flags)
        if os.path.isdir("/proc/sys"):
            mount("/proc/sys", "/proc/sys", None, MS_BIND)
            mount(None, "/proc/sys", None, MS_REMOUNT | MS_BIND | MS_RDONLY)


def _private_dev() -> None:
    """A /dev of the harmless devices only, built aside then moved over /dev (the host's stays as it was)."""
    staging = tempfile.mkdtemp(prefix="chatspark-sandbox-dev-")
    mount("tmpfs", staging, "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=755")
    for name in DEVICES:
        node = f"{staging}/{name}"
        open(node, "w").close()
        mount(f"/dev/{name}", node, None, MS_BIND)
    for folder in ("pts", "shm"):
        os.mkdir(f"{staging}/{folder}")
    mount("tmpfs", f"{staging}/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777")
    mount("devpts", f"{staging}/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=620")
    os.symlink("pts/ptmx", f"{staging}/ptmx")
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
                         ("stderr", "/proc/self/fd/2")):
        os.symlink(target, f"{staging}/{name}")
    mount(staging, "/dev", None, MS_MOVE)
    os.rmdir(staging)


class _ArgCmp(ctypes.Structure):
    _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int), ("datum_a", ctypes.c_uint64),
                ("datum_b", ctypes.c_uint64)]


def load_seccomp(service: dict[str, list[str]]) -> None:
    seccomp = ctypes.CDLL(ctypes.util.find_library("seccomp") or "libseccomp.so.2", use_errno=True)
    seccomp.seccomp_init.restype = ctypes.c_void_p
    seccomp.seccomp_rule_add_array.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint,
                                               ctypes.POINTER(_ArgCmp)]
    seccomp.seccomp_load.argtypes = [ctypes.c_void_p]
    seccomp.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    code = getattr(errno, last(service, "SystemCallErrorNumber", "EPERM"), errno.EPERM)
    refuse = 0x00050000 | code
    context = seccomp.seccomp_init(refuse)
    if not context:
        raise SandboxError("seccomp_init failed")

    def rule(name: str, action: int = SCMP_ACT_ALLOW, *conditions: tuple[int, int, int, int]) -> None:
        number = seccomp.seccomp_syscall_resolve_name(name.encode())
        if number < 0:
            return  # not a system call of this architecture (arm_fadvise64_64 and the like)
        array = (_ArgCmp * max(1, len(conditions)))(*(_ArgCmp(*c) for c in conditions))
        _check(seccomp.seccomp_rule_add_array(ctypes.c_void_p(context), action, number, len(conditions), array),
               f"seccomp rule for {name}")

    families = [FAMILIES[name] for value in service.get("RestrictAddressFamilies", []) for name in value.split()]
    no_namespaces = enabled(service, "RestrictNamespaces")
    for name in sorted(allowed_syscalls(service)):
        if name == "socket" and families:
            for family in families:
                rule(name, SCMP_ACT_ALLOW, (0, SCMP_CMP_EQ, family, 0))
        elif name in ("clone", "unshare") and no_namespaces:
            rule(name, SCMP_ACT_ALLOW, (0, SCMP_CMP_MASKED_EQ, NAMESPACE_FLAGS, 0))
        elif name == "clone3" and no_namespaces:
            # Its flags live in memory a filter cannot read: ENOSYS makes the C library fall back to clone().
            rule(name, 0x00050000 | errno.ENOSYS)
        elif name == "setns" and no_namespaces:
            continue
        elif name == "personality" and enabled(service, "LockPersonality"):
            for persona in (0, 0xFFFFFFFF):  # PER_LINUX, and the query that changes nothing
                rule(name, SCMP_ACT_ALLOW, (0, SCMP_CMP_EQ, persona, 0))
        else:
            rule(name)
    _check(seccomp.seccomp_load(ctypes.c_void_p(context)), "seccomp_load")


def drop_privileges(service: dict[str, list[str]], *, last_cap: int) -> pwd.struct_passwd:
    account = pwd.getpwnam(last(service, "User", "root"))
    group = last(service, "Group")
    gid = grp.getgrnam(group).gr_gid if group else account.pw_gid
    if "CapabilityBoundingSet" in service and not service["CapabilityBoundingSet"]:
        for cap in range(last_cap + 1):
            _check(libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0), f"dropping capability {cap}")
    os.initgroups(account.pw_name, gid)
    os.setresgid(gid, gid, gid)
    os.setresuid(account.pw_uid, account.pw_uid, account.pw_uid)
    if enabled(service, "NoNewPrivileges"):
        _check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "PR_SET_NO_NEW_PRIVS")
    if enabled(service, "MemoryDenyWriteExecute"):
        _check(libc.prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0), "PR_SET_MDWE")
    return account


def environment(account: pwd.struct_passwd, extra: list[str]) -> dict[str, str]:
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8",
           "USER": account.pw_name, "LOGNAME": account.pw_name, "HOME": account.pw_dir, "SHELL": account.pw_shell}
    env.update(item.split("=", 1) for item in extra)
    return env


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="run a unit's ExecStart under its sandbox, without systemd")
    parser.add_argument("unit", type=Path)
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="an environment variable, as a drop-in's Environment= or systemd's own would set")
    args = parser.parse_args(argv)
    service = read_unit(args.unit)
    command = shlex.split(last(service, "ExecStart"))
    flags = CLONE_NEWNS | (CLONE_NEWIPC if enabled(service, "PrivateIPC") else 0) | \
        (CLONE_NEWUTS if enabled(service, "ProtectHostname") else 0)
    last_cap = int(Path("/proc/sys/kernel/cap_last_cap").read_text())  # before /proc is replaced
    _check(libc.unshare(flags), "unshare")
    build_mounts(service)
    os.chdir(last(service, "WorkingDirectory", "/"))
    account = drop_privileges(service, last_cap=last_cap)
    os.umask(int(last(service, "UMask", "0022"), 8))
    load_seccomp(service)
    os.execve(command[0], command, environment(account, args.env))


if __name__ == "__main__":
    try:
        main()
    except SandboxError as exc:
        print(f"unit_sandbox: {exc}", file=sys.stderr)
        sys.exit(70)
