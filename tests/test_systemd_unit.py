"""systemd/edge-agent.service: `systemd-analyze verify` finds nothing, `security` scores it 2.5 or better.

systemd-analyze must be installed (``./bootstrap.sh test`` installs the ``systemd`` package), so these
tests never skip. Two facts about systemd-analyze (252) shape them (docs/desktop-hardware.md §3):
``verify`` exits 0 even on unknown keys and bad values, so any output at all is a failure; and
``security --threshold`` is in tenths (25 = 2.5).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections import defaultdict
from pathlib import Path

import pytest

from edge_agent.api_key import CREDENTIAL_NAME
from edge_agent.errors import EX_CONFIG
from edge_agent.settings import DEFAULT_CONFIG_PATH

UNIT = Path(__file__).resolve().parent.parent / "systemd" / "edge-agent.service"
EXEC_START = f"/opt/edge-agent/venv/bin/edge-agent run --config {DEFAULT_CONFIG_PATH}"
MAX_EXPOSURE = 2.5


def systemd_analyze(*args: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("systemd-analyze")
    assert exe, "systemd-analyze is missing: apt-get install systemd (./bootstrap.sh test installs it)"
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=60)


def parse_unit(text: str) -> dict[str, dict[str, list[str]]]:
    """Sections -> key -> every value given (a key may repeat, e.g. DeviceAllow=)."""
    sections: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    section = ""
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        sections[section][key.strip()].append(value.strip())
    return sections


@pytest.fixture
def checkable_unit(tmp_path: Path) -> Path:
    """A copy of the unit whose ExecStart= program exists here (verify checks that it is executable)."""
    text = UNIT.read_text()
    assert f"\nExecStart={EXEC_START}\n" in text
    runnable = shutil.which("true")
    assert runnable
    copy = tmp_path / "edge-agent.service"
    copy.write_text(text.replace("ExecStart=/opt/edge-agent/venv/bin/edge-agent ", f"ExecStart={runnable} "))
    return copy


def test_verify_prints_nothing(checkable_unit: Path) -> None:
    result = systemd_analyze("verify", "--man=no", str(checkable_unit))
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_verify_does_report_a_misspelt_key(checkable_unit: Path) -> None:
    # The test above relies on verify printing something for a mistake; make sure it still does.
    checkable_unit.write_text(checkable_unit.read_text().replace("WatchdogSec=", "WatchdogSecs="))
    result = systemd_analyze("verify", "--man=no", str(checkable_unit))
    assert "Unknown key 'WatchdogSecs'" in result.stdout + result.stderr


def exposure(result: subprocess.CompletedProcess[str]) -> float:
    found = re.search(r"Overall exposure level for edge-agent\.service: (\d+\.\d+)", result.stdout)
    assert found, result.stdout + result.stderr
    return float(found.group(1))


def test_security_exposure_is_at_most_2_5(checkable_unit: Path) -> None:
    threshold = round(MAX_EXPOSURE * 10)  # in tenths
    result = systemd_analyze("security", "--offline=yes", f"--threshold={threshold}", str(checkable_unit))
    assert result.returncode == 0, result.stdout + result.stderr
    assert exposure(result) <= MAX_EXPOSURE


def test_security_threshold_is_in_tenths(checkable_unit: Path) -> None:
    # So that rc 0 above means "at most 2.5": just below the measured level, the same call fails.
    level = exposure(systemd_analyze("security", "--offline=yes", str(checkable_unit)))
    below = round(level * 10) - 1
    result = systemd_analyze("security", "--offline=yes", f"--threshold={below}", str(checkable_unit))
    assert result.returncode != 0


def test_directives() -> None:
    unit = parse_unit(UNIT.read_text())
    service = {key: values[-1] for key, values in unit["Service"].items()}
    expected = {
        "Type": "notify",
        "NotifyAccess": "main",
        "ExecStart": EXEC_START,
        "WatchdogSec": "30s",
        "Restart": "on-failure",
        "RestartSec": "5s",
        "RestartPreventExitStatus": str(EX_CONFIG),
        "TimeoutStopSec": "20s",
        "LoadCredential": f"{CREDENTIAL_NAME}:/etc/edge-agent/api-key",
        "Environment": "GPIOZERO_PIN_FACTORY=lgpio",
        "User": "edge-agent",
        "Group": "edge-agent",
        "SupplementaryGroups": "audio gpio video spi",
        "StateDirectory": "edge-agent",
        "RuntimeDirectory": "edge-agent",
        "RuntimeDirectoryMode": "0750",
        "WorkingDirectory": "/run/edge-agent",
        "UMask": "0077",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "NoNewPrivileges": "yes",
        "ProtectProc": "invisible",
        "CapabilityBoundingSet": "",
        "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6",
        "SystemCallArchitectures": "native",
        "SystemCallFilter": "@system-service",
        "DevicePolicy": "closed",
    }
    assert {key: service.get(key) for key in expected} == expected
    assert set(unit["Service"]["DeviceAllow"]) == {
        "char-alsa rw",
        "char-video4linux rw",
        "char-media rw",
        "char-dma_heap rw",
        "char-gpiochip rw",
        "char-*gpiomem rw",
        "char-spi rw",
    }
    # gpiozero reads the board revision from /proc/device-tree or /proc/cpuinfo; ProcSubset=pid hides both.
    assert "ProcSubset" not in service
    assert unit["Unit"]["Wants"] == unit["Unit"]["After"] == ["network-online.target sound.target"]
    assert unit["Unit"]["ConditionPathExists"] == ["/etc/edge-agent/api-key"]
    assert unit["Install"]["WantedBy"] == ["multi-user.target"]
