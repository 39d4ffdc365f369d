#!/usr/bin/env bash
# Build the example FastAPI service image (examples/service), or the proxy image that fronts
# every Docker service (--proxy: nginx and curl, as examples/proxy/Dockerfile), WITHOUT any
# container registry.
#
#   scripts/build-example-image.sh IMAGE_REF [APP_VERSION]
#   scripts/build-example-image.sh --proxy IMAGE_REF
#
# How: a Debian bookworm root filesystem made with `debootstrap --variant=minbase` that contains
# python3, python3-fastapi, python3-uvicorn, curl and nginx-light (from the Debian mirror configured in this
# machine's APT sources), plus the app in /app, a user `app` (uid/gid 10001) and /data owned by
# 10001, imported with `docker import` into whatever engine DOCKER_HOST points at (default socket
# otherwise). APP_VERSION (default "dev") is baked in as ENV.
#
# The root filesystem is cached as a tarball under
#   ${SERVICE_INFRA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/service-infra}/rootfs/
# keyed by suite, variant, architecture and package list: the first build runs debootstrap (root
# needed, about a minute or more), later builds only append the app and import (seconds).
#
# Environment:
#   SERVICE_INFRA_CACHE   cache root (see above)
#   DEBOOTSTRAP_MIRROR    Debian mirror to use instead of the one read from APT's sources
#   DOCKER_HOST           engine to import into
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
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
APP_SRC="$REPO_ROOT/examples/service/app"
[[ -f "$APP_SRC/main.py" ]] || die "example app not found at $APP_SRC"

command -v docker >/dev/null || die "docker CLI not found on PATH"
# Everything below builds from Debian packages with debootstrap: Linux only.
[[ $(uname -s) == Linux ]] || die "builds its images from Debian packages with debootstrap, which needs Linux; elsewhere build examples/service and examples/proxy with docker build"

SUITE=bookworm
VARIANT=minbase
PACKAGES="python3,python3-fastapi,python3-uvicorn,curl,nginx-light"
ARCH=$(dpkg --print-architecture 2>/dev/null || echo amd64)
APP_UID=10001
APP_GID=10001

CACHE_ROOT=${SERVICE_INFRA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/service-infra}
ROOTFS_CACHE="$CACHE_ROOT/rootfs"
# The user and /data are baked into the cached root filesystem (docker import refuses a tar
# stream that holds the same path twice, so etc/passwd cannot be overridden by appending).
KEY=$(printf '%s|%s|%s|%s|app:%s:%s|/data' "$SUITE" "$VARIANT" "$ARCH" "$PACKAGES" "$APP_UID" "$APP_GID" \
  | sha256sum | cut -c1-16)
BASE_TAR="$ROOTFS_CACHE/$SUITE-$VARIANT-$ARCH-$KEY.tar"

# The Debian mirror configured for APT (deb822 *.sources or one-line *.list), for $SUITE.
apt_mirror() {
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -f "$f" ]] || continue
    # Print the first URI of a stanza whose Suites contain exactly $SUITE.
    awk -v suite="$SUITE" '
      function flush() { if (uri != "" && has_suite && is_deb) { print uri; found = 1; exit } uri = ""; has_suite = 0; is_deb = 0 }
      /^[[:space:]]*$/ { flush(); next }
      /^[[:space:]]*#/ { next }
      tolower($1) == "types:" { for (i = 2; i <= NF; i++) if ($i == "deb") is_deb = 1 }
      tolower($1) == "uris:" { uri = $2 }
      tolower($1) == "suites:" { for (i = 2; i <= NF; i++) if ($i == suite) has_suite = 1 }
      END { if (!found) flush() }
    ' "$f"
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [[ -f "$f" ]] || continue
    # deb [options] URI SUITE COMPONENTS...
    awk -v suite="$SUITE" '
      $1 == "deb" { i = 2; if ($i ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
                    if ($(i + 1) == suite) print $i }
    ' "$f"
  done
}

