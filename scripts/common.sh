# Shared by the scripts: paths, the Python virtualenv and the Pulumi engine. Source it.
# Written for macOS's bash 3.2 and BSD tools as much as for Linux (tests/unit/test_scripts_portable.py).
# shellcheck shell=bash
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PULUMI_SKIP_UPDATE_CHECK=true
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true

log() { echo "[service-infra] $*" >&2; }

# The uv that makes and fills the virtualenv: pinned, installed with pip into the cache on first
# use. SERVICE_INFRA_INSTALLER=pip makes and fills it with venv and pip instead (the fallback).
UV_VERSION=0.13.9
CACHE="${SERVICE_INFRA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/service-infra}"

# ensure_uv: prints the path of uv $UV_VERSION; fails where it cannot be installed.
ensure_uv() {
  local dir="$CACHE/uv-$UV_VERSION" partial
  if [ ! -x "$dir/bin/uv" ]; then
    mkdir -p "$CACHE"
    partial="$(mktemp -d "$CACHE/uv-partial.XXXXXX")"
    if ! PIP_ROOT_USER_ACTION=ignore python3 -m pip install --disable-pip-version-check -q --target "$partial" "uv==$UV_VERSION" >&2; then
      rm -rf "$partial"
      return 1
    fi
    rm -rf "$dir"
    mv "$partial" "$dir"
  fi
  echo "$dir/bin/uv"
}

# ensure_venv REQUIREMENTS_FILE: the project's .venv (Pulumi.yaml names it) with those pins.
# Skips the install when the requirements have not changed since the last one. The virtualenv
# carries pip (`--seed`): Pulumi's `toolchain: pip` lists its packages with it.
ensure_venv() {
  local requirements="$1" stamp="$ROOT/.venv/.installed" uv=""
  local want
  want="$(cat "$ROOT/requirements.txt" "$ROOT/policy/requirements.txt" "$ROOT/$requirements" | sha256 | cut -c1-16)-$requirements"
  if [ "${SERVICE_INFRA_INSTALLER:-uv}" != pip ] && ! uv="$(ensure_uv)"; then
    log "uv $UV_VERSION could not be installed: the virtualenv is made with venv and pip"
    uv=""
  fi
  if [ ! -x "$ROOT/.venv/bin/python" ]; then
    log "creating the virtualenv .venv"
    if [ -n "$uv" ]; then
      UV_PYTHON_DOWNLOADS=never "$uv" venv -q --seed --python "$(command -v python3)" "$ROOT/.venv"
    else
      python3 -m venv "$ROOT/.venv"
    fi
  fi
  if ! grep -qx "$want" "$stamp" 2>/dev/null; then
    log "installing Python packages from $requirements"
    if [ -n "$uv" ]; then
      "$uv" pip install -q --python "$ROOT/.venv/bin/python" -r "$ROOT/$requirements"
    else
      "$ROOT/.venv/bin/pip" install --disable-pip-version-check -q -r "$ROOT/$requirements"
    fi
    echo "$want" >> "$stamp"
  fi
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
  ensure_venv requirements.txt
  ensure_pulumi
  exec .venv/bin/python -m service_infra "$@"
}
