#!/usr/bin/env bash
# Installs edge-agent from this checkout as a systemd service on Raspberry Pi OS 64-bit (Bookworm or
# Trixie), or removes it again:
#
#   sudo ./hw/install.sh                       install, or bring an installation up to date
#   sudo ./hw/install.sh uninstall             stop and remove the service, the virtualenv and the user
#   sudo ./hw/install.sh uninstall --purge     ... and /etc/edge-agent (config, API key), /var/lib/edge-agent
#
#   --dry-run    print every action ("would: ...") and change nothing; root is not needed
#   --root DIR   put the files under DIR instead of / (tests, image builds). The steps that act on the
#                running system (apt-get, groupadd, useradd, the virtualenv and pip, systemctl) are
#                only printed, as "skipped (--root): ...".
#
# Install, in this order:
#   1. apt packages: python3-venv python3-dev gcc pkg-config libasound2-dev libsystemd-dev alsa-utils,
#      and python3-picamera2 python3-lgpio where apt has them (Raspberry Pi OS does, Debian does not);
#   2. the groups audio gpio video spi, each created if missing (Debian has no gpio or spi group, and
#      the unit's SupplementaryGroups= fails the start with 216/GROUP if one is missing);
#   3. the system user edge-agent: home /var/lib/edge-agent, no login shell, in those groups;
#   4. a virtualenv /opt/edge-agent/venv (--system-site-packages: lgpio and picamera2 come from apt)
#      and `pip install` of this checkout (not editable; built from a copy, so the checkout is left
#      as it was);
#   5. /etc/edge-agent/edge-agent.toml from config/edge-agent.toml, only if there is none: an edited
#      one is never overwritten, the shipped one goes beside it as edge-agent.toml.dist;
#   6. /etc/edge-agent/api-key (root, 0600; systemd reads it for LoadCredential=) from $GEMINI_API_KEY
#      if that is set and there is no key file yet (sudo drops the variable, so run
#      sudo --preserve-env=GEMINI_API_KEY ./hw/install.sh); without a key the unit is skipped at start;
#   7. /etc/systemd/system/edge-agent.service, `systemctl daemon-reload`, `systemctl enable --now`
#      (restart instead when the service was running and its code or unit changed).
# Every action prints one line; a step with nothing to do prints "unchanged: ...", so a second run
# changes nothing. Uninstall keeps /etc/edge-agent, /var/lib/edge-agent, the apt packages and the
# gpio/spi groups (other users and programs may rely on them); --purge also removes the first two.
set -euo pipefail

CHECKOUT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SERVICE=edge-agent
SERVICE_USER=edge-agent
SERVICE_HOME=/var/lib/edge-agent
SUPPLEMENTARY_GROUPS=(audio gpio video spi)
APT_REQUIRED=(python3-venv python3-dev gcc pkg-config libasound2-dev libsystemd-dev alsa-utils)
APT_OPTIONAL=(python3-picamera2 python3-lgpio python3-spidev)

usage() {
    cat <<EOF
usage: sudo $0 [install | uninstall [--purge]] [--dry-run] [--root DIR]
EOF
}

die() { printf 'install.sh: %s\n' "$*" >&2; exit 1; }
usage_error() { printf 'install.sh: %s\n' "$*" >&2; usage >&2; exit 64; }
say() { printf '%s\n' "$*"; }

# The words of a command line, shell-quoted only where needed (so the printed line can be pasted).
quoted() {
    local out=() word
    for word; do
        if [[ $word =~ ^[A-Za-z0-9_./:=,+@%-]+$ ]]; then out+=("$word"); else out+=("$(printf '%q' "$word")"); fi
    done
    printf '%s' "${out[*]}"
}

# Run a command that changes the system; with --dry-run only say that it would.
act() {
    if ((DRY_RUN)); then
        say "would: $(quoted "$@")"
    else
        say "run: $(quoted "$@")"
        "$@"
    fi
}

