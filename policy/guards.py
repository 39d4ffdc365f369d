"""service-infra-guards: the rules every stack of service-infra is checked against.

The policies read resource properties as the engine passes them to a policy pack: the Pulumi
wire names (camelCase: ``logOpts``, ``healthcheck.tests``, ``deploymentBranchPolicy``), with
values that are not known yet during a preview left out of the check rather than guessed at.

Where a stack is prod, every policy is mandatory (a violation stops ``pulumi preview`` and
``pulumi up``); elsewhere it is advisory (a warning). The pack learns the stack from the
engine's ``ConfigureStack`` call (stack name and configuration), which pulumi_policy 1.21
receives but drops, so ``install_stack_configuration`` keeps it; a host that instead sets
``PULUMI_STACK`` and ``PULUMI_CONFIG`` is read the same way. The stack is prod when its
``service-infra:environment`` is ``prod``, or, without that key, when the stack is named
``prod``. See ``Target`` and ``LiveTarget``.

This module uses only the Python standard library and ``pulumi_policy``, so tests import it
without running the pack (``__main__.py`` serves it to the engine).
"""

from __future__ import annotations

import json
import math
import re
import shlex
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi_policy.policy as _policy_runtime
from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyResource,
    ReportViolation,
    ResourceValidation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Secret,
    Severity,
    StackValidation,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import (
    UNKNOWN_ARCHIVE_VALUE,
    UNKNOWN_ARRAY_VALUE,
    UNKNOWN_ASSET_VALUE,
    UNKNOWN_BOOLEAN_VALUE,
    UNKNOWN_NUMBER_VALUE,
    UNKNOWN_OBJECT_VALUE,
    UNKNOWN_STRING_VALUE,
    UnknownValueError,
)

PACK_NAME = "service-infra-guards"
PROJECT = "service-infra"
ENVIRONMENT_KEY = f"{PROJECT}:environment"
PROD = "prod"

REMOTE_IMAGE = "docker:index/remoteImage:RemoteImage"
CONTAINER = "docker:index/container:Container"
COMMAND = "command:local:Command"
GITHUB_ENVIRONMENT = "github:index/repositoryEnvironment:RepositoryEnvironment"
GITHUB_BRANCH_POLICY = "github:index/repositoryEnvironmentDeploymentPolicy:RepositoryEnvironmentDeploymentPolicy"
GITHUB_ENVIRONMENT_VARIABLE = "github:index/actionsEnvironmentVariable:ActionsEnvironmentVariable"
GITHUB_VARIABLE = "github:index/actionsVariable:ActionsVariable"

PRODUCTION_ENVIRONMENT = "production"
RESTART_POLICY = "unless-stopped"
LOG_CAPS = ("max-size", "max-file")
FLYCTL_OPERATION = "service_infra.ops.fly"


# --- which stack the pack runs for ---------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """The stack the engine runs the pack for, and whether it counts as prod."""

    stack: str | None
    environment: str | None

    @property
    def is_prod(self) -> bool:
        if self.environment:
            return self.environment == PROD
        return self.stack == PROD

    @property
    def enforcement_level(self) -> EnforcementLevel:
        return EnforcementLevel.MANDATORY if self.is_prod else EnforcementLevel.ADVISORY

    def describe(self) -> str:
        return f"stack {self.stack or '(unknown)'}, environment {self.environment or '(unset)'}"

    @classmethod
    def from_config(cls, stack: str | None, config: Mapping[str, Any]) -> Target:
        """The stack's name and configuration (secure values decrypted: only the environment
        key is read, and nothing from the configuration is ever kept or printed)."""
        value = config.get(ENVIRONMENT_KEY)
        environment = value if isinstance(value, str) and value else None
        return cls(stack=stack or None, environment=environment)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Target:
        """Reads PULUMI_STACK and PULUMI_CONFIG (the configuration as JSON), where a language
        host passes the stack to a policy pack process that way."""
        config: Any = {}
        raw = environ.get("PULUMI_CONFIG")
        if raw:
            try:
                config = json.loads(raw)
            except ValueError:
                config = {}
        return cls.from_config(environ.get("PULUMI_STACK"), config if isinstance(config, dict) else {})


