"""A labelled corpus of credentials and look-alikes, to measure the pack's credential detector.

Every credential here is synthetic: made at import time from a seeded generator in the shape of
the real thing (prefix, alphabet, length), so no file holds a token-shaped literal and no value
ever granted access to anything. The non-secrets are the values this program really passes in
envs, command lines and stdin (image digests, sha- tags, URLs, host keys, ids), where a detector
that cries wolf would make the pack useless.
"""

from __future__ import annotations

import base64
import json
import random
import string
from dataclasses import dataclass

_RANDOM = random.Random(20240611)
ALNUM = string.ascii_letters + string.digits
UPPER_DIGITS = string.ascii_uppercase + string.digits
HEX = "0123456789abcdef"
BASE64 = ALNUM + "+/"
URLSAFE = ALNUM + "-_"


def fake(alphabet: str, length: int) -> str:
    return "".join(_RANDOM.choice(alphabet) for _ in range(length))


def _b64url(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


@dataclass(frozen=True)
class Sample:
    what: str
    text: str
    secret: bool


_PEM = "-----BEGIN {} PRIVATE KEY-----\n" + fake(BASE64, 64) + "\n-----END {} PRIVATE KEY-----"
_HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI" + fake(BASE64, 43)

CREDENTIALS = [
    Sample("AWS access key id", "AKIA" + fake(UPPER_DIGITS, 16), True),
    Sample("AWS temporary key id", "ASIA" + fake(UPPER_DIGITS, 16), True),
    Sample("AWS secret access key", fake(BASE64, 40), True),
    Sample("GitHub classic token", "ghp_" + fake(ALNUM, 36), True),
    # Paths are masked for the entropy heuristics only: a named token behind a slash is still one.
    Sample("GitHub token behind a slash", "TOKEN_FILE=/run/ghp_" + fake(ALNUM, 36), True),
    Sample("GitHub OAuth token", "gho_" + fake(ALNUM, 36), True),
    Sample("GitHub fine-grained token", "github_pat_" + fake(ALNUM, 22) + "_" + fake(ALNUM, 59), True),
    Sample("GitLab token", "glpat-" + fake(URLSAFE, 20), True),
    Sample(
        "Slack bot token",
        "xoxb-" + fake(string.digits, 12) + "-" + fake(string.digits, 13) + "-" + fake(ALNUM, 24),
        True,
    ),
    Sample(
        "Slack user token",
        "xoxp-"
        + fake(string.digits, 12)
        + "-"
        + fake(string.digits, 12)
        + "-"
        + fake(string.digits, 13)
        + "-"
        + fake(HEX, 32),
        True,
    ),
    Sample("RSA private key", _PEM.format("RSA", "RSA"), True),
    Sample("OpenSSH private key", _PEM.format("OPENSSH", "OPENSSH"), True),
    Sample("EC private key", _PEM.format("EC", "EC"), True),
    Sample("PKCS#8 private key", "-----BEGIN PRIVATE KEY-----\n" + fake(BASE64, 64), True),
    Sample(
        "JWT",
        f"{_b64url({'alg': 'HS256', 'typ': 'JWT'})}.{_b64url({'role': 'service_role', 'iss': 'acme'})}.{fake(URLSAFE, 43)}",
        True,
    ),
    Sample("high-entropy base64 (32)", fake(BASE64, 32), True),
    Sample("high-entropy url-safe (48)", fake(URLSAFE, 48), True),
    Sample("high-entropy hex (40)", fake(HEX, 40), True),
    Sample("high-entropy hex (64)", fake(HEX, 64), True),
    Sample("Google API key", "AIza" + fake(URLSAFE, 35), True),
    Sample("OpenAI project key", "sk-proj-" + fake(URLSAFE, 48), True),
    Sample("Anthropic key", "sk-ant-api03-" + fake(URLSAFE, 80), True),
    Sample("Stripe secret key", "sk_live_" + fake(ALNUM, 24), True),
    Sample("npm token", "npm_" + fake(ALNUM, 36), True),
    Sample("PyPI token", "pypi-AgEIcHlwaS5vcmc" + fake(URLSAFE, 60), True),
    Sample("SendGrid key", "SG." + fake(URLSAFE, 22) + "." + fake(URLSAFE, 43), True),
    Sample("Fly.io token", "FlyV1 fm2_" + fake(BASE64, 80), True),
    Sample("password in a database URL", "postgres://app:" + fake(ALNUM, 12) + "@db:5432/app", True),
    Sample("password in an https URL", "https://deploy:" + fake(ALNUM, 16) + "@git.acme.example/acme/app.git", True),
    Sample("token in an Authorization header", "Authorization: Bearer " + fake(URLSAFE, 40), True),
    Sample(
        "token in a command line",
        "curl -H 'Authorization: token ghp_" + fake(ALNUM, 36) + "' https://api.github.com",
        True,
    ),
]

LOOK_ALIKES = [
    Sample("image id", "sha256:" + fake(HEX, 64), False),
    Sample("image ref by digest", "ghcr.io/acme/local-llm-server@sha256:" + fake(HEX, 64), False),
    Sample("sha- tag (short)", "ghcr.io/acme/local-llm-server:sha-" + fake(HEX, 7), False),
    Sample("sha- tag (full)", "ghcr.io/acme/image-descriptor:sha-" + fake(HEX, 40), False),
    Sample("version tag", "nginx-1.22.1-1", False),
    Sample("short container id", "docker logs " + fake(HEX, 12), False),
    Sample("short commit", "git checkout " + fake(HEX, 10), False),
    Sample("https URL", "https://app.acme.example/api/health", False),
    Sample("URL with a user, no password", "ssh://deploy@mac-mini.tailnet.example", False),
    Sample("database URL without password", "postgres://db:5432/app", False),
    Sample("host service URL", "http://host.docker.internal:11434", False),
    Sample("allowed origins", "https://app.acme.example,https://www.acme.example", False),
    Sample("public ssh host key", _HOST_KEY, False),
    Sample("known_hosts line", "mac-mini.tailnet.example " + _HOST_KEY, False),
    # The identity file in the docker command's ssh argv; a temp dir's suffix is random (CI flaked on it).
    Sample("ssh identity file in a temp dir", '["-i", "/tmp/si-sshd-f8k4gm6z/client_ed25519", "-p", "43347"]', False),
    Sample("runner temp path", "/home/runner/work/_temp/" + fake(HEX, 32) + "/deploy_key", False),
    Sample("public ssh rsa key", "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ" + fake(BASE64, 200) + " ops@acme", False),
    Sample(
        "public key PEM", "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE" + fake(BASE64, 52), False
    ),
    Sample("UUID", "123e4567-e89b-12d3-a456-426614174000", False),
    Sample("random UUID", "-".join(fake(HEX, n) for n in (8, 4, 4, 4, 12)), False),
    Sample("model name", "llama3.1:8b", False),
    Sample("number", "4096", False),
    Sample("environment reference", "$FLY_API_TOKEN", False),
    Sample("secret file path", "/run/secrets/api_token", False),
    Sample("volume path", "/var/lib/docker/volumes/service-infra-llm-server-data/_data", False),
    Sample("resource name", "service-infra-llm-server-prod-proxy-network", False),
    Sample("email", "ops@acme.example", False),
    Sample("Stripe publishable key", "pk_live_" + fake(ALNUM, 24), False),
    Sample(
        "Fly operation",
        "python3 -m service_infra.ops.fly ensure-volume --app acme-image-descriptor --name cache_data --region iad --size 1",
        False,
    ),
    Sample(
        "rollout operation",
        "python3 -m service_infra.ops.rollout activate --service llm-server --tag sha-3f9c2a1 --container llm-server-prod-sha-3f9c2a1 --network llm-server-prod --timeout 120",
        False,
    ),
    Sample(
        "health probe",
        "python3 -m service_infra.ops.probe --service llm-server --url http://mac-mini.tailnet.example:8000/health --tries 5",
        False,
    ),
    Sample("healthcheck command", "curl -fsS -o /dev/null http://127.0.0.1:8000/health", False),
    Sample("fly.toml line", 'app = "acme-image-descriptor"', False),
    Sample("docker log option", "max-size=10m", False),
]

CORPUS = CREDENTIALS + LOOK_ALIKES
