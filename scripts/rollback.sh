#!/usr/bin/env bash
# Roll a service back to its previous known-good tag, found in the stack's update history.
#
#   scripts/rollback.sh STACK SERVICE [--dry-run]
#   scripts/rollback.sh STACK SERVICE --list          # the releases: time, tag, digest, result
#   scripts/rollback.sh STACK SERVICE --to N [--dry-run]   # back to release N of --list
#
# Sets services.SERVICE.tag in Pulumi.STACK.yaml and runs `pulumi up -s STACK` (see
# service_infra/cli/rollback.py for how the tag is chosen). Uses the backend and passphrase of the
# environment (PULUMI_BACKEND_URL, PULUMI_CONFIG_PASSPHRASE), as `pulumi up` would. Commit the
# changed stack file afterwards.
set -euo pipefail
source "$(dirname "$0")/common.sh"
cd "$ROOT"

operator_command "$0" "$#" 2 rollback --stack "${1:-}" --service "${2:-}" "${@:3}"
