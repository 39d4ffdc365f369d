"""scripts/ensure-pulumi.sh: official Pulumi first, the user's Pulumi home never changed, and the
versions from pyproject.toml's pins alone.

The "official" CLI and plugins are planted fakes with known bytes; the source-build parts are
fake build.sh scripts (SERVICE_INFRA_OFFLINE_PULUMI), so nothing here runs Go or the network.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.support import ROOT
from tests.support.pins import pin
from tests.support.pulumi_project import ENSURE_PULUMI, Engine

OFFLINE = ROOT / "tools" / "offline-pulumi"


PLUGINS = {"command": pin("pulumi-command"), "docker": pin("pulumi-docker"), "github": pin("pulumi-github")}
# A fake `pulumi`: reports VERSION; cannot download anything (as on a machine without downloads).
FAKE_CLI = '#!/bin/sh\ncase "$1" in version) echo v{version} ;; *) echo "no network" >&2; exit 1 ;; esac\n'


def _executable(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)
    return path


def _official_cli(tmp: Path, version: str) -> Path:
    bin_dir = tmp / "official-bin"
    _executable(bin_dir / "pulumi", FAKE_CLI.format(version=version))
    _executable(bin_dir / "pulumi-language-python", "#!/bin/sh\necho official language host\n")
    return bin_dir


def _plant_plugin(home: Path, name: str, version: str) -> None:
    _executable(
        home / "plugins" / f"resource-{name}-v{version}" / f"pulumi-resource-{name}", f"#!/bin/sh\n# official {name}\n"
    )


def _fake_part(offline: Path, part: str, version: str, files: dict[str, str]) -> None:
    """A build.sh that copies FILES into OUT_DIR, declaring VERSION as the real ones do."""
    for name, text in files.items():
        _executable(offline / part / "files" / name, text)
    script = (
        f'#!/usr/bin/env bash\nreadonly VERSION={version}\nmkdir -p "$1" && cp -R "$(dirname "$0")/files/." "$1/"\n'
    )
    _executable(offline / part / "build.sh", script)


def _snapshot(tree: Path) -> dict[str, bytes]:
    return {str(p.relative_to(tree)): p.read_bytes() for p in sorted(tree.rglob("*")) if p.is_file()}


def _fake_uv(tmp: Path) -> Path:
    """A `uv` on PATH at the pinned version (scripts/common.sh's ensure_uv takes it as it is)."""
    version = re.search(r"^uv==(\S+)", (ROOT / "requirements-uv.txt").read_text(), re.M)
    assert version
    return _executable(tmp / "uv-bin" / "uv", f"#!/bin/sh\necho uv {version.group(1)}\n").parent


def _run(tmp: Path, path_dirs: list[Path], user_home: Path) -> subprocess.CompletedProcess[str]:
    env = {
        "HOME": str(tmp / "home"),
        "PATH": os.pathsep.join([*map(str, path_dirs), str(_fake_uv(tmp)), "/usr/bin", "/bin"]),
        "PULUMI_HOME": str(user_home),
        "SERVICE_INFRA_CACHE": str(tmp / "cache"),
        "SERVICE_INFRA_OFFLINE_PULUMI": str(tmp / "offline"),
    }
    return subprocess.run([str(ENSURE_PULUMI)], env=env, capture_output=True, text=True, timeout=120, check=False)


def test_an_official_cli_and_plugins_are_used_as_they_are(tmp_path: Path) -> None:
    bin_dir = _official_cli(tmp_path, "3.999.1")  # newer than the pin: fine
    user_home = tmp_path / "user-pulumi"
    for name, version in PLUGINS.items():
        _plant_plugin(user_home, name, version)
    before = _snapshot(user_home)

    done = _run(tmp_path, [bin_dir], user_home)

    assert done.returncode == 0, done.stderr
    assert Engine.parse(done.stdout) == Engine(bin_dir=str(bin_dir), uv_dir=str(tmp_path / "uv-bin"), home=None)
    assert "pulumi CLI: official v3.999.1" in done.stderr
    for name, version in PLUGINS.items():
        assert f"plugin {name} {version}: official, installed in {user_home}" in done.stderr
    assert _snapshot(user_home) == before
    assert not (tmp_path / "cache" / "toolchain" / "pulumi-home").exists()


def test_a_source_built_plugin_goes_to_a_private_home_and_the_official_ones_stay_byte_identical(
    tmp_path: Path,
) -> None:
    bin_dir = _official_cli(tmp_path, pin("pulumi"))
    user_home = tmp_path / "user-pulumi"
    _plant_plugin(user_home, "docker", PLUGINS["docker"])
    _plant_plugin(user_home, "github", PLUGINS["github"])
    _fake_part(
        tmp_path / "offline", "provider-command", PLUGINS["command"], {"pulumi-resource-command": "#!/bin/sh\n# ours\n"}
    )
    before = _snapshot(user_home)

    first = _run(tmp_path, [bin_dir], user_home)
    assert first.returncode == 0, first.stderr
    assert f"plugin command {PLUGINS['command']}: source build, built now" in first.stderr
    done = _run(tmp_path, [bin_dir], user_home)  # the second run takes it from the cache
    assert done.returncode == 0, done.stderr
    assert _snapshot(user_home) == before

    engine = Engine.parse(done.stdout)
    private = tmp_path / "cache" / "toolchain" / "pulumi-home"
    assert engine == Engine(bin_dir=str(bin_dir), uv_dir=str(tmp_path / "uv-bin"), home=str(private))
    assert f"plugin command {PLUGINS['command']}: source build, from the cache" in done.stderr
    assert "could not download it" in done.stderr
    ours = private / "plugins" / f"resource-command-v{PLUGINS['command']}" / "pulumi-resource-command"
    assert ours.read_text() == "#!/bin/sh\n# ours\n"
    # The private home sees the official plugins through links, and never holds a copy.
    for name in ("docker", "github"):
        seen = private / "plugins" / f"resource-{name}-v{PLUGINS[name]}" / f"pulumi-resource-{name}"
        assert seen.is_symlink()
        assert seen.resolve() == (user_home / "plugins" / f"resource-{name}-v{PLUGINS[name]}" / seen.name).resolve()


def test_an_older_cli_is_not_used_and_the_source_build_runs_in_the_private_home(tmp_path: Path) -> None:
    old = _official_cli(tmp_path, "3.100.0")
    user_home = tmp_path / "user-pulumi"
    for name, version in PLUGINS.items():
        _plant_plugin(user_home, name, version)
    version = pin("pulumi")
    _fake_part(tmp_path / "offline", "pulumi", f"v{version}", {"pulumi": FAKE_CLI.format(version=version)})
    host = {
        name: "#!/bin/sh\n"
        for name in ("pulumi-language-python", "pulumi-language-python-exec", "python-host/pulumi-language-python")
    }
    _fake_part(tmp_path / "offline", "language-python", version, host)
    before = _snapshot(user_home)

    done = _run(tmp_path, [old], user_home)

    assert done.returncode == 0, done.stderr
    assert f"older than the pulumi SDK pin {version}" in done.stderr
    engine = Engine.parse(done.stdout)
    assert engine.bin_dir == str(tmp_path / "cache" / "toolchain" / f"pulumi-v{version}" / "bin")
    assert engine.home == str(tmp_path / "cache" / "toolchain" / "pulumi-home")
    assert _snapshot(user_home) == before


def test_on_a_mac_a_part_that_must_be_built_is_named_with_the_official_way_to_get_it(tmp_path: Path) -> None:
    bin_dir = _official_cli(tmp_path, pin("pulumi"))
    _executable(bin_dir / "uname", "#!/bin/sh\necho Darwin\n")
    _fake_part(tmp_path / "offline", "provider-command", PLUGINS["command"], {"pulumi-resource-command": "#!/bin/sh\n"})

    done = _run(tmp_path, [bin_dir], tmp_path / "user-pulumi")

    assert done.returncode != 0
    assert f"provider-command {PLUGINS['command']} is neither installed nor downloadable" in done.stderr
    assert "brew install pulumi" in done.stderr
    assert not (tmp_path / "cache" / "toolchain" / "parts").exists() or not any(
        (tmp_path / "cache" / "toolchain" / "parts").iterdir()
    )


def test_a_build_part_that_disagrees_with_the_pin_fails_loudly(tmp_path: Path) -> None:
    bin_dir = _official_cli(tmp_path, pin("pulumi"))
    user_home = tmp_path / "user-pulumi"
    _fake_part(tmp_path / "offline", "provider-command", "9.9.9", {"pulumi-resource-command": "#!/bin/sh\n"})

    done = _run(tmp_path, [bin_dir], user_home)

    assert done.returncode != 0
    assert f"pyproject.toml pins {PLUGINS['command']} for provider-command" in done.stderr


@pytest.mark.parametrize(
    ("part", "package"),
    [
        ("pulumi", "pulumi"),
        ("language-python", "pulumi"),
        ("provider-command", "pulumi-command"),
        ("provider-docker", "pulumi-docker"),
        ("provider-github", "pulumi-github"),
    ],
)
def test_each_offline_part_builds_the_version_pyproject_pins(part: str, package: str) -> None:
    text = (OFFLINE / part / "build.sh").read_text()
    built = re.search(r"^(?:readonly )?VERSION=v?([0-9.]+)|^readonly EXEC_SDK=.*@v([0-9.]+)", text, re.M)
    assert built, f"{part}/build.sh declares no version"
    assert (built.group(1) or built.group(2)) == pin(package), f"{part} builds another version than {package}=="


@pytest.mark.parametrize(
    "workflow",
    sorted((ROOT / ".github").glob("*/*/*.yml")) + sorted((ROOT / ".github" / "workflows").glob("*.yml")),
    ids=lambda p: p.name,
)
def test_workflows_install_the_cli_version_pyproject_pins(workflow: Path) -> None:
    """No workflow or action writes a Pulumi version: each reads pyproject.toml's pins."""
    text = workflow.read_text()
    for package in ("pulumi", "pulumi-command", "pulumi-docker", "pulumi-github"):
        assert not re.search(rf"(?<![\d.]){re.escape(pin(package))}(?![\d.])", text), (
            f"{workflow.relative_to(ROOT)} writes {package}'s version {pin(package)}: read it from pyproject.toml"
        )
    for value in re.findall(r"pulumi-version:\s*(.+)", text):
        assert re.fullmatch(r"\$\{\{ steps\.[\w-]+\.outputs\.[\w-]+ \}\}", value.strip()), (
            f"{workflow.relative_to(ROOT)}: pulumi-version {value.strip()} is not a version read from pyproject.toml"
        )
