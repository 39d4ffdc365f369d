"""The JSON flyctl prints, shaped like superfly/fly-go's types (types.go, volume_types.go): Go field names,
zero values where flyctl's queries leave them."""

from __future__ import annotations

from .core import VERSION, Json
from .session import Ctx


def nodes(*keys: str) -> Json:
    return {k: {"Nodes": None} for k in keys}


def org_json(x: Ctx, slug: str) -> Json:  # fly.Organization
    o = x.st["orgs"].get(slug, {})
    return {
        "ID": o.get("id", ""),
        "InternalNumericID": "",
        "Name": o.get("name", slug),
        "RemoteBuilderImage": "",
        "RemoteBuilderApp": None,
        "Slug": slug,
        "RawSlug": slug,
        "Type": o.get("type", "SHARED"),
        "PaidPlan": False,
        "Billable": False,
        "Settings": None,
        "AllowedReplaySourceOrgSlugs": None,
        "AllowAllCrossNetworkReplays": False,
        "WireGuardPeer": None,
        "WireGuardPeers": {"Nodes": None, "Edges": None},
        "DelegatedWireGuardTokens": {"Nodes": None, "Edges": None},
        "LoggedCertificates": None,
    }


def release_json(r: Json) -> Json:  # fly.Release
    return {
        "ID": r["id"],
        "Version": r["version"],
        "Stable": r["status"] == "complete",
        "InProgress": False,
        "Reason": "",
        "Description": r["description"],
        "Status": r["status"],
        "DeploymentStrategy": r["strategy"].upper(),
        "Metadata": {"post_deployment_info": {"flyctl_version": VERSION, "error": r["error"]}},
        "User": {
            "ID": "",
            "Name": "",
            "Email": "standin@example.com",
            "EnablePaidHobby": False,
        },
        "EvaluationID": "",
        "CreatedAt": r["created_at"],
        "ImageRef": r["image"],
    }


def current_release(x: Ctx, name: str) -> Json | None:
    want = x.st["apps"][name]["current_release"]
    return next((r for r in x.st["releases"].get(name, []) if r["version"] == want), None)


def app_json(x: Ctx, name: str) -> Json:  # fly.App: every field, Go names, zero values where flyctl's query leaves them
    app, cur = x.st["apps"][name], current_release(x, name)
    img = dict.fromkeys(("Registry", "Repository", "Tag", "Version", "Digest"), "")
    cert = {
        "ID": "",
        "AcmeDNSConfigured": False,
        "AcmeALPNConfigured": False,
        "Configured": False,
        "CertificateAuthority": "",
        "CreatedAt": "0001-01-01T00:00:00Z",
        "DNSProvider": "",
        "DNSValidationInstructions": "",
        "DNSValidationHostname": "",
        "DNSValidationTarget": "",
        "Hostname": "",
        "Source": "",
        "ClientStatus": "",
        "IsApex": False,
        "IsWildcard": False,
        "ValidationErrors": None,
        "Issued": {"Nodes": None},
    }
    return {
        "ID": name,
        "InternalNumericID": app["numeric_id"],
        "Name": name,
        "State": "",
        "Status": app["status"],
        "Deployed": app["deployed"],
        "Hostname": f"{name}.fly.dev",
        "AppURL": "",
        "Version": cur["version"] if cur else 0,
        "NetworkID": 0,
        "Network": app["network"],
        "Release": None,
        "Organization": org_json(x, app["org"]),
        "Secrets": None,
        "CurrentRelease": release_json(cur) if cur else None,
        **nodes("Releases", "IPAddresses"),
        "EgressIpAddresses": {"Nodes": None},
        "SharedIPAddress": "",
        "CNAMETarget": "",
        "IPAddress": None,
        "Certificates": {"Nodes": None},
        "Certificate": cert,
        "PostgresAppRole": None,
        "Image": None,
        "ImageUpgradeAvailable": False,
        "ImageVersionTrackingEnabled": False,
        "ImageDetails": img,
        "LatestImageDetails": dict(img),
        "PlatformVersion": "machines",
        "Machines": {"Nodes": None},
        "CurrentLock": None,
    }


VOLUME_KEYS = (
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
    "host_dedication_id",
    "snapshot_retention",
    "auto_backup_enabled",
    "host_status",
)


def volume_json(v: Json) -> Json:  # fly.Volume
    return {k: v[k] for k in VOLUME_KEYS}


def image_ref(image: str) -> dict[str, str]:  # fly.MachineImageRef
    ref, _, digest = image.partition("@")
    head, _, rest = ref.partition("/")
    registry, repo = (head, rest) if rest and ("." in head or ":" in head) else ("docker-hub-mirror.fly.io", ref)
    if registry == "docker-hub-mirror.fly.io" and "/" not in repo:
        repo = "library/" + repo
    repo, _, tag = repo.partition(":")
    return {
        "registry": registry,
        "repository": repo,
        "tag": tag or "latest",
        "digest": digest,
    }


def machine_json(m: Json) -> Json:  # fly.Machine (json tags, omitempty honoured)
    meta = {
        "fly_platform_version": "v2",
        "fly_process_group": "app",
        "fly_release_id": m["release_id"],
        "fly_release_version": str(m["release_version"]),
        "fly_flyctl_version": VERSION,
    }
    mounts = [
        {
            "encrypted": True,
            "path": mt["path"],
            "volume": mt["volume"],
            "name": mt["name"],
        }
        for mt in m["mounts"]
    ]
    cfg = {
        "init": {},
        "image": m["image"],
        "metadata": meta,
        "mounts": mounts,
        "standbys": m["standbys"],
    }
    return {
        "id": m["id"],
        "name": m["name"],
        "state": m["state"],
        "region": m["region"],
        "image_ref": image_ref(m["image"]),
        "instance_id": m["instance_id"],
        "private_ip": m["private_ip"],
        "created_at": m["created_at"],
        "updated_at": m["updated_at"],
        "config": {k: v for k, v in cfg.items() if v or k == "init"},
        "checks": [{k: c[k] for k in ("name", "status", "output", "updated_at")} for c in m["checks"]] or None,
        "host_status": "ok",
        "cordoned": False,
    }
