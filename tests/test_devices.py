"""``edge-agent devices`` on virtual ALSA PCMs (real pyalsaaudio and alsa-lib, per-test ``ALSA_CONFIG_PATH``)."""

from __future__ import annotations

import io
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from edge_agent import cli
from edge_agent.cli_devices import format_table, report
from edge_agent.hardware.alsa_devices import Card, Grant, PcmProbe, Survey, probe, survey
from edge_agent.settings import settings_from_mapping
from tests.conftest import SCALE
from tests.test_cli import edge_agent

ALSA_CONF = "/usr/share/alsa/alsa.conf"
PCMS = """
pcm.testmic {{ type file; slave.pcm "null"; file "/dev/null"; infile "{d}/mic.raw"; format "raw"
              hint {{ show on; description "Test microphone" }} }}
pcm.testspk {{ type file; slave.pcm "null"; file "{d}/spk.raw"; format "raw"
              hint {{ show on; description "Test speaker" }} }}
pcm.stereo {{ type multi; slaves.a {{ pcm "null"; channels 1 }} slaves.b {{ pcm "null"; channels 1 }}
             bindings.0 {{ slave a; channel 0 }} bindings.1 {{ slave b; channel 0 }} }}
pcm.broken {{ type file; slave.pcm "null"; file "/dev/null"; infile "{d}/missing.raw"; format "raw" }}
pcm.hidden {{ type null; hint {{ show off }} }}
"""
HANG = 'pcm.hang {{ type file; slave.pcm "null"; file "/dev/null"; infile "{d}/fifo"; format "raw" }}\n'
PCM_KEYS = {
    "name", "direction", "status", "error", "description", "listed", "configured",
    "rates", "rate_range", "channels", "channel_range", "formats", "s16le",
}  # fmt: skip
GRANT_KEYS = {"rate", "granted_rate", "granted_channels", "granted_format", "as_is"}
CONFIG_KEYS = {"path", "loaded", "note", "backend", "capture_device", "playback_device"}


def alsa_env(d: Path, extra: str = "") -> dict[str, str]:
    """Our PCMs after ALSA's own config; a PulseAudio server that does not exist (fails fast, never spawns)."""
    (d / "mic.raw").write_bytes(bytes(64000))
    (d / "asound.conf").write_text(PCMS.format(d=d) + extra.format(d=d))
    return {"ALSA_CONFIG_PATH": f"{ALSA_CONF}:{d}/asound.conf", "PULSE_SERVER": f"unix:{d}/no-pulse"}


