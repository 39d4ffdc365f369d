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

if [[ $# -lt 1 ]]; then
  sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
  exit 2
fi
ensure_venv requirements.txt
ensure_pulumi
exec .venv/bin/python -m service_infra recover --stack "$1" "${@:2}"
