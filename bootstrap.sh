#!/usr/bin/env bash
# Sets up what edge-agent needs on Debian 12 / Raspberry Pi OS (apt packages, a virtualenv
# in .venv, the package with its dev tools), then runs one task:
#
#   ./bootstrap.sh start   no GEMINI_API_KEY: `edge-agent demo` (the real daemon against the
#                          in-package fake Live server on simulated hardware);
#                          with GEMINI_API_KEY: `edge-agent run` on the first config found of
#                          $EDGE_AGENT_CONFIG, /etc/edge-agent/edge-agent.toml, config/edge-agent.toml
#                          (on a Pi) or config/desktop.toml (elsewhere: simulated hardware).
#   ./bootstrap.sh test    ruff, mypy and the whole pytest suite (extra arguments go to pytest).
#   ./bootstrap.sh setup   only set up.
#
# Safe to run again: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")"

APT_PACKAGES=(python3 python3-venv python3-dev gcc pkg-config libasound2-dev libsystemd-dev)
# Only for `test`: the tests check systemd/edge-agent.service with systemd-analyze (package
# systemd), lint hw/install.sh with shellcheck (tests/test_systemd_unit.py, test_install.py), and
# run the audio on clocked virtual sound cards: a private PulseAudio server reached through ALSA's
# pulse plugin (tests/test_echo_room.py, tests/bench/, `edge-agent bench audio`).
APT_TEST_PACKAGES=(systemd shellcheck alsa-utils pulseaudio pulseaudio-utils libasound2-plugins)
VENV=.venv

log() { printf 'bootstrap: %s\n' "$*" >&2; }

install_apt() {
    local missing=()
    for pkg in "${APT_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null || { log "need root or sudo to install: ${missing[*]}"; exit 1; }
        sudo=(sudo)
    fi
    log "installing apt packages: ${missing[*]}"
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

python_ok() { "$1" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; }

setup_venv() {
    local python=python3
    python_ok "$python" || { log "Python 3.11 or newer is needed (found: $($python --version 2>&1))"; exit 1; }
    if [ ! -x "$VENV/bin/python" ]; then
        local opts=()
        # On Raspberry Pi OS, picamera2 and libcamera come from apt: let the venv see them.
        [ -e /etc/rpi-issue ] && opts+=(--system-site-packages)
        log "creating virtualenv $VENV"
        "$python" -m venv "${opts[@]}" "$VENV"
    fi
    local stamp="$VENV/.edge-agent-installed" want
    want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        log "installing edge-agent and its dependencies into $VENV"
        "$VENV/bin/python" -m pip install -q --upgrade pip
        "$VENV/bin/python" -m pip install -q -e '.[dev]'
        echo "$want" > "$stamp"
    fi
}

task="${1:-start}"
shift || true
if [ "$task" = test ]; then APT_PACKAGES+=("${APT_TEST_PACKAGES[@]}"); fi
install_apt
setup_venv
case "$task" in
    setup) ;;
    start)
        if [ -z "${GEMINI_API_KEY:-}" ]; then
            exec "$VENV/bin/edge-agent" demo
        fi
        config="${EDGE_AGENT_CONFIG:-}"
        if [ -z "$config" ]; then
            if [ -e /etc/edge-agent/edge-agent.toml ]; then config=/etc/edge-agent/edge-agent.toml
            elif [ -e /etc/rpi-issue ]; then config=config/edge-agent.toml
            else config=config/desktop.toml; fi
        fi
        log "GEMINI_API_KEY is set: running the daemon with $config (Ctrl-C stops it)"
        exec "$VENV/bin/edge-agent" run --config "$config"
        ;;
    test)
        "$VENV/bin/ruff" check edge_agent tests
        "$VENV/bin/ruff" format --check edge_agent tests
        "$VENV/bin/mypy"
        exec "$VENV/bin/python" -m pytest "$@"
        ;;
    *) log "unknown task '$task' (start, test, setup)"; exit 64 ;;
esac
