"""The image's and the task definition's settings, given to the real binary: it starts with them,
serves what the scrapers and the health check ask for, and stops cleanly on SIGTERM (what ECS
sends when it stops a task).
"""

from __future__ import annotations

import signal

import pytest

from conftest import (
    container,
    dockerfile_instructions,
    env_pairs,
    first_json_line,
    free_port,
    http_get,
    run,
    sessionguard_env,
    start,
    task_definition,
    DOCKERFILE,
)


def container_environment() -> dict:
    """What the sidecar's process sees in ECS: the image's ENV, then the task definition's
    environment on top."""
    env = {}
    for i in dockerfile_instructions(DOCKERFILE.read_text()):
        if i.keyword == "FROM":
            env = {}  # only the final stage's ENV reaches the image
        elif i.keyword == "ENV":
            env.update(env_pairs(i.args))
    for e in container(task_definition(), "sessionguard")["environment"]:
        env[e["name"]] = e["value"]
    return env


def on_loopback(env: dict) -> dict:
    """The same settings with both listeners moved to free loopback ports (tests never bind
    all interfaces)."""
    moved = dict(env)
    for key in ("SESSIONGUARD_LISTEN", "SESSIONGUARD_METRICS_LISTEN"):
        moved[key] = "127.0.0.1:0"
    return moved


def test_binary_starts_with_the_container_settings_and_stops_on_sigterm(sessionguard_bin, tmp_path):
    """`sessionguard run` (the image's CMD) accepts every SESSIONGUARD_* value of the image and the
    task definition (a bad one exits 64), serves /metrics and /healthz on the metrics listener
    and never /v1/ there, and exits 0 on SIGTERM. There are no credentials here: the checks fail,
    the daemon keeps serving."""
    env = sessionguard_env(on_loopback(container_environment()))
    # Any STS call would go to a closed loopback port, never to AWS.
    env["AWS_ENDPOINT_URL_STS"] = "http://127.0.0.1:9"
    proc = start("sessionguard run", [str(sessionguard_bin), "run"], tmp_path / "run.log", env=env)
    try:
        started = first_json_line(proc, "sessionguard started")
        metrics = started["metrics_listen"]
        assert metrics.startswith("127.0.0.1:") and started["listen"].startswith("127.0.0.1:")
        status, body = http_get(f"http://{metrics}/metrics")
        assert status == 200 and b"sessionguard_build_info" in body
        assert http_get(f"http://{metrics}/healthz")[0] == 200
        assert http_get(f"http://{metrics}/v1/credentials")[0] == 404
        assert proc.popen.poll() is None, proc.output()
        proc.popen.send_signal(signal.SIGTERM)
        assert proc.popen.wait(timeout=15) == 0, proc.output()
    finally:
        proc.stop()


def test_a_bad_container_setting_is_refused_at_start(sessionguard_bin, tmp_path):
    """The check above can fail: a malformed value in the task definition is exit 64 at start."""
    env = on_loopback(container_environment())
    env["SESSIONGUARD_METRICS_LISTEN"] = "0.0.0.0:notaport"
    r = run([str(sessionguard_bin), "run"], env=sessionguard_env(env), timeout=30)
    assert r.returncode == 64, r.stdout + r.stderr
    assert "SESSIONGUARD_METRICS_LISTEN" in r.stdout + r.stderr


def health_command() -> list[str]:
    command = container(task_definition(), "sessionguard")["healthCheck"]["command"]
    assert command[0] == "CMD"
    return command[1:]


def subcommands(binary) -> set[str]:
    """The subcommands `sessionguard --help` lists."""
    r = run([str(binary), "--help"])
    assert r.returncode == 0, r.stdout + r.stderr
    _, found, listing = r.stdout.partition("Commands:")
    assert found, f"`sessionguard --help` lists no commands:\n{r.stdout}"
    names = set()
    for line in listing.splitlines():
        if line and not line.startswith(" "):
            break  # the next section (Options:)
        if line.split():
            names.add(line.split()[0])
    return names


def test_binary_has_the_health_check_subcommand(sessionguard_bin):
    """The subcommand the task definition's healthCheck runs is one the binary has: without it
    ECS marks every task unhealthy and replaces it."""
    subcommand = health_command()[1]
    assert subcommand in subcommands(sessionguard_bin), (
        f"the task definition's health check runs `sessionguard {subcommand}`, "
        "which `sessionguard --help` does not list"
    )


@pytest.fixture(scope="module")
def has_healthcheck(sessionguard_bin):
    """The health check tests need the subcommand; a binary without it fails them (as a missing
    tool does, see conftest.tool), it never skips them."""
    subcommand = health_command()[1]
    if subcommand not in subcommands(sessionguard_bin):
        pytest.fail(f"this binary has no `{subcommand}` subcommand, which the task definition runs")


def test_health_check_command_passes_against_a_ready_daemon(has_healthcheck, sessionguard_bin, demo):
    """The task definition's health command, run as ECS runs it (the container's environment,
    with SESSIONGUARD_LISTEN pointing at a ready demo), exits 0."""
    env = container_environment()
    env["SESSIONGUARD_LISTEN"] = demo.extra["listen"]
    argv = [str(sessionguard_bin), *health_command()[1:]]
    r = run(argv, env=sessionguard_env(env), timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr


def test_health_check_command_fails_when_nothing_listens(has_healthcheck, sessionguard_bin):
    """With no daemon on SESSIONGUARD_LISTEN, the health command exits 1 (ECS counts a retry)."""
    env = container_environment()
    env["SESSIONGUARD_LISTEN"] = f"127.0.0.1:{free_port()}"
    argv = [str(sessionguard_bin), *health_command()[1:]]
    r = run(argv, env=sessionguard_env(env), timeout=30)
    assert r.returncode == 1, r.stdout + r.stderr