@pytest.fixture
def alsa(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for key, value in alsa_env(tmp_path).items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("EDGE_AGENT_CONFIG", raising=False)
    return tmp_path


def config(d: Path, capture: str = "testmic", playback: str = "testspk") -> Path:
    path = d / "edge-agent.toml"
    path.write_text(f'[audio]\ncapture_device = "{capture}"\nplayback_device = "{playback}"\n')
    return path


def listing(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    assert cli.main(["devices", "--json", *args]) == 0
    data: dict[str, Any] = json.loads(capsys.readouterr().out)
    return data


def by_name(data: dict[str, Any], direction: str) -> dict[str, dict[str, Any]]:
    return {row["name"]: row for row in data[direction]}


def test_user_pcms_are_listed_with_what_they_can_do(alsa: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = listing(capsys, "--config", str(config(alsa)))
    capture, playback = by_name(data, "capture"), by_name(data, "playback")
    assert "hidden" not in capture  # hint { show off } hides a PCM from ALSA's list; no hint: listed anyway
    mic = capture["testmic"]
    assert mic["status"] == "ok" and mic["error"] is None
    assert mic["description"] == "Test microphone" and mic["listed"] is True and mic["configured"] is True
    low, high = mic["rate_range"]
    assert low <= 16000 and high >= 48000
    assert mic["channel_range"][0] == 1
    assert {"S16_LE", "S32_LE", "FLOAT_LE"} <= set(mic["formats"])
    assert mic["s16le"] == [
        {"rate": r, "granted_rate": r, "granted_channels": 1, "granted_format": "S16_LE", "as_is": True}
        for r in (16000, 48000)
    ]
    assert playback["testspk"]["status"] == "ok" and playback["testspk"]["configured"] is True
    assert playback["testmic"]["configured"] is False  # marked only in the direction the config uses it for
    assert data["config"] == {
        "path": str(alsa / "edge-agent.toml"),
        "loaded": True,
        "note": None,
        "backend": "pi",
        "capture_device": "testmic",
        "playback_device": "testspk",
    }


def test_a_stereo_only_pcm_lists_its_channels_and_does_not_grant_mono(alsa: Path) -> None:
    stereo = probe("stereo", "playback")
    assert stereo.status == "ok"
    assert stereo.channels == (2,) and stereo.channel_range == (2, 2)
    assert [(g.rate, g.granted_channels, g.as_is) for g in stereo.s16le] == [(16000, 2, False), (48000, 2, False)]


def test_a_pcm_that_fails_to_open_is_a_row_with_its_error(alsa: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = listing(capsys, "--config", str(config(alsa, capture="broken", playback="nosuchspk")))
    broken = by_name(data, "capture")["broken"]
    assert broken["status"] == "not found" and "[broken]" in str(broken["error"])
    assert broken["rates"] is None and broken["formats"] == [] and broken["s16le"] == []
    assert by_name(data, "playback")["broken"]["status"] == "ok"  # the infile only matters for capture
    missing = by_name(data, "playback")["nosuchspk"]  # configured but not in ALSA's list: probed anyway
    assert missing["listed"] is False and missing["configured"] is True and missing["status"] == "not found"
    for rows in (data["capture"], data["playback"]):
        assert all(set(row) == PCM_KEYS for row in rows)


def test_a_pcm_that_hangs_is_killed_after_the_timeout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in alsa_env(tmp_path, HANG).items():
        monkeypatch.setenv(key, value)
    os.mkfifo(tmp_path / "fifo")  # nobody ever writes: opening it for capture blocks in snd_pcm_open
    start = time.monotonic()
    found = survey(timeout_s=0.5)
    elapsed = time.monotonic() - start
    rows = {p.name: p for p in found.capture}
    assert rows["hang"].status == "timeout" and "0.5 s" in str(rows["hang"].error)
    assert rows["testmic"].status == "ok"  # the listing went on after it
    assert 0.5 <= elapsed < 0.5 + 10 * SCALE


def test_json_has_exactly_the_documented_keys(alsa: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = listing(capsys, "--config", str(config(alsa)))
    assert set(data) == {"config", "cards", "capture", "playback"}
    assert set(data["config"]) == CONFIG_KEYS
    for card in data["cards"]:
        assert set(card) == {"index", "id", "name"}
    for direction in ("capture", "playback"):
        rows = data[direction]
        assert rows and all(set(row) == PCM_KEYS and row["direction"] == direction for row in rows)
        assert all(set(g) == GRANT_KEYS for row in rows for g in row["s16le"])


def test_the_table_marks_the_configured_names_and_says_whether_they_work(
    alsa: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["devices", "--config", str(config(alsa, playback="nosuchspk"))]) == 0
    out = capsys.readouterr().out
    assert 'audio.capture_device = "testmic": found (S16_LE mono: 16000 Hz yes, 48000 Hz yes)' in out
    assert 'audio.playback_device = "nosuchspk": NOT USABLE (not found)' in out
    capture = out.split("Capture PCMs")[1].split("Playback PCMs")[0]
    marked = [line.split()[1] for line in capture.splitlines() if line.lstrip().startswith("*")]
    assert marked == ["testmic"]
    row = next(line for line in capture.splitlines() if " stereo " in line)
    assert row.split()[1:] == ["ok", "1–any", "2", "S16_LE", "S24_LE", "+35", "2", "ch", "2", "ch"]
    assert "broken" in capture and "not found  No such file or directory [broken]" in capture
    playback = out.split("Playback PCMs")[1]
    assert "*  nosuchspk (not in ALSA's list)  not found" in playback


def pure_survey(cards: tuple[Card, ...]) -> Survey:
    ok = PcmProbe(
        "plughw:CARD=seeed2micvoicec,DEV=0", "capture", "ok", description="seeed-2mic-voicecard, bcm2835-i2s",
        rates=(8000, 16000, 48000), rate_range=(8000, 48000), channels=(1, 2), channel_range=(1, 2),
        formats=("S16_LE", "S32_LE", "U8"),
        s16le=(Grant(16000, 16000, 1, "S16_LE", True), Grant(48000, 48000, 2, "S16_LE", False)),
    )  # fmt: skip
    busy = PcmProbe("hw:CARD=seeed2micvoicec,DEV=0", "capture", "busy", "Device or resource busy [hw:0]")
    return Survey(cards, (ok, busy), ())


@pytest.mark.parametrize("cards", [(), (Card(0, "seeed2micvoicec", "seeed-2mic-voicecard"),)])
def test_the_table_from_a_survey(cards: tuple[Card, ...]) -> None:
    settings = settings_from_mapping({"audio": {"capture_device": "hw:CARD=seeed2micvoicec,DEV=0"}})
    out = io.StringIO()
    format_table(report(pure_survey(cards), settings, "/etc/edge-agent/edge-agent.toml"), out)
    text = out.getvalue()
    assert ("no sound cards found" in text) is (not cards)
    assert ("   0  seeed2micvoicec  " in text) is bool(cards)
    assert 'audio.capture_device = "hw:CARD=seeed2micvoicec,DEV=0": found but busy' in text
    row = next(line for line in text.splitlines() if "plughw:" in line)
    assert row.split()[1:8] == ["ok", "8000,16000,48000", "1,2", "S16_LE", "S32_LE", "+1", "yes"]
    assert row.split()[8:11] == ["2", "ch", "seeed-2mic-voicecard,"]


def test_the_command_line_lists_without_alsa_noise_and_exits_0(tmp_path: Path) -> None:
    env = alsa_env(tmp_path)
    out = edge_agent("devices", "--config", str(config(tmp_path, "broken", "nosuchspk")), env=env)
    assert out.returncode == 0, out.stderr
    assert out.stderr == "", out.stderr  # no "ALSA lib …" lines, no plugin chatter
    assert "Test microphone" in out.stdout and "Capture PCMs" in out.stdout and "Playback PCMs" in out.stdout
    data = json.loads(edge_agent("devices", "--json", "--config", str(config(tmp_path)), env=env).stdout)
    assert by_name(data, "capture")["testmic"]["configured"] is True


def test_help_and_a_bad_config(tmp_path: Path) -> None:
    help_text = edge_agent("devices", "--help")
    assert help_text.returncode == 0
    assert all(flag in help_text.stdout for flag in ("--config", "--json", "--timeout", "S16_LE"))
    assert "devices" in edge_agent("--help").stdout
    (tmp_path / "bad.toml").write_text('[audio]\ncapture_devise = "x"\n')
    out = edge_agent("devices", "--config", str(tmp_path / "bad.toml"), env=alsa_env(tmp_path))
    assert out.returncode == 78 and "audio.capture_devise" in out.stderr and not out.stdout
