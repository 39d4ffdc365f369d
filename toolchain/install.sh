#!/usr/bin/env bash
# Ensures the Pulumi engine that service-infra needs (idempotent; see README.md):
#   - pulumi CLI v3.259.0 (= pulumi==3.259.0 in requirements.txt): a `pulumi` on PATH
#     that reports v3.259.0, else built by toolchain/pulumi/build.sh;
#   - the Python language host (toolchain/language-python/build.sh);
#   - resource plugins at the versions the Python SDKs pin: command 1.2.1 (our own,
#     toolchain/provider-command/build.sh), docker 5.1.0
#     (toolchain/provider-docker/build.sh) and github 6.15.0
#     (toolchain/provider-github/build.sh), installed into $PULUMI_HOME (default
#     ~/.pulumi) with `pulumi plugin install resource NAME VERSION --file BINARY`.
# Every part is required. Builds are cached outside the repo, keyed by version and by
# a hash of the part's folder, so a second run takes seconds.
#
# Usage: toolchain/install.sh              install; last stdout line = bin dir
#        toolchain/install.sh --print-bin  print the bin dir, do nothing else
#        toolchain/install.sh --rebuild    rebuild every part, reinstall the plugins
# Typical: bin=$(toolchain/install.sh | tail -n1); export PATH="$bin:$PATH"
# All progress goes to stderr.
set -euo pipefail

readonly PULUMI_VERSION=3.259.0
# name:version of the resource plugins, built in this order.
readonly PLUGINS=(command:1.2.1 docker:5.1.0 github:6.15.0)

