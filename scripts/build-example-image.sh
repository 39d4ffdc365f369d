#!/usr/bin/env bash
# Build the example service image (examples/service/Dockerfile) or the proxy image that fronts
# every Docker service (--proxy: examples/proxy/Dockerfile) with `docker build`, on the engine
# DOCKER_HOST names (the default one otherwise).
#
#   scripts/build-example-image.sh IMAGE_REF [APP_VERSION]
#   scripts/build-example-image.sh --proxy IMAGE_REF
#
# The Dockerfiles are the one recipe. Their base image (FROM) is used as the engine has it, or
# pulled; where it cannot be pulled (a machine without a reachable registry, Linux only), it is
# first made from Debian packages by scripts/make-base-image.sh, and the build then runs on the
# host's network (such engines may run without NAT). APP_VERSION (default "dev") is what the
# service reports as its version.
#
# Progress goes to stderr; on success the image reference is printed on stdout.
set -euo pipefail

log() { printf '[build-example-image] %s\n' "$*" >&2; }
die() { printf '[build-example-image] ERROR: %s\n' "$*" >&2; exit 1; }

PROXY=false
if [[ "${1:-}" == --proxy ]]; then
  PROXY=true
  shift
fi
if [[ $# -lt 1 || $# -gt 2 || "${1:-}" == -h || "${1:-}" == --help ]] || { $PROXY && [[ $# -ne 1 ]]; }; then
  sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
  exit 2
fi
IMAGE_REF=$1
APP_VERSION=${2:-dev}
[[ "$APP_VERSION" =~ ^[A-Za-z0-9._+-]+$ ]] || die "APP_VERSION must match [A-Za-z0-9._+-]+ (got '$APP_VERSION')"

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CONTEXT="$SCRIPT_DIR/../examples/service"
$PROXY && CONTEXT="$SCRIPT_DIR/../examples/proxy"
[[ -f "$CONTEXT/Dockerfile" ]] || die "no Dockerfile in $CONTEXT"
command -v docker >/dev/null || die "docker CLI not found on PATH"

base=$(awk 'toupper($1) == "FROM" { print $2; exit }' "$CONTEXT/Dockerfile")
[[ -n "$base" ]] || die "no FROM line in $CONTEXT/Dockerfile"
build=(docker build)
if docker image inspect "$base" >/dev/null 2>&1; then
  :
elif docker pull "$base" >/dev/null 2>"${TMPDIR:-/tmp}/si-pull.$$"; then
  log "pulled $base"
else
  log "cannot pull $base ($(tr -s '\n' ' ' <"${TMPDIR:-/tmp}/si-pull.$$")); making it from Debian packages"
  "$SCRIPT_DIR/make-base-image.sh" "$base"
fi
rm -f "${TMPDIR:-/tmp}/si-pull.$$"
if [[ $(docker image inspect --format '{{index .Config.Labels "dev.service-infra.base"}}' "$base") == from-debian-packages ]]; then
  build+=(--network host)
fi
# Without the buildx plugin (Debian's docker.io), the engine's own builder.
docker buildx version >/dev/null 2>&1 || export DOCKER_BUILDKIT=0
$PROXY || build+=(--build-arg "APP_VERSION=$APP_VERSION")

log "building $IMAGE_REF from ${CONTEXT#"$SCRIPT_DIR/../"}/Dockerfile on ${DOCKER_HOST:-the default engine}"
"${build[@]}" --quiet --force-rm -t "$IMAGE_REF" "$CONTEXT" >&2
log "built $IMAGE_REF"
echo "$IMAGE_REF"
