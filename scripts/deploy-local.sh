#!/usr/bin/env bash
# Deploy the `local` stack on a fresh machine: installs what it needs (Python packages, the
# Pulumi engine (official where installed), a Docker engine when none answers and we are root),
# builds the example service and proxy images from their Dockerfiles, runs `pulumi up -s local`,
# and prints the service URL.
# `scripts/deploy-local.sh destroy` tears the local stack down again.
set -euo pipefail
source "$(dirname "$0")/common.sh"
cd "$ROOT"

ensure_venv
ensure_pulumi
"$ROOT/scripts/ensure-docker-engine.sh"

image="service-infra/local-llm-server:dev"  # Pulumi.local.yaml: services.llm-server.image + tag
if ! docker image inspect "$image" >/dev/null 2>&1; then
  log "building $image from examples/service/Dockerfile"
  "$ROOT/scripts/build-example-image.sh" "$image" dev
fi
proxy_image="service-infra/edge-proxy:dev"  # Pulumi.local.yaml: proxy.image + tag
if ! docker image inspect "$proxy_image" >/dev/null 2>&1; then
  log "building $proxy_image from examples/proxy/Dockerfile"
  "$ROOT/scripts/build-example-image.sh" --proxy "$proxy_image"
fi

# State on this machine unless the user points elsewhere; the local stack holds no secrets,
# so the example passphrase is enough unless one is set. metadata=skip: no `.attrs` sidecar
# files, which gocloud's fileblob writes in place, where the program's read of its own stack can
# meet one half-written ("failed to load checkpoint: EOF").
export PULUMI_BACKEND_URL="${PULUMI_BACKEND_URL:-file://${SERVICE_INFRA_STATE:-$HOME/.local/share/service-infra/state}?metadata=skip}"
export PULUMI_CONFIG_PASSPHRASE="${PULUMI_CONFIG_PASSPHRASE-service-infra-example}"
case "$PULUMI_BACKEND_URL" in file://*)
  state_dir="${PULUMI_BACKEND_URL#file://}"
  mkdir -p "${state_dir%%\?*}"
  ;;
esac

pulumi stack select --create local --non-interactive >/dev/null
if [ "${1:-up}" = destroy ]; then
  pulumi destroy --stack local --yes --non-interactive
  exit 0
fi
pulumi up --stack local --yes --non-interactive --diff
url="$(pulumi stack output --stack local service_urls --json | .venv/bin/python -c 'import json,sys; print(json.load(sys.stdin)["llm-server"])')"
echo
echo "llm-server (local) is up: $url/health"
echo "Edit examples/service/app/*.py and the server reloads; tear down with: scripts/deploy-local.sh destroy"
