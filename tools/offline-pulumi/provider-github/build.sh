#!/usr/bin/env bash
# Builds the Pulumi provider plugin pulumi-resource-github 6.15.0 (the version the
# pulumi_github 6.15.0 Python SDK asks the engine for) into OUT_DIR:
#
#   toolchain/provider-github/build.sh OUT_DIR
#   pulumi plugin install resource github 6.15.0 --file OUT_DIR/pulumi-resource-github
#
# pulumi-github's own provider module is not served by the Go module proxy, so
# this is a bridged provider of our own: pulumi-terraform-bridge v3.137.0 over
# integrations/terraform-provider-github v6.13.0 (the upstream release that
# pulumi-github 6.15.0 bridges), with our ProviderInfo (provider/resources.go)
# reproducing pulumi_github's tokens and property names (../check_schema_names.py
# verifies them against the installed SDK). The upstream provider package
# (github.com/integrations/terraform-provider-github/v6/github) is importable as
# is: no shim, nothing copied out of the module cache. The steps are those of
# ../bridged-provider.sh. A few of the upstream provider's dependencies
# (github.com/bored-engineer/github-conditional-http-transport) are not in the
# checksum database the proxy serves: their hashes come from the committed go.sum.
#
# Env: SERVICE_INFRA_CACHE, GO, PYTHON (see ../bridged-provider.sh),
#      PROVIDER_GITHUB_TIDY=1 (maintenance: `go mod tidy` first, copy go.mod/go.sum back).
set -euo pipefail

NAME=github
VERSION=6.15.0
BUILD_FLAGS=()
STAMP_FILES=()

# shellcheck source-path=SCRIPTDIR source=../bridged-provider.sh
source "$(dirname -- "$0")/../bridged-provider.sh"

bridged_provider_build "$@"