build_rootfs() {
  [[ $(id -u) -eq 0 ]] || die "no cached root filesystem at $BASE_TAR and building one needs root (debootstrap); run once as root"
  if ! command -v debootstrap >/dev/null; then
    log "installing debootstrap (apt-get)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends debootstrap >&2 \
      || { apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends debootstrap >&2; } \
      || die "could not install debootstrap"
  fi
  local mirror=${DEBOOTSTRAP_MIRROR:-$(apt_mirror | head -n1)}
  [[ -n "$mirror" ]] || die "no Debian mirror for '$SUITE' found in /etc/apt/sources.list*; set DEBOOTSTRAP_MIRROR"
  local work
  work=$(mktemp -d "$ROOTFS_CACHE/.build.XXXXXX")
  # shellcheck disable=SC2064
  trap "rm -rf '$work'" EXIT
  log "debootstrap $SUITE ($VARIANT, $ARCH) with $PACKAGES from $mirror (first build only; takes a while)"
  local t0=$SECONDS
  if ! debootstrap --variant="$VARIANT" --arch="$ARCH" --include="$PACKAGES" \
      "$SUITE" "$work/root" "$mirror" >"$work/debootstrap.log" 2>&1; then
    tail -n 30 "$work/debootstrap.log" >&2 || true
    [[ -f "$work/root/debootstrap/debootstrap.log" ]] && tail -n 30 "$work/root/debootstrap/debootstrap.log" >&2
    die "debootstrap failed (see above)"
  fi
  # The runtime user and its data directory.
  chroot "$work/root" groupadd --gid "$APP_GID" app
  chroot "$work/root" useradd --uid "$APP_UID" --gid "$APP_GID" --no-create-home --home-dir /app \
    --shell /usr/sbin/nologin app
  install -d -m 0755 -o "$APP_UID" -g "$APP_GID" "$work/root/data"
  # Trim what a runtime image does not need.
  rm -rf "$work/root/var/cache/apt/archives/"*.deb "$work/root/var/lib/apt/lists/"* \
         "$work/root/usr/share/doc/"* "$work/root/usr/share/man/"* "$work/root/debootstrap"
  log "debootstrap done in $((SECONDS - t0))s; writing $BASE_TAR"
  tar -C "$work/root" --numeric-owner -cf "$work/rootfs.tar" .
  mv "$work/rootfs.tar" "$BASE_TAR"
  rm -rf "$work"
  trap - EXIT
}

mkdir -p "$ROOTFS_CACHE"
if [[ ! -s "$BASE_TAR" ]]; then
  # Serialise concurrent cold builds of the same root filesystem.
  exec 9>"$BASE_TAR.lock"
  flock 9
  [[ -s "$BASE_TAR" ]] || build_rootfs
  flock -u 9
  exec 9>&-
else
  log "using cached root filesystem $BASE_TAR"
fi

if $PROXY; then
  # The same root filesystem (nginx-light and curl are in it), run as the unprivileged user;
  # service-infra uploads the configuration and passes -c (service_infra/commands/proxy.py).
  log "importing proxy image $IMAGE_REF into ${DOCKER_HOST:-the default engine}"
  docker import \
    -c "USER $APP_UID:$APP_GID" \
    -c "EXPOSE 8080" \
    -c 'CMD ["nginx","-e","stderr","-g","daemon off;"]' \
    -m "service-infra proxy (nginx)" \
    "$BASE_TAR" "$IMAGE_REF" >&2
  log "built $IMAGE_REF"
  echo "$IMAGE_REF"
  exit 0
fi

STAGE=$(mktemp -d "${TMPDIR:-/tmp}/si-image.XXXXXX")
trap 'rm -rf "$STAGE"' EXIT
umask 022

# The app package (as /app/app, root-owned, read-only for the app user) is appended to a copy of
# the cached root filesystem tarball; the base holds no /app, so no path appears twice (docker
# import refuses duplicates: "ApplyLayer duplicates of file paths not supported").
mkdir -p "$STAGE/fs/app"
tar -C "$(dirname "$APP_SRC")" --exclude=__pycache__ --exclude='*.pyc' -cf - app | tar -C "$STAGE/fs/app" -xf -
chmod -R a+rX,go-w "$STAGE/fs/app"
cp --reflink=auto "$BASE_TAR" "$STAGE/image.tar"
tar -C "$STAGE/fs" --numeric-owner --owner=0 --group=0 -rf "$STAGE/image.tar" ./app

log "importing $IMAGE_REF (APP_VERSION=$APP_VERSION) into ${DOCKER_HOST:-the default engine}"
docker import \
  -c "WORKDIR /app" \
  -c "USER $APP_UID:$APP_GID" \
  -c "ENV APP_VERSION=$APP_VERSION" \
  -c "ENV DATA_DIR=/data" \
  -c "ENV PYTHONDONTWRITEBYTECODE=1" \
  -c "ENV PYTHONUNBUFFERED=1" \
  -c "EXPOSE 8000" \
  -c "LABEL org.opencontainers.image.version=$APP_VERSION" \
  -c 'CMD ["python3","-m","uvicorn","app.main:app","--host","0.0.0.0","--port","8000"]' \
  -m "service-infra example service $APP_VERSION" \
  "$STAGE/image.tar" "$IMAGE_REF" >&2
log "built $IMAGE_REF"
echo "$IMAGE_REF"
