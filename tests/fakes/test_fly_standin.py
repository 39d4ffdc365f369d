"""The `fly` stand-in (the tests.fakes.fly package, run as tests/fakes/fly/fly) behaves like flyctl: commands,
flags, JSON shapes and errors."""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from service_infra.contract import FLY_REGIONS
from tests.fakes.fly.app_secrets import parse_secrets
from tests.fakes.fly.cli import LEAF
from tests.fakes.fly.core import VERSION, FlyError, PanicError
from tests.fakes.fly.secret_cases import AFTER, CASES, ENCODINGS, NAME, stdin_for
from tests.fakes.fly.tokens import (
    FLAPS_FIRST,
    GET_APP_BASIC,
    GET_APP_COMPACT,
    GET_APP_NAME_FROM_VOLUME,
    GRAPHQL_FIRST,
)
from tests.fakes.fly.volumes import DESTROYED_STATES, SOFT_DELETE_STATE

FAKES = Path(__file__).parent / "fly"
FLY = str(FAKES / "fly")
SECRET = "s3cr3t-v4lue=with=equals-0f8e1c"

TOML = """app = "{app}"
primary_region = "{region}"

[env]
  MODE = "prod"

[[mounts]]
  source = "data"
  destination = "/data"

[http_service]
  internal_port = 8080
  force_https = true

[[http_service.checks]]
  grace_period = "10s"
  interval = "15s"
  method = "GET"
  timeout = "5s"
  path = "/healthz"
"""


class Fly:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.state = tmp / "state.json"
        self.log = tmp / "audit.jsonl"
        self.env = {
            "PATH": f"{FAKES}{os.pathsep}{os.environ['PATH']}",
            "FLY_STANDIN_STATE": str(self.state),
            "FLY_STANDIN_LOG": str(self.log),
            "FLY_API_TOKEN": "tok-personal",
        }
        self.outputs: list[str] = []

    def __call__(self, *args: str, stdin: str | None = None, cwd: Path | None = None, **env: str | None):
        merged = {**self.env, **env}
        done = subprocess.run(
            [FLY, *args],
            input=stdin,
            stdin=None if stdin is not None else subprocess.DEVNULL,
            capture_output=True,
            text=True,
            cwd=cwd or self.tmp,
            env={k: v for k, v in merged.items() if v is not None},
            check=False,
            timeout=30,
        )
        self.outputs += [done.stdout, done.stderr]
        return done

    def ok(self, *args: str, **kw):
        done = self(*args, **kw)
        assert done.returncode == 0, done.stderr
        return done

    def json(self, *args: str, **kw):
        return json.loads(self.ok(*args, **kw).stdout)

    def fail(self, *args: str, **kw) -> str:
        done = self(*args, **kw)
        assert done.returncode == 1, (done.stdout, done.stderr)
        return done.stderr

    def state_json(self) -> dict:
        return json.loads(self.state.read_text())

    def write_state(self, state: dict) -> None:
        # Whole or not at all, as the stand-in's own save_state: a follower (`fly logs`) rereads
        # the file while the test seeds it, and a half-written file is no JSON.
        partial = self.state.with_name(f"{self.state.name}.seeding")
        partial.write_text(json.dumps(state))
        partial.replace(self.state)

    def toml(self, app: str = "web", region: str = "ams", text: str = TOML) -> Path:
        path = self.tmp / f"{app}-fly.toml"
        path.write_text(text.format(app=app, region=region))
        return path

    def app_with_volume(self, app: str = "web", region: str = "ams") -> str:
        self.ok("apps", "create", app, "--org", "personal", "--json")
        vol = self.json("volumes", "create", "data", "--app", app, "--region", region, "--size", "1", "--yes", "--json")
        return vol["id"]

    def deploy(self, app: str = "web", image: str = "registry.fly.io/web:v1", *extra: str, **kw):
        return self("deploy", "--app", app, "--config", str(self.toml(app)), "--image", image, "--yes", *extra, **kw)


@pytest.fixture
def fly(tmp_path: Path) -> Fly:
    return Fly(tmp_path)


def test_symlink_and_version(fly: Fly) -> None:
    assert os.access(FLY, os.X_OK) and os.readlink(FAKES / "flyctl") == "fly"
    out = fly.ok("version", FLY_API_TOKEN=None, FLY_STANDIN_STATE=None).stdout
    assert out.startswith("fly v0.4.87 ") and "Commit:" in out and "BuildDate:" in out
    assert fly.ok("--help").stdout.startswith("Usage:")
    assert "--image" in fly.ok("deploy", "--help").stdout


def test_auth_and_state_required(fly: Fly) -> None:
    err = fly.fail("apps", "list", FLY_API_TOKEN=None)
    assert err == "Error: no access token available. Please login with 'flyctl auth login'\n"
    assert fly.fail("apps", "list", FLY_API_TOKEN="") == err
    assert fly.json("apps", "list", "--json", FLY_API_TOKEN=None, FLY_ACCESS_TOKEN="t") == []
    assert fly.json("apps", "list", "--json", "-t", "t", FLY_API_TOKEN=None) == []
    assert "FLY_STANDIN_STATE is not set" in fly.fail("apps", "list", FLY_STANDIN_STATE=None)


def test_flag_errors_are_cobra_style(fly: Fly) -> None:
    done = fly("apps", "list", "--foo")
    assert (done.returncode, done.stderr) == (1, "Error: unknown flag: --foo\n")
    assert done.stdout.startswith("Usage:\n  fly apps list [flags]")
    assert fly.fail("apps", "list", "-z") == "Error: unknown shorthand flag: 'z' in -z\n"
    assert fly.fail("apps", "destroy", "x", "--json") == "Error: unknown flag: --json\n"
    assert fly.fail("volumes", "list", "--app") == "Error: flag needs an argument: --app\n"
    assert fly.fail("volumes", "list", "-a") == "Error: flag needs an argument: 'a' in -a\n"
    err = fly.fail("deploy", "--ha=maybe")
    assert (
        err == 'Error: invalid argument "maybe" for "--ha" flag: strconv.ParseBool: parsing "maybe": invalid syntax\n'
    )
    err = fly.fail("volumes", "create", "d", "--size", "big")
    assert 'invalid argument "big" for "-s, --size" flag: strconv.ParseInt' in err
    assert fly.fail("volumes", "create") == "Error: accepts 1 arg(s), received 0\n"
    assert fly.fail("status", "extra") == 'Error: unknown command "extra" for "fly status"\n'
    done = fly("nope")
    assert done.stderr == 'Error: unknown command "nope" for "fly"\n' and "Run 'fly --help' for usage." in done.stdout
    assert fly.ok("apps", "nope").stdout.startswith("Usage:")  # cobra shows a group's help, exit 0


