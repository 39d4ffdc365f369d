#!/usr/bin/env bash
# build.sh OUT_DIR: builds the MinIO server (github.com/minio/minio at VERSION, a pseudo-version:
# MinIO tags its releases RELEASE.<date>, which the Go module proxy does not list) into
# OUT_DIR/minio, for the state-bucket test (tests/support/harness/minio.py). ~4 min cold on 2
# cores (~200 modules to download, ~1 GB of Go build cache); warm well under a minute. Needs Go
# (on PATH or /usr/local/go/bin/go) and the Go module proxy (or a warm module cache).
# MinIO's go.mod has no replace lines, so `go install module@version` builds it as published:
# its go.sum, checked against the Go checksum database, pins every dependency. Nothing in the
# repo is written.
set -euo pipefail

out=${1:?usage: build.sh OUT_DIR}
mkdir -p "$out"
out=$(cd -- "$out" && pwd)

GO=$(command -v go 2>/dev/null || echo /usr/local/go/bin/go)
[[ -x $GO ]] || { echo "build.sh: Go is not installed (need go >= 1.24)" >&2; exit 1; }

readonly VERSION=v0.0.0-20260212201848-7aac2a2c5b7c
# Outside any module, so that no go.mod around changes what is built.
scratch=$(mktemp -d)
trap 'rm -rf -- "$scratch"' EXIT
cd "$scratch"
export CGO_ENABLED=0 GOBIN="$scratch/bin" GOFLAGS="${GOFLAGS:-} -mod=mod"
echo "building minio $VERSION (go install)" >&2
"$GO" install -trimpath -ldflags "-s -w -X github.com/minio/minio/cmd.CommitID=${VERSION##*-}" \
  "github.com/minio/minio@$VERSION"
"$scratch/bin/minio" --version >&2
mv -f "$scratch/bin/minio" "$out/minio"
echo "built $out/minio" >&2