class LiveTarget:
    """The stack the pack is checking right now: where the engine's ConfigureStack call puts it.

    The pack object is built before the engine says which stack it analyzes, so the policies
    hold this and ask it at check time instead of holding a fixed Target.
    """

    def __init__(self, initial: Target) -> None:
        self.current = initial

    @property
    def is_prod(self) -> bool:
        return self.current.is_prod


# pulumi_policy keeps the pack's level in a name-mangled attribute of its servicer.
_PACK_LEVEL_ATTRIBUTE = "_PolicyAnalyzerServicer__policy_pack_enforcement_level"


def install_stack_configuration(live: LiveTarget) -> None:
    """Make the engine's ConfigureStack call decide which stack (and so which level) applies.

    The Pulumi CLI tells a policy pack its stack through the ``ConfigureStack`` RPC (stack name,
    configuration), after ``GetAnalyzerInfo`` and before any ``Analyze``. pulumi_policy 1.21
    keeps only the stack's tags from it. This wraps the SDK's handler so that it also sets
    ``live.current`` and the pack's enforcement level (mandatory in prod, advisory elsewhere),
    which every violation then reports. Fails loudly if the SDK's servicer changed shape, rather
    than letting prod checks silently become advisory.
    """
    servicer = getattr(_policy_runtime, "_PolicyAnalyzerServicer", None)
    original = getattr(servicer, "ConfigureStack", None)
    original = getattr(original, "_service_infra_original", original)  # installing again replaces
    if servicer is None or original is None:
        raise RuntimeError(
            "pulumi_policy.policy._PolicyAnalyzerServicer.ConfigureStack is gone: the stack hook "
            "needs updating for this pulumi-policy version"
        )

    def configure_stack(self: Any, request: Any, context: Any) -> Any:
        if not hasattr(self, _PACK_LEVEL_ATTRIBUTE):
            raise RuntimeError(
                f"pulumi_policy's servicer has no {_PACK_LEVEL_ATTRIBUTE}: the stack hook needs "
                "updating for this pulumi-policy version"
            )
        live.current = Target.from_config(request.stack, dict(request.config))
        setattr(self, _PACK_LEVEL_ATTRIBUTE, live.current.enforcement_level)
        return original(self, request, context)

    configure_stack._service_infra_original = original  # type: ignore[attr-defined]
    servicer.ConfigureStack = configure_stack


# --- reading properties --------------------------------------------------------------------------


class _Unknown:
    """A value the engine does not know yet (a preview of something not yet created)."""

    _instance: _Unknown | None = None

    def __new__(cls) -> _Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN = _Unknown()
_UNKNOWN_SENTINELS = frozenset(
    {
        UNKNOWN_ARCHIVE_VALUE,
        UNKNOWN_ARRAY_VALUE,
        UNKNOWN_ASSET_VALUE,
        UNKNOWN_BOOLEAN_VALUE,
        UNKNOWN_NUMBER_VALUE,
        UNKNOWN_OBJECT_VALUE,
        UNKNOWN_STRING_VALUE,
    }
)


def plain(value: Any) -> Any:
    """Properties as plain dicts and lists: unknowns become UNKNOWN, secrets stay `Secret`.

    The SDK hands policies proxies that raise on an unknown value; reading through this once
    lets a policy skip what it cannot know instead of failing the whole check.
    """
    if isinstance(value, Secret):
        return value
    if isinstance(value, str):
        return UNKNOWN if value in _UNKNOWN_SENTINELS else value
    if isinstance(value, Mapping):
        result: dict[str, Any] = {}
        for key in list(value):
            try:
                item = value[key]
            except UnknownValueError:
                item = UNKNOWN
            result[str(key)] = plain(item)
        return result
    if isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
        items: list[Any] = []
        for index in range(len(value)):
            try:
                item = value[index]
            except UnknownValueError:
                item = UNKNOWN
            items.append(plain(item))
        return items
    return value


def _props(args: ResourceValidationArgs | PolicyResource) -> dict[str, Any]:
    props = plain(args.props)
    return props if isinstance(props, dict) else {}


