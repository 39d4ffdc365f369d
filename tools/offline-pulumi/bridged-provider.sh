# shellcheck shell=bash
# The build of a provider plugin bridged from a Terraform provider with pulumi-terraform-bridge,
# shared by provider-docker/build.sh and provider-github/build.sh. Source it, then call
# bridged_provider_build OUT_DIR. The sourcing script sets first:
#   NAME          the Pulumi package (docker, github): builds pulumi-resource-$NAME
#   VERSION       the plugin version (the one the Python SDK asks the engine for)
#   BUILD_FLAGS   array of extra `go build` flags
#   STAMP_FILES   array of extra files of its folder that are inputs of the build
# and may define prepare_sources, run in the build copy ($src) after the wrapper module is
# copied there (e.g. to add an upstream module that cannot be imported as is).
#
# Steps, all in a build dir outside the repo (nothing is ever copied into the repo):
#   1. copy the wrapper module (go.mod, go.sum, provider/, cmd/) there, then prepare_sources;
#   2. build pulumi-tfgen-$NAME and run it: schema.json with "version" set to $VERSION; check
#      its wire names against the installed SDK (../check_schema_names.py);
#   3. build pulumi-resource-$NAME with that schema embedded.
# Idempotent: skips everything when OUT_DIR already has a binary built from the same inputs.
# Progress goes to stderr; go's output to log files in the build dir.
#
# Env: SERVICE_INFRA_CACHE (default ${XDG_CACHE_HOME:-$HOME/.cache}/service-infra),
#      GO (default: go on PATH, else /usr/local/go/bin/go),
#      PYTHON (for check_schema_names.py; default: the repo's .venv/bin/python),
#      PROVIDER_<NAME>_TIDY=1 (maintenance: `go mod tidy` first, copy go.mod/go.sum back).

here=$(cd -- "$(dirname -- "$0")" && pwd)
shared=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
t_start=$SECONDS
fmt_secs() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }
log() { printf '[provider-%s %s] %s\n' "$NAME" "$(fmt_secs $((SECONDS - t_start)))" "$*" >&2; }
die() { printf '[provider-%s] ERROR: %s\n' "$NAME" "$*" >&2; exit 1; }

# run LABEL LOGFILE CMD...: CMD's output to LOGFILE, a heartbeat every minute.
run() {
  local label=$1 logfile=$2 t0=$SECONDS pid rc=0 next=60
  shift 2
  log "$label (log: $logfile)"
  "$@" >"$logfile" 2>&1 &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    sleep 2
    if ((SECONDS - t0 >= next)); then
      log "  ... $label: $(fmt_secs $((SECONDS - t0)))"
      next=$((next + 60))
    fi
  done
  wait "$pid" || rc=$?
  if ((rc != 0)); then
    tail -n 40 "$logfile" >&2 || true
    die "$label failed (exit $rc) after $(fmt_secs $((SECONDS - t0))); full log: $logfile"
  fi
  log "  done in $(fmt_secs $((SECONDS - t0)))"
}

# in_dir DIR CMD...: CMD in DIR (run starts it in a subshell: no cd leaks).
in_dir() { cd "$1" && shift && "$@"; }

# find_go: the Go command (GO, go on PATH, or /usr/local/go/bin/go), at least 1.26.
find_go() {
  if [[ -n ${GO:-} ]]; then
    go=$GO
    [[ -x $go ]] || die "GO=$GO is not an executable Go command"
  else
    go=$(command -v go || true)
    [[ -n $go ]] || { [[ -x /usr/local/go/bin/go ]] && go=/usr/local/go/bin/go; }
    [[ -n $go ]] ||
      die "Go is not installed (no 'go' on PATH, no /usr/local/go/bin/go); install Go >= 1.26 or set GO=/path/to/go"
  fi
  go_version=$("$go" env GOVERSION)
  case $go_version in
    go1.2[6-9]* | go1.[3-9][0-9]*) ;;
    *) die "$go is $go_version; the bridge and the upstream providers need Go >= 1.26" ;;
  esac
}