mode=install
DRY_RUN=0
ROOT_MODE=0
PURGE=0
root=""
while (($#)); do
    case "$1" in
        install | uninstall) mode="$1" ;;
        --dry-run) DRY_RUN=1 ;;
        --purge) PURGE=1 ;;
        --root)
            (($# >= 2)) || usage_error "--root needs a directory"
            root="$2"
            ROOT_MODE=1
            shift
            ;;
        --root=*) root="${1#--root=}" ROOT_MODE=1 ;;
        -h | --help) usage; exit 0 ;;
        *) usage_error "unknown argument: $1" ;;
    esac
    shift
done
((PURGE == 0)) || [ "$mode" = uninstall ] || usage_error "--purge goes with uninstall"
if ((ROOT_MODE)); then
    [ -d "$root" ] || usage_error "--root $root: not a directory"
    root="$(cd "$root" && pwd)"
    root="${root%/}"
fi
if ((!DRY_RUN && !ROOT_MODE)) && [ "$(id -u)" -ne 0 ]; then
    die "run it as root: sudo $0 $mode (or look first: $0 $mode --dry-run)"
fi

ETC_DIR="$root/etc/edge-agent"
CONFIG="$ETC_DIR/edge-agent.toml"
KEY="$ETC_DIR/api-key"
OPT_DIR="$root/opt/edge-agent"
VENV="$OPT_DIR/venv"
STAMP="$OPT_DIR/source.sha256"
UNIT="$root/etc/systemd/system/$SERVICE.service"
STATE_DIR="$root$SERVICE_HOME"

CODE_CHANGED=0
UNIT_CHANGED=0

# Why a step that acts on the running system did not run, or "" when it runs.
system_skip_reason() {
    if ((ROOT_MODE)); then
        printf -- '--root'
    elif [ "${1:-}" = systemd ] && [ ! -d /run/systemd/system ]; then
        printf 'systemd is not running'
    fi
}

apt_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

