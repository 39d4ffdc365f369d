#!/usr/bin/env bash
# Finds or builds the MinIO server that tests/integration/test_state_bucket_policy.py runs: a real
# S3 server that evaluates the IAM conditions docs/team.md's state-bucket policies use. No
# package registry ships a MinIO binary, so tools/minio/build.sh builds it from the Go module
# proxy, once, into the cache (keyed by its version and a hash of tools/minio/, as
# scripts/ensure-pulumi.sh keys its source builds). The harness runs this when the test starts.
#
# Usage: scripts/ensure-minio.sh   stdout: MINIO=<the server binary>; progress on stderr
# Env: SERVICE_INFRA_CACHE (default ${XDG_CACHE_HOME:-~/.cache}/service-infra).
set -euo pipefail

root=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
tool=$root/tools/minio
cache=${SERVICE_INFRA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/service-infra}
[[ $cache == /* ]] || cache=$PWD/$cache
cache=$cache/toolchain

die() { printf '[minio] ERROR: %s\n' "$*" >&2; exit 1; }

version=$(sed -n 's/^readonly VERSION=\(v[0-9][0-9A-Za-z.-]*\).*/\1/p' "$tool/build.sh")
[[ -n $version ]] || die "$tool/build.sh declares no 'readonly VERSION=v...'"
if command -v sha256sum >/dev/null 2>&1; then sha256=(sha256sum); else sha256=(shasum -a 256); fi
hash=$(cd "$tool" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 "${sha256[@]}" | "${sha256[@]}")
built=$cache/parts/minio-$version-${hash:0:12}
log=$cache/logs/minio.log

if [[ ! -x $built/minio ]]; then
  mkdir -p "$(dirname "$log")"
  rm -rf -- "$built.tmp"
  echo "[minio] building minio $version (log: $log; ~4 min cold)..." >&2
  t0=$SECONDS
  if ! bash "$tool/build.sh" "$built.tmp" >"$log" 2>&1; then
    tail -n 30 "$log" >&2 || true
    die "building minio $version failed after $((SECONDS - t0))s; full log: $log"
  fi
  [[ -x $built.tmp/minio ]] || die "$tool/build.sh did not produce minio"
  rm -rf -- "$built"
  mv -- "$built.tmp" "$built"
  echo "[minio] built in $((SECONDS - t0))s: $built/minio" >&2
fi
printf 'MINIO=%s\n' "$built/minio"
