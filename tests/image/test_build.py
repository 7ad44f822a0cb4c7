"""The image, built from the unchanged Dockerfile by the commands docs/deploy.md prints.

`docker` is podman (tests/image/docker); the base images are the local stand-ins of
scripts/image-bases.sh. Runs on the machine's network: the builder downloads crates.
"""

from __future__ import annotations

import json
import shutil
import time

import pytest

from docs import IMAGE, REPO, find, podman, shell

# A cold build (crate downloads and a fat-LTO release build on 2 cores) takes minutes.
BUILD_TIMEOUT = 40 * 60


def test_the_docs_build_commands_build_the_image():
    """docs/deploy.md's `docker build -t sessionguard .` and step 1's `docker buildx build
    --platform linux/amd64 -t $ACCOUNT.dkr.ecr....` build the image, as printed; only `--push`
    is left out (no registry here). Both name the same image."""
    (build,) = find("docker build ")
    (buildx,) = find("docker buildx build ")
    assert " --push" in buildx.text, buildx.text
    local = buildx.text.replace(" --push", "")
    for command in (build.text, local):
        started = time.monotonic()
        r = shell(command, timeout=BUILD_TIMEOUT)
        assert r.returncode == 0, f"{command}\n{r.stdout[-4000:]}\n{r.stderr[-4000:]}"
        print(f"{command}: {time.monotonic() - started:.0f} s")
    pushed_as = shell("echo \"$ACCOUNT.dkr.ecr.$AWS_REGION.amazonaws.com/sessionguard:0.1.0\"")
    ids = {podman("image", "inspect", "--format", "{{.Id}}", name).stdout.strip()
           for name in (IMAGE, pushed_as.stdout.strip())}  # fmt: skip
    assert len(ids) == 1 and "" not in ids, ids


def image_config() -> dict:
    r = podman("image", "inspect", IMAGE)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)[0]


def sidecar_definition() -> dict:
    td = json.loads((REPO / "task-definition.json").read_text())
    (c,) = [c for c in td["containerDefinitions"] if c["name"] == "sessionguard"]
    return c


def test_the_image_is_what_the_task_definition_expects():
    """What the image carries: `sessionguard run` as the task definition's user (65532), the API
    on loopback 9780 and the metrics on 9781, both exposed, and the HEALTHCHECK (kept because the
    build writes Docker's format, as Docker does) with the command and timing the task
    definition's `healthCheck` repeats (ECS ignores the image's)."""
    config = image_config()
    c = sidecar_definition()
    assert config["User"].split(":")[0] == c["user"] == "65532", config["User"]
    assert config["Config"]["Entrypoint"] == ["/usr/local/bin/sessionguard"]
    assert config["Config"]["Cmd"] == ["run"]
    env = dict(e.split("=", 1) for e in config["Config"]["Env"])
    assert env["SESSIONGUARD_LISTEN"] == "127.0.0.1:9780"
    assert env["SESSIONGUARD_METRICS_LISTEN"] == "0.0.0.0:9781"
    assert set(config["Config"]["ExposedPorts"]) == {"9780/tcp", "9781/tcp"}
    health = config["Healthcheck"]  # podman keeps a Docker-format image's HEALTHCHECK here
    hc = c["healthCheck"]
    assert health["Test"] == hc["command"] == ["CMD", "/usr/local/bin/sessionguard", "healthcheck"]
    second = 1_000_000_000
    assert health["Interval"] == hc["interval"] * second
    assert health["Timeout"] == hc["timeout"] * second
    assert health["StartPeriod"] == hc["startPeriod"] * second
    assert health["Retries"] == hc["retries"]
    print(f"image size: {config['Size']} bytes unpacked")


def test_the_image_has_no_shell():
    """distroless: nothing to exec but the binary."""
    r = podman("run", "--rm", "--network", "none", "--entrypoint", "/bin/sh", IMAGE, "-c", "true")
    assert r.returncode != 0
    r = podman("run", "--rm", "--network", "none", IMAGE, "--version")
    assert r.returncode == 0 and r.stdout.startswith("sessionguard "), r.stdout + r.stderr


@pytest.fixture
def context_copy(tmp_path):
    """A copy of what the build context holds (the files .dockerignore lets in), to break."""
    ctx = tmp_path / "context"
    ctx.mkdir()
    for name in ("Dockerfile", ".dockerignore", "Cargo.toml", "Cargo.lock"):
        shutil.copy2(REPO / name, ctx / name)
    for name in ("src", "benches"):
        shutil.copytree(REPO / name, ctx / name)
    return ctx


def test_a_target_the_builder_does_not_copy_fails_the_build(context_copy):
    """The build above proves something: a manifest target outside what the builder COPYs (an
    example here, in the context but not copied, as benches/ once was) fails it: cargo refuses a
    manifest that declares a target (without `path`) whose file is not where cargo looks."""
    ctx = context_copy
    with (ctx / "Cargo.toml").open("a") as f:
        f.write('\n[[example]]\nname = "ghost"\n')
    (ctx / "examples").mkdir()
    (ctx / "examples" / "ghost.rs").write_text("fn main() {}\n")
    with (ctx / ".dockerignore").open("a") as f:
        f.write("!examples\n")
    r = shell("docker build -t sessionguard-ghost .", cwd=ctx, timeout=BUILD_TIMEOUT)
    podman("rmi", "-f", "sessionguard-ghost")
    assert r.returncode != 0, r.stdout[-2000:]
    assert "can't find `ghost` example" in r.stdout + r.stderr, (r.stdout + r.stderr)[-3000:]