def test_command_lookup_aliases_and_app_resolution(fly: Fly) -> None:
    fly.app_with_volume()
    assert fly.json("v", "ls", "-a", "web", "-j")[0]["name"] == "data"  # cobra aliases
    assert fly.ok("-a", "web", "status").stdout.startswith("App\n")  # flags may precede the command
    assert fly.json("volumes", "list", "--json", FLY_APP="web")[0]["name"] == "data"
    (fly.tmp / "fly.toml").write_text('app = "web"\n')  # ./fly.toml names the app, as in flyctl
    assert fly.json("volumes", "list", "--json")[0]["name"] == "data"
    assert fly.fail("volumes", "destroy") == "Error: volume ID must be specified when not running interactively\n"
    (fly.tmp / "fly.toml").unlink()
    assert fly.fail("volumes", "destroy") == "Error: volume ID or app required\n"
    assert fly.fail("status") == (
        "Error: the config for your app is missing an app name, add an app field to the fly.toml file or specify "
        "with the -a flag\n"
    )


def test_apps_list_create_json_and_idempotent_adoption(fly: Fly) -> None:
    assert fly.json("apps", "list", "--json") == []
    created = fly.json("apps", "create", "web", "--org", "personal", "--json")
    assert created["Name"] == created["ID"] == "web" and created["Organization"]["Slug"] == "personal"
    assert created["Status"] == "pending" and created["Deployed"] is False and created["CurrentRelease"] is None
    assert created["Hostname"] == "web.fly.dev"
    listed = fly.json("apps", "list", "-j")
    assert [a["Name"] for a in listed] == ["web"]
    for key in ("ID", "Name", "Status", "Deployed", "Hostname", "Organization", "CurrentRelease", "PlatformVersion"):
        assert key in listed[0]
    assert {"Slug", "Name"} <= set(listed[0]["Organization"])
    # flyctl errors on create for an existing name: the program must list first and adopt.
    assert_name_taken(fly.fail("apps", "create", "web", "--org", "personal"))
    for _ in range(2):  # list-then-create is idempotent
        if "web" not in [a["Name"] for a in fly.json("apps", "list", "--json")]:
            fly.ok("apps", "create", "web", "--org", "personal")
    assert len(fly.json("apps", "list", "--json")) == 1
    assert fly.ok("apps", "create", "plain").stdout == "New app created: plain\n"
    assert "No apps found" not in fly.ok("apps", "list").stdout
    assert fly.fail("apps", "create") == (
        "Error: name argument or flag must be specified when not running interactively\n"
    )


def assert_name_taken(stderr: str) -> None:
    """flyctl v0.4.87's printError for flaps' 422 {"status": "name_taken"}: the error with its request id,
    then fly-go v0.9.5's suggestion for that status code and a blank line."""
    assert re.fullmatch(
        r"Error: Validation failed: Name has already been taken \(Request ID: [0-9A-Z]{26}-iad\)\n"
        r"App names are unique across all of Fly\.io, not just your organization, so this name may be held by an "
        r"app you cannot see\. Try a different name\.\n\n",
        stderr,
    ), stderr


def test_orgs_and_tokens(fly: Fly) -> None:
    fly.write_state(
        {
            "orgs": {"acme": {"name": "Acme"}, "rival": {"name": "Rival"}},
            "tokens": {"tok-acme": ["acme"], "tok-rival": ["rival"]},
            "apps": {"taken": {"org": "rival"}, "mine": {"org": "acme"}},
        }
    )
    acme = {"FLY_API_TOKEN": "tok-acme"}
    assert [a["Name"] for a in fly.json("apps", "list", "--json", **acme)] == ["mine"]
    assert_name_taken(fly.fail("apps", "create", "taken", "--org", "acme", **acme))
    assert fly.fail("apps", "create", "x", "--org", "rival", **acme) == "Error: organization rival not found\n"
    assert (
        fly.fail("status", "--app", "taken", "--json", **acme)
        == 'Error: failed to get app: Could not find App "taken"\n'
    )
    assert fly.fail("volumes", "list", "-a", "taken", **acme) == 'Error: Could not find App "taken"\n'
    assert fly.fail("apps", "list", FLY_API_TOKEN="bogus") == "Error: You must be authenticated to view this.\n"
    assert fly.fail("apps", "create", "y", **acme) == (
        "Error: org slug must be specified when not running interactively\n"
    )


def test_orgs_without_tokens_map(fly: Fly) -> None:
    fly.write_state({"orgs": {"rival": {"name": "Rival", "member": False}}, "apps": {"taken": {"org": "rival"}}})
    assert fly.json("apps", "list", "--json") == []
    assert_name_taken(fly.fail("apps", "create", "taken", "--org", "acme"))
    fly.ok("apps", "create", "web", "--org", "acme")  # any org named on create becomes yours
    assert [a["Organization"]["Slug"] for a in fly.json("apps", "list", "--json")] == ["acme"]
    assert fly.fail("apps", "create", "z", "--org", "rival") == "Error: organization rival not found\n"


