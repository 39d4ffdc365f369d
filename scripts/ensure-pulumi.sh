#!/usr/bin/env bash
# Finds or makes the Pulumi engine this project runs on, at the versions pyproject.toml pins
# (pulumi==X for the CLI, pulumi-docker/-github/-command==Y for the plugins; nothing else
# repeats them), and the uv its Python language host runs the program with (Pulumi.yaml:
# toolchain: uv; scripts/common.sh's ensure_uv). Official first, for each part in turn:
#   CLI + Python language host: a `pulumi` on PATH at or above the pulumi pin, with its bundled
#     language host; else the source build (tools/offline-pulumi/).
#   each resource plugin: the official plugin already installed in the user's Pulumi home
#     (PULUMI_HOME, default ~/.pulumi); else what `pulumi plugin install resource NAME VERSION`
#     downloads; else the source build.
# One line per part on stderr says which way it took. The user's Pulumi home is never changed,
# except by Pulumi itself downloading an official plugin there for the user's own CLI, as
# `pulumi up` would. Source builds live under the cache, in a private Pulumi home that only
# this project's runs use; it sees the user's official plugins through links.
#
# Usage: scripts/ensure-pulumi.sh            stdout: PULUMI_BIN=<dir> and UV_BIN=<dir> (put first
#                                            on PATH) and, when a part is source-built,
#                                            PULUMI_HOME=<dir>
#        scripts/ensure-pulumi.sh --shell    the same as `export` lines: eval "$(... --shell)"
#        scripts/ensure-pulumi.sh --rebuild  rebuild every part that is source-built
# Env: SERVICE_INFRA_CACHE (default ${XDG_CACHE_HOME:-~/.cache}/service-infra),
#      SERVICE_INFRA_OFFLINE_PULUMI (the source-build parts; default tools/offline-pulumi).
# Runs on macOS's bash 3.2 and BSD tools as on Linux.
set -euo pipefail

root=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
offline=${SERVICE_INFRA_OFFLINE_PULUMI:-$root/tools/offline-pulumi}
cache=${SERVICE_INFRA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/service-infra}
[[ $cache == /* ]] || cache=$PWD/$cache
cache=$cache/toolchain
parts=$cache/parts # one folder per built part and key
logs=$cache/logs
private_home=$cache/pulumi-home
user_home=${PULUMI_HOME:-$HOME/.pulumi}
# Run again from a shell that already exported the private home: the user's is the default one.
[[ $user_home != "$private_home" ]] || user_home=$HOME/.pulumi

output=pairs rebuild=0
case "${1:-}" in
  --shell) output=shell ;;
  --rebuild) rebuild=1 ;;
  -h | --help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2; exit 0 ;;
  "") ;;
  *) echo "[pulumi] unknown option: $1 (try --help)" >&2; exit 2 ;;
esac

export PULUMI_SKIP_UPDATE_CHECK=true

t_start=$SECONDS
fmt_secs() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }
log() { printf '[pulumi %s] %s\n' "$(fmt_secs $((SECONDS - t_start)))" "$*" >&2; }
die() { printf '[pulumi] ERROR: %s\n' "$*" >&2; exit 1; }

# ------------------------------------------------------------------ versions

# pin PACKAGE: the version pyproject.toml's dependencies pin PACKAGE to ("PACKAGE==VERSION",).
pin() {
  local v
  v=$(sed -n "s/^[[:space:]]*\"$1==\([0-9][0-9A-Za-z.+-]*\)\".*/\1/p" "$root/pyproject.toml" | head -n 1)
  [[ -n $v ]] || die "pyproject.toml has no \"$1==VERSION\" dependency: it is where the engine's versions come from"
  printf '%s\n' "$v"
}

# version_ge A B: A >= B, comparing major.minor.patch (a pre-release suffix is ignored).
version_ge() {
  local a1 a2 a3 b1 b2 b3
  IFS=. read -r a1 a2 a3 <<<"${1%%[-+]*}"
  IFS=. read -r b1 b2 b3 <<<"${2%%[-+]*}"
  ((a1 != b1)) && { ((a1 > b1)); return; }
  ((a2 != b2)) && { ((a2 > b2)); return; }
  ((${a3:-0} >= ${b3:-0}))
}

PULUMI_VERSION=$(pin pulumi)
# name:version of the resource plugins the Python SDKs ask the engine for.
command_version=$(pin pulumi-command)
docker_version=$(pin pulumi-docker)
github_version=$(pin pulumi-github)
readonly PULUMI_VERSION PLUGINS=("command:$command_version" "docker:$docker_version" "github:$github_version")

# --------------------------------------------------------------- source build

# sha256 FILE...: sha256sum's output, with shasum where there is no sha256sum (macOS).
if command -v sha256sum >/dev/null 2>&1; then sha256=(sha256sum); else sha256=(shasum -a 256); fi

# shared_inputs PART: the files outside a part's folder that its build uses.
shared_inputs() {
  case $1 in
    provider-docker | provider-github) printf '%s\0' ../bridged-provider.sh ../check_schema_names.py ;;
  esac
}