def _label(resource_type: str, name: str) -> str:
    short = resource_type.rsplit(":", 1)[-1]
    return f"{short} '{name}'"


# --- secrets as markers instead of plaintext -----------------------------------------------------

_SECRET_SIG_KEY = "4dabf18193072939515e22adb298388d"
_SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"


def _mark_secrets(value: Any, deserialize: Callable[..., Any]) -> Any:
    if isinstance(value, dict):
        if value.get(_SECRET_SIG_KEY) == _SECRET_SIG:
            inner = _mark_secrets(value.get("value"), deserialize)
            return Secret(deserialize({"value": inner})["value"])
        return {key: _mark_secrets(item, deserialize) for key, item in value.items()}
    if isinstance(value, list):
        return [_mark_secrets(item, deserialize) for item in value]
    return value


def install_secret_markers() -> None:
    """Let policies tell a Pulumi secret from a plaintext value.

    pulumi_policy (1.21) unwraps every secret to its plaintext before a resource or stack
    validation sees it, so ``envs`` built with ``Output.secret`` looks exactly like a
    plaintext list. This wraps the SDK's property decoding (for validations only; remediation
    keeps its own secret handling) so that a secret arrives as a ``pulumi_policy.Secret``
    holding the value: the secrets policy skips those, and nothing else reads them.
    Idempotent. Fails loudly if the SDK no longer decodes where this expects, rather than
    letting every secret look like plaintext.
    """
    original = getattr(_policy_runtime, "deserialize_properties", None)
    if original is None or not callable(original):
        raise RuntimeError(
            "pulumi_policy.policy.deserialize_properties is gone: the secret-marker hook needs "
            "updating for this pulumi-policy version"
        )
    if getattr(original, "_service_infra_secret_markers", False):
        return

    def deserialize_properties(props: dict[str, Any], proxy_secrets: bool = False) -> Any:
        if proxy_secrets:
            return original(props, True)
        return original(_mark_secrets(props, original))

    deserialize_properties._service_infra_secret_markers = True  # type: ignore[attr-defined]
    _policy_runtime.deserialize_properties = deserialize_properties  # type: ignore[assignment]


# --- images pinned -------------------------------------------------------------------------------


def image_problem(ref: str) -> str | None:
    """Why an image reference is not pinned, or None when it is (a tag other than latest, or a digest)."""
    if ref.startswith("sha256:"):
        return None  # an image id: immutable
    name, _, digest = ref.partition("@")
    if digest:
        return None
    last = name.rsplit("/", 1)[-1]
    if ":" not in last:
        return f"'{ref}' has no tag, so Docker resolves it to :latest"
    tag = last.rsplit(":", 1)[1]
    if not tag:
        return f"'{ref}' has an empty tag"
    if tag == "latest":
        return f"'{ref}' uses the mutable tag :latest"
    return None


def flyctl_operation(create: Any) -> tuple[str, list[str]] | None:
    """The `python3 -m service_infra.ops.fly <operation> ...` a Fly command resource runs, if it is one."""
    if not isinstance(create, str) or FLYCTL_OPERATION not in create:
        return None
    words = _split(create)
    for index, word in enumerate(words):
        if word == FLYCTL_OPERATION and index + 1 < len(words):
            return words[index + 1], words[index + 2 :]
    return None


def _flag_value(words: Sequence[str], flag: str) -> str | None:
    for index, word in enumerate(words):
        if word == flag:
            return words[index + 1] if index + 1 < len(words) else ""
        if word.startswith(flag + "="):
            return word.split("=", 1)[1]
    return None


def _split(command: str) -> list[str]:
    try:
        return shlex.split(command)
    except ValueError:
        return command.split()


