"""Built-in tools: device status, volume (a fake mixer and a real virtual ALSA mixer), look."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gpiozero.pins.mock import MockFactory

from edge_agent.events import ToolCall
from edge_agent.hardware.gpio import Outputs
from edge_agent.hardware.mixer import SimulatedMixer, open_alsa_mixer
from edge_agent.settings import OutputSettings, Settings, settings_from_mapping
from edge_agent.tools import ToolBox
from edge_agent.tools_builtin import Volume, register_builtins
from tests.conftest import build_alsa_plugin

STATUS = {"phase": "responding", "muted": False, "connected": True}


@pytest.fixture
def outputs(factory: MockFactory) -> Iterator[Outputs]:
    o = Outputs([OutputSettings(name="lamp", kind="led", pin=17)], pin_factory=factory)
    yield o
    o.close()


def settings(**sections: dict[str, Any]) -> Settings:
    return settings_from_mapping(sections)


def run(tools: ToolBox, function: str, /, call_id: str = "c", **args: Any) -> dict[str, Any]:
    return dict(tools.call(ToolCall(call_id, function, args)).response)


def test_builtins_follow_the_outputs_in_one_list(outputs: Outputs) -> None:
    tools = ToolBox(outputs)
    frames: list[bool] = []
    added = register_builtins(
        tools,
        settings(camera={"backend": "simulated"}),
        status=lambda: STATUS,
        request_frame=lambda: frames.append(True) or True,
        mixer_factory=SimulatedMixer().open,
    )
    assert added == ["get_device_status", "get_volume", "set_volume", "look"]
    assert [s.name for s in tools.specs] == ["set_output", "get_outputs", *added]
    volume = {s.name: s.parameters for s in tools.specs}["set_volume"]
    assert volume == {
        "properties": {
            "percent": {
                "description": "Volume in percent: 0 = silent, 100 = loudest.",
                "maximum": 100,
                "minimum": 0,
                "type": "NUMBER",
            }
        },
        "required": ["percent"],
        "type": "OBJECT",
    }


def test_no_camera_no_look_no_status_provider_no_status_and_volume_can_be_off(outputs: Outputs) -> None:
    tools = ToolBox(outputs)
    assert register_builtins(tools, settings(volume={"enabled": False}), request_frame=lambda: True) == []
    assert [s.name for s in tools.specs] == ["set_output", "get_outputs"]


def test_device_status_is_the_provider_plus_the_outputs(outputs: Outputs) -> None:
    tools = ToolBox(outputs)
    register_builtins(tools, settings(volume={"enabled": False}), status=lambda: STATUS)
    run(tools, "set_output", name="lamp", on=True)
    assert run(tools, "get_device_status") == {**STATUS, "outputs": {"lamp": True}}


def test_look_asks_for_a_frame_and_says_when_none_can_go(outputs: Outputs) -> None:
    answers = [True, False]
    tools = ToolBox(outputs)
    register_builtins(tools, settings(camera={"backend": "picamera2"}), request_frame=lambda: answers.pop(0))
    assert run(tools, "look") == {"frame": "a fresh camera frame follows in the video input"}
    assert run(tools, "look") == {
        "error": "refused: no camera frame can be sent now (muted, or the camera is not working)"
    }
    assert answers == []


def test_volume_through_the_fake_mixer(outputs: Outputs) -> None:
    mixer = SimulatedMixer(50)
    tools = ToolBox(outputs)
    register_builtins(
        tools, settings(volume={"mixer_control": "Speaker", "mixer_device": "hw:2"}), mixer_factory=mixer.open
    )
    assert run(tools, "get_volume") == {"volume": 50}
    assert run(tools, "set_volume", percent=30.4) == {"volume": 30, "changed": True}
    assert run(tools, "set_volume", percent=30) == {"volume": 30, "changed": False}
    for bad, why in ((101, "less than or equal to 100"), (-5, "greater than or equal to 0"), ("loud", "valid number")):
        assert why in run(tools, "set_volume", percent=bad)["error"]
    assert mixer.history == [30, 30]
    assert set(mixer.opened) == {("Speaker", "hw:2")}


def test_a_missing_mixer_is_an_error_response_not_a_crash(outputs: Outputs) -> None:
    tools = ToolBox(outputs)
    register_builtins(tools, settings(), mixer_factory=SimulatedMixer(present=False).open)
    expected = "the device failed to do it: no mixer control 'Master' on ALSA device 'default' (simulated: none)"
    assert run(tools, "get_volume") == {"error": expected}
    assert run(tools, "set_volume", percent=20) == {"error": expected}


def test_a_cancelled_set_volume_puts_the_volume_back_unless_it_moved_since(outputs: Outputs) -> None:
    mixer = SimulatedMixer(50)
    tools = ToolBox(outputs)
    register_builtins(tools, settings(), mixer_factory=mixer.open)
    run(tools, "set_volume", "v1", percent=80)
    assert tools.cancel(["v1"]) == ["cancelled call v1 (set_volume): the volume back to 50 %"]
    run(tools, "set_volume", "v2", percent=10)
    mixer.setvolume(20)  # someone turned the knob
    assert tools.cancel(["v2"]) == [
        "cancelled call v2 (set_volume): left the volume as it is: it changed since the call"
    ]
    assert mixer.history == [80, 50, 10, 20]


# --- a real ALSA mixer control, from a userspace ctl plugin (no sound card needed) -------------------------

FAKEMIX_C = r"""
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <alsa/asoundlib.h>
#include <alsa/control_external.h>

