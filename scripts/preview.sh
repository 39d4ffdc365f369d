#!/usr/bin/env bash
# A pull request's preview environment, the stack pr-N made from Pulumi.preview.yaml (what the
# workflow preview-environment.yml runs; docs/delivery.md#preview-environments).
#
#   scripts/preview.sh list [--json]            the previews, their slots and ages
#   scripts/preview.sh open N [--comment FILE]  make or update pr-N and deploy it
#   scripts/preview.sh close N                  destroy pr-N and remove its stack
#   scripts/preview.sh reap [--open N,M]        close the expired ones, and those of closed pull requests
#
# open, close and reap need the previews' passphrase (PULUMI_CONFIG_PASSPHRASE) and their state
# identity; list needs neither passphrase nor secrets.
set -euo pipefail
source "$(dirname "$0")/common.sh"
cd "$ROOT"

operator_command "$0" "$#" 1 preview "$@"