# One org with two apps, another org with one; an org token (the list form) and a deploy token for "web".
SCOPED = {
    "orgs": {"acme": {"name": "Acme"}, "rival": {"name": "Rival"}},
    "tokens": {"tok-org": ["acme"], "tok-web": {"apps": ["web"]}},
    "apps": {"web": {"org": "acme"}, "api": {"org": "acme"}, "theirs": {"org": "rival"}},
}
ORG, WEB = {"FLY_API_TOKEN": "tok-org"}, {"FLY_API_TOKEN": "tok-web"}
# flyctl v0.4.87 printing fly-go v0.9.5's errors: a GraphQL lookup refused, and a Machines API 401.
GRAPHQL_REFUSED = "Error: failed to run {query}: Not authorized\n"
FLAPS_REFUSED = r"Error: {prefix}unauthorized \(Request ID: [0-9A-Z]{{26}}-iad\)\n"


def test_app_scoped_token_lists_only_its_app(fly: Fly) -> None:
    fly.write_state(SCOPED)
    assert [a["Name"] for a in fly.json("apps", "list", "--json", **WEB)] == ["web"]
    assert fly.ok("apps", "list", "-q", **WEB).stdout == "web\n"
    assert [a["Name"] for a in fly.json("apps", "list", "--json", "--org", "acme", **WEB)] == ["web"]


def test_app_scoped_token_cannot_create_an_app(fly: Fly) -> None:
    fly.write_state(SCOPED)
    err = fly.fail("apps", "create", "new", "--org", "acme", "--json", **WEB)
    assert re.fullmatch(FLAPS_REFUSED.format(prefix=""), err), err
    # refused before the name is checked: a taken name gets the same answer, not name_taken's
    assert re.fullmatch(FLAPS_REFUSED.format(prefix=""), fly.fail("apps", "create", "api", "--org", "acme", **WEB))
    assert fly.fail("apps", "create", "x", "--org", "rival", **WEB) == "Error: organization rival not found\n"
    assert set(fly.state_json()["apps"]) == {"web", "api", "theirs"}


def test_app_scoped_token_is_refused_another_app_of_its_org(fly: Fly) -> None:
    fly.write_state(SCOPED)
    vid = fly.json("volumes", "create", "data", "-a", "api", "-r", "ams", "-y", "--json", **ORG)["id"]
    err = fly.fail("secrets", "import", "--app", "api", "--stage", stdin=f"DB_URL={SECRET}\n", **WEB)
    assert err == GRAPHQL_REFUSED.format(query=GET_APP_COMPACT)
    assert err.startswith("Error: failed to run query ($appName: String!) { appcompact:app(name: $appName) { id ")
    assert fly.fail("secrets", "unset", "A", "--stage", FLY_APP="api", **WEB) == err  # FLY_APP names it
    assert fly.fail("volumes", "create", "data", "-a", "api", "-r", "ams", "-y", **WEB) == (
        GRAPHQL_REFUSED.format(query=GET_APP_BASIC)
    )
    assert fly.fail("volumes", "show", vid, "--json", **WEB) == GRAPHQL_REFUSED.format(query=GET_APP_NAME_FROM_VOLUME)
    assert fly.fail("volumes", "destroy", vid, "-a", "api", "-y", **WEB) == GRAPHQL_REFUSED.format(query=GET_APP_BASIC)
    assert re.fullmatch(FLAPS_REFUSED.format(prefix=""), fly.deploy("api", **WEB).stderr)
    assert re.fullmatch(
        FLAPS_REFUSED.format(prefix="failed to list app secrets: "), fly.fail("secrets", "list", "-a", "api", **WEB)
    )
    # another org's app, and one that does not exist, are refused alike: the token never learns of them
    assert fly.fail("volumes", "list", "-a", "theirs", **WEB) == GRAPHQL_REFUSED.format(query=GET_APP_BASIC)
    assert fly.fail("volumes", "list", "-a", "nope", **WEB) == GRAPHQL_REFUSED.format(query=GET_APP_BASIC)
    state = fly.state_json()
    assert "api" not in state["secrets"] and state["releases"] == {}
    assert [v["app"] for v in state["volumes"].values()] == ["api"] and state["volumes"][vid]["state"] == "created"
    refused = [e for e in map(json.loads, fly.log.read_text().splitlines()) if e["argv"][:2] == ["secrets", "import"]]
    assert refused[0]["stdin_bytes"] == 0  # refused before the secrets were read
    # Every command worded; `logs` asks the logs API first, whose refusal no public source words (marked).
    assert set(LEAF) - {"apps list", "version", "logs"} == set(GRAPHQL_FIRST) | set(FLAPS_FIRST)


def test_app_scoped_token_manages_its_own_app(fly: Fly) -> None:
    fly.write_state(SCOPED)
    fly.ok("secrets", "import", "--app", "web", "--stage", stdin=f"DB_URL={SECRET}\n", **WEB)
    fly.ok("secrets", "unset", "NEVER_SET", "--app", "web", "--stage", **WEB)
    vid = fly.json("volumes", "create", "data", "-a", "web", "-r", "ams", "-y", "--json", **WEB)["id"]
    assert fly.json("volumes", "show", vid, "--json", **WEB)["name"] == "data"
    assert fly.deploy("web", "registry.fly.io/web:v1", **WEB).returncode == 0
    assert [s["name"] for s in fly.json("secrets", "list", "-a", "web", "-j", **WEB)] == ["DB_URL"]
    assert fly.json("status", "-a", "web", "-j", **WEB)["Deployed"] is True
    assert fly.json("volumes", "show", vid, "-j", **WEB)["attached_machine_id"]


def test_org_token_still_does_everything_in_its_orgs(fly: Fly) -> None:
    fly.write_state(SCOPED)
    assert [a["Name"] for a in fly.json("apps", "list", "--json", **ORG)] == ["api", "web"]
    fly.ok("apps", "create", "new", "--org", "acme", **ORG)
    for app in ("web", "api", "new"):
        fly.ok("secrets", "import", "--app", app, "--stage", stdin="A=1\n", **ORG)
        fly.ok("volumes", "create", "data", "-a", app, "-r", "ams", "-y", **ORG)
        assert fly.deploy(app, "registry.fly.io/x:v1", **ORG).returncode == 0
    assert fly.fail("volumes", "list", "-a", "theirs", **ORG) == 'Error: Could not find App "theirs"\n'