static long values[2][2] = {{255, 255}, {1, 1}};  /* Master Playback Volume (0..255), Switch */
static const char *const names[2] = {"Master Playback Volume", "Master Playback Switch"};

static int elem_count(snd_ctl_ext_t *ext) { (void)ext; return 2; }
static int elem_list(snd_ctl_ext_t *ext, unsigned int offset, snd_ctl_elem_id_t *id) {
    (void)ext;
    snd_ctl_elem_id_set_interface(id, SND_CTL_ELEM_IFACE_MIXER);
    snd_ctl_elem_id_set_name(id, names[offset]);
    return 0;
}
static snd_ctl_ext_key_t find_elem(snd_ctl_ext_t *ext, const snd_ctl_elem_id_t *id) {
    (void)ext;
    for (int i = 0; i < 2; i++)
        if (!strcmp(snd_ctl_elem_id_get_name(id), names[i])) return i;
    return SND_CTL_EXT_KEY_NOT_FOUND;
}
static int get_attribute(snd_ctl_ext_t *ext, snd_ctl_ext_key_t key, int *type, unsigned int *acc,
                         unsigned int *count) {
    (void)ext;
    *type = key == 0 ? SND_CTL_ELEM_TYPE_INTEGER : SND_CTL_ELEM_TYPE_BOOLEAN;
    *acc = SND_CTL_EXT_ACCESS_READWRITE;
    *count = 2;
    return 0;
}
static int get_integer_info(snd_ctl_ext_t *ext, snd_ctl_ext_key_t key, long *lo, long *hi, long *step) {
    (void)ext; (void)key;
    *lo = 0; *hi = 255; *step = 1;
    return 0;
}
static int read_integer(snd_ctl_ext_t *ext, snd_ctl_ext_key_t key, long *value) {
    (void)ext;
    memcpy(value, values[key], sizeof values[key]);
    return 0;
}
static int write_integer(snd_ctl_ext_t *ext, snd_ctl_ext_key_t key, long *value) {
    (void)ext;
    int changed = memcmp(values[key], value, sizeof values[key]) != 0;
    memcpy(values[key], value, sizeof values[key]);
    return changed;
}
static void subscribe_events(snd_ctl_ext_t *ext, int subscribe) { (void)ext; (void)subscribe; }
static int read_event(snd_ctl_ext_t *ext, snd_ctl_elem_id_t *id, unsigned int *mask) {
    (void)ext; (void)id; (void)mask;
    return -EAGAIN;
}
static void close_ctl(snd_ctl_ext_t *ext) { close(ext->poll_fd); free(ext); }
static const snd_ctl_ext_callback_t callbacks = {
    .elem_count = elem_count, .elem_list = elem_list, .find_elem = find_elem,
    .get_attribute = get_attribute, .get_integer_info = get_integer_info,
    .read_integer = read_integer, .write_integer = write_integer,
    .subscribe_events = subscribe_events, .read_event = read_event, .close = close_ctl,
};

