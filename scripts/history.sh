#!/usr/bin/env bash
# Each release of the stack, newest first: update number, time, who ran it (the CI run's URL
# when CI ran it), service, tag, digest, and what became of it (live, replaced, failed while the
# running version kept serving, rollback).
#
#   scripts/history.sh STACK [--service NAME] [--json]
#
# Read-only. Uses the backend of the environment (PULUMI_BACKEND_URL) and needs no passphrase,
# as `pulumi stack history` and `pulumi stack export` (see service_infra/cli/history.py).
set -euo pipefail
source "$(dirname "$0")/common.sh"
cd "$ROOT"

operator_command "$0" "$#" 1 history --stack "${1:-}" "${@:2}"
