#!/usr/bin/env bash
# Make a stand-in for a Dockerfile's base image from Debian packages, on a machine that cannot
# pull it (no registry reachable). scripts/build-example-image.sh calls it only then; the
# Dockerfiles stay the one recipe and build on top of it unchanged.
#
#   scripts/make-base-image.sh BASE_REF
#
# Known bases (what examples/*/Dockerfile start FROM), both Debian bookworm like the official ones:
#   debian:bookworm-slim   debootstrap --variant=minbase
#   python:3.11-slim       the same plus Debian's python3 (3.11), pip, `python` and CA certificates;
#                          pip may install system-wide, as in the official image
# The image is imported under BASE_REF with the label dev.service-infra.base=from-debian-packages, and
# trusts the CA certificates this machine trusts (a mirror or proxy the machine reaches through
# TLS is reached from the build the same way).
#
# The root filesystem is cached as a tarball under
#   ${SERVICE_INFRA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/service-infra}/rootfs/
# keyed by suite, variant, architecture and package list: the first run needs root (debootstrap,
# a minute or more); later runs only import (seconds).
#
# Environment: SERVICE_INFRA_CACHE (above), DEBOOTSTRAP_MIRROR (else the mirror of APT's sources),
# DOCKER_HOST (the engine to import into). Progress goes to stderr.
set -euo pipefail

log() { printf '[make-base-image] %s\n' "$*" >&2; }
die() { printf '[make-base-image] ERROR: %s\n' "$*" >&2; exit 1; }

[[ $# -eq 1 && "$1" != -h && "$1" != --help ]] || { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }
BASE_REF=$1
[[ $(uname -s) == Linux ]] || die "makes $BASE_REF from Debian packages with debootstrap, which needs Linux; pull $BASE_REF instead"

SUITE=bookworm
VARIANT=minbase
case "$BASE_REF" in
  debian:bookworm-slim) PACKAGES="" ;;
  python:3.11-slim) PACKAGES="python3,python3-pip,python-is-python3,ca-certificates" ;;
  *) die "no Debian recipe for $BASE_REF (known: debian:bookworm-slim, python:3.11-slim); pull it instead" ;;
esac
ARCH=$(dpkg --print-architecture 2>/dev/null || echo amd64)
CACHE_ROOT=${SERVICE_INFRA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/service-infra}
ROOTFS_CACHE="$CACHE_ROOT/rootfs"
KEY=$(printf '%s|%s|%s|%s|v2' "$SUITE" "$VARIANT" "$ARCH" "$PACKAGES" | sha256sum | cut -c1-16)
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
  log "debootstrap $SUITE ($VARIANT, $ARCH) ${PACKAGES:+with $PACKAGES }from $mirror (first run only; takes a while)"
  local t0=$SECONDS
  if ! debootstrap --variant="$VARIANT" --arch="$ARCH" ${PACKAGES:+--include="$PACKAGES"} \
      "$SUITE" "$work/root" "$mirror" >"$work/debootstrap.log" 2>&1; then
    tail -n 30 "$work/debootstrap.log" >&2 || true
    [[ -f "$work/root/debootstrap/debootstrap.log" ]] && tail -n 30 "$work/root/debootstrap/debootstrap.log" >&2
    die "debootstrap failed (see above)"
  fi
  # As in the official python image: pip installs into the image's Python.
  rm -f "$work/root"/usr/lib/python3*/EXTERNALLY-MANAGED
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
fi

STAGE=$(mktemp -d "${TMPDIR:-/tmp}/si-base.XXXXXX")
trap 'rm -rf "$STAGE"' EXIT
cp --reflink=auto "$BASE_TAR" "$STAGE/base.tar"
if [[ -s /etc/ssl/certs/ca-certificates.crt && -n "$PACKAGES" ]]; then
  # This machine's trust store in place of Debian's stock bundle (docker import refuses a path
  # twice, so the stock one leaves the copy first).
  mkdir -p "$STAGE/fs/etc/ssl/certs"
  cp /etc/ssl/certs/ca-certificates.crt "$STAGE/fs/etc/ssl/certs/ca-certificates.crt"
  tar --delete -f "$STAGE/base.tar" ./etc/ssl/certs/ca-certificates.crt 2>/dev/null || true
  tar -C "$STAGE/fs" --numeric-owner --owner=0 --group=0 -rf "$STAGE/base.tar" ./etc/ssl/certs/ca-certificates.crt
fi
cmd='CMD ["bash"]'
[[ "$BASE_REF" == python:* ]] && cmd='CMD ["python3"]'
log "importing $BASE_REF (from Debian $SUITE packages) into ${DOCKER_HOST:-the default engine}"
docker import -c "ENV LANG=C.UTF-8" -c "LABEL dev.service-infra.base=from-debian-packages" -c "$cmd" \
  -m "service-infra stand-in for $BASE_REF, from Debian packages" "$STAGE/base.tar" "$BASE_REF" >&2