install_apt_packages() {
    if [ -n "$(system_skip_reason)" ]; then
        say "skipped ($(system_skip_reason)): $(quoted apt-get install -y --no-install-recommends "${APT_REQUIRED[@]}")" \
            "(and ${APT_OPTIONAL[*]} where apt has them)"
        return
    fi
    local missing=() pkg
    for pkg in "${APT_REQUIRED[@]}"; do apt_installed "$pkg" || missing+=("$pkg"); done
    if ((${#missing[@]})); then
        act apt-get update -q
    fi
    for pkg in "${APT_OPTIONAL[@]}"; do
        apt_installed "$pkg" && continue
        if apt-cache show "$pkg" >/dev/null 2>&1; then
            missing+=("$pkg")
        elif [ "$pkg" = python3-lgpio ]; then
            say "note: apt has no python3-lgpio here (Raspberry Pi OS has it): GPIO needs lgpio in the virtualenv"
        else
            say "note: apt has no $pkg here (Raspberry Pi OS has it): camera.backend = \"picamera2\" will not work"
        fi
    done
    if ((${#missing[@]} == 0)); then
        say "unchanged: apt packages ${APT_REQUIRED[*]} are installed"
        return
    fi
    DEBIAN_FRONTEND=noninteractive act apt-get install -y -q --no-install-recommends "${missing[@]}"
}

create_groups() {
    if [ -n "$(system_skip_reason)" ]; then
        say "skipped ($(system_skip_reason)): groupadd --system GROUP, for each of ${SUPPLEMENTARY_GROUPS[*]} that is missing"
        return
    fi
    local group
    for group in "${SUPPLEMENTARY_GROUPS[@]}"; do
        if getent group "$group" >/dev/null; then
            say "unchanged: group $group exists"
        else
            act groupadd --system "$group"
        fi
    done
}

create_user() {
    local groups_csv
    groups_csv="$(IFS=,; printf '%s' "${SUPPLEMENTARY_GROUPS[*]}")"
    local useradd=(useradd --system --user-group --home-dir "$SERVICE_HOME" --no-create-home
        --shell /usr/sbin/nologin --comment edge-agent --groups "$groups_csv" "$SERVICE_USER")
    if [ -n "$(system_skip_reason)" ]; then
        say "skipped ($(system_skip_reason)): $(quoted "${useradd[@]}")"
        return
    fi
    if ! id -u "$SERVICE_USER" >/dev/null 2>&1; then
        act "${useradd[@]}"
        return
    fi
    local current missing=() group
    current=" $(id -nG "$SERVICE_USER") "
    for group in "${SUPPLEMENTARY_GROUPS[@]}"; do
        [[ $current == *" $group "* ]] || missing+=("$group")
    done
    if ((${#missing[@]})); then
        act usermod --append --groups "$(IFS=,; printf '%s' "${missing[*]}")" "$SERVICE_USER"
    else
        say "unchanged: user $SERVICE_USER exists, in groups ${SUPPLEMENTARY_GROUPS[*]}"
    fi
}

# A digest of what pip installs, to tell whether the virtualenv is up to date with this checkout.
source_digest() {
    (cd "$CHECKOUT" && find pyproject.toml README.md edge_agent -type f ! -path '*/__pycache__/*' -print0 |
        LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1)
}

install_virtualenv() {
    local pip=("$VENV/bin/python" -m pip install --quiet --disable-pip-version-check)
    if [ -n "$(system_skip_reason)" ]; then
        say "skipped ($(system_skip_reason)): python3 -m venv --system-site-packages $VENV"
        say "skipped ($(system_skip_reason)): $(quoted "${pip[@]}" "$CHECKOUT")"
        return
    fi
    if [ -x "$VENV/bin/python" ]; then
        say "unchanged: virtualenv $VENV"
    else
        python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
            die "edge-agent needs Python 3.11 or newer; python3 is $(python3 --version 2>&1)"
        act python3 -m venv --system-site-packages "$VENV"
    fi
    local digest
    digest="$(source_digest)"
    if [ -x "$VENV/bin/python" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$digest" ]; then
        say "unchanged: edge-agent in $VENV (this checkout's source is already installed)"
        return
    fi
    if ((DRY_RUN)); then
        say "would: $(quoted "${pip[@]}" "$CHECKOUT") (built from a temporary copy)"
        return
    fi
    # Build from a copy: pip would otherwise leave root-owned build/ and *.egg-info in the checkout.
    local copy
    copy="$(mktemp -d)"
    # shellcheck disable=SC2064 # expand $copy now: it is local to this function
    trap "rm -rf '$copy'" EXIT
    cp -R "$CHECKOUT/pyproject.toml" "$CHECKOUT/README.md" "$CHECKOUT/edge_agent" "$copy/"
    find "$copy" -name __pycache__ -prune -exec rm -rf {} +
    say "run: $(quoted "${pip[@]}" "$CHECKOUT") (built from a temporary copy; a few minutes on a Pi)"
    "${pip[@]}" "$copy"
    printf '%s\n' "$digest" >"$STAMP"
    CODE_CHANGED=1
}

ensure_dir() {
    [ -d "$1" ] || act install -d -m 0755 "$1"
}

# Install $1 as $2 with mode $3. An existing, different $2 is replaced, or with "keep" left alone
# and the new file installed beside it as $2.dist. Returns 0 if $2 was (or would be) written.
install_file() {
    local src="$1" dest="$2" mode="$3" policy="${4:-replace}"
    if [ ! -e "$dest" ]; then
        act install -m "$mode" "$src" "$dest"
    elif cmp -s "$src" "$dest"; then
        say "unchanged: $dest"
        return 1
    elif [ "$policy" = replace ]; then
        act install -m "$mode" "$src" "$dest"
    else
        if [ -e "$dest.dist" ] && cmp -s "$src" "$dest.dist"; then
            say "unchanged: $dest (yours, kept) and $dest.dist (the shipped one)"
        else
            act install -m "$mode" "$src" "$dest.dist"
            say "note: kept your edited $dest; the shipped one is $dest.dist (compare: diff -u $dest $dest.dist)"
        fi
        return 1
    fi
}

install_config() {
    ensure_dir "$ETC_DIR"
    install_file "$CHECKOUT/config/edge-agent.toml" "$CONFIG" 0644 keep || true
}

install_key() {
    if [ -e "$KEY" ]; then
        local changed=0
        if [ "$(stat -c %a "$KEY")" != 600 ]; then
            act chmod 0600 "$KEY"
            changed=1
        fi
        if ((!ROOT_MODE)) && [ "$(stat -c %u:%g "$KEY")" != 0:0 ]; then
            act chown root:root "$KEY"
            changed=1
        fi
        ((changed)) || say "unchanged: $KEY (mode 0600)"
    elif [ -n "${GEMINI_API_KEY:-}" ]; then
        if ((DRY_RUN)); then
            say "would: write \$GEMINI_API_KEY to $KEY (mode 0600)"
        else
            say "run: write \$GEMINI_API_KEY to $KEY (mode 0600)"
            (umask 077 && printf '%s\n' "$GEMINI_API_KEY" >"$KEY")
        fi
    else
        say "note: no API key: the service will not start until $KEY exists. Create it (paste the key," \
            "Enter, Ctrl-D): sudo sh -c 'umask 077; cat > $KEY' && sudo systemctl start $SERVICE"
    fi
}

install_unit() {
    ensure_dir "$(dirname "$UNIT")"
    if install_file "$CHECKOUT/systemd/$SERVICE.service" "$UNIT" 0644; then
        UNIT_CHANGED=1
    fi
}

start_service() {
    local reason
    reason="$(system_skip_reason systemd)"
    if [ -n "$reason" ]; then
        say "skipped ($reason): systemctl daemon-reload"
        say "skipped ($reason): systemctl enable --now $SERVICE"
        return
    fi
    ((UNIT_CHANGED)) && act systemctl daemon-reload
    if [ "$(systemctl is-enabled "$SERVICE" 2>/dev/null)" != enabled ]; then
        act systemctl enable --now "$SERVICE"
    elif systemctl --quiet is-active "$SERVICE"; then
        if ((CODE_CHANGED || UNIT_CHANGED)); then
            act systemctl restart "$SERVICE"
        else
            say "unchanged: $SERVICE.service is enabled and running"
        fi
    elif [ -e "$KEY" ]; then
        act systemctl start "$SERVICE"
    else
        say "unchanged: $SERVICE.service is enabled; it starts once $KEY exists"
    fi
}

do_install() {
    install_apt_packages
    create_groups
    create_user
    install_virtualenv
    install_config
    install_key
    install_unit
    start_service
}

remove_path() {
    if [ -e "$1" ] || [ -L "$1" ]; then
        act rm -rf "$1"
    else
        say "unchanged: $1 is absent"
    fi
}

do_uninstall() {
    local reason
    reason="$(system_skip_reason systemd)"
    if [ -n "$reason" ]; then
        say "skipped ($reason): systemctl disable --now $SERVICE"
    elif [ -e "$UNIT" ]; then
        act systemctl disable --now "$SERVICE"
    else
        say "unchanged: $SERVICE.service is not installed"
    fi
    if [ -e "$UNIT" ]; then
        act rm -f "$UNIT"
        if [ -n "$reason" ]; then say "skipped ($reason): systemctl daemon-reload"; else act systemctl daemon-reload; fi
    else
        say "unchanged: $UNIT is absent"
    fi
    remove_path "$OPT_DIR"
    reason="$(system_skip_reason)"
    if [ -n "$reason" ]; then
        say "skipped ($reason): userdel $SERVICE_USER"
    elif id -u "$SERVICE_USER" >/dev/null 2>&1; then
        act userdel "$SERVICE_USER"
    else
        say "unchanged: there is no user $SERVICE_USER"
    fi
    if ((PURGE)); then
        remove_path "$ETC_DIR"
        remove_path "$STATE_DIR"
    else
        [ -e "$ETC_DIR" ] && say "kept: $ETC_DIR (config and API key; uninstall --purge removes it)"
        [ -e "$STATE_DIR" ] && say "kept: $STATE_DIR (the daemon's state; uninstall --purge removes it)"
    fi
    say "kept: apt packages and the groups gpio, spi (other programs and users may need them)"
}

"do_$mode"
if ((DRY_RUN)); then
    say "dry run: nothing was changed"
else
    say "edge-agent: $mode done"
fi