here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
cache=${SERVICE_INFRA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/service-infra}
[[ $cache == /* ]] || cache=$PWD/$cache
cache=$cache/toolchain
bin=$cache/pulumi-v$PULUMI_VERSION/bin # what goes on PATH
parts=$cache/parts                     # one folder per built part and key
logs=$cache/logs
pulumi_home=${PULUMI_HOME:-$HOME/.pulumi}

rebuild=0
case "${1:-}" in
  --print-bin) printf '%s\n' "$bin"; exit 0 ;;
  --rebuild) rebuild=1 ;;
  -h | --help) sed -n '2,18p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 0 ;;
  "") ;;
  *) echo "[toolchain] unknown option: $1 (try --help)" >&2; exit 2 ;;
esac

# Never let the engine reach out on its own.
export PULUMI_SKIP_UPDATE_CHECK=true PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true

t_start=$SECONDS
fmt_secs() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }
log() { printf '[toolchain %s] %s\n' "$(fmt_secs $((SECONDS - t_start)))" "$*" >&2; }
die() { printf '[toolchain] ERROR: %s\n' "$*" >&2; exit 1; }

# Every part is required: fail at once when one cannot be built at all.
for part in pulumi language-python provider-command provider-docker provider-github; do
  [[ -f $here/$part/build.sh ]] ||
    die "toolchain/$part/build.sh is missing: cannot build the $part part of the Pulumi toolchain (every part is required)"
done

# shared_inputs PART: the files outside a part's folder that its build uses.
shared_inputs() {
  case $1 in
    provider-docker | provider-github) printf '%s\0' ../bridged-provider.sh ../check_schema_names.py ;;
  esac
}

# key PART VERSION: the cache key of a part: its version and a hash of its folder and of the
# shared files it builds with.
key() {
  local h
  h=$(cd "$here/$1" && { find . -type f ! -name '*.pyc' ! -path '*/__pycache__/*' -print0; shared_inputs "$1"; } |
    LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum)
  printf '%s-%s-%s' "$1" "$2" "${h:0:12}"
}

# run_step LABEL LOGFILE CMD...: CMD's output to LOGFILE, a heartbeat every minute,
# the elapsed time at the end, the log's tail on failure.
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
  log "done: $label in $(fmt_secs $((SECONDS - t0)))"
}

# build PART VERSION FILE: prints the folder holding the part's build (FILE in it),
# building it with toolchain/PART/build.sh unless cached.
build() {
  local part=$1 version=$2 file=$3 dir
  dir=$parts/$(key "$part" "$version")
  ((rebuild)) && rm -rf -- "$dir"
  if [[ -x $dir/$file ]]; then
    log "$part $version: cached in $dir"
  else
    rm -rf -- "$dir"
    run_step "building $part $version" "$logs/$part.log" bash "$here/$part/build.sh" "$dir.tmp"
    [[ -x $dir.tmp/$file ]] || die "toolchain/$part/build.sh did not produce $file"
    mv -- "$dir.tmp" "$dir"
  fi
  printf '%s\n' "$dir"
}

# place SRC DEST: DEST becomes a hard link to SRC (a copy across file systems). Real
# files, not symlinks: the CLI looks for its language host next to its own resolved
# path, and warns when the one on PATH is elsewhere.
place() {
  rm -rf -- "$2"
  ln -- "$1" "$2" 2>/dev/null || cp -p -- "$1" "$2"
}

# ------------------------------------------------------------------- the CLI

# A pulumi v3.259.0 on PATH (not our own bin dir) is used instead of a build.
cli_src=
if p=$(command -v pulumi 2>/dev/null) && p=$(readlink -f -- "$p") &&
  [[ $(dirname -- "$p") != "$(readlink -f -- "$bin" 2>/dev/null)" && $p != "$parts"/* ]]; then
  v=$("$p" version 2>/dev/null || true)
  if [[ $v == "v$PULUMI_VERSION" ]]; then
    cli_src=$p
    log "pulumi: using v$PULUMI_VERSION from PATH ($p)"
  else
    log "pulumi on PATH ($p) is ${v:-unknown}, not v$PULUMI_VERSION: building v$PULUMI_VERSION"
  fi
fi
[[ -n $cli_src ]] || cli_src=$(build pulumi "$PULUMI_VERSION" pulumi)/pulumi
lang_dir=$(build language-python "$PULUMI_VERSION" pulumi-language-python)

# ------------------------------------------------------------ the bin dir

# Assembled from the parts; a stamp records which, so an unchanged bin dir is kept.
stamp="cli=$cli_src $(stat -c '%s %Y' -- "$cli_src") lang=$lang_dir"
if ((!rebuild)) && [[ -f $bin/.stamp && $(<"$bin/.stamp") == "$stamp" ]] &&
  [[ $("$bin/pulumi" version 2>/dev/null) == "v$PULUMI_VERSION" ]]; then
  log "bin dir up to date: $bin"
else
  rm -rf -- "$bin"
  mkdir -p "$bin/python-host"
  place "$cli_src" "$bin/pulumi"
  place "$lang_dir/pulumi-language-python" "$bin/pulumi-language-python"
  place "$lang_dir/pulumi-language-python-exec" "$bin/pulumi-language-python-exec"
  place "$lang_dir/python-host/pulumi-language-python" "$bin/python-host/pulumi-language-python"
  [[ $("$bin/pulumi" version 2>/dev/null) == "v$PULUMI_VERSION" ]] ||
    die "$bin/pulumi does not report v$PULUMI_VERSION"
  printf '%s\n' "$stamp" >"$bin/.stamp"
  log "bin dir assembled: $bin"
fi

# ------------------------------------------------------------------ plugins

mkdir -p "$pulumi_home"
for p in "${PLUGINS[@]}"; do
  name=${p%%:*} version=${p#*:}
  file=pulumi-resource-$name
  dir=$(build "provider-$name" "$version" "$file")
  installed=$pulumi_home/plugins/resource-$name-v$version/$file
  if ((!rebuild)) && [[ ! -e $pulumi_home/plugins/resource-$name-v$version.partial ]] &&
    cmp -s -- "$dir/$file" "$installed"; then
    log "plugin resource $name $version: installed in $pulumi_home"
    continue
  fi
  log "installing plugin resource $name $version from $dir/$file"
  "$bin/pulumi" plugin install resource "$name" "$version" --file "$dir/$file" --reinstall >&2
  cmp -s -- "$dir/$file" "$installed" ||
    die "plugin resource $name $version: $installed is not the binary just installed"
done

log "ready: pulumi $("$bin/pulumi" version) in $bin; plugins in $pulumi_home/plugins"
printf '%s\n' "$bin"