def images_pinned_findings(args: ResourceValidationArgs) -> Iterator[str]:
    props = _props(args)
    label = _label(args.resource_type, args.name)
    if args.resource_type == REMOTE_IMAGE:
        ref = props.get("name")
        if isinstance(ref, str):
            problem = image_problem(ref)
            if problem:
                yield (
                    f"{label}: image {problem}. Pin it: set service-infra:services.<service>.tag to an "
                    "immutable tag (prod: sha-<hash>)."
                )
    elif args.resource_type == CONTAINER:
        ref = props.get("image")
        if isinstance(ref, str):
            problem = image_problem(ref)
            if problem:
                yield (
                    f"{label}: image {problem}. Run the image id of a pinned RemoteImage "
                    "(image=remote_image.image_id), or a ref with an immutable tag or digest."
                )
    elif args.resource_type == COMMAND:
        operation = flyctl_operation(props.get("create"))
        if operation is None or operation[0] != "release":
            return
        image = _flag_value(operation[1], "--image")
        if image is None or image == "":
            yield f"{label}: the Fly release has no --image; release a pinned image (--image <repo>:sha-<hash>)."
            return
        problem = image_problem(image)
        if problem:
            yield (
                f"{label}: the Fly release image {problem}. Set service-infra:services.<service>.tag to an "
                "immutable tag (prod: sha-<hash>)."
            )


# --- containers: healthcheck, restart policy, capped logs ----------------------------------------


def container_runtime_findings(args: ResourceValidationArgs) -> Iterator[str]:
    if args.resource_type != CONTAINER:
        return
    props = _props(args)
    label = _label(args.resource_type, args.name)

    healthcheck = props.get("healthcheck")
    if healthcheck is not UNKNOWN:
        tests = healthcheck.get("tests") if isinstance(healthcheck, dict) else None
        if tests is not UNKNOWN:
            if not isinstance(tests, list) or not tests:
                yield (
                    f"{label}: no healthcheck. Give the container a healthcheck with a test command "
                    "(healthcheck.tests, e.g. ['CMD', 'curl', '-fsS', 'http://127.0.0.1:<port>/health'])."
                )
            elif tests[0] == "NONE":
                yield f"{label}: the healthcheck is disabled (tests ['NONE']). Give it a real test command."

    restart = props.get("restart")
    if restart is not UNKNOWN and restart != RESTART_POLICY:
        shown = "unset" if restart is None else f"'{restart}'"
        yield f"{label}: restart policy is {shown}. Set restart='{RESTART_POLICY}'."

    log_opts = props.get("logOpts")
    if log_opts is not UNKNOWN:
        opts = log_opts if isinstance(log_opts, dict) else {}
        missing = [key for key in LOG_CAPS if opts.get(key) in (None, "")]
        if missing:
            yield (
                f"{label}: logs are not capped (log_opts lacks {', '.join(missing)}). Set "
                "log_opts={'max-size': '10m', 'max-file': '3'}."
            )


# --- the production GitHub environment -----------------------------------------------------------


def _reviewer_count(reviewers: Any) -> int:
    if reviewers is UNKNOWN:
        return 1  # resolved at deploy time: cannot be shown to be missing
    count = 0
    for entry in reviewers if isinstance(reviewers, list) else []:
        if entry is UNKNOWN:
            return max(count, 1)
        if not isinstance(entry, dict):
            continue
        for key in ("users", "teams"):
            ids = entry.get(key)
            if ids is UNKNOWN:
                count += 1
            elif isinstance(ids, list):
                count += sum(1 for i in ids if i is not None)
    return count


def _branch_policy_set(policy: Any) -> bool | None:
    """True/False, or None when not known yet."""
    if policy is UNKNOWN:
        return None
    if isinstance(policy, list):  # some provider versions pass a one-element list
        policy = policy[0] if policy else None
    if not isinstance(policy, dict):
        return False
    values = [policy.get("protectedBranches"), policy.get("customBranchPolicies")]
    if any(v is True for v in values):
        return True
    if any(v is UNKNOWN for v in values):
        return None
    return False


def production_environment_findings(args: ResourceValidationArgs) -> Iterator[str]:
    if args.resource_type != GITHUB_ENVIRONMENT:
        return
    props = _props(args)
    if props.get("environment") != PRODUCTION_ENVIRONMENT:
        return
    label = _label(args.resource_type, args.name)
    if _reviewer_count(props.get("reviewers")) == 0:
        yield (
            f"{label}: the production environment has no required reviewers. Add at least one under "
            "service-infra:github.environments.production.reviewers (users or teams)."
        )
    if _branch_policy_set(props.get("deploymentBranchPolicy")) is False:
        yield (
            f"{label}: the production environment has no deployment branch policy, so any branch can "
            "deploy. Set service-infra:github.environments.production.branches (e.g. [main])."
        )