# key PART VERSION: the cache key of a part: its version and a hash of its folder's files (by
# their paths inside the folder, so moving the folder keeps the key) and the shared files.
key() {
  local h
  h=$(cd "$offline/$1" && { find . -type f ! -name '*.pyc' ! -path '*/__pycache__/*' -print0; shared_inputs "$1"; } |
    LC_ALL=C sort -z | xargs -0 "${sha256[@]}" | "${sha256[@]}")
  printf '%s-%s-%s' "$1" "$2" "${h:0:12}"
}

# built_version PART: the version a part's build.sh builds (its VERSION, or for the language
# host the SDK release its Python side comes from).
built_version() {
  sed -n -e 's/^\(readonly \)\{0,1\}VERSION=v\{0,1\}\([0-9][0-9.]*\).*/\2/p' \
    -e 's|^readonly EXEC_SDK=.*@v\([0-9][0-9.]*\).*|\1|p' "$offline/$1/build.sh" | head -n 1
}

# run_step LABEL LOGFILE CMD...: CMD's output to LOGFILE, a heartbeat every minute, the log's
# tail on failure.
run_step() {
  local label=$1 logfile=$2 t0=$SECONDS pid rc=0 next=60
  shift 2
  mkdir -p "$(dirname "$logfile")"
  log "$label (log: $logfile)..."
  "$@" >"$logfile" 2>&1 &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    sleep 1
    if ((SECONDS - t0 >= next)); then
      log "  ... $label: $(fmt_secs $((SECONDS - t0))) so far"
      next=$((next + 60))
    fi
  done
  wait "$pid" || rc=$?
  if ((rc != 0)); then
    tail -n 30 "$logfile" >&2 || true
    die "$label failed (exit $rc) after $(fmt_secs $((SECONDS - t0))); full log: $logfile"
  fi
  log "  done: $label in $(fmt_secs $((SECONDS - t0)))"
}

# build PART VERSION FILE: sets $built to the folder holding the part's build (FILE in it) and
# $how to how it came (cached or built), building it with PART/build.sh unless cached.
build() {
  local part=$1 version=$2 file=$3 has
  [[ -f $offline/$part/build.sh ]] || die "$offline/$part/build.sh is missing: cannot build $part"
  has=$(built_version "$part")
  [[ $has == "$version" ]] ||
    die "pyproject.toml pins $version for $part, but $offline/$part/build.sh builds ${has:-no version}: update the part or the pin"
  built=$parts/$(key "$part" "$version")
  ((rebuild)) && rm -rf -- "$built"
  if [[ -x $built/$file ]]; then
    how="source build, from the cache ($built)"
  else
    # The offline build is for Linux machines that reach only package registries; its scripts
    # use GNU tools. A Mac gets the official parts instead.
    [[ $(uname -s) == Linux ]] ||
      die "$part $version is neither installed nor downloadable, and the offline build runs on Linux only: install the official Pulumi (brew install pulumi) or let \`pulumi plugin install\` reach get.pulumi.com, then run again"
    rm -rf -- "$built" "$built.tmp"
    # The bridged providers check their schema with the project's Python SDKs.
    PYTHON=${PYTHON:-$root/.venv/bin/python} \
      run_step "building $part $version" "$logs/$part.log" bash "$offline/$part/build.sh" "$built.tmp"
    [[ -x $built.tmp/$file ]] || die "$offline/$part/build.sh did not produce $file"
    mv -- "$built.tmp" "$built"
    how="source build, built now ($built)"
  fi
}

