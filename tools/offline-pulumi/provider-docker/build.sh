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
# The steps are those of ../bridged-provider.sh; this part adds one: the upstream
# module (version pinned in go.mod) is copied out of the module cache into the
# build dir as ./upstream, with shim.go.in as upstream/shim/shim.go (the upstream
# provider package is internal).
#
# Env: SERVICE_INFRA_CACHE, GO, PYTHON (see ../bridged-provider.sh),
#      PROVIDER_DOCKER_TIDY=1 (maintenance: `go mod tidy` first, copy go.mod/go.sum back).
set -euo pipefail

NAME=docker
VERSION=5.1.0
BUILD_FLAGS=(-tags no_compose)
STAMP_FILES=(shim.go.in)
readonly UPSTREAM_PATH=github.com/terraform-providers/terraform-provider-docker
# The module proxy serves kreuzwerker's provider only under its GitHub path;
# its go.mod declares the old path above.
readonly UPSTREAM_MODULE=github.com/kreuzwerker/terraform-provider-docker

# shellcheck source-path=SCRIPTDIR source=../bridged-provider.sh
source "$(dirname -- "$0")/../bridged-provider.sh"

# download_json MODULE@VERSION JSONFILE: fetch a module, its `go mod download -json` record to JSONFILE.
download_json() { "$go" mod download -json "$1" >"$2"; }

# The upstream module, at the version go.mod requires (`go mod download` checks it
# against the Go checksum database; go.sum cannot, as go.mod replaces it with the
# local copy).
prepare_sources() {
  local upstream_version dir
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
}

bridged_provider_build "$@"
