#!/usr/bin/env bash
# Builds the Pulumi provider plugin pulumi-resource-docker 5.1.0 (the version the
# pulumi_docker 5.1.0 Python SDK asks the engine for) into OUT_DIR:
#
#   toolchain/provider-docker/build.sh OUT_DIR
#   pulumi plugin install resource docker 5.1.0 --file OUT_DIR/pulumi-resource-docker
#
# pulumi-docker's own provider module is not served by the Go module proxy, so
# this is a bridged provider of our own: pulumi-terraform-bridge over
# kreuzwerker's Terraform provider, with our ProviderInfo (provider/resources.go)
# reproducing pulumi_docker's tokens and property names (../check_schema_names.py
# verifies them against the installed SDK). Pulumi-docker's native
# docker:index/image:Image (buildx) is not provided; everything else is.
#
# Steps, all in a build dir outside the repo (nothing from the module cache is
# ever copied into the repo):
#   1. copy this wrapper module there; copy the upstream module (version pinned
#      in go.mod) out of the module cache to ./upstream and add shim.go.in as
#      upstream/shim/shim.go (the upstream provider package is internal);
#   2. build pulumi-tfgen-docker and run it: schema.json, "version" set to 5.1.0;
#   3. build pulumi-resource-docker with that schema embedded.
# Idempotent: skips everything when OUT_DIR already has a binary built from the
# same inputs. Progress goes to stderr; go's output to log files in the build dir.
#
# Env: SERVICE_INFRA_CACHE (default ${XDG_CACHE_HOME:-$HOME/.cache}/service-infra),
#      GO (default: go on PATH, else /usr/local/go/bin/go),
#      PYTHON (for check_schema_names.py; default: the repo's .venv/bin/python),
#      PROVIDER_DOCKER_TIDY=1 (maintenance: `go mod tidy` first, copy go.mod/go.sum back).
set -euo pipefail

readonly VERSION=5.1.0
readonly UPSTREAM_PATH=github.com/terraform-providers/terraform-provider-docker
# The module proxy serves kreuzwerker's provider only under its GitHub path;
# its go.mod declares the old path above.
readonly UPSTREAM_MODULE=github.com/kreuzwerker/terraform-provider-docker

here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
t_start=$SECONDS
log() { printf '[provider-docker %s] %s\n' "$(fmt_secs $((SECONDS - t_start)))" "$*" >&2; }
die() { printf '[provider-docker] ERROR: %s\n' "$*" >&2; exit 1; }
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
  *) die "$go is $go_version; the bridge needs Go >= 1.26" ;;
esac

