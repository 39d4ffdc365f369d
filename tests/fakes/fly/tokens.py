"""App-scoped deploy tokens, and what flyctl prints when Fly refuses a token an app outside its scope.

`fly tokens create deploy -a <app>` (flyctl v0.4.87 internal/command/tokens/create.go runDeploy) makes a
LimitedAccessToken of profile "deploy" for the app's organization with the option {"app_id": <app>}: a
macaroon that manages that one app (deploys, secrets, volumes, machines) and nothing else. In the state's
`tokens` map such a token is ``{"apps": ["<app>"]}`` instead of a list of org slugs.

Which words a refusal has depends on the first Fly API the command asks about the app:

* the GraphQL API (fly-go v0.9.5 client.go RunWithContext): ``failed to run <query>: <message>``, the query
  compacted by compactQueryString (whitespace runs made one space), the message superfly/graphql's
  GraphQLError.Error(), i.e. the server's. The server's words are in no public source; flyctl v0.4.87
  test/preflight/testlib/test_env.go recognises an authorization refusal by "Not authorized" (a substring
  of what the API sends), and that is all the stand-in prints: GRAPHQL_NOT_AUTHORIZED.
* the Machines API (flaps): fly-go v0.9.5 flaps/flaps.go _sendRequest turns a 4xx into a FlapsError whose
  text is the body's "error" (handleAPIError), and flyctl's cli.printError appends its request id. For a
  401 that text is "unauthorized": fly-go v0.9.5 flaps/flaps_apps.go AppNameAvailable matches exactly
  ``err.Error() == "unauthorized"`` ("app exists, but in an org we do not have access to"), and flyctl
  v0.4.87 internal/command/deploy/machines_releasestatus_test.go fakes a 401 with the body "unauthorized".
  There is no status code in that body, so no suggestion follows (flaps_error.go FlapsError.Suggestion).

The stand-in refuses a name outside the token's apps whether or not such an app exists: the macaroon's app
caveat is checked before anything is looked up, so such a token never learns of another app.

Read at: superfly/flyctl tag v0.4.87 (3eb236fab6a9), superfly/fly-go tag v0.9.5 (c220c1ae5765, the version
flyctl's go.mod requires), superfly/graphql b414ec907c6b (the mirror has no v0.2.6 tag, which fly-go
requires: GraphQLError.Error returns the server's message). The stand-in's "Could not find App" (session.
get_app) prints the server's message without RunWithContext's "failed to run <query>: ", as it always has.
"""

from __future__ import annotations

from .core import FlyError

GRAPHQL_NOT_AUTHORIZED = "Not authorized"  # what flyctl's code matches: all, or the start, of the server's words
FLAPS_UNAUTHORIZED = "unauthorized"  # the text fly-go's code matches for a flaps 401

# fly-go v0.9.5 queries, as compactQueryString leaves them (resource_apps.go, resource_releases.go,
# resource_volumes.go).
GET_APP_COMPACT = (
    "query ($appName: String!) { appcompact:app(name: $appName) { id internalNumericId name hostname cnameTarget "
    "deployed network status appUrl platformVersion organization { id internalNumericId slug paidPlan } "
    "postgresAppRole: role { name } } }"
)
GET_APP_BASIC = (
    "query ($appName: String!) { appbasic:app(name: $appName) { id name platformVersion organization { id "
    "internalNumericId slug rawSlug paidPlan } } }"
)
GET_APP = (
    "query ($appName: String!) { app(name: $appName) { id internalNumericId name hostname deployed status version "
    "appUrl platformVersion currentRelease { evaluationId status inProgress version } config { definition } "
    "organization { id slug paidPlan } services { description protocol internalPort ports { port handlers } } "
    "ipAddresses { nodes { id address type createdAt } } sharedIpAddress cnameTarget imageDetails { registry "
    "repository tag digest version } machines{ nodes { id name config state region createdAt app { name } ips { "
    "nodes { family kind ip maskSize } } host { id } } } postgresAppRole: role { name } } }"
)
GET_APP_RELEASES_MACHINES = (
    "query($appName: String!, $limit: Int!) { app(name: $appName) { releases: releasesUnprocessed(first: $limit) "
    "{ nodes { id version description reason status imageRef stable user { id email name } createdAt } } } }"
)
GET_APP_NAME_FROM_VOLUME = "query($id: ID!) { volume: volume(id: $id) { ... on Volume { app { name } } } }"

# The first question each command (flyctl v0.4.87) asks about its app. GraphQL: the query it runs.
GRAPHQL_FIRST = {
    "secrets import": GET_APP_COMPACT,  # secrets/import.go: GetAppCompact
    "secrets unset": GET_APP_COMPACT,  # secrets/unset.go: GetAppCompact
    "status": GET_APP_COMPACT,  # status/status.go: GetAppCompact (cmd_status adds "failed to get app: ")
    "volumes list": GET_APP_BASIC,  # volumes/list.go: GetAppBasic
    "volumes create": GET_APP_BASIC,  # volumes/create.go: GetAppBasic (after the --yes prompt)
    "volumes extend": GET_APP_BASIC,  # volumes/extend.go: GetAppBasic
    "volumes show": GET_APP_BASIC,  # volumes/show.go: GetAppBasic (GetAppNameFromVolume without an app)
    "volumes destroy": GET_APP_BASIC,  # volumes/destroy.go: likewise
    "apps destroy": GET_APP,  # apps/destroy.go: GetApp
    "apps releases": GET_APP_RELEASES_MACHINES,  # apps/releases.go: GetAppReleasesMachines
    "releases": GET_APP_RELEASES_MACHINES,
}
# Machines API first: what flyctl (or fly-go) wraps the FlapsError in.
FLAPS_FIRST = {
    "deploy": "",  # deploy/deploy.go DeployWithConfig: flapsClient.GetApp, unwrapped
    "apps create": "",  # apps/create.go: prompt.Org (the token's org), then flapsClient.CreateApp, unwrapped
    "secrets list": "failed to list app secrets: ",  # fly-go flaps_secrets.go ListAppSecrets
}


def graphql_refusal(query: str) -> FlyError:
    return FlyError(f"failed to run {query}: {GRAPHQL_NOT_AUTHORIZED}")


def refusal(command: str) -> FlyError:
    """What `fly <command>` prints when an app-scoped token names an app outside its scope."""
    if command in FLAPS_FIRST:
        return FlyError(FLAPS_FIRST[command] + FLAPS_UNAUTHORIZED, request_id=True)
    return graphql_refusal(GRAPHQL_FIRST[command])
