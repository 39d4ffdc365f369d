#!/usr/bin/env bash
# The stack now, on one screen: each service's host or Fly app, its live release, its health
# (one probe), the live container and the proxy, the volumes, and who holds the stack's lock.
#
#   scripts/status.sh STACK [--json]
#
# Read-only, and needs no passphrase: the settings come from Pulumi.STACK.yaml, the outputs from
# the state (PULUMI_BACKEND_URL), the hosts are asked over the stack's own pinned SSH path.
# Exit 0 when every service answers its health URL, 1 when one does not, 2 when the stack cannot
# be read (see service_infra/cli/status.py).
set -euo pipefail
source "$(dirname "$0")/common.sh"
cd "$ROOT"

operator_command "$0" "$#" 1 status --stack "${1:-}" "${@:2}"