bridged_provider_build() {
  [[ $# -eq 1 && $1 != -* ]] || { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }
  mkdir -p "$1"
  local out plugin tidy_var stamp cache
  out=$(cd -- "$1" && pwd)
  plugin=pulumi-resource-$NAME
  tidy_var=PROVIDER_${NAME^^}_TIDY
  find_go
  command -v python3 >/dev/null || die "python3 is needed (JSON edits)"

  cache=${SERVICE_INFRA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/service-infra}
  [[ $cache == /* ]] || cache=$PWD/$cache
  work=$cache/toolchain/build/provider-$NAME
  src=$work/src
  mkdir -p "$work"
  export CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false" GOTOOLCHAIN=local GOWORK=off
  local flags=(-trimpath "${BUILD_FLAGS[@]}")

  # Inputs of the build: our files (these scripts too), the Go version and the flags. Same
  # stamp and a binary in OUT_DIR: nothing to do.
  stamp=$(
    cd "$here" || exit
    {
      printf '%s\n' "$go_version" "${flags[*]}" "$VERSION"
      find build.sh ../bridged-provider.sh ../check_schema_names.py go.mod go.sum provider cmd "${STAMP_FILES[@]}" \
        -type f | LC_ALL=C sort | xargs sha256sum
    } | sha256sum | cut -c1-16
  )
  if [[ ${!tidy_var:-} != 1 && -x $out/$plugin && -f $work/stamp && $(cat "$work/stamp") == "$stamp" ]] &&
    cmp -s "$out/$plugin" "$work/bin/$plugin"; then
    log "up to date: $out/$plugin ($VERSION)"
    return 0
  fi

  # 1. The build copy of our wrapper (refreshed every time, it is small), and what the part adds.
  log "build dir: $work"
  mkdir -p "$src"
  rm -rf "$src/provider" "$src/cmd"
  cp "$here/go.mod" "$here/go.sum" "$src/"
  cp -R "$here/provider" "$here/cmd" "$src/"
  if declare -F prepare_sources >/dev/null; then
    prepare_sources
  fi

  # Maintenance: PROVIDER_<NAME>_TIDY=1 re-resolves the dependencies after an edit of go.mod
  # (another bridge or upstream version) and copies go.mod/go.sum back. It starts from the
  # committed go.sum: some upstream dependencies are not in the checksum database the proxy
  # serves, so their hashes must come from a go.sum.
  if [[ ${!tidy_var:-} == 1 ]]; then
    run "go mod tidy" "$work/tidy.log" in_dir "$src" env GOFLAGS=-mod=mod "$go" mod tidy
    cp "$src/go.mod" "$src/go.sum" "$here/"
    log "updated $here/go.mod and go.sum"
  fi

  # Download every module the build needs (verified against go.sum) up front, so that a
  # refusal by the proxy shows up here and not in the middle of a compile.
  run "downloading modules" "$work/mod-download.log" in_dir "$src" "$go" mod download

  # 2. Schema.
  run "building pulumi-tfgen-$NAME" "$work/build-tfgen.log" \
    in_dir "$src" "$go" build "${flags[@]}" -o "$work/bin/pulumi-tfgen-$NAME" "./cmd/pulumi-tfgen-$NAME"
  rm -rf "$work/schema"
  run "generating schema.json" "$work/tfgen.log" \
    "$work/bin/pulumi-tfgen-$NAME" schema --out "$work/schema" --skip-docs --skip-examples
  local schema=$work/schema/schema.json
  [[ -s $schema ]] || die "tfgen wrote no $schema (see $work/tfgen.log)"
  # The schema's version is the one the engine sees in GetSchema.
  python3 - "$schema" "$src/cmd/$plugin/schema-embed.json" "$VERSION" <<'PY'
import json, sys
schema = json.load(open(sys.argv[1]))
schema["version"] = sys.argv[3]
json.dump(schema, open(sys.argv[2], "w"), indent=2, sort_keys=True)
PY

  # The SDK's wire names must all be in the schema (see check_schema_names.py).
  # Needs a Python with the SDK: the project's venv when it exists.
  local py=${PYTHON:-$shared/../.venv/bin/python} report=$work/check-schema-names.log
  if [[ -x $py ]] && "$py" -c "import pulumi_$NAME" 2>/dev/null; then
    "$py" "$shared/check_schema_names.py" "$NAME" "$schema" >"$report" 2>&1 || {
      grep -v '^extra\|^note' "$report" >&2
      die "the schema does not match the pulumi_$NAME SDK (full report: $report)"
    }
    log "schema matches the pulumi_$NAME SDK: $(tail -n1 "$report")"
  else
    log "no Python with pulumi_$NAME ($py): skipped check_schema_names.py"
  fi

  # 3. The plugin.
  run "building $plugin" "$work/build-provider.log" \
    in_dir "$src" "$go" build "${flags[@]}" -o "$work/bin/$plugin" "./cmd/$plugin"
  local tmp=$out/.$plugin.tmp.$$
  cp "$work/bin/$plugin" "$tmp"
  mv -f "$tmp" "$out/$plugin"
  printf '%s\n' "$stamp" >"$work/stamp"
  log "built $out/$plugin ($VERSION); schema: $schema"
}
