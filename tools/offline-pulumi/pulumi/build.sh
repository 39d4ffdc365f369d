#!/usr/bin/env bash
# build.sh OUT_DIR: builds the Pulumi CLI v3.259.0 into OUT_DIR/pulumi from this wrapper
# module (see go.mod). ~5-6 min cold on 2 cores, ~2 GB of Go module and build cache; warm
# (Go build cache filled) well under a minute. Needs Go (on PATH or /usr/local/go/bin/go)
# and the Go module proxy (or a warm module cache). Progress goes to stderr; builds in
# place (go.sum pins every module; nothing in the repo is written).
set -euo pipefail

out=${1:?usage: build.sh OUT_DIR}
here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
mkdir -p "$out"
out=$(cd -- "$out" && pwd)

GO=$(command -v go 2>/dev/null || echo /usr/local/go/bin/go)
[[ -x $GO ]] || { echo "build.sh: Go is not installed (need go >= 1.26)" >&2; exit 1; }

readonly VERSION=v3.259.0
cd "$here"
export CGO_ENABLED=0 GOFLAGS="${GOFLAGS:-} -mod=readonly"
echo "building pulumi $VERSION (go build)" >&2
"$GO" build -trimpath -tags osusergo,grpcnotrace \
  -ldflags "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$VERSION" \
  -o "$out/pulumi.tmp" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
v=$("$out/pulumi.tmp" version)
[[ $v == "$VERSION" ]] || { echo "build.sh: the built pulumi reports '$v', not $VERSION" >&2; exit 1; }
mv -f "$out/pulumi.tmp" "$out/pulumi"
echo "built $out/pulumi ($v)" >&2
