#!/usr/bin/env bash
# Every check and test: lint, format, types, the offline stack-file check, unit tests, and the
# integration tests through the real Pulumi engine, Docker, SSH and a registry.
# Installs what it needs (Python packages, the Pulumi engine, Debian's docker.io,
# openssh-server and docker-registry when run as root). Fails if any test is skipped.
#
# Usage: scripts/test.sh [--fast] [PYTEST ARGS...]
#   (none)   everything, what CI runs (.ci/run); the tests in parallel workers (pytest-xdist),
#            SERVICE_INFRA_TEST_WORKERS of them (default 4: the integration tests mostly wait; 1
#            where they must share your Docker engine, e.g. Docker Desktop on a Mac)
#   --fast   lint, format, types, the offline check, and the unit, policy and stand-in tests
#            (no engine, no Docker): the minute or two to run before every commit
set -euo pipefail
source "$(dirname "$0")/common.sh"
cd "$ROOT"

fast=0
if [ "${1:-}" = "--fast" ]; then
  fast=1
  shift
fi

ensure_venv dev
py=.venv/bin/python

log "lint and format (ruff)"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
log "types (pyright)"
.venv/bin/pyright
log "workflows (actionlint; shellcheck checks their run: scripts) and shell scripts (shellcheck)"
command -v shellcheck >/dev/null 2>&1 || ensure_debian_packages shellcheck
go run github.com/rhysd/actionlint/cmd/actionlint@v1.7.12 .github/workflows/*.yml
shellcheck -x -S warning scripts/*.sh tools/offline-pulumi/*.sh tools/offline-pulumi/*/build.sh tools/minio/build.sh
if [ "$fast" -eq 0 ]; then
  log "Go tests of the offline Pulumi build (our command provider and language-host launcher)"
  for module in tools/offline-pulumi/provider-command tools/offline-pulumi/language-python/launcher; do
    (cd "$module" && GOFLAGS=-mod=readonly go test -count=1 ./...)
  done
fi
log "offline check of the stack files"
$py -m service_infra check Pulumi.*.yaml

if [ "$fast" -eq 1 ]; then
  log "unit, policy and stand-in tests"
  paths=(tests/unit tests/policy tests/fakes examples/service/tests)
  workers=2
else
  log "tests"
  paths=()
  workers="${SERVICE_INFRA_TEST_WORKERS:-}"
  if [ -z "$workers" ]; then
    workers=4
    # Parallel workers each need an engine of their own (their stacks' names are fixed): a private
    # dockerd (root on Linux), never the one Docker Desktop or a system dockerd serves.
    if [ "${SERVICE_INFRA_TEST_PRIVATE_DOCKERD:-}" != 1 ] && docker info >/dev/null 2>&1; then
      if [ "$(uname -s)" = Linux ] && [ "$(id -u)" -eq 0 ]; then
        export SERVICE_INFRA_TEST_PRIVATE_DOCKERD=1
      else
        log "your Docker engine answers and no private one can start here: the tests run one at a time on it"
        workers=1
      fi
    fi
  fi
fi
[ "$workers" -gt 1 ] || workers=0 # one worker: in this process, without pytest-xdist
# -rs lists skips; --strict-markers catches typos. A skipped test fails the run below.
report="$(mktemp)"
trap 'rm -f "$report"' EXIT
set +e
# --maxschedchunk 1: each worker is handed a test or two at a time, not a long run of consecutive
# ones (which gave one worker every integration test).
$py -m pytest -q -rs --strict-markers --junitxml "$report" -n "$workers" --maxschedchunk 1 ${paths[@]+"${paths[@]}"} "$@"
status=$?
set -e
skipped="$($py - "$report" <<'PY'
import sys, xml.etree.ElementTree as ET
print(sum(int(s.get("skipped", 0)) for s in ET.parse(sys.argv[1]).getroot().iter("testsuite")))
PY
)"
if [ "$status" -eq 0 ] && [ "$skipped" != "0" ]; then
  log "FAILED: $skipped test(s) skipped; every test must run (see the skip reasons above)"
  exit 1
fi
exit "$status"
