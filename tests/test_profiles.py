"""Hardware profiles: config/profiles/*.toml load, and agree with their wiring tables, ALSA files and overlays."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from edge_agent.settings import Settings, load_settings, render_settings

REPO = Path(__file__).resolve().parent.parent
HW = REPO / "hw"
PROFILES = sorted(p.stem for p in (REPO / "config" / "profiles").glob("*.toml"))
ROW = re.compile(r"^\|\s*BCM (\d+)\b[^|]*\|([^|]*)\|([^|]*)\|", re.MULTILINE)


def profile(name: str) -> Settings:
    return load_settings(REPO / "config" / "profiles" / f"{name}.toml")


def pins_used(settings: Settings) -> dict[str, int]:
    """Every BCM pin the config gives to something (including the SPI pins an apa102 chain takes)."""
    used = {key: pin for key, pin in settings.lights.pin_keys()}
    if settings.button.pin is not None:
        used["button.pin"] = settings.button.pin
    if settings.mute_switch.pin is not None:
        used["mute_switch.pin"] = settings.mute_switch.pin
    for i, out in enumerate(settings.outputs):
        used[f"outputs[{i}].pin"] = out.pin
        for j, pin in enumerate(getattr(out, "pins", ())):
            used[f"outputs[{i}].pins[{j}]"] = pin
    return used


def wiring(name: str) -> dict[int, tuple[str, str]]:
    """BCM pin → (part, active level), from the profile's wiring table."""
    text = (HW / f"{name}.md").read_text()
    rows = {int(m[1]): (m[2].strip(), m[3].strip()) for m in ROW.finditer(text)}
    assert rows, f"hw/{name}.md has no wiring table"
    return rows


def test_there_are_the_three_profiles() -> None:
    assert PROFILES == ["aiy-voice-v1", "respeaker-2mic", "usb-breadboard"]


@pytest.mark.parametrize("name", PROFILES)
def test_the_profile_loads_for_the_pi_backend(name: str) -> None:
    settings = profile(name)
    assert settings.hardware.backend == "pi"
    assert settings.button.pin is not None
    assert settings.lights.kind != "none"


@pytest.mark.parametrize("name", PROFILES)
def test_every_pin_in_the_profile_is_in_its_wiring_table(name: str) -> None:
    rows = wiring(name)
    for key, pin in pins_used(profile(name)).items():
        assert pin in rows, f"{key} = {pin} is not in hw/{name}.md"
        part, active = rows[pin]
        assert not active.startswith("kernel"), f"{key} = {pin} is the kernel's in hw/{name}.md: {part}"


@pytest.mark.parametrize("name", PROFILES)
def test_the_wiring_table_names_each_pin_once_and_says_what_is_unverified(name: str) -> None:
    text = (HW / f"{name}.md").read_text()
    pins = [int(m[1]) for m in ROW.finditer(text)]
    assert len(pins) == len(set(pins))
    assert "## Not verified on hardware" in text


@pytest.mark.parametrize("name", PROFILES)
def test_the_profile_names_pcms_its_alsa_file_defines(name: str) -> None:
    conf = (HW / "asound" / f"{name}.conf").read_text()
    defined = set(re.findall(r"^pcm\.(\w+)\s*\{", conf, re.MULTILINE))
    audio = profile(name).audio
    for device in (audio.capture_device, audio.playback_device):
        assert device.split(":")[0] in defined, f"{device} is not defined in hw/asound/{name}.conf"
    assert "NOT VERIFIED ON HARDWARE" in conf


@pytest.mark.parametrize("name", PROFILES)
def test_the_overlay_fragment_matches_the_profile(name: str) -> None:
    lines = [
        line.strip()
        for line in (HW / f"config.txt.{name}").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "[all]"
    assert all(re.fullmatch(r"\[all\]|(dtoverlay|dtparam)=[\w,.=-]+", line) for line in lines), lines
    if profile(name).lights.kind == "apa102":
        assert "dtparam=spi=on" in lines


@pytest.mark.parametrize("name", PROFILES)
def test_alsa_parses_the_profile_pcms_and_looks_for_the_named_card(name: str) -> None:
    """No sound card here: alsa-lib must get as far as looking the card up by name."""
    conf = HW / "asound" / f"{name}.conf"
    env = {**os.environ, "ALSA_CONFIG_PATH": f"/usr/share/alsa/alsa.conf:{conf}"}
    audio = profile(name).audio
    for device in (audio.capture_device, audio.playback_device, "edge_mic:CARD=nosuchcard"):
        done = subprocess.run(
            ["arecord", "-q", "-D", device, "-f", "S16_LE", "-r", "48000", "-d", "1", "/dev/null"],
            capture_output=True,
            text=True,
            env=env,
            timeout=30,
        )
        card = device.partition("CARD=")[2] or re.search(r'default "(\w+)"', conf.read_text())[1]  # type: ignore[index]
        assert done.returncode != 0
        assert f"Cannot get card index for {card}" in done.stderr, done.stderr
        assert "Unknown PCM" not in done.stderr and "parse" not in done.stderr.lower()


@pytest.mark.parametrize("name", PROFILES)
def test_the_profile_renders_and_loads_back(name: str, tmp_path: Path) -> None:
    settings = profile(name)
    path = tmp_path / "edge-agent.toml"
    path.write_text(render_settings(settings, None))
    assert load_settings(path) == settings
