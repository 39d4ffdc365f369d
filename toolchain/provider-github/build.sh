#!/usr/bin/env bash
# Builds the Pulumi provider plugin pulumi-resource-github 6.15.0 (the version the
# pulumi_github 6.15.0 Python SDK asks the engine for) into OUT_DIR:
#
#   toolchain/provider-github/build.sh OUT_DIR
#   pulumi plugin install resource github 6.15.0 --file OUT_DIR/pulumi-resource-github
#
# pulumi-github's own provider module is not served by the Go module proxy, so
# this is a bridged provider of our own: pulumi-terraform-bridge v3.137.0 over
# integrations/terraform-provider-github v6.13.0 (the upstream release that
# pulumi-github 6.15.0 bridges), with our ProviderInfo (provider/resources.go)
# reproducing pulumi_github's tokens and property names (../check_schema_names.py
# verifies them against the installed SDK). The upstream provider package
# (github.com/integrations/terraform-provider-github/v6/github) is importable as
# is: no shim, nothing copied out of the module cache.
#
# Steps, all in a build dir outside the repo:
#   1. copy this wrapper module there;
#   2. build pulumi-tfgen-github and run it: schema.json, "version" set to 6.15.0;
#      check its wire names against the pulumi_github SDK;
#   3. build pulumi-resource-github with that schema embedded.
# Idempotent: skips everything when OUT_DIR already has a binary built from the
# same inputs. Progress goes to stderr; go's output to log files in the build dir.
#
# Env: SERVICE_INFRA_CACHE (default ${XDG_CACHE_HOME:-$HOME/.cache}/service-infra),
#      GO (default: go on PATH, else /usr/local/go/bin/go),
#      PYTHON (for check_schema_names.py; default: the repo's .venv/bin/python),
#      PROVIDER_GITHUB_TIDY=1 (maintenance: `go mod tidy` first, copy go.mod/go.sum back).
set -euo pipefail

readonly VERSION=6.15.0

here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
t_start=$SECONDS
log() { printf '[provider-github %s] %s\n' "$(fmt_secs $((SECONDS - t_start)))" "$*" >&2; }
die() { printf '[provider-github] ERROR: %s\n' "$*" >&2; exit 1; }
fmt_secs() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }

[[ $# -eq 1 && $1 != -* ]] || { sed -n '2,28p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }
mkdir -p "$1"
out=$(cd -- "$1" && pwd)

if [[ -n ${GO:-} ]]; then
  go=$GO
  [[ -x $go ]] || die "GO=$GO is not an executable Go command"
else
  go=$(command -v go || true)
  [[ -n $go ]] || { [[ -x /usr/local/go/bin/go ]] && go=/usr/local/go/bin/go; }
  [[ -n $go ]] ||
    die "Go is not installed (no 'go' on PATH, no /usr/local/go/bin/go); install Go >= 1.26 or set GO=/path/to/go"
fi
command -v python3 >/dev/null || die "python3 is needed (JSON edits)"
go_version=$("$go" env GOVERSION)
case $go_version in
  go1.2[6-9]* | go1.[3-9][0-9]*) ;;
  *) die "$go is $go_version; the upstream provider needs Go >= 1.26" ;;
esac

