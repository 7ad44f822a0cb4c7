"""Dockerfile and .dockerignore: what the built image cannot say. The image itself is built and
run by scripts/test-image.sh (tests/image, tests/it/image.rs); here: hadolint's lint, a build
context without target/, .git or the venv, and a quick check that what the builder COPYs is a
crate cargo accepts (the real build takes minutes, this one seconds).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import DOCKERFILE, DOCKERIGNORE, REPO, dockerfile_instructions, run, tool


def instructions():
    return dockerfile_instructions(DOCKERFILE.read_text())


def test_hadolint_finds_nothing():
    """hadolint reports no warning or error (and, today, no info either)."""
    r = run([tool("hadolint"), "--failure-threshold", "warning", str(DOCKERFILE)])
    assert r.returncode == 0, r.stdout + r.stderr


def test_hadolint_fails_a_dockerfile_with_known_mistakes(tmp_path):
    """The lint is live: an unpinned base image and an unpinned, recommends-pulling apt-get fail."""
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM debian:latest\nRUN apt-get update && apt-get install -y curl\n")
    r = run([tool("hadolint"), "--failure-threshold", "warning", str(bad)])
    assert r.returncode != 0
    assert "DL3007" in r.stdout and "DL3008" in r.stdout, r.stdout


def ignore_patterns(text: str | None = None) -> list[tuple[bool, re.Pattern, str]]:
    """(negated, regex, pattern) for each .dockerignore line, cleaned as Docker does."""
    out = []
    for line in (DOCKERIGNORE.read_text() if text is None else text).splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        pattern = os.path.normpath(line.lstrip("!").strip()).lstrip("/")
        regex = ""
        i = 0
        while i < len(pattern):
            if pattern.startswith("**/", i):  # any number of directories, including none
                regex, i = regex + "(?:.*/)?", i + 3
                continue
            if pattern.startswith("**", i):
                regex, i = regex + ".*", i + 2
                continue
            c = pattern[i]
            regex += "[^/]*" if c == "*" else "[^/]" if c == "?" else re.escape(c)
            i += 1
        out.append((negated, re.compile(regex + r"\Z"), pattern))
    return out


def ignored(rel: str, patterns) -> bool:
    """Docker's rule: the last pattern that matches the path, or one of its parent directories,
    decides; `*` does not cross `/`, `**` does."""
    parts = rel.split("/")
    candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    result = False
    for negated, regex, _ in patterns:
        if any(regex.match(c) for c in candidates):
            result = not negated
    return result


def context_files(patterns) -> set[str]:
    """The files `docker build .` would send."""

    def could_reinclude(d: str) -> bool:
        for negated, _, pattern in patterns:
            static = re.split(r"[*?\[]", pattern, maxsplit=1)[0]
            if negated and (static.startswith(d + "/") or (static != pattern and d.startswith(static))):
                return True
        return False

    files = set()
    for root, dirs, names in os.walk(REPO):
        rel_root = os.path.relpath(root, REPO)

        def rel(name: str, rel_root: str = rel_root) -> str:
            return os.path.normpath(os.path.join(rel_root, name))

        # Directories left out whole are not walked (target/ is gigabytes).
        dirs[:] = [d for d in dirs if not ignored(rel(d), patterns) or could_reinclude(rel(d))]
        files |= {rel(n) for n in names if not ignored(rel(n), patterns)}
    return files


def missing_from_context(patterns) -> list[str]:
    """What the builder COPYs or compiles in and the context would not have: every file under
    each COPY source, and every include_str!/include_bytes! target of the sources."""
    files = context_files(patterns)
    missing = []
    for i in instructions():
        if i.stage != 0 or i.keyword != "COPY":
            continue
        *sources, _dest = i.args.split()
        for src in sources:
            path = REPO / src
            wanted = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
            if not wanted:
                missing.append(f"COPY {src}: nothing in the repo")
            for w in wanted:
                if str(w.relative_to(REPO)) not in files:
                    missing.append(f"COPY {src}: {w.relative_to(REPO)}")
    for rs in (REPO / "src").rglob("*.rs"):
        for included in re.findall(r'include_(?:str|bytes)!\(\s*"([^"]+)"', rs.read_text()):
            rel = os.path.relpath(os.path.normpath(rs.parent / included), REPO)
            if rel not in files:
                missing.append(f"{rs.relative_to(REPO)} includes {included}")
    return missing


def test_build_context_leaves_out_target_git_and_the_test_venv():
    """`docker build .` does not send gigabytes of target/, the git history or the venv."""
    patterns = ignore_patterns()
    for rel in ("target/debug/sessionguard", ".git/HEAD", ".venv-deploy/bin/python",
                "tests/deploy/conftest.py", "README.md", "Dockerfile"):  # fmt: skip
        assert ignored(rel, patterns), rel
    for rel in ("Cargo.toml", "Cargo.lock", "src/main.rs", "src/routes.rs"):
        assert not ignored(rel, patterns), rel


def test_build_context_holds_everything_the_builder_copies_and_includes():
    """Each file under each COPY source of the builder is in the context, and so is every file the
    sources pull in with include_str!/include_bytes!."""
    assert missing_from_context(ignore_patterns()) == []


@pytest.mark.parametrize("rel", ["Cargo.lock", "src/main.rs", "src/**/*.rs"])
def test_context_check_notices_what_dockerignore_would_drop(rel):
    """The context check fails when .dockerignore leaves out something the build needs."""
    patterns = ignore_patterns(DOCKERIGNORE.read_text() + f"\n{rel}\n")
    assert missing_from_context(patterns) != []


def builder_copy(ctx: Path, leave_out: str | None = None) -> None:
    """Into `ctx`, exactly what the builder stage COPYs from the context (the `/src` it builds
    in), optionally leaving out one source."""
    for i in instructions():
        if i.stage != 0 or i.keyword != "COPY" or i.args.startswith("--from"):
            continue
        *sources, dest = i.args.split()
        for src in sources:
            if src == leave_out:
                continue
            target = ctx / (Path(src).name if dest.endswith("/") else dest)
            if (REPO / src).is_dir():
                shutil.copytree(REPO / src, target)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(REPO / src, target)


def cargo_check(ctx: Path) -> subprocess.CompletedProcess:
    """`cargo check --locked --offline` in `ctx`: cargo reads every target the manifest declares
    (as the builder's `cargo build --release --locked` does), with the dependencies already checked
    in the repository's target/ (only the crate itself is checked again)."""
    cargo = shutil.which("cargo") or str(Path.home() / ".cargo" / "bin" / "cargo")
    env = {**os.environ, "CARGO_TARGET_DIR": str(REPO / "target")}
    return run([cargo, "check", "--locked", "--offline", "-q"], cwd=ctx, timeout=600, env=env)


def test_what_the_builder_copies_is_a_crate_cargo_builds(tmp_path):
    """The builder's COPYs bring every file the manifest names and a lock file that matches it."""
    builder_copy(tmp_path)
    r = cargo_check(tmp_path)
    assert r.returncode == 0, r.stderr


def test_a_declared_target_the_builder_does_not_copy_fails_the_check(tmp_path):
    """The check above can fail: without `COPY benches`, cargo refuses the manifest, exactly as the
    image build did before the builder copied benches/."""
    builder_copy(tmp_path, leave_out="benches")
    r = cargo_check(tmp_path)
    assert r.returncode != 0
    assert "can't find `presign` bench" in r.stderr, r.stderr
