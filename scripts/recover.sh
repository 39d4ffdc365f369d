#!/usr/bin/env bash
# Recover a stack after an update died half-way (killed, timed out, the laptop slept).
#
#   scripts/recover.sh STACK [--force]
#
# Backs up the state, clears the stack's lock only when its holder is gone (or with --force),
# resolves the operations the update left pending against what exists on the Docker hosts,
# refreshes, and ends with the preview of the next `pulumi up` (see service_infra/cli/recover.py).
# Uses the backend and passphrase of the environment (PULUMI_BACKEND_URL, PULUMI_CONFIG_PASSPHRASE).
set -euo pipefail
source "$(dirname "$0")/common.sh"
cd "$ROOT"

operator_command "$0" "$#" 1 recover --stack "${1:-}" "${@:2}"