def test_the_log_tells_an_app_scoped_token_from_an_org_token(fly: Fly) -> None:
    fly.write_state(SCOPED)
    fly.ok("apps", "list", **WEB)
    fly.ok("apps", "list", **ORG)
    fly.fail("deploy", "-a", "api", "-i", "img:1", **WEB)
    entries = [json.loads(line) for line in fly.log.read_text().splitlines()]
    assert [(e["token_apps"], e["token_orgs"], e["exit_code"]) for e in entries] == [
        (["web"], ["acme"], 0),
        (None, ["acme"], 0),
        (["web"], ["acme"], 1),
    ]
    assert entries[2]["app"] == "api" and "tok-" not in fly.log.read_text()


def test_apps_destroy(fly: Fly) -> None:
    fly.app_with_volume()
    fly.ok("secrets", "import", "--app", "web", "--stage", stdin="A=1\n")
    done = fly("apps", "destroy", "web")
    assert done.returncode == 1
    assert done.stderr.endswith("Error: yes flag must be specified when not running interactively\n")
    assert fly.ok("apps", "destroy", "web", "--yes").stdout == "Destroyed app web\n"
    state = fly.state_json()
    assert state["apps"] == {} and state["volumes"] == {} and "web" not in state["secrets"]
    assert fly.fail("apps", "destroy", "web", "-y") == 'Error: Could not find App "web"\n'


def test_volumes_create_list_show_destroy(fly: Fly) -> None:
    vid = fly.app_with_volume(region="ams")
    assert vid.startswith("vol_") and len(vid) == 20
    vols = fly.json("volumes", "list", "--app", "web", "--json")
    assert [v["id"] for v in vols] == [vid]
    assert set(vols[0]) >= {
        "id",
        "name",
        "state",
        "size_gb",
        "region",
        "zone",
        "encrypted",
        "attached_machine_id",
        "attached_alloc_id",
        "created_at",
        "snapshot_retention",
        "auto_backup_enabled",
    }
    assert (vols[0]["state"], vols[0]["size_gb"], vols[0]["region"], vols[0]["attached_machine_id"]) == (
        "created",
        1,
        "ams",
        None,
    )
    assert fly.json("volumes", "show", vid, "--json")["name"] == "data"
    # flyctl asks before creating the first volume of a name; non-interactively that is an error
    err = fly.fail("volumes", "create", "other", "-a", "web", "--region", "ams")
    assert err.endswith("Error: yes flag must be specified when not running interactively\n")
    assert fly.fail("volumes", "create", "x", "-a", "web", "-y") == (
        "Error: region code must be specified when not running interactively\n"
    )
    assert fly.fail("volumes", "create", "x", "-a", "web", "-r", "zzz", "-y") == "Error: region zzz not found\n"
    for bad in ("Data", "with-dash", "a" * 31):
        assert "failed to create volume: name must" in fly.fail(
            "volumes", "create", bad, "-a", "web", "-r", "ams", "-y"
        )
    fly.ok("volumes", "create", "a" * 30, "-a", "web", "-r", "ams", "-y")
    # destroy takes an id; a name fails like an unknown id does
    err = fly.fail("volumes", "destroy", "data", "--yes")
    assert err == (
        "Error: failed to run query($id: ID!) { volume: volume(id: $id) { ... on Volume { app { name } } } "
        "}: Could not find Volume with id 'data'\n"
    )
    assert fly.fail("volumes", "destroy", "data", "--yes", "-a", "web") == (
        "Error: failed destroying volume: failed to destroy volume data: not_found: volume not found\n"
    )
    assert fly.fail("volumes", "destroy", vid).endswith(
        "Error: yes flag must be specified when not running interactively\n"
    )
    assert fly.ok("volumes", "destroy", vid, "--yes").stdout == f"Destroyed volume ID: {vid} name: data\n"
    assert vid not in [v["id"] for v in fly.json("volumes", "list", "-a", "web", "-j")]
    assert fly.json("volumes", "list", "-a", "web", "-j", "--all")[0]["state"] == "pending_destroy"


def test_only_fly_gos_soft_deleted_states_are_written_and_hidden(fly: Fly) -> None:
    vid = fly.app_with_volume()
    fly.ok("volumes", "destroy", vid, "--app", "web", "--yes")
    assert fly.json("volumes", "show", vid, "--app", "web", "--json")["state"] == SOFT_DELETE_STATE
    assert SOFT_DELETE_STATE in DESTROYED_STATES and "destroyed" not in DESTROYED_STATES  # a machine state
    assert {v["state"] for v in fly.state_json()["volumes"].values()} <= {"created", *DESTROYED_STATES}


@pytest.mark.parametrize("state", DESTROYED_STATES)
def test_a_soft_deleted_volume_is_shown_as_it_is_and_not_destroyed_again(fly: Fly, state: str) -> None:
    """fly-go v0.9.5: `volumes list` (GetVolumes) hides these states, `--all` (GetAllVolumes) and
    `volumes show` (GetVolume) do not filter. flaps' answers to destroying or extending one are not
    in the source: the stand-in answers as for an unknown id."""
    vid = fly.app_with_volume()
    saved = fly.state_json()
    saved["volumes"][vid]["state"] = state
    fly.write_state(saved)
    assert fly.json("volumes", "list", "--app", "web", "--json") == []
    assert [v["state"] for v in fly.json("volumes", "list", "--app", "web", "--json", "--all")] == [state]
    shown = fly.json("volumes", "show", vid, "--app", "web", "--json")
    assert (shown["id"], shown["state"], shown["name"]) == (vid, state, "data")
    assert "State" not in fly.ok("volumes", "show", vid, "--app", "web").stdout  # printVolume shows no state
    assert fly.fail("volumes", "destroy", vid, "--app", "web", "--yes") == (
        f"Error: failed destroying volume: failed to destroy volume {vid}: not_found: volume not found\n"
    )
    # Without --yes flyctl first gets the volume, which is found, then asks: non-interactively, an error.
    assert fly.fail("volumes", "destroy", vid, "--app", "web").endswith(
        "Error: yes flag must be specified when not running interactively\n"
    )
    assert fly.fail("volumes", "extend", vid, "--app", "web", "--size", "3") == (
        f"Error: failed to extend volume: failed to extend volume {vid}: not_found: volume not found\n"
    )
    assert fly.state_json()["volumes"][vid]["state"] == state  # nothing changed it


