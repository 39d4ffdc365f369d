#!/usr/bin/env bash
# build.sh OUT_DIR: builds the Python language host for Pulumi CLI v3.259.0 into OUT_DIR:
#   OUT_DIR/pulumi-language-python              our launcher (launcher/, its own module)
#   OUT_DIR/pulumi-language-python-exec         the Python side, from sdk/v3 v3.259.0
#   OUT_DIR/python-host/pulumi-language-python  the host from sdk/v3 v3.79.0
# See go.mod for why. Needs Go (on PATH or /usr/local/go/bin/go) and the Go module proxy
# (or a warm module cache). Output and progress go to stderr; builds in place (go.sum pins
# every module; nothing in the repo is written).
set -euo pipefail

out=${1:?usage: build.sh OUT_DIR}
here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
mkdir -p "$out/python-host"
out=$(cd -- "$out" && pwd)

GO=$(command -v go 2>/dev/null || echo /usr/local/go/bin/go)
[[ -x $GO ]] || { echo "build.sh: Go is not installed (need go >= 1.26)" >&2; exit 1; }

# The Python script the host runs the program with: the one released with the Python
# SDK we use (pulumi==3.259.0). It accepts every argument the v3.79.0 host passes.
readonly EXEC_SDK=github.com/pulumi/pulumi/sdk/v3@v3.259.0
readonly EXEC_SHA256=f33d1a121a49d5b042b472990f56de858a35ec12a7f9c67e620519fd86c8a37d

cd "$here"
export CGO_ENABLED=0 GOFLAGS="${GOFLAGS:-} -mod=readonly"
echo "building the v3.79.0 host (go build)" >&2
"$GO" build -trimpath -tags osusergo,grpcnotrace \
  -ldflags "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v3.79.0" \
  -o "$out/python-host/pulumi-language-python.tmp" github.com/pulumi/pulumi/sdk/v3/python/cmd/pulumi-language-python
echo "testing and building the launcher" >&2
(cd launcher && "$GO" test -count=1 . >&2 && "$GO" build -trimpath -o "$out/pulumi-language-python.tmp" .)

# go mod download checks the module against the Go checksum database; the hash below
# pins the one file we take from it.
tmp=$(mktemp -d)
trap 'rm -rf -- "$tmp"' EXIT
dir=$(cd "$tmp" && GOFLAGS=-mod=mod "$GO" mod download -json "$EXEC_SDK" |
  sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')
script=$dir/python/cmd/pulumi-language-python-exec
[[ -f $script ]] || { echo "build.sh: no pulumi-language-python-exec in $EXEC_SDK ($dir)" >&2; exit 1; }
echo "$EXEC_SHA256  $script" | sha256sum -c --quiet - >&2 ||
  { echo "build.sh: $script does not have the pinned sha256" >&2; exit 1; }
install -m 755 "$script" "$out/pulumi-language-python-exec"

mv -f "$out/python-host/pulumi-language-python.tmp" "$out/python-host/pulumi-language-python"
mv -f "$out/pulumi-language-python.tmp" "$out/pulumi-language-python"
echo "built $out/pulumi-language-python (+ -exec, python-host/)" >&2
