# Shared by the scripts: paths, the Python virtualenv and the Pulumi toolchain. Source it.
# shellcheck shell=bash
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PULUMI_SKIP_UPDATE_CHECK=true
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true

log() { echo "[service-infra] $*" >&2; }

# ensure_venv REQUIREMENTS_FILE: the project's .venv (Pulumi.yaml names it) with those pins.
# Skips pip when the requirements have not changed since the last install.
ensure_venv() {
  local requirements="$1" stamp="$ROOT/.venv/.installed"
  local want
  want="$(cat "$ROOT/requirements.txt" "$ROOT/policy/requirements.txt" "$ROOT/$requirements" | sha256sum | cut -c1-16)-$requirements"
  if [ ! -x "$ROOT/.venv/bin/python" ]; then
    log "creating the virtualenv .venv"
    python3 -m venv "$ROOT/.venv"
  fi
  if ! grep -qx "$want" "$stamp" 2>/dev/null; then
    log "installing Python packages from $requirements"
    "$ROOT/.venv/bin/pip" install --disable-pip-version-check -q -r "$ROOT/$requirements"
    echo "$want" >> "$stamp"
  fi
}

# ensure_toolchain: the Pulumi CLI, language host and provider plugins at the pinned versions, on PATH.
ensure_toolchain() {
  local bin
  bin="$("$ROOT/toolchain/install.sh" | tail -n 1)"
  export PATH="$bin:$PATH"
}

# ensure_debian_packages PKG...: install missing Debian packages when root (apt); else say what is missing.
ensure_debian_packages() {
  local missing=()
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
}