# place SRC DEST: DEST becomes a hard link to SRC (a copy across file systems). Real files, not
# symlinks: the CLI looks for its language host next to its own resolved path.
place() {
  rm -rf -- "$2"
  ln -- "$1" "$2" 2>/dev/null || cp -p -- "$1" "$2"
}

# ------------------------------------------------------------------- the CLI

# cli_version PULUMI: what PULUMI reports, asked with a scratch home (every run of the CLI
# writes a log into its Pulumi home; the user's stays as it is).
cli_version() { PULUMI_HOME=$cache/scratch-home "$1" version 2>/dev/null || true; }

own_bin=$cache/pulumi-v$PULUMI_VERSION/bin # the source-built CLI and language host
cli_bin='' why=''
if p=$(command -v pulumi 2>/dev/null) && [[ $(dirname -- "$p") != "$own_bin" ]]; then
  v=$(cli_version "$p")
  if [[ ! $v =~ ^v[0-9]+\.[0-9]+\.[0-9]+ ]]; then
    why="$p does not report a version"
  elif ! version_ge "${v#v}" "$PULUMI_VERSION"; then
    why="$p is $v, older than the pulumi SDK pin $PULUMI_VERSION"
  elif [[ ! -x $(dirname -- "$p")/pulumi-language-python ]]; then
    why="$p ($v) has no pulumi-language-python next to it"
  else
    cli_bin=$(dirname -- "$p")
    log "pulumi CLI: official $v on PATH ($p); Python language host: the one bundled with it"
  fi
else
  why="no pulumi on PATH but this project's own build"
fi

private=0 # does any part need the private Pulumi home?
if [[ -z $cli_bin ]]; then
  private=1
  build pulumi "$PULUMI_VERSION" pulumi
  cli_dir=$built cli_how=$how
  build language-python "$PULUMI_VERSION" pulumi-language-python
  lang_dir=$built
  log "pulumi CLI: $cli_how ($why)"
  log "Python language host: $how"
  cli_bin=$own_bin
  # Assembled from the parts (immutable, by key); a stamp records which.
  stamp="cli=$cli_dir lang=$lang_dir"
  if ((rebuild)) || [[ ! -f $cli_bin/.stamp || $(cat "$cli_bin/.stamp") != "$stamp" ]]; then
    rm -rf -- "$cli_bin"
    mkdir -p "$cli_bin/python-host"
    place "$cli_dir/pulumi" "$cli_bin/pulumi"
    place "$lang_dir/pulumi-language-python" "$cli_bin/pulumi-language-python"
    place "$lang_dir/pulumi-language-python-exec" "$cli_bin/pulumi-language-python-exec"
    place "$lang_dir/python-host/pulumi-language-python" "$cli_bin/python-host/pulumi-language-python"
    printf '%s\n' "$stamp" >"$cli_bin/.stamp"
  fi
  [[ $(cli_version "$cli_bin/pulumi") == "v$PULUMI_VERSION" ]] ||
    die "$cli_bin/pulumi does not report v$PULUMI_VERSION"
fi
pulumi=$cli_bin/pulumi

# ------------------------------------------------------------------ plugins

# is_plugin DIR NAME: DIR holds a complete plugin (its binary, no unfinished download).
is_plugin() { [[ -x $1/pulumi-resource-$2 && ! -e $1.partial ]]; }

# ours NAME VERSION FILE: FILE is one of our source builds (earlier installers put them into
# the user's home under the official version).
ours() {
  local b
  for b in "$parts/provider-$1-$2"-*/pulumi-resource-"$1"; do
    [[ -f $b ]] && cmp -s -- "$b" "$3" && return 0
  done
  return 1
}