def test_regions_are_the_programs(fly: Fly) -> None:
    # One list: the program validates `region` against FLY_REGIONS, the stand-in creates volumes there.
    fly.ok("apps", "create", "web", "--org", "personal")
    for region in (min(FLY_REGIONS), "yul", max(FLY_REGIONS)):
        assert fly.json("volumes", "create", "data", "-a", "web", "-r", region, "-y", "-j")["region"] == region
    assert "zzz" not in FLY_REGIONS
    assert fly.fail("volumes", "create", "data", "-a", "web", "-r", "zzz", "-y") == "Error: region zzz not found\n"


def test_secrets_import_list_unset(fly: Fly) -> None:
    fly.ok("apps", "create", "web", "--org", "personal")
    stdin = f'DB_URL={SECRET}\nMULTI="""line one\nline two"""\n# comment\n\nQUOTED="a#b"\n'
    out = fly.ok("secrets", "import", "--app", "web", "--stage", stdin=stdin).stdout
    assert out.startswith("Secrets have been staged, but not set on VMs.")
    listed = fly.json("secrets", "list", "--app", "web", "--json")
    assert [s["name"] for s in listed] == ["DB_URL", "MULTI", "QUOTED"]
    assert all(set(s) == {"name", "digest", "status"} and s["status"] == "Staged" for s in listed)
    digests = {s["name"]: s["digest"] for s in listed}
    assert digests["DB_URL"] == hashlib.sha256(SECRET.encode()).hexdigest()[:16]
    assert digests["MULTI"] == hashlib.sha256(b"line one\nline two").hexdigest()[:16]
    assert digests["QUOTED"] == hashlib.sha256(b"a#b").hexdigest()[:16]
    # flyctl's parser quirk: an unquoted " #" ends the value
    fly.ok("secrets", "import", "-a", "web", "--stage", stdin="HASH=abc#def\n")
    assert fly.json("secrets", "list", "-a", "web", "-j")[1]["digest"] == hashlib.sha256(b"abc").hexdigest()[:16]
    # without --stage on a never-deployed app flyctl only stages
    assert (
        fly.ok("secrets", "import", "-a", "web", stdin="B=2\n").stdout
        == "Secrets are staged for the first deployment\n"
    )
    assert fly.fail("secrets", "import", "-a", "web", stdin="\n# only comments\n") == (
        "Error: requires at least one SECRET=VALUE pair\n"
    )
    assert "NAME=VALUE pairs (NOPE is invalid)" in fly.fail("secrets", "import", "-a", "web", stdin="NOPE\n")
    # bufio.Scanner's 64 KiB line limit: flyctl silently drops that line and everything after it
    fly.ok("secrets", "import", "-a", "web", "--stage", stdin=f"OK=1\nBIG={'x' * 70000}\nAFTER=2\n")
    names = [s["name"] for s in fly.json("secrets", "list", "-a", "web", "-j")]
    assert "OK" in names and "BIG" not in names and "AFTER" not in names
    fly.ok("secrets", "unset", "DB_URL", "NEVER_SET", "--app", "web", "--stage")
    assert "DB_URL" not in [s["name"] for s in fly.json("secrets", "list", "-a", "web", "-j")]
    assert fly.fail("secrets", "unset", "-a", "web") == "Error: requires at least 1 arg(s), only received 0\n"
    assert fly.fail("secrets", "list", "-a", "nope") == 'Error: Could not find App "nope"\n'


def test_deploy_records_release_and_deploys_staged_secrets(fly: Fly) -> None:
    vid = fly.app_with_volume()
    fly.ok("secrets", "import", "--app", "web", "--stage", stdin=f"DB_URL={SECRET}\n")
    done = fly.deploy("web", "registry.fly.io/web:v1", "--strategy", "rolling", "--wait-timeout", "5m")
    assert done.returncode == 0, done.stderr
    assert "Validating " in done.stdout and "✓ Configuration is valid" in done.stdout
    assert "Visit your newly deployed app at https://web.fly.dev/" in done.stdout
    app = fly.json("apps", "list", "--json")[0]
    assert (app["Deployed"], app["Status"], app["CurrentRelease"]["Version"]) == (True, "deployed", 1)
    assert fly.json("secrets", "list", "-a", "web", "-j")[0]["status"] == "Deployed"
    status = fly.json("status", "--app", "web", "--json")
    assert list(status) == sorted(status) and status["Hostname"] == "web.fly.dev" and status["Version"] == 1
    (machine,) = status["Machines"]  # one machine: a group with mounts gets no HA spare
    assert machine["region"] == "ams" and machine["config"]["image"] == "registry.fly.io/web:v1"
    assert machine["config"]["mounts"][0]["volume"] == vid
    assert machine["checks"][0]["name"] == "servicecheck-00-http-8080" and machine["checks"][0]["status"] == "passing"
    assert fly.json("volumes", "show", vid, "-j")["attached_machine_id"] == machine["id"]
    release = fly.state_json()["releases"]["web"][0]
    assert (release["version"], release["image"], release["strategy"], release["status"]) == (
        1,
        "registry.fly.io/web:v1",
        "rolling",
        "complete",
    )
    assert release["mounts"] == [{"source": "data", "destination": "/data"}]
    assert release["http_checks"][0]["path"] == "/healthz" and 'app = "web"' in release["fly_toml"]
    assert [r["Version"] for r in fly.json("releases", "-a", "web", "--json")] == [1]
    # a volume bound to a machine cannot be destroyed
    assert "failed_precondition: volume is currently bound to machine" in fly.fail("volumes", "destroy", vid, "-y")
    # second deploy updates the machine in place
    assert "Updating existing machines in 'web' with rolling strategy" in fly.deploy("web", "r/web:v2").stdout
    assert fly.json("status", "-a", "web", "-j")["Machines"][0]["config"]["image"] == "r/web:v2"
    # a secrets change without --stage on a deployed app restarts machines as a new release
    fly.ok("secrets", "import", "-a", "web", stdin="NEW=1\n")
    assert {s["status"] for s in fly.json("secrets", "list", "-a", "web", "-j")} == {"Deployed"}
    assert fly.json("status", "-a", "web", "-j")["Version"] == 3