SND_CTL_PLUGIN_DEFINE_FUNC(fakemix) {
    (void)root; (void)conf;
    snd_ctl_ext_t *ext = calloc(1, sizeof *ext);
    int fds[2];
    if (!ext || pipe(fds) < 0) { free(ext); return -ENOMEM; }
    close(fds[1]);
    ext->version = SND_CTL_EXT_VERSION;
    strcpy(ext->id, "fakemix");
    strcpy(ext->driver, "fakemix");
    strcpy(ext->name, "Fake mixer");
    strcpy(ext->longname, "Fake mixer for edge-agent tests");
    strcpy(ext->mixername, "Fake mixer");
    ext->poll_fd = fds[0];
    ext->callback = &callbacks;
    int err = snd_ctl_ext_create(ext, name, mode);
    if (err < 0) { close(fds[0]); free(ext); return err; }
    *handlep = ext->handle;
    return 0;
}
SND_CTL_PLUGIN_SYMBOL(fakemix);
"""


@pytest.fixture(scope="module")
def fakemix_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An ALSA config whose control device "fakemix" is a userspace ctl_ext plugin built here."""
    work = tmp_path_factory.mktemp("fakemix")
    plugin = build_alsa_plugin(work, "ctl", "fakemix", FAKEMIX_C)
    config = work / "asound.conf"
    config.write_text(f'ctl_type.fakemix {{ lib "{plugin}" }}\nctl.fakemix {{ type fakemix }}\n')
    return config


@pytest.fixture
def alsa(fakemix_config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALSA_CONFIG_PATH", str(fakemix_config))  # alsa-lib reloads when the path changes


def test_volume_tools_on_a_real_alsa_mixer_control(alsa: None, outputs: Outputs) -> None:
    tools = ToolBox(outputs)
    register_builtins(tools, settings(volume={"mixer_device": "fakemix"}))  # the default factory: pyalsaaudio
    run(tools, "set_volume", percent=100)
    assert run(tools, "get_volume") == {"volume": 100}
    assert run(tools, "set_volume", "v1", percent=40) == {"volume": 40, "changed": True}
    assert Volume(settings(volume={"mixer_device": "fakemix"}).volume).get() == 40  # a fresh open reads it back
    assert tools.cancel(["v1"]) == ["cancelled call v1 (set_volume): the volume back to 100 %"]
    assert open_alsa_mixer("Master", "fakemix").getvolume() == [100, 100]


def test_a_missing_alsa_control_or_device_is_an_error_response(alsa: None, outputs: Outputs) -> None:
    tools = ToolBox(outputs)
    register_builtins(tools, settings(volume={"mixer_device": "fakemix", "mixer_control": "PCM"}))
    error = run(tools, "set_volume", percent=10)["error"]
    assert error.startswith("the device failed to do it: no mixer control 'PCM' on ALSA device 'fakemix' (")
    assert error.endswith("; controls there: Master")
    tools = ToolBox(outputs)
    register_builtins(tools, settings(volume={"mixer_device": "nosuchdevice"}))
    error = run(tools, "get_volume")["error"]
    assert "no mixer control 'Master' on ALSA device 'nosuchdevice'" in error
    assert error.endswith("controls there: none (the device does not open)")
