#!/usr/bin/env bash
# Remove release images from the stack's Docker hosts that no kept release and no container needs.
#
#   scripts/prune-images.sh STACK [--keep N] [--yes]
#
# Lists, per Docker service, the images the program pulled (by digest, untagged) that are not
# among its last N releases (default: all the stack records, 10) and that no container uses;
# removes them with --yes. See service_infra/cli/prune_images.py. Uses the backend and passphrase
# of the environment (PULUMI_BACKEND_URL, PULUMI_CONFIG_PASSPHRASE), as `pulumi up` would.
set -euo pipefail
source "$(dirname "$0")/common.sh"
cd "$ROOT"

operator_command "$0" "$#" 1 prune-images --stack "${1:-}" "${@:2}"