def test_deploy_app_name_comes_from_flag_over_config(fly: Fly) -> None:
    fly.app_with_volume("other")
    path = fly.toml("web")  # says app = "web"
    done = fly("deploy", "-a", "other", "-c", str(path), "-i", "img:1", "-y")
    assert done.returncode == 0, done.stderr
    assert fly.state_json()["releases"]["other"][0]["config"]["app"] == "other"
    assert fly.fail("deploy", "-c", str(path), "-i", "img:1") == 'Error: Could not find App "web"\n'
    assert fly.fail("deploy", "-c", str(fly.tmp / "missing.toml"), "-i", "i").startswith(
        "Error: config file not found at specified path:"
    )


def test_deploy_mount_rules(fly: Fly) -> None:
    fly.app_with_volume("web", region="fra")  # wrong region
    err = fly.deploy("web").stderr
    assert err == (
        "Error: error creating machine configuration: New machine in group 'app' needs an unattached "
        "volume named 'data' in region 'ams'\n"
    )
    assert fly.state_json()["releases"]["web"][-1]["status"] == "failed"
    # no volume of that name at all: flyctl creates one on the first deploy
    fly.ok("apps", "create", "fresh", "--org", "personal")
    out = fly.deploy("fresh").stdout
    assert "Creating a 1 GB volume named 'data' for process group 'app'" in out
    (vol,) = [v for v in fly.state_json()["volumes"].values() if v["app"] == "fresh"]
    assert vol["auto_created"] is True and vol["region"] == "ams"


def test_deploy_refuses_a_second_mount(fly: Fly) -> None:
    fly.app_with_volume()
    two = TOML.replace("[http_service]", '[[mounts]]\n  source = "logs"\n  destination = "/logs"\n\n[http_service]')
    done = fly("deploy", "-a", "web", "-c", str(fly.toml("web", text=two)), "-i", "img:1", "-y")
    assert done.returncode == 1 and done.stderr.endswith("Error: App configuration is not valid\n")
    assert "group 'app' has more than one [[mounts]] section defined" in done.stdout
    assert fly.state_json()["releases"] == {}


NO_MOUNT = TOML.replace('[[mounts]]\n  source = "data"\n  destination = "/data"\n', "")


def test_deploy_cannot_swap_or_detach_an_attached_volume(fly: Fly) -> None:
    """machines.go validateVolumeConfig (flyctl v0.4.87): no swap; detaching asks, and --yes does not answer."""
    vid = fly.app_with_volume()
    assert fly.deploy("web").returncode == 0
    (machine,) = fly.json("status", "-a", "web", "-j")["Machines"]
    fly.ok("volumes", "create", "other", "--app", "web", "--region", "ams", "--size", "1", "--yes")
    swapped = fly.toml("web", text=TOML.replace('source = "data"', 'source = "other"'))
    assert fly.fail("deploy", "-a", "web", "-c", str(swapped), "-i", "img:2", "-y") == (
        f"Error: machine {machine['id']} [app] can't update the attached volume other with name '{vid}' by 'data'\n"
    )
    dropped = fly.toml("web", text=NO_MOUNT)
    err = fly.fail("deploy", "-a", "web", "-c", str(dropped), "-i", "img:2", "-y")
    assert err == (
        f"Warning! machine {machine['id']} [app] has a volume mounted but app config does not specify a volume.\n"
        "This usually indicates a misconfiguration.\n"
        "Error: yes flag must be specified when not running interactively\n"
    )
    assert [r["Version"] for r in fly.json("releases", "-a", "web", "-j")] == [1]  # no release was made
    assert fly.json("status", "-a", "web", "-j")["Machines"][0]["config"]["mounts"][0]["volume"] == vid


def test_volumes_extend_only_grows(fly: Fly) -> None:
    vid = fly.app_with_volume()
    assert fly.json("volumes", "extend", vid, "-a", "web", "-s", "3", "--yes", "--json")["size_gb"] == 3
    assert fly.json("volumes", "extend", vid, "-a", "web", "--size", "+2", "--json")["size_gb"] == 5
    assert "can only grow" in fly.fail("volumes", "extend", vid, "-a", "web", "-s", "2")
    assert fly.fail("volumes", "extend", vid, "-a", "web") == "Error: Volume size must be specified\n"
    assert fly.json("volumes", "show", vid, "-a", "web", "-j")["size_gb"] == 5


def test_a_private_image_is_not_found_by_fly_nor_without_a_local_engine(fly: Fly) -> None:
    """Fly's API cannot see a private registry; --local-only needs the local engine
    (tests/integration/test_fly_lifecycle.py pushes one from a real engine)."""
    fly.app_with_volume()
    fly.write_state({**fly.state_json(), "private_registries": ["ghcr.io"]})
    private = "ghcr.io/acme/private:sha-1234567"
    done = fly.deploy("web", private)
    assert done.returncode == 1
    assert f"Searching for image '{private}' remotely..." in done.stdout
    assert done.stderr == f'Error: could not find image "{private}"\n'
    no_engine = fly.deploy("web", private, "--local-only", DOCKER_HOST=f"unix://{fly.tmp}/no-docker.sock")
    assert no_engine.returncode == 1 and no_engine.stderr == "Error: no docker daemon available\n"
    assert fly.deploy("web", "ghcr.io-less/public:1").returncode == 0  # not a registry host: Docker Hub
    assert fly.state_json()["releases"]["web"][-1]["image"] == "ghcr.io-less/public:1"


