#!/usr/bin/env bash
# Pin the tag and digest staging runs (its live release, healthy now) into Pulumi.prod.yaml, and
# print the diff for a pull request. Deploys nothing; prod's `up` then runs exactly those bits.
#
#   scripts/promote.sh SERVICE [--from STACK] [--to STACK]
#
# Needs no passphrase: reads the source stack's state as exported and sets plain values (see
# service_infra/cli/promote.py).
set -euo pipefail
source "$(dirname "$0")/common.sh"
cd "$ROOT"

operator_command "$0" "$#" 1 promote --service "${1:-}" "${@:2}"
