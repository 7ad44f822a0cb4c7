"""docs/deploy.md's shell commands as a reader pastes them, and a way to run them here.

A command is a logical line of a ```sh block (backslash continuations joined). It runs in bash,
in the repository (the build context the doc means by `.`), after the doc's own `export` lines,
with tests/image/docker first on PATH: `docker` is podman on these machines.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEPLOY_DOC = REPO / "docs" / "deploy.md"
SHIM_DIR = Path(__file__).resolve().parent
# The image docs/deploy.md's `docker build -t sessionguard .` makes.
IMAGE = "sessionguard"

FENCE = re.compile(r"^\s*```(\w*)\s*$")


@dataclass
class Command:
    text: str  # the logical line, continuations joined
    output: str | None  # the ```json block that follows the command's block, if any


def commands(path: Path = DEPLOY_DOC) -> list[Command]:
    """Every command of every ```sh block, in order, each with the ```json block printed right
    after its block (what the doc says the command writes)."""
    blocks: list[tuple[str, list[str]]] = []
    lang, lines = None, []
    for raw in path.read_text().splitlines():
        m = FENCE.match(raw)
        if m and lang is None:
            lang, lines = m[1] or "text", []
        elif m:
            blocks.append((lang, lines))
            lang = None
        elif lang is not None:
            lines.append(raw.strip())
    out: list[Command] = []
    for i, (lang, lines) in enumerate(blocks):
        if lang != "sh":
            continue
        following = blocks[i + 1] if i + 1 < len(blocks) else None
        json_after = "\n".join(following[1]) if following and following[0] == "json" else None
        logical = ""
        for line in lines:
            if line.endswith("\\"):
                logical += line[:-1].rstrip() + " "
                continue
            logical = (logical + line).strip()
            if logical and not logical.startswith("#"):
                out.append(Command(logical, json_after))
            logical = ""
    return out


def find(prefix: str, path: Path = DEPLOY_DOC) -> list[Command]:
    return [c for c in commands(path) if c.text.startswith(prefix)]


def exports(path: Path = DEPLOY_DOC) -> str:
    """The doc's `export` lines, which later commands rely on."""
    return "\n".join(c.text for c in commands(path) if c.text.startswith("export "))


def shell(command: str, cwd: Path = REPO, timeout: float = 120, env: dict | None = None,
          **kwargs) -> subprocess.CompletedProcess:  # fmt: skip
    """`command` in bash after the doc's exports, with `docker` meaning podman."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    full_env["PATH"] = f"{SHIM_DIR}:{full_env.get('PATH', '/usr/bin:/bin')}"
    script = f"set -eo pipefail\n{exports()}\n{command}\n"
    return subprocess.run(
        ["bash", "-c", script], cwd=cwd, env=full_env, capture_output=True, text=True,
        timeout=timeout, **kwargs,
    )  # fmt: skip


def podman(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout)
