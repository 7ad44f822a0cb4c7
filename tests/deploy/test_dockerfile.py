"""Dockerfile and .dockerignore: hadolint-clean, the image a user runs, and a build context that
holds what the build needs. There is no Docker engine here, so the build itself is not run; these
tests check everything about it that can be checked without one.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from conftest import (
    DOCKERFILE,
    DOCKERIGNORE,
    REPO,
    container,
    dockerfile_instructions,
    env_pairs,
    exec_form,
    run,
    task_definition,
    tool,
)

BINARY = "/usr/local/bin/sessionguard"


def instructions():
    return dockerfile_instructions(DOCKERFILE.read_text())


def final_stage():
    ins = instructions()
    last = max(i.stage for i in ins)
    return [i for i in ins if i.stage == last]


def one(stage, keyword):
    found = [i for i in stage if i.keyword == keyword]
    assert len(found) == 1, f"expected one {keyword} in the final stage, found {len(found)}"
    return found[0]


def healthcheck():
    """(options, command) of the final stage's HEALTHCHECK."""
    args = one(final_stage(), "HEALTHCHECK").args
    opts = dict(re.findall(r"--([a-z-]+)=(\S+)", args))
    _, sep, command = args.partition("CMD ")
    assert sep, f"HEALTHCHECK without CMD: {args}"
    return opts, exec_form(command)


def seconds(duration: str) -> int:
    m = re.fullmatch(r"(\d+)(s|m)", duration)
    assert m, duration
    return int(m[1]) * (60 if m[2] == "m" else 1)


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


def test_builder_is_a_pinned_rust_image_building_the_locked_release():
    """The first stage is a versioned rust bookworm image (Debian 12 like the runtime) running
    `cargo build --release --locked`."""
    ins = instructions()
    builder = ins[0]
    assert builder.keyword == "FROM"
    image = builder.args.split()[0]
    assert re.fullmatch(r"rust:1\.\d+(\.\d+)?-slim-bookworm(@sha256:[0-9a-f]{64})?", image), image
    runs = " ".join(i.args for i in ins if i.stage == 0 and i.keyword == "RUN")
    assert "cargo build --release --locked" in runs


def test_runtime_is_distroless_cc_running_the_binary_as_nonroot():
    """What `docker run sessionguard` does: distroless cc-debian12 as uid 65532, exec-form
    `sessionguard run`, no shell anywhere."""
    stage = final_stage()
    assert stage[0].args.split()[0] == "gcr.io/distroless/cc-debian12:nonroot"
    copies = [i.args for i in stage if i.keyword == "COPY"]
    assert copies == [f"--from=builder {BINARY} {BINARY}"], copies
    assert one(stage, "USER").args.split(":")[0] == "65532"
    assert exec_form(one(stage, "ENTRYPOINT").args) == [BINARY]
    assert exec_form(one(stage, "CMD").args) == ["run"]
    assert not [i for i in stage if i.keyword in {"RUN", "SHELL"}], "no shell in distroless"


def test_runtime_listens_where_the_task_definition_expects():
    """The API on loopback 9780, metrics on 9781 for scrapers; both exposed."""
    stage = final_stage()
    env = {}
    for i in stage:
        if i.keyword == "ENV":
            env.update(env_pairs(i.args))
    assert env["SESSIONGUARD_LISTEN"] == "127.0.0.1:9780"
    assert env["SESSIONGUARD_METRICS_LISTEN"] == "0.0.0.0:9781"
    exposed = {p for i in stage if i.keyword == "EXPOSE" for p in i.args.split()}
    assert exposed == {"9780", "9781"}


def test_healthcheck_is_exec_form_and_matches_the_task_definition():
    """Docker's HEALTHCHECK and the ECS healthCheck (ECS ignores the image's) run the same
    command with the same timing."""
    opts, command = healthcheck()
    assert command == [BINARY, "healthcheck"]
    hc = container(task_definition(), "sessionguard")["healthCheck"]
    assert hc["command"] == ["CMD", *command]
    assert seconds(opts["interval"]) == hc["interval"]
    assert seconds(opts["timeout"]) == hc["timeout"]
    assert seconds(opts["start-period"]) == hc["startPeriod"]
    assert int(opts["retries"]) == hc["retries"]


def test_task_definition_runs_as_the_image_user():
    """The task's `user` is the image's USER (distroless nonroot)."""
    user = one(final_stage(), "USER").args.split(":")[0]
    assert container(task_definition(), "sessionguard")["user"] == user


# --- the build context ---------------------------------------------------------------------------


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


def test_build_context_resolves_with_the_lock_file(tmp_path):
    """`cargo build --locked` in the builder needs Cargo.lock to match Cargo.toml: cargo resolves
    a copy of the context offline, with --locked, for the image's platform, without complaint."""
    ctx = tmp_path / "context"
    for rel in context_files(ignore_patterns()):
        dest = ctx / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, dest)
    cargo = shutil.which("cargo") or str(Path.home() / ".cargo" / "bin" / "cargo")
    r = run(
        [cargo, "tree", "--locked", "--offline", "--target", "x86_64-unknown-linux-gnu",
         "-e", "normal,build", "--prefix", "none"],
        cwd=ctx, timeout=120,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("sessionguard v"), r.stdout[:200]