def _depends_on(resource: PolicyResource, target: PolicyResource) -> bool:
    deps = list(resource.dependencies)
    for urns in resource.property_dependencies.values():
        deps.extend(urns)
    return any(dep is target or dep.urn == target.urn for dep in deps)


def production_branch_policy_findings(args: StackValidationArgs) -> Iterator[tuple[str, str]]:
    environments = [r for r in args.resources if r.resource_type == GITHUB_ENVIRONMENT]
    policies = [r for r in args.resources if r.resource_type == GITHUB_BRANCH_POLICY]
    for environment in environments:
        props = _props(environment)
        if props.get("environment") != PRODUCTION_ENVIRONMENT:
            continue
        branch_policy = props.get("deploymentBranchPolicy")
        if isinstance(branch_policy, list):
            branch_policy = branch_policy[0] if branch_policy else None
        if isinstance(branch_policy, dict) and branch_policy.get("protectedBranches") is True:
            continue  # deploys limited to protected branches: GitHub allows no custom patterns then
        repository = props.get("repository")
        matching = []
        for policy in policies:
            policy_props = _props(policy)
            policy_env = policy_props.get("environment")
            policy_repo = policy_props.get("repository")
            same_env = policy_env == PRODUCTION_ENVIRONMENT or (
                policy_env is UNKNOWN and _depends_on(policy, environment)
            )
            same_repo = policy_repo == repository or UNKNOWN in (policy_repo, repository)
            if same_env and same_repo:
                matching.append(policy)
        if not matching:
            yield (
                f"{_label(environment.resource_type, environment.name)}: no RepositoryEnvironmentDeploymentPolicy "
                "names a branch that may deploy to production. Set "
                "service-infra:github.environments.production.branches (e.g. [main]).",
                environment.urn,
            )


# --- no plaintext secrets ------------------------------------------------------------------------

# PASSWORD and its kin anywhere in a name; TOKEN, SECRET, CREDENTIALS and KEY as whole words
# (MAX_TOKENS is not a secret; SUPABASE_SERVICE_KEY is). Names that point at or describe a secret
# (..._FILE, ..._URL, ..._NAME, TOKEN_LIMIT) are not secrets themselves.
_SECRET_WORDS = re.compile(
    r"PASSWORD|PASSWD|PASSPHRASE|(?:^|_)(?:TOKEN|SECRET|CREDENTIALS?|PRIVATE_KEY|AUTH)(?:_|$)|(?:^|_)KEY$"
)
_NOT_SECRET_NAME = re.compile(
    r"_(?:FILE|PATH|DIR|URL|URI|NAME|NAMES|ID|ENDPOINT|HOST|HEADER|TYPE|ALGORITHM|TTL|EXPIRY|LENGTH"
    r"|LIMIT|COUNT|SIZE|MAX|MIN|TIMEOUT)$"
    r"|(?:PUBLIC|PUBLISHABLE)_KEY$"
)