cache=${SERVICE_INFRA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/service-infra}
[[ $cache == /* ]] || cache=$PWD/$cache
work=$cache/toolchain/build/provider-docker
src=$work/src
mkdir -p "$work"

export CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false" GOTOOLCHAIN=local GOWORK=off
readonly BUILD_FLAGS=(-trimpath -tags no_compose)

# Inputs of the build: our files (this script too), the Go version and the flags. Same stamp and
# a binary in OUT_DIR: nothing to do.
stamp=$(
  cd "$here"
  {
    printf '%s\n' "$go_version" "${BUILD_FLAGS[*]}" "$VERSION"
    find build.sh ../check_schema_names.py go.mod go.sum shim.go.in provider cmd -type f | LC_ALL=C sort | xargs sha256sum
  } | sha256sum | cut -c1-16
)
if [[ ${PROVIDER_DOCKER_TIDY:-} != 1 && -x $out/pulumi-resource-docker && -f $work/stamp && $(cat "$work/stamp") == "$stamp" ]] &&
  cmp -s "$out/pulumi-resource-docker" "$work/bin/pulumi-resource-docker"; then
  log "up to date: $out/pulumi-resource-docker ($VERSION)"
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
# download_json MODULE@VERSION JSONFILE: fetch a module, its `go mod download -json` record to JSONFILE.
download_json() { "$go" mod download -json "$1" >"$2"; }

# 1. The build copy: our wrapper (refreshed every time, it is small) ...
log "build dir: $work"
mkdir -p "$src"
rm -rf "$src/provider" "$src/cmd"
cp "$here/go.mod" "$here/go.sum" "$src/"
cp -R "$here/provider" "$here/cmd" "$src/"

# ... and the upstream module, at the version go.mod requires (`go mod download`
# checks it against the Go checksum database; go.sum cannot, as go.mod replaces
# it with the local copy).
upstream_version=$(cd "$src" && "$go" mod edit -json | python3 -c '
import json, sys
print(next((r["Version"] for r in json.load(sys.stdin).get("Require", []) if r["Path"] == sys.argv[1]), ""))
' "$UPSTREAM_PATH")
[[ -n $upstream_version ]] || die "go.mod does not require $UPSTREAM_PATH"
if [[ ! -f $src/upstream/.service-infra-version || $(cat "$src/upstream/.service-infra-version") != "$upstream_version" ]]; then
  run "downloading $UPSTREAM_MODULE@$upstream_version" "$work/download.log" \
    in_dir "$work" download_json "$UPSTREAM_MODULE@$upstream_version" "$work/upstream.json"
  dir=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1])).get("Dir", ""))' "$work/upstream.json")
  [[ -n $dir && -f $dir/go.mod ]] || die "no module dir in $work/upstream.json"
  grep -q "^module $UPSTREAM_PATH\$" "$dir/go.mod" || die "$dir/go.mod does not declare $UPSTREAM_PATH"
  rm -rf "$src/upstream"
  cp -R "$dir" "$src/upstream"
  chmod -R u+w "$src/upstream"
  printf '%s\n' "$upstream_version" >"$src/upstream/.service-infra-version"
fi
mkdir -p "$src/upstream/shim"
cp "$here/shim.go.in" "$src/upstream/shim/shim.go"

# Maintenance: PROVIDER_DOCKER_TIDY=1 re-resolves the dependencies after an edit
# of go.mod (e.g. another bridge version) and copies go.mod/go.sum back here.
if [[ ${PROVIDER_DOCKER_TIDY:-} == 1 ]]; then
  run "go mod tidy" "$work/tidy.log" in_dir "$src" env GOFLAGS=-mod=mod "$go" mod tidy
  cp "$src/go.mod" "$src/go.sum" "$here/"
  log "updated $here/go.mod and go.sum"
fi

# Download every module the build needs (verified against go.sum) up front, so
# that a refusal by the proxy shows up here and not in the middle of a compile.
run "downloading modules" "$work/mod-download.log" \
  in_dir "$src" "$go" mod download

# 2. Schema.
run "building pulumi-tfgen-docker" "$work/build-tfgen.log" \
  in_dir "$src" "$go" build "${BUILD_FLAGS[@]}" -o "$work/bin/pulumi-tfgen-docker" ./cmd/pulumi-tfgen-docker
rm -rf "$work/schema"
run "generating schema.json" "$work/tfgen.log" \
  "$work/bin/pulumi-tfgen-docker" schema --out "$work/schema" --skip-docs --skip-examples
schema=$work/schema/schema.json
[[ -s $schema ]] || die "tfgen wrote no $schema (see $work/tfgen.log)"
# The schema's version is the one the engine sees in GetSchema.
python3 - "$schema" "$src/cmd/pulumi-resource-docker/schema-embed.json" "$VERSION" <<'PY'
import json, sys
schema = json.load(open(sys.argv[1]))
schema["version"] = sys.argv[3]
json.dump(schema, open(sys.argv[2], "w"), indent=2, sort_keys=True)
PY

# The SDK's wire names must all be in the schema (see check_schema_names.py).
# Needs a Python with pulumi_docker: the project's venv when it exists.
py=${PYTHON:-$here/../../.venv/bin/python}
if [[ -x $py ]] && "$py" -c 'import pulumi_docker' 2>/dev/null; then
  "$py" "$here/../check_schema_names.py" docker "$schema" >"$work/check-schema-names.log" 2>&1 || {
    grep -v '^extra\|^note' "$work/check-schema-names.log" >&2
    die "the schema does not match the pulumi_docker SDK (full report: $work/check-schema-names.log)"
  }
  log "schema matches the pulumi_docker SDK: $(tail -n1 "$work/check-schema-names.log")"
else
  log "no Python with pulumi_docker ($py): skipped check_schema_names.py"
fi

# 3. The plugin.
run "building pulumi-resource-docker" "$work/build-provider.log" \
  in_dir "$src" "$go" build "${BUILD_FLAGS[@]}" -o "$work/bin/pulumi-resource-docker" ./cmd/pulumi-resource-docker
tmp=$out/.pulumi-resource-docker.tmp.$$
cp "$work/bin/pulumi-resource-docker" "$tmp"
mv -f "$tmp" "$out/pulumi-resource-docker"
printf '%s\n' "$stamp" >"$work/stamp"
log "built $out/pulumi-resource-docker ($VERSION); schema: $schema"