cache=${SERVICE_INFRA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/service-infra}
[[ $cache == /* ]] || cache=$PWD/$cache
work=$cache/toolchain/build/provider-github
src=$work/src
mkdir -p "$work"

export CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false" GOTOOLCHAIN=local GOWORK=off
readonly BUILD_FLAGS=(-trimpath)

# Inputs of the build: our files (this script too), the Go version and the flags. Same stamp and
# a binary in OUT_DIR: nothing to do.
stamp=$(
  cd "$here"
  {
    printf '%s\n' "$go_version" "${BUILD_FLAGS[*]}" "$VERSION"
    find build.sh ../check_schema_names.py go.mod go.sum provider cmd -type f | LC_ALL=C sort | xargs sha256sum
  } | sha256sum | cut -c1-16
)
if [[ ${PROVIDER_GITHUB_TIDY:-} != 1 && -x $out/pulumi-resource-github && -f $work/stamp && $(cat "$work/stamp") == "$stamp" ]] &&
  cmp -s "$out/pulumi-resource-github" "$work/bin/pulumi-resource-github"; then
  log "up to date: $out/pulumi-resource-github ($VERSION)"
  exit 0
fi

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

# 1. The build copy of our wrapper (refreshed every time, it is small).
log "build dir: $work"
mkdir -p "$src"
rm -rf "$src/provider" "$src/cmd"
cp "$here/go.mod" "$here/go.sum" "$src/"
cp -R "$here/provider" "$here/cmd" "$src/"

# Maintenance: PROVIDER_GITHUB_TIDY=1 re-resolves the dependencies after an edit
# of go.mod (e.g. another bridge or upstream version) and copies go.mod/go.sum
# back here. It starts from the committed go.sum: a few of the upstream
# provider's dependencies (github.com/bored-engineer/github-conditional-http-transport)
# are not in the checksum database the proxy serves, so their hashes must come from
# a go.sum (they are in the upstream provider's own go.sum).
if [[ ${PROVIDER_GITHUB_TIDY:-} == 1 ]]; then
  run "go mod tidy" "$work/tidy.log" in_dir "$src" env GOFLAGS=-mod=mod "$go" mod tidy
  cp "$src/go.mod" "$src/go.sum" "$here/"
  log "updated $here/go.mod and go.sum"
fi

# Download every module the build needs (verified against go.sum) up front, so
# that a refusal by the proxy shows up here and not in the middle of a compile.
run "downloading modules" "$work/mod-download.log" \
  in_dir "$src" "$go" mod download

# 2. Schema.
run "building pulumi-tfgen-github" "$work/build-tfgen.log" \
  in_dir "$src" "$go" build "${BUILD_FLAGS[@]}" -o "$work/bin/pulumi-tfgen-github" ./cmd/pulumi-tfgen-github
rm -rf "$work/schema"
run "generating schema.json" "$work/tfgen.log" \
  "$work/bin/pulumi-tfgen-github" schema --out "$work/schema" --skip-docs --skip-examples
schema=$work/schema/schema.json
[[ -s $schema ]] || die "tfgen wrote no $schema (see $work/tfgen.log)"
# The schema's version is the one the engine sees in GetSchema.
python3 - "$schema" "$src/cmd/pulumi-resource-github/schema-embed.json" "$VERSION" <<'PY'
import json, sys
schema = json.load(open(sys.argv[1]))
schema["version"] = sys.argv[3]
json.dump(schema, open(sys.argv[2], "w"), indent=2, sort_keys=True)
PY

# The SDK's wire names must all be in the schema (see check_schema_names.py).
# Needs a Python with pulumi_github: the project's venv when it exists.
py=${PYTHON:-$here/../../.venv/bin/python}
if [[ -x $py ]] && "$py" -c 'import pulumi_github' 2>/dev/null; then
  "$py" "$here/../check_schema_names.py" github "$schema" >"$work/check-schema-names.log" 2>&1 || {
    grep -v '^extra\|^note' "$work/check-schema-names.log" >&2
    die "the schema does not match the pulumi_github SDK (full report: $work/check-schema-names.log)"
  }
  log "schema matches the pulumi_github SDK: $(tail -n1 "$work/check-schema-names.log")"
else
  log "no Python with pulumi_github ($py): skipped check_schema_names.py"
fi

# 3. The plugin.
run "building pulumi-resource-github" "$work/build-provider.log" \
  in_dir "$src" "$go" build "${BUILD_FLAGS[@]}" -o "$work/bin/pulumi-resource-github" ./cmd/pulumi-resource-github
tmp=$out/.pulumi-resource-github.tmp.$$
cp "$work/bin/pulumi-resource-github" "$tmp"
mv -f "$tmp" "$out/pulumi-resource-github"
printf '%s\n' "$stamp" >"$work/stamp"
log "built $out/pulumi-resource-github ($VERSION); schema: $schema"
