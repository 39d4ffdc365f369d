"""Offline stand-in for flyctl (standard library only), modelled on superfly/flyctl
internal/command/{apps,volumes,secrets,deploy,status} and the superfly/fly-go v0.9.5 types it renders
(the fly-go that flyctl v0.4.87's go.mod requires).
tests/fakes/test_fly_standin.py pins the behaviour. Lines that real flyctl would not print are marked
"[stand-in]".

The executable ``fly`` next to these modules (and its ``flyctl`` symlink) runs :func:`cli.main` with the
machine's ``python3``: command resources call ``fly`` from PATH, outside the virtualenv, so nothing here
imports a third-party package. Modules: ``core`` (errors, output, ids), ``flags`` (pflag parsing),
``session`` (one invocation: state file, auth, fly.toml), ``tokens`` (app-scoped deploy tokens and how Fly
refuses them), ``shapes`` (fly-go JSON), ``apps``, ``volumes``, ``app_secrets``, ``deploy`` and ``cli`` (the
cobra command tree).

Env: FLY_STANDIN_STATE (required) JSON state file, fcntl-locked for the whole invocation.
     FLY_STANDIN_LOG (optional) audit log: one JSON line per invocation with argv, env_token_present,
       token_orgs (the orgs the token belongs to, never the token), token_apps (the apps an app-scoped
       deploy token is limited to; null for an org token), app (the app --app, FLY_APP or the fly.toml
       named), stdin_bytes (bytes read from stdin, never the content), exit_code, ts.
     FLY_ACCESS_TOKEN / FLY_API_TOKEN / -t, FLY_APP, FLY_STANDIN_DEFAULT_REGION (machines without
       primary_region; default iad).
State: orgs {slug: {name, type, member}}; tokens {token: [slug]} (an org token) or {token: {"apps": [app]}}
       (an app-scoped deploy token, of its apps' org; optional: without the map any token works and belongs
       to every org whose member flag is not false); apps {name: {org, status, deployed, network,
       machines, current_release}}; volumes {id: {..., state}} (created, or pending_destroy once destroyed;
       volumes.DESTROYED_STATES: fly-go's soft-deleted states); secrets {app: {NAME: {digest, deployed}}};
       releases {app: [{version, image, strategy, status, config, fly_toml, mounts, http_checks}]};
       regions (optional: replaces the region list, service_infra.contract.FLY_REGIONS);
       private_registries (optional: registry hosts Fly's API cannot pull from, e.g. a private GHCR);
       registry {registry.fly.io/<app>:<label>: {source, id}}: images `deploy --local-only` pushed.
`deploy --local-only` looks images up in the local Docker engine (the `docker` CLI, DOCKER_HOST).
Deploy tokens (``fly tokens create deploy -a <app>``): `apps list` shows only the token's apps, `apps create`
is refused, and so is every command naming another app (--app, FLY_APP, fly.toml, a volume id); its own
apps work as with an org token. A refusal is worded as flyctl v0.4.87 (tag v0.4.87, 3eb236fa) prints what
the API it asks first answers: a GraphQL lookup (secrets import/unset, volumes, apps destroy, releases,
status) ``failed to run <query>: Not authorized`` (fly-go v0.9.5 client.go RunWithContext; the server's
message is in no public source, "Not authorized" is what flyctl's test/preflight/testlib/test_env.go
matches), the Machines API (deploy, apps create, secrets list) ``unauthorized (Request ID: ...)``
(fly-go v0.9.5 flaps/flaps.go handleAPIError, the text flaps/flaps_apps.go AppNameAvailable matches for a
401; flyctl internal/cli/cli.go printError). Details and every file read: the ``tokens`` module.
Secret values are never stored: only sha256 digests (16 hex chars), as `fly secrets list` shows.
An image ref containing "unhealthy" fails its health checks.
"""