# acquire NAME VERSION HOME: `pulumi plugin install` into HOME; a failure is remembered for a
# day so that machines without downloads do not wait on it every run.
acquire() {
  local failed=$cache/acquire-failed/$1-$2
  if [[ -f $failed && -n $(find "$failed" -mmin -1440 2>/dev/null) ]]; then
    why="the engine could not download it at $(cat "$failed"); retried after a day"
    return 1
  fi
  if PULUMI_HOME=$3 PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=false \
    "$pulumi" plugin install resource "$1" "$2" >"$logs/acquire-$1.log" 2>&1; then
    rm -f -- "$failed"
    return 0
  fi
  mkdir -p "$(dirname "$failed")"
  date >"$failed"
  why="the engine could not download it ($(tail -n 1 "$logs/acquire-$1.log"))"
  return 1
}

mkdir -p "$logs"
linked=() # plugins the private home links to the user's official ones
for p in "${PLUGINS[@]}"; do
  name=${p%%:*} version=${p#*:}
  plugin=resource-$name-v$version
  official=$user_home/plugins/$plugin
  mine=$private_home/plugins/$plugin
  line="plugin $name $version"
  if is_plugin "$official" "$name" && ! ours "$name" "$version" "$official/pulumi-resource-$name"; then
    linked+=("$plugin")
    log "$line: official, installed in $user_home"
    continue
  fi
  is_plugin "$official" "$name" &&
    log "$line: $official is a source build an earlier installer put there; not used (\`pulumi plugin rm resource $name $version\` removes it)"
  if is_plugin "$mine" "$name" && [[ ! -e $mine/.source-build ]]; then
    private=1
    log "$line: official, downloaded earlier into $private_home"
    continue
  fi
  # The user's own CLI downloads into the user's home, as its `pulumi up` would; a source-built
  # CLI into the private home.
  if [[ $cli_bin == "$own_bin" ]]; then target=$private_home; else target=$user_home; fi
  if acquire "$name" "$version" "$target"; then
    if [[ $target == "$user_home" ]]; then linked+=("$plugin"); else private=1; fi
    log "$line: official, downloaded now by \`pulumi plugin install\` into $target"
    continue
  fi
  private=1
  build "provider-$name" "$version" "pulumi-resource-$name"
  if [[ ! -e $mine/.source-build ]] || ! cmp -s -- "$built/pulumi-resource-$name" "$mine/pulumi-resource-$name"; then
    rm -rf -- "$mine" "$mine.partial"
    mkdir -p "$mine"
    place "$built/pulumi-resource-$name" "$mine/pulumi-resource-$name"
    : >"$mine/.source-build"
  fi
  log "$line: $how ($why)"
done

# The private home sees the user's official plugins through links: real folders (the engine
# lists folders only) of symbolic links to the official files, which stay where they are.
if ((private)); then
  for plugin in ${linked[@]+"${linked[@]}"}; do
    rm -rf -- "${private_home:?}/plugins/$plugin"
    mkdir -p "$private_home/plugins/$plugin"
    for f in "$user_home/plugins/$plugin"/*; do
      ln -s -- "$f" "$private_home/plugins/$plugin/"
    done
  done
fi

# ------------------------------------------------------------------- uv

# The language host runs the program with uv (Pulumi.yaml: toolchain: uv), official or not.
if ! uv=$(bash -c 'source "$1/scripts/common.sh" && ensure_uv' _ "$root"); then
  die "uv could not be installed (pip install --require-hashes -r requirements-uv.txt failed): Pulumi.yaml's \`toolchain: uv\` needs it on PATH; install uv (e.g. \`brew install uv\`) and run again"
fi
log "uv: $("$uv" --version) ($uv)"

# ------------------------------------------------------------------- result

plugin_home=$user_home
((private)) && plugin_home="$private_home (private)"
log "ready: $(cli_version "$pulumi") in $cli_bin; plugins in $plugin_home"
if [[ $output == shell ]]; then
  # shellcheck disable=SC2016 # $PATH expands where the line is evaluated
  printf 'export PATH=%q:%q:"$PATH"\n' "$cli_bin" "$(dirname -- "$uv")"
  ((private)) && printf 'export PULUMI_HOME=%q\n' "$private_home"
else
  printf 'PULUMI_BIN=%s\n' "$cli_bin"
  printf 'UV_BIN=%s\n' "$(dirname -- "$uv")"
  ((private)) && printf 'PULUMI_HOME=%s\n' "$private_home"
fi
exit 0