def test_deploy_validation_errors(fly: Fly) -> None:
    fly.app_with_volume()
    done = fly.deploy("web", "img:1", "--strategy", "sideways")
    assert done.returncode == 1 and done.stderr.endswith("Error: App configuration is not valid\n")
    assert "unsupported deployment strategy 'sideways'" in done.stderr
    assert (
        "canary deployment strategy is not supported when using mounted volumes"
        in fly.deploy("web", "img:1", "--strategy", "canary").stderr
    )
    assert fly.deploy("web", "img:1", "--wait-timeout", "soon").stderr == (
        "Error: invalid duration value soon used for --wait-timeout flag: valid options are a number of seconds, "
        "number with time unit (i.e.: 5m, 180s) or 'none'\n"
    )
    bad = fly.tmp / "bad.toml"
    bad.write_text("app = [")
    assert fly.fail("deploy", "-c", str(bad), "-i", "i").startswith(f"Error: failed loading app config from {bad}")
    no_port = fly.toml("web", text=TOML.replace("internal_port = 8080", ""))
    assert fly.fail("deploy", "-a", "web", "-c", str(no_port), "-i", "i") == "Error: App configuration is not valid\n"
    assert fly.state_json()["releases"] == {}
    assert fly.fail("deploy", "-a", "web", "-c", str(fly.toml("web")), "-i", "i", "false").startswith(
        "Error: failed changing working directory: chdir "
    )  # `--ha false` is not how pflag takes a bool: "false" becomes the WORKING_DIRECTORY argument
    assert fly.deploy("web", "img:1", "--ha=false").returncode == 0


def test_deploy_unhealthy_image_fails_and_keeps_previous_release(fly: Fly) -> None:
    fly.app_with_volume()
    assert fly.deploy("web", "registry.fly.io/web:good").returncode == 0
    fly.ok("secrets", "import", "-a", "web", "--stage", stdin="LATE=1\n")
    done = fly.deploy("web", "registry.fly.io/web:unhealthy")
    assert done.returncode == 1
    assert "servicecheck-00-http-8080" in done.stdout
    assert done.stderr.startswith("Error: failed to update machine ")
    assert "Unrecoverable error: timeout reached waiting for health checks to pass for machine" in done.stderr
    releases = fly.json("releases", "-a", "web", "-j")
    assert [(r["Version"], r["Status"]) for r in releases] == [(2, "failed"), (1, "complete")]
    assert fly.json("apps", "list", "-j")[0]["CurrentRelease"]["Version"] == 1
    staged = {s["name"]: s["status"] for s in fly.json("secrets", "list", "-a", "web", "-j")}
    assert staged == {"LATE": "Staged"}
    assert fly.json("status", "-a", "web", "-j")["Machines"][0]["checks"][0]["status"] == "critical"
    # the immediate strategy and --detach skip health checks, as in flyctl
    assert fly.deploy("web", "registry.fly.io/web:unhealthy", "--strategy", "immediate").returncode == 0


def test_first_deploy_unhealthy_and_ha_machines(fly: Fly) -> None:
    nomount = TOML.replace('[[mounts]]\n  source = "data"\n  destination = "/data"\n', "")
    fly.ok("apps", "create", "api", "--org", "personal")
    path = fly.toml("api", text=nomount)
    err = fly.fail("deploy", "-a", "api", "-c", str(path), "-i", "x/unhealthy:1", "-y")
    assert err.startswith("Error: timeout reached waiting for health checks to pass for machine ")
    assert fly.json("apps", "list", "-j")[0]["Deployed"] is False
    fly.ok("apps", "create", "api2", "--org", "personal")
    fly.ok("deploy", "-a", "api2", "-c", str(path), "-i", "x/ok:1", "-y")
    assert len(fly.json("status", "-a", "api2", "-j")["Machines"]) == 2  # --ha defaults to true


def test_secrets_never_in_argv_state_log_or_output(fly: Fly) -> None:
    fly.app_with_volume()
    fly.ok("secrets", "import", "--app", "web", "--stage", stdin=f'DB_URL={SECRET}\nTOKEN="""{SECRET}\nx"""\n')
    fly.deploy("web")
    fly.ok("secrets", "list", "-a", "web")
    fly.ok("status", "-a", "web")
    for blob in (fly.state.read_text(), fly.log.read_text(), *fly.outputs):
        assert SECRET not in blob
    entries = [json.loads(line) for line in fly.log.read_text().splitlines()]
    assert all(set(e) >= {"argv", "env_token_present", "stdin_bytes"} for e in entries)
    imports = [e for e in entries if e["argv"][:2] == ["secrets", "import"]]
    assert imports[0]["argv"] == ["secrets", "import", "--app", "web", "--stage"]
    assert imports[0]["stdin_bytes"] > len(SECRET) and imports[0]["env_token_present"] is True
    assert not any(SECRET in arg for e in entries for arg in e["argv"])


def test_concurrent_invocations_are_serialized(fly: Fly) -> None:
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda i: fly("apps", "create", f"app-{i}", "--org", "personal"), range(12)))
    assert all(r.returncode == 0 for r in results)
    assert len(fly.json("apps", "list", "--json")) == 12
    assert len(fly.log.read_text().splitlines()) == 13


def _standin_outcome(value: str, encoding: str) -> dict[str, object]:
    try:
        parsed = parse_secrets(stdin_for(value, encoding).encode())
    except PanicError:
        return {"stored": "crash", "after_kept": False}
    except FlyError:
        return {"stored": "error", "after_kept": False}
    stored = parsed.get(NAME)
    shown = "absent" if stored is None else "same" if stored == value else stored
    return {"stored": shown, "after_kept": parsed.get(AFTER) == "after"}


def test_secrets_parser_agrees_with_real_flyctl_on_every_case() -> None:
    table = json.loads((FAKES / "secrets_table.json").read_text())
    assert table["flyctl"]["version"] == f"v{VERSION}"
    for label, value in CASES.items():
        for encoding in ENCODINGS:
            assert _standin_outcome(value, encoding) == table["cases"][label][encoding], (label, encoding)


