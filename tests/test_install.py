"""hw/install.sh: what --dry-run says, what --root DIR installs, that a second run changes nothing, uninstall.

Every run here is --root DIR (files under a temporary directory; apt, users, pip and systemctl only
printed) or --dry-run with stubs in front of the commands that would change this machine.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "hw" / "install.sh"
KEY = "AIzaSy-test-key-not-real-0123"


def install(*args: str, key: str | None = None, path: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "GEMINI_API_KEY"}
    if key is not None:
        env["GEMINI_API_KEY"] = key
    if path is not None:
        env["PATH"] = path
    return subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=60)


def ok(*args: str, key: str | None = None) -> list[str]:
    result = install(*args, key=key)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.splitlines()


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def files(root: Path) -> dict[str, tuple[int, int, bytes]]:
    """Every file under root: relative path -> (mode, mtime, content)."""
    return {
        str(p.relative_to(root)): (mode(p), p.stat().st_mtime_ns, p.read_bytes())
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_dry_run_with_root_lists_the_actions_and_writes_nothing(tmp_path: Path) -> None:
    out = ok("--dry-run", "--root", str(tmp_path), key=KEY)
    etc = tmp_path / "etc" / "edge-agent"
    for line in [
        f"would: install -d -m 0755 {etc}",
        f"would: install -m 0644 {REPO}/config/edge-agent.toml {etc}/edge-agent.toml",
        f"would: write $GEMINI_API_KEY to {etc}/api-key (mode 0600)",
        f"would: install -m 0644 {REPO}/systemd/edge-agent.service {tmp_path}/etc/systemd/system/edge-agent.service",
        "skipped (--root): systemctl enable --now edge-agent",
        "dry run: nothing was changed",
    ]:
        assert line in out
    for command in ("apt-get install", "groupadd", "useradd", "python3 -m venv", "pip install", "daemon-reload"):
        assert any(line.startswith("skipped (--root): ") and command in line for line in out), command
    assert list(tmp_path.iterdir()) == []
    assert KEY not in "\n".join(out)


STUBBED = ["apt-get", "groupadd", "useradd", "usermod", "userdel", "systemctl"]
HOST_PATHS = [
    "/etc/edge-agent",
    "/opt/edge-agent",
    "/var/lib/edge-agent",
    "/etc/systemd/system/edge-agent.service",
]


def host_state() -> dict[str, object]:
    state: dict[str, object] = {p: os.stat(p).st_mtime_ns if os.path.lexists(p) else None for p in HOST_PATHS}
    state["user"] = subprocess.run(["getent", "passwd", "edge-agent"], capture_output=True, text=True).stdout
    return state


def test_dry_run_on_this_machine_changes_nothing(tmp_path: Path) -> None:
    # Stubs record any call and fail, so a dry run that acted would be caught without harm. systemctl's
    # read-only queries (is-enabled, is-active) are the only calls a dry run may make.
    calls = tmp_path / "calls"
    for name in STUBBED:
        stub = tmp_path / name
        stub.write_text(f'#!/bin/sh\necho "{name} $*" >> {calls}\nexit 97\n')
        stub.chmod(0o755)
    before = host_state()
    result = install("--dry-run", path=f"{tmp_path}:{os.environ['PATH']}")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout.splitlines()
    assert host_state() == before
    made = calls.read_text().splitlines() if calls.exists() else []
    assert [c for c in made if not c.startswith(("systemctl is-enabled ", "systemctl --quiet is-active "))] == []
    prefixes = ("would: ", "unchanged: ", "skipped (", "note: ", "dry run: ")
    assert [line for line in out if not line.startswith(prefixes)] == []
    assert out[-1] == "dry run: nothing was changed"
    text = result.stdout
    assert "useradd --system" in text or "unchanged: user edge-agent exists" in text
    assert "/etc/systemd/system/edge-agent.service" in text
    assert "systemctl enable --now edge-agent" in text or "unchanged: edge-agent.service is enabled" in text


def test_root_install_puts_config_key_and_unit_in_place(tmp_path: Path) -> None:
    out = ok("--root", str(tmp_path), key=KEY)
    etc = tmp_path / "etc" / "edge-agent"
    config, key, unit = etc / "edge-agent.toml", etc / "api-key", tmp_path / "etc/systemd/system/edge-agent.service"
    assert config.read_bytes() == (REPO / "config" / "edge-agent.toml").read_bytes()
    assert mode(config) == 0o644
    assert key.read_text() == KEY + "\n"
    assert mode(key) == 0o600
    assert unit.read_bytes() == (REPO / "systemd" / "edge-agent.service").read_bytes()
    assert mode(unit) == 0o644
    assert mode(etc) == 0o755
    assert not (tmp_path / "opt").exists()  # the virtualenv is built only on a real install
    assert f"run: install -m 0644 {REPO}/config/edge-agent.toml {config}" in out
    assert out[-1] == "edge-agent: install done"
    assert KEY not in "\n".join(out)


def test_second_run_changes_nothing(tmp_path: Path) -> None:
    ok("--root", str(tmp_path), key=KEY)
    installed = files(tmp_path)
    out = ok("--root", str(tmp_path), key="another-key")
    assert files(tmp_path) == installed
    assert [line for line in out if line.startswith("run: ")] == []
    etc = tmp_path / "etc" / "edge-agent"
    assert f"unchanged: {etc}/edge-agent.toml" in out
    assert f"unchanged: {etc}/api-key (mode 0600)" in out
    assert f"unchanged: {tmp_path}/etc/systemd/system/edge-agent.service" in out


def test_edited_config_is_kept_and_the_shipped_one_goes_beside_it(tmp_path: Path) -> None:
    ok("--root", str(tmp_path))
    config = tmp_path / "etc" / "edge-agent" / "edge-agent.toml"
    edited = config.read_text().replace('mode = "on_wake"', 'mode = "always"')
    config.write_text(edited)
    out = ok("--root", str(tmp_path))
    assert config.read_text() == edited
    dist = config.with_name("edge-agent.toml.dist")
    assert dist.read_bytes() == (REPO / "config" / "edge-agent.toml").read_bytes()
    assert mode(dist) == 0o644
    assert f"run: install -m 0644 {REPO}/config/edge-agent.toml {dist}" in out
    assert any(line.startswith(f"note: kept your edited {config}") for line in out)
    again = ok("--root", str(tmp_path))
    assert [line for line in again if line.startswith("run: ")] == []
    assert f"unchanged: {config} (yours, kept) and {dist} (the shipped one)" in again


def test_without_a_key_it_says_how_to_add_one(tmp_path: Path) -> None:
    out = ok("--root", str(tmp_path))
    key = tmp_path / "etc" / "edge-agent" / "api-key"
    assert not key.exists()
    assert any(line.startswith(f"note: no API key: the service will not start until {key} exists") for line in out)


def test_a_readable_key_file_is_made_private(tmp_path: Path) -> None:
    ok("--root", str(tmp_path), key=KEY)
    key = tmp_path / "etc" / "edge-agent" / "api-key"
    key.chmod(0o644)
    out = ok("--root", str(tmp_path))
    assert f"run: chmod 0600 {key}" in out
    assert mode(key) == 0o600


def test_uninstall_removes_unit_and_venv_but_keeps_config_unless_purge(tmp_path: Path) -> None:
    ok("--root", str(tmp_path), key=KEY)
    venv = tmp_path / "opt" / "edge-agent" / "venv" / "bin"
    venv.mkdir(parents=True)  # what a real install would have built
    etc = tmp_path / "etc" / "edge-agent"
    unit = tmp_path / "etc" / "systemd" / "system" / "edge-agent.service"

    out = ok("uninstall", "--root", str(tmp_path))
    assert not unit.exists()
    assert not (tmp_path / "opt" / "edge-agent").exists()
    assert (etc / "edge-agent.toml").exists() and (etc / "api-key").exists()
    assert f"kept: {etc} (config and API key; uninstall --purge removes it)" in out
    assert "skipped (--root): systemctl disable --now edge-agent" in out
    assert "skipped (--root): userdel edge-agent" in out

    out = ok("uninstall", "--purge", "--root", str(tmp_path))
    assert not etc.exists()
    assert f"run: rm -rf {etc}" in out
    assert f"unchanged: {unit} is absent" in out


@pytest.mark.parametrize(
    "args",
    [["bogus"], ["--purge"], ["--root"], ["--root", "/nonexistent/dir"]],
    ids=["unknown-argument", "purge-without-uninstall", "root-without-dir", "root-not-a-dir"],
)
def test_usage_errors_exit_64(args: list[str]) -> None:
    result = install(*args)
    assert result.returncode == 64
    assert "usage: " in result.stderr


def test_shellcheck_finds_nothing() -> None:
    shellcheck = shutil.which("shellcheck")
    assert shellcheck, "shellcheck is missing: apt-get install shellcheck (./bootstrap.sh test installs it)"
    result = subprocess.run([shellcheck, str(SCRIPT)], capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stdout) == (0, "")
