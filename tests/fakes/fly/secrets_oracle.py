"""Regenerate ``secrets_table.json`` by running flyctl's own `secrets import` parser on every case.

    python3 -m tests.fakes.fly.secrets_oracle /path/to/flyctl.git v0.4.87

The parser (internal/command/secrets/parser.go at that tag) is copied from a flyctl git
directory into a temporary Go module with a five-line driver that prints the parsed map as JSON;
nothing of flyctl is kept. A crash exits with Go's panic status; flyctl's release build recovers
the panic and exits 3 ("Oops, something went wrong!").
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from .secret_cases import AFTER, CASES, ENCODINGS, NAME, stdin_for

TABLE = Path(__file__).with_name("secrets_table.json")
PARSER = "internal/command/secrets/parser.go"
DRIVER = """package main

import (
\t"encoding/json"
\t"os"
)

func main() {
\tsecrets, err := parseSecrets(os.Stdin)
\tif err != nil {
\t\tos.Stdout.WriteString(err.Error())
\t\tos.Exit(1)
\t}
\tjson.NewEncoder(os.Stdout).Encode(secrets)
}
"""


def build(git_dir: str, tag: str, workdir: Path) -> tuple[Path, str]:
    commit = subprocess.run(
        ["git", "--git-dir", git_dir, "rev-parse", f"{tag}^{{commit}}"], capture_output=True, text=True, check=True
    ).stdout.strip()
    source = subprocess.run(
        ["git", "--git-dir", git_dir, "show", f"{commit}:{PARSER}"], capture_output=True, text=True, check=True
    ).stdout
    (workdir / "parser.go").write_text(source.replace("package secrets\n", "package main\n", 1))
    (workdir / "main.go").write_text(DRIVER)
    (workdir / "go.mod").write_text("module flyctlparser\n\ngo 1.22\n")
    subprocess.run(["go", "build", "-o", "parse", "."], cwd=workdir, check=True)
    return workdir / "parse", commit


def outcome(parse: Path, value: str, encoding: str) -> dict[str, object]:
    """What flyctl stores for NAME: "same" (byte-exact), "absent", "crash", or the altered value."""
    done = subprocess.run([parse], input=stdin_for(value, encoding).encode(), capture_output=True, check=False)
    if done.returncode != 0:
        return {"stored": "crash" if b"panic:" in done.stderr else "error", "after_kept": False}
    parsed = json.loads(done.stdout)
    stored = parsed.get(NAME)
    shown = "absent" if stored is None else "same" if stored == value else stored
    return {"stored": shown, "after_kept": parsed.get(AFTER) == "after"}


def main(git_dir: str, tag: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        parse, commit = build(git_dir, tag, Path(tmp))
        cases = {
            label: {encoding: outcome(parse, value, encoding) for encoding in ENCODINGS}
            for label, value in CASES.items()
        }
    table = {"flyctl": {"version": tag, "commit": commit, "parser": PARSER}, "cases": cases}
    TABLE.write_text(json.dumps(table, indent=1, ensure_ascii=False, sort_keys=True) + "\n")


if __name__ == "__main__":
    main(*sys.argv[1:3])