def test_secrets_import_of_a_lone_quote_panics_like_flyctl(fly: Fly) -> None:
    fly.ok("apps", "create", "web", "--org", "personal")
    done = fly("secrets", "import", "-a", "web", "--stage", stdin='A=1\nB="\n')
    assert done.returncode == 3
    assert done.stdout.startswith("Oops, something went wrong! Could you try that again?\n\n")
    assert "slice bounds out of range [1:0]" in done.stdout
    assert fly.json("secrets", "list", "-a", "web", "-j") == []
    # the line limit counts the "\r" of a CRLF line: 65535 bytes in all, then the scan stops
    too_long = f"A={'x' * 65533}\r\nB=2\n"
    assert fly.fail("secrets", "import", "-a", "web", "--stage", stdin=too_long) == (
        "Error: requires at least one SECRET=VALUE pair\n"
    )


def test_volumes_create_records_the_machine_it_asks_a_host_for(fly: Fly) -> None:
    """flyctl sends the guest of --vm-size (fly-go's presets) and --vm-memory as the volume's
    compute requirements, which place it on a host that can run such a machine."""
    vid = fly.app_with_volume()
    assert fly.state_json()["volumes"][vid]["compute"] == {"cpu_kind": "shared", "cpus": 1, "memory_mb": 256}
    sized = fly.json(
        "volumes", "create", "big", "--app", "web", "--region", "ams", "--size", "1",
        "--vm-size", "performance-2x", "--vm-memory", "8192", "--yes", "--json",
    )  # fmt: skip
    assert fly.state_json()["volumes"][sized["id"]]["compute"] == {
        "cpu_kind": "performance",
        "cpus": 2,
        "memory_mb": 8192,
    }
    assert "invalid machine size" in fly.fail(
        "volumes", "create", "bad", "--app", "web", "--region", "ams", "--vm-size", "shared-cpu-3x", "--yes"
    )


def seed_logs(fly: Fly, app: str, *messages: tuple[str, str, str]) -> None:
    """Log entries of APP: (instance, region, message) each, a second apart."""
    state = fly.state_json()
    state.setdefault("logs", {})[app] = [
        {"timestamp": f"2026-12-06T08:00:0{n}.123456Z", "instance": i, "region": r, "level": "info", "message": m}
        for n, (i, r, m) in enumerate(messages)
    ]
    fly.write_state(state)


def test_logs_render_as_flyctl_with_its_colors_and_filters(fly: Fly) -> None:
    fly.ok("apps", "create", "web", "--org", "personal")
    seed_logs(fly, "web", ("148e1", "ams", "Listening on 8080"), ("2a7f0", "iad", " GET /healthz 200"))
    out = fly.ok("logs", "--app", "web", "--no-tail").stdout.splitlines()
    assert out == [
        "\x1b[2m2026-12-06T08:00:00Z\x1b[0m app[148e1] \x1b[32mams\x1b[0m [\x1b[34minfo\x1b[0m]Listening on 8080",
        "\x1b[2m2026-12-06T08:00:01Z\x1b[0m app[2a7f0] \x1b[32miad\x1b[0m [\x1b[34minfo\x1b[0m] GET /healthz 200",
    ]
    assert [
        line.endswith("GET /healthz 200") for line in fly.ok("logs", "-a", "web", "-n", "-r", "iad").stdout.splitlines()
    ] == [True]
    # --machine ignores --region (machine IDs are global).
    assert "Listening" in fly.ok("logs", "-a", "web", "-n", "-r", "iad", "-m", "148e1").stdout
    (entry, _) = (
        json.loads(chunk) for chunk in re.split(r"(?<=})\n(?={)", fly.ok("logs", "-a", "web", "-n", "-j").stdout)
    )
    assert entry["message"] == "Listening on 8080" and entry["meta"]["Event"] == {"Provider": "app"}
    assert "--machine can't be used with -s/--select" in fly.fail("logs", "-a", "web", "-n", "-s", "-m", "148e1")
    assert 'unknown command "x" for "fly logs"' in fly.fail("logs", "x", "-a", "web")


def test_logs_follow_prints_new_entries_and_lets_others_change_the_state(fly: Fly) -> None:
    fly.ok("apps", "create", "web", "--org", "personal")
    seed_logs(fly, "web", ("148e1", "ams", "first"))
    follow = subprocess.Popen(
        [FLY, "logs", "-a", "web"], stdout=subprocess.PIPE, text=True, env={**os.environ, **fly.env}, cwd=fly.tmp
    )
    try:
        assert follow.stdout is not None
        assert follow.stdout.readline().endswith("]first\n")
        fly.ok("apps", "create", "other", "--org", "personal")  # not blocked by the waiting reader
        seed_logs(fly, "web", ("148e1", "ams", "first"), ("148e1", "ams", "second"))
        assert follow.stdout.readline().endswith("]second\n")
    finally:
        follow.kill()
        follow.wait()
    assert set(fly.state_json()["apps"]) == {"web", "other"}  # the reader saved nothing over them


def test_logs_of_an_app_the_token_cannot_see_are_refused(fly: Fly) -> None:
    fly.ok("apps", "create", "web", "--org", "personal")
    fly.ok("apps", "create", "api", "--org", "personal")
    assert "[stand-in] the logs API refused nope" in fly.fail("logs", "-a", "nope", "-n")
    state = fly.state_json()
    state["tokens"] = {"tok-personal": ["personal"], "tok-web": {"apps": ["web"]}}
    fly.write_state(state)
    seed_logs(fly, "web", ("148e1", "ams", "mine"))
    assert fly.ok("logs", "-a", "web", "-n", FLY_API_TOKEN="tok-web").stdout.endswith("]mine\n")
    assert "[stand-in] the logs API refused api" in fly.fail("logs", "-a", "api", "-n", FLY_API_TOKEN="tok-web")
