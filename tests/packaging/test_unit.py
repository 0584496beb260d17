"""The shipped systemd unit: hardened to an exposure of at most 1.5 by `systemd-analyze security`, Type=notify, run as
the chatspark user, writing only where the installed settings put data and backups."""

from __future__ import annotations

import re
import shlex
import tomllib

from tests.packaging.conftest import ROOT, UNIT, run
from tests.packaging.unit_sandbox import allowed_syscalls, last, read_unit

MAX_EXPOSURE = 1.5
INSTALLED_SETTINGS = ROOT / "packaging" / "appliance.toml"


def exposure(unit) -> float:
    result = run("systemd-analyze", "security", "--offline=true", "--no-pager", unit, check=False)
    found = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
    assert found, f"systemd-analyze printed no exposure level:\n{result.stdout}\n{result.stderr}"
    return float(found.group(1))


def test_the_shipped_unit_scores_an_exposure_of_at_most_1_5():
    figure = exposure(UNIT)
    print(f"\nsystemd-analyze security --offline=true packaging/chatspark.service: exposure {figure}")
    assert figure <= MAX_EXPOSURE


def test_the_exposure_check_tells_a_lax_unit_apart(tmp_path):
    # Without its sandbox the same service scores far worse; the check above could fail.
    lax = tmp_path / "lax.service"
    lax.write_text("[Service]\nExecStart=/usr/bin/chatspark serve\nUser=chatspark\n")
    assert exposure(lax) > 5


def test_the_unit_notifies_restarts_on_failure_and_runs_as_chatspark():
    service = read_unit(UNIT)
    assert (last(service, "Type"), last(service, "Restart"), last(service, "User")) == ("notify", "on-failure",
                                                                                        "chatspark")
    assert last(service, "NotifyAccess") == "main" and last(service, "WatchdogSec")
    assert shlex.split(last(service, "ExecStart")) == ["/usr/bin/chatspark", "serve", "--config",
                                                        "/etc/chatspark/appliance.toml"]
    assert service["CapabilityBoundingSet"] == [] and service.get("AmbientCapabilities", []) == []
    assert last(service, "UMask") == "0077" and last(service, "ProtectSystem") == "strict"


def test_the_service_may_write_exactly_where_the_installed_settings_keep_data_backups_and_keys():
    settings = tomllib.loads(INSTALLED_SETTINGS.read_text(encoding="utf-8"))
    writable = " ".join(read_unit(UNIT)["ReadWritePaths"]).split()
    assert sorted(writable) == sorted([settings["data_dir"], settings["backup_dir"], settings["key_dir"]])
    assert read_unit(UNIT)["ReadOnlyPaths"] == ["/etc/chatspark"]  # the settings file beside the keys


def test_the_system_call_filter_keeps_what_the_appliance_needs_and_drops_the_privileged():
    allowed = allowed_syscalls(read_unit(UNIT))
    assert {"execve", "socket", "bind", "mmap", "futex", "epoll_wait", "clone", "prctl"} <= allowed
    assert not {"mount", "reboot", "init_module", "ptrace", "settimeofday", "swapon", "setrlimit"} & allowed
