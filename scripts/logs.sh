#!/usr/bin/env bash
# A service's logs, every secret value of the stack masked: `docker logs` of its live container
# over the stack's own pinned SSH path, or `fly logs` of its Fly app with the stack's token.
#
#   scripts/logs.sh STACK SERVICE [-f] [--since 10m] [--tail N]
#
# Uses the backend and passphrase of the environment (PULUMI_BACKEND_URL,
# PULUMI_CONFIG_PASSPHRASE): the secret values it masks are read as `pulumi up` reads them (see
# service_infra/cli/logs.py).
set -euo pipefail
source "$(dirname "$0")/common.sh"
cd "$ROOT"

operator_command "$0" "$#" 2 logs --stack "${1:-}" --service "${2:-}" "${@:3}"
