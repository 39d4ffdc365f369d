# Shared by the scripts: paths, the Python virtualenv and the Pulumi engine. Source it.
# Written for macOS's bash 3.2 and BSD tools as much as for Linux (tests/unit/test_scripts_portable.py).
# shellcheck shell=bash
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PULUMI_SKIP_UPDATE_CHECK=true
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true

log() { echo "[service-infra] $*" >&2; }

# uv: makes and fills the virtualenv from pyproject.toml and uv.lock, and Pulumi runs the program
# with it (Pulumi.yaml: toolchain: uv). The one on PATH when it is the pinned version, else the
# pinned one installed with pip (hash-checked, requirements-uv.txt) into the cache on first use.
# SERVICE_INFRA_INSTALLER=pip fills the virtualenv with venv and pip instead (the fallback).
UV_VERSION="$(sed -n 's/^uv==\([0-9.]*\).*/\1/p' "$ROOT/requirements-uv.txt")"
CACHE="${SERVICE_INFRA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/service-infra}"

# ensure_uv: prints the path of uv $UV_VERSION; fails where it cannot be installed.
ensure_uv() {
  local dir="$CACHE/uv-$UV_VERSION" partial
  if [ "$(uv --version 2>/dev/null)" = "uv $UV_VERSION" ]; then
    command -v uv
    return 0
  fi
  if [ ! -x "$dir/bin/uv" ]; then
    mkdir -p "$CACHE"
    partial="$(mktemp -d "$CACHE/uv-partial.XXXXXX")"
    if ! PIP_ROOT_USER_ACTION=ignore python3 -m pip install --disable-pip-version-check -q --require-hashes \
      --target "$partial" -r "$ROOT/requirements-uv.txt" >&2; then
      rm -rf "$partial"
      return 1
    fi
    rm -rf "$dir"
    mv "$partial" "$dir"
  fi
  echo "$dir/bin/uv"
}

# ensure_venv [dev]: the project's .venv (Pulumi.yaml names it) as uv.lock pins it: the program's
# packages and the project itself (editable); with `dev`, the tests' and dev tools' too. Skips the
# install when pyproject.toml and uv.lock have not changed since the last one.
ensure_venv() {
  local group="${1:-}" stamp="$ROOT/.venv/.installed" uv="" want
  want="$(cat "$ROOT/pyproject.toml" "$ROOT/uv.lock" | sha256 | cut -c1-16)-${group:-runtime}"
  if [ "${SERVICE_INFRA_INSTALLER:-uv}" != pip ] && ! uv="$(ensure_uv)"; then
    log "uv $UV_VERSION could not be installed: the virtualenv is filled with venv and pip"
    uv=""
  fi
  grep -qx "$want" "$stamp" 2>/dev/null && return 0
  log "installing Python packages${group:+ with the $group group}"
  if [ -n "$uv" ]; then
    # --inexact for the program alone: it leaves the tests' packages where a test run put them.
    # Bytecode now, as pip does: else the first run of each module pays for it (about 1 s for the
    # program's imports), and every run where Python may not write it (PYTHONDONTWRITEBYTECODE).
    if [ -n "$group" ]; then set -- --group "$group"; else set -- --inexact; fi
    (cd "$ROOT" && UV_PYTHON_DOWNLOADS=never UV_PROJECT_ENVIRONMENT="$ROOT/.venv" \
      "$uv" sync -q --locked --compile-bytecode --python "$(command -v python3)" "$@")
  else
    [ -x "$ROOT/.venv/bin/python" ] || python3 -m venv "$ROOT/.venv"
    # pip reads pyproject.toml's pins (not the lock's hashes); --group needs pip 25.1 or later.
    "$ROOT/.venv/bin/pip" install --disable-pip-version-check -q "pip==25.3"
    if [ -n "$group" ]; then set -- --group "$group"; else set --; fi
    (cd "$ROOT" && .venv/bin/pip install --disable-pip-version-check -q -e . "$@")
  fi
  echo "$want" >> "$stamp"
}

# sha256: sha256sum of stdin, with shasum where there is no sha256sum (macOS).
sha256() {
  if command -v sha256sum >/dev/null 2>&1; then sha256sum; else shasum -a 256; fi
}

# ensure_pulumi: the Pulumi CLI, language host and provider plugins at the pinned versions for
# this shell's runs: the official ones where installed, else source builds in a private Pulumi
# home (scripts/ensure-pulumi.sh; the user's ~/.pulumi is left as it is).
ensure_pulumi() {
  local found line
  found="$("$ROOT/scripts/ensure-pulumi.sh")"
  while IFS= read -r line; do
    case "$line" in
      PULUMI_BIN=*) export PATH="${line#PULUMI_BIN=}:$PATH" ;;
      UV_BIN=*) export PATH="${line#UV_BIN=}:$PATH" ;;
      PULUMI_HOME=*) export PULUMI_HOME="${line#PULUMI_HOME=}" ;;
    esac
  done <<EOF
$found
EOF
}

# ensure_debian_packages PKG...: install missing Debian packages when root (apt); else say what is
# missing. Linux only: elsewhere (macOS) it names the packages to install another way and fails.
ensure_debian_packages() {
  local missing=()
  case "$(uname -s)" in
    Linux)
      for package in "$@"; do
        dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
      done
      [ ${#missing[@]} -eq 0 ] && return 0
      if [ "$(id -u)" -ne 0 ]; then
        log "missing Debian packages: ${missing[*]} (install them, or run as root)"
        return 1
      fi
      log "installing ${missing[*]}"
      apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
      ;;
    *)
      log "needs $* (Debian package names): install them another way (e.g. brew install $*)"
      return 1
      ;;
  esac
}

# The body of an operator script (rollback, recover, prune-images, status): its header comment
# as the usage when it got fewer than MIN arguments, then the virtualenv and Pulumi it needs,
# then `python -m service_infra ARGS...`.
#   operator_command "$0" "$#" MIN ARGS...
operator_command() {
  local script=$1 given=$2 min=$3
  shift 3
  if [[ $given -lt $min ]]; then
    sed -n '2,/^set -euo/p' "$script" | sed '$d; s/^# \{0,1\}//' >&2
    exit 2
  fi
  ensure_venv
  ensure_pulumi
  exec .venv/bin/python -m service_infra "$@"
}
