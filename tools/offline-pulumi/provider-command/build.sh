#!/usr/bin/env bash
# build.sh OUT_DIR: builds our pulumi-resource-command 1.2.1 (this folder; see main.go)
# into OUT_DIR/pulumi-resource-command, after its tests. ~1.5 min cold on 2 cores, seconds
# warm. Needs Go (on PATH or /usr/local/go/bin/go) and the Go module proxy (or a warm
# module cache). Progress goes to stderr; builds in place (go.sum pins every module).
set -euo pipefail

out=${1:?usage: build.sh OUT_DIR}
here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
mkdir -p "$out"
out=$(cd -- "$out" && pwd)

GO=$(command -v go 2>/dev/null || echo /usr/local/go/bin/go)
[[ -x $GO ]] || { echo "build.sh: Go is not installed (need go >= 1.26)" >&2; exit 1; }

readonly VERSION=1.2.1 # = the pulumi-command Python SDK's pulumi-plugin.json
cd "$here"
export CGO_ENABLED=0 GOFLAGS="${GOFLAGS:-} -mod=readonly"
echo "testing the command provider (go test)" >&2
"$GO" test -count=1 ./... >&2
echo "building pulumi-resource-command $VERSION (go build)" >&2
"$GO" build -trimpath -ldflags "-s -w -X main.version=$VERSION" -o "$out/pulumi-resource-command.tmp" .
mv -f "$out/pulumi-resource-command.tmp" "$out/pulumi-resource-command"
echo "built $out/pulumi-resource-command" >&2