_TOKEN_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("a GitHub token", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{22,})")),
    ("a GitLab token", re.compile(r"\bglpat-[A-Za-z0-9_-]{20,}")),
    ("a Slack token", re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}")),
    ("an AWS access key id", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("a Google API key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}")),
    ("an API secret key (sk-...)", re.compile(r"\bsk-(?:proj-|ant-)?[A-Za-z0-9_-]{20,}")),
    ("a Fly.io token", re.compile(r"\bFlyV1\s+f[mo]\d_[A-Za-z0-9_+/=-]{20,}|\bf[mo]2_[A-Za-z0-9_+/=-]{40,}")),
    ("a JSON Web Token", re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")),
    ("a private key", re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")),
    ("a password in a URL", re.compile(r"\b[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@]+@")),
)
_CANDIDATE = re.compile(r"[A-Za-z0-9+/_=-]{32,}")
# Public keys are long, random-looking and not secret (a pinned SSH host key, for one).
_PUBLIC_KEY = re.compile(
    r"\b(?:ssh-(?:ed25519|rsa|dss)|ecdsa-sha2-nistp\d+|sk-ssh-ed25519@openssh\.com) [A-Za-z0-9+/=]+"
)


def is_secret_name(name: str) -> bool:
    upper = name.upper()
    if _NOT_SECRET_NAME.search(upper):
        return False
    return bool(_SECRET_WORDS.search(upper))


def _entropy(text: str) -> float:
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def token_kind(text: str) -> str | None:
    """What a value looks like when it looks like a credential, else None. Never returns the value."""
    for kind, pattern in _TOKEN_PATTERNS:
        if pattern.search(text):
            return kind
    for candidate in _CANDIDATE.findall(_PUBLIC_KEY.sub(" ", text)):
        mixed = (
            any(c.islower() for c in candidate)
            and any(c.isupper() for c in candidate)
            and any(c.isdigit() for c in candidate)
        )
        if mixed and _entropy(candidate) >= 4.2:
            return "a high-entropy token"
    return None


def _is_literal(value: Any) -> bool:
    """A plaintext value worth flagging: set, known, not a Pulumi secret, not a $REFERENCE."""
    return isinstance(value, str) and value != "" and not value.startswith("$")


_ASSIGNMENT = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$", re.DOTALL)
_FLAG = re.compile(r"^--?([A-Za-z0-9][A-Za-z0-9-]*)(?:=(.*))?$", re.DOTALL)
_SECRET_FLAG = re.compile(r"(?:token|password|passwd|passphrase|secret|api-?key|access-?key|private-?key)$", re.I)
_TOML_LINE = re.compile(r'^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*"?([^"\n]*)"?\s*$')


def _command_findings(text: str) -> Iterator[str]:
    words = _split(text)
    for index, word in enumerate(words):
        assignment = _ASSIGNMENT.match(word)
        if assignment and is_secret_name(assignment[1]) and _is_literal(assignment[2]):
            yield f"{assignment[1]} is set to a literal value"
            continue
        flag = _FLAG.match(word)
        if flag and _SECRET_FLAG.search(flag[1]):
            value = flag[2] if flag[2] is not None else (words[index + 1] if index + 1 < len(words) else "")
            if _is_literal(value) and not value.startswith("-"):
                yield f"--{flag[1]} is given a literal value"
    kind = token_kind(text)
    if kind:
        yield f"it contains what looks like {kind}"


def _stdin_findings(text: str) -> Iterator[str]:
    for line in text.splitlines():
        match = _TOML_LINE.match(line)
        if match and is_secret_name(match[1]) and _is_literal(match[2]):
            yield f"{match[1]} is set to a literal value"
    kind = token_kind(text)
    if kind:
        yield f"it contains what looks like {kind}"


def _env_findings(name: str, value: Any) -> Iterator[str]:
    if not _is_literal(value):
        return
    if is_secret_name(name):
        yield f"{name} is set to a literal value"
        return
    kind = token_kind(value)
    if kind:
        yield f"{name} holds what looks like {kind}"


def no_plaintext_secrets_findings(args: ResourceValidationArgs) -> Iterator[str]:
    props = _props(args)
    label = _label(args.resource_type, args.name)
    if args.resource_type == CONTAINER:
        envs = props.get("envs")
        for entry in envs if isinstance(envs, list) else []:
            if not isinstance(entry, str):
                continue  # a Secret, or not known yet
            name, _, value = entry.partition("=")
            for finding in _env_findings(name, value):
                yield (
                    f"{label}: env {finding}, in plaintext. Store it with `pulumi config set --secret "
                    "--path 'secrets.<NAME>'` and list it in service-infra:services.<service>.secret_env."
                )
    elif args.resource_type == COMMAND:
        for field in ("create", "update", "delete"):
            text = props.get(field)
            if isinstance(text, str):
                for finding in _command_findings(text):
                    yield (
                        f"{label}: the {field} command has a secret in plaintext ({finding}). Pass secrets "
                        "on stdin or in `environment` as Pulumi secrets, never in the command line."
                    )
        stdin = props.get("stdin")
        if isinstance(stdin, str):
            for finding in _stdin_findings(stdin):
                yield f"{label}: stdin has a secret in plaintext ({finding}). Wrap it with pulumi.Output.secret."
        environment = props.get("environment")
        if isinstance(environment, dict):
            for name, value in sorted(environment.items()):
                for finding in _env_findings(name, value):
                    yield (
                        f"{label}: environment {finding}, in plaintext. Wrap the environment with pulumi.Output.secret."
                    )
    elif args.resource_type in (GITHUB_ENVIRONMENT_VARIABLE, GITHUB_VARIABLE):
        name = props.get("variableName")
        value = props.get("value")
        if isinstance(name, str):
            for finding in _env_findings(name, value):
                yield (
                    f"{label}: Actions variable {finding}; variables are readable by anyone with read "
                    "access. Make it an Actions secret: move the name from "
                    "service-infra:github.environments.<env>.variables to .secrets."
                )


# --- Fly app and volumes protected in prod -------------------------------------------------------

_PROTECTED_OPERATIONS = {"ensure-app": "app", "ensure-volume": "volume"}


def fly_protected_findings(args: ResourceValidationArgs, target: Target | LiveTarget) -> Iterator[str]:
    if args.resource_type != COMMAND or not target.is_prod:
        return
    operation = flyctl_operation(_props(args).get("create"))
    if operation is None or operation[0] not in _PROTECTED_OPERATIONS:
        return
    if not args.opts.protect:
        what = _PROTECTED_OPERATIONS[operation[0]]
        yield (
            f"{_label(args.resource_type, args.name)}: the Fly {what} is not protected from deletion in prod. "
            "Set service-infra:services.<service>.fly.protect to true (its prod default), so a destroy "
            "or a rename cannot delete it and its data."
        )


# --- the pack ------------------------------------------------------------------------------------

ResourceFindings = Callable[[ResourceValidationArgs], Iterable[str]]
StackFindings = Callable[[StackValidationArgs], Iterable[tuple[str, str]]]


def resource_validation(findings: ResourceFindings) -> ResourceValidation:
    """A validate callback reporting each finding as a violation of the resource validated."""

    def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
        for message in findings(args):
            report(message, None)

    return validate


def stack_validation(findings: StackFindings) -> StackValidation:
    """A validate callback reporting each (message, urn) finding against that resource."""

    def validate(args: StackValidationArgs, report: ReportViolation) -> None:
        for message, urn in findings(args):
            report(message, urn)

    return validate


def policies(target: Target | LiveTarget) -> list[Policy]:
    """Every policy of the pack; each takes the pack's enforcement level (see Target)."""
    return [
        ResourceValidationPolicy(
            name="images-pinned",
            description="Images are pinned: a tag other than latest, or a digest.",
            validate=resource_validation(images_pinned_findings),
            severity=Severity.HIGH,
        ),
        ResourceValidationPolicy(
            name="containers-healthcheck-restart-logs",
            description="Containers have a healthcheck, restart unless-stopped, and capped json logs.",
            validate=resource_validation(container_runtime_findings),
            severity=Severity.MEDIUM,
        ),
        ResourceValidationPolicy(
            name="production-environment-protected",
            description="The production GitHub environment requires a reviewer and limits deploying branches.",
            validate=resource_validation(production_environment_findings),
            severity=Severity.HIGH,
        ),
        StackValidationPolicy(
            name="production-environment-branch-policy",
            description="A deployment branch policy names the branches that may deploy to production.",
            validate=stack_validation(production_branch_policy_findings),
            severity=Severity.HIGH,
        ),
        ResourceValidationPolicy(
            name="no-plaintext-secrets",
            description="No secret in plaintext in container envs, command lines or Actions variables.",
            validate=resource_validation(no_plaintext_secrets_findings),
            severity=Severity.CRITICAL,
        ),
        ResourceValidationPolicy(
            name="fly-volumes-protected",
            description="In prod, the Fly app and its volumes are protected from deletion.",
            validate=resource_validation(lambda args: fly_protected_findings(args, target)),
            severity=Severity.HIGH,
        ),
    ]
