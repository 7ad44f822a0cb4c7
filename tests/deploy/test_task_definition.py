"""task-definition.json and task-definition-secrets-manager.json: what RegisterTaskDefinition
would accept, and what the sidecar needs.

botocore's ECS model is the API's own description of RegisterTaskDefinition: ParamValidator checks
types, unknown and missing keys against it; it does not check enums, so `enum_errors` walks the
shape for them. Limits the model leaves to prose (Fargate cpu/memory pairs, health check ranges)
are encoded below from the ECS API reference. Then each file is registered on a moto server, and
the sidecar's environment of each is given to the real binary, which must accept it.

Every check that holds for both files runs once per file (the `task_definition_path` fixture of
conftest.py); the checks of the Secrets Manager variant come after them.
"""

from __future__ import annotations

import copy
import ipaddress
import json
import re
from pathlib import Path

import boto3
import botocore.session
import pytest
from botocore.validate import ParamValidator

from conftest import (
    TASK_DEFINITION,
    TASK_DEFINITION_SECRETS_MANAGER,
    container,
    container_env,
    http_get,
    run,
    start,
    start_moto,
    task_definition,
    wait_for,
)

SIDECAR = "sessionguard"
APP = "app"


def register_shape():
    model = botocore.session.get_session().get_service_model("ecs")
    return model.operation_model("RegisterTaskDefinition").input_shape


def validation_errors(params: dict) -> str:
    """ParamValidator's report: types, unknown keys, missing required keys, minimums."""
    report = ParamValidator().validate(params, register_shape())
    return report.generate_report() if report.has_errors() else ""


def enum_errors(value, shape, path: str = "") -> list[str]:
    """Every string in `value` whose shape has an enum, and which is not one of its values."""
    errors: list[str] = []
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict):
        for key, item in value.items():
            if key in shape.members:
                errors += enum_errors(item, shape.members[key], f"{path}.{key}")
    elif kind == "list" and isinstance(value, list):
        for i, item in enumerate(value):
            errors += enum_errors(item, shape.member, f"{path}[{i}]")
    elif kind == "map" and isinstance(value, dict):
        for key, item in value.items():
            errors += enum_errors(key, shape.key, f"{path} key {key!r}")
            errors += enum_errors(item, shape.value, f"{path}[{key!r}]")
    elif kind == "string" and isinstance(value, str) and shape.enum:
        if value not in shape.enum:
            errors.append(f"{path.lstrip('.')}: {value!r} is not one of {shape.enum}")
    return errors


def test_matches_the_register_task_definition_shape(task_definition_path):
    """The file has only keys the ECS API knows, with the right types, and every required one."""
    assert validation_errors(task_definition(task_definition_path)) == ""


def test_every_enum_value_is_one_the_api_accepts(task_definition_path):
    """networkMode, requiresCompatibilities, logDriver, dependsOn conditions, protocols, ... are
    values of the API's enums (ParamValidator does not look)."""
    assert enum_errors(task_definition(task_definition_path), register_shape()) == []


@pytest.mark.parametrize(
    "mistake, edit, expect",
    [
        ("unknown key", lambda td: td.update(healthcheck={}), "Unknown parameter"),
        ("missing key", lambda td: td.pop("family"), "Missing required parameter"),
        ("wrong type", lambda td: td.update(cpu=512), "Invalid type"),
        (
            "health check without command",
            lambda td: container(td, SIDECAR)["healthCheck"].pop("command"),
            "Missing required parameter",
        ),
    ],
)
def test_shape_validation_reports_mistakes(task_definition_path, mistake, edit, expect):
    """The shape check fails on the mistakes it is there to catch."""
    td = task_definition(task_definition_path)
    edit(td)
    assert expect in validation_errors(td), mistake


@pytest.mark.parametrize(
    "edit, expect",
    [
        (lambda td: td.update(networkMode="awsvpcx"), "networkMode"),
        (lambda td: td.update(requiresCompatibilities=["fargate"]), "requiresCompatibilities[0]"),
        (
            lambda td: container(td, APP)["dependsOn"][0].update(condition="HEALTH"),
            "containerDefinitions[0].dependsOn[0].condition",
        ),
        (
            lambda td: container(td, SIDECAR)["logConfiguration"].update(logDriver="cloudwatch"),
            "containerDefinitions[1].logConfiguration.logDriver",
        ),
    ],
)
def test_enum_check_reports_values_outside_the_enum(task_definition_path, edit, expect):
    """The enum walk finds a wrong value at any depth and names where it is."""
    td = task_definition(task_definition_path)
    edit(td)
    errors = enum_errors(td, register_shape())
    assert len(errors) == 1 and errors[0].startswith(expect + ":"), errors


# Fargate task sizes, from the ECS API reference (RegisterTaskDefinition `memory`, "Available cpu
# values") and "Task CPU and memory" in the ECS developer guide.
def fargate_memory_choices(cpu: int) -> set[int]:
    gib = 1024
    table = {
        256: {512, 1 * gib, 2 * gib},
        512: {m * gib for m in range(1, 5)},
        1024: {m * gib for m in range(2, 9)},
        2048: {m * gib for m in range(4, 17)},
        4096: {m * gib for m in range(8, 31)},
        8192: {m * gib for m in range(16, 61, 4)},
        16384: {m * gib for m in range(32, 121, 8)},
    }
    return table.get(cpu, set())


def test_fargate_size_is_one_fargate_offers_and_the_containers_fit(task_definition_path):
    """cpu/memory is a pair Fargate runs (else: "No Fargate configuration exists for given
    values"), and the containers' reservations fit inside it."""
    td = task_definition(task_definition_path)
    cpu, memory = int(td["cpu"]), int(td["memory"])
    assert memory in fargate_memory_choices(cpu), (cpu, memory)
    containers = td["containerDefinitions"]
    assert sum(c.get("cpu", 0) for c in containers) <= cpu
    assert sum(c.get("memoryReservation", c.get("memory", 0)) for c in containers) <= memory


def test_fargate_awsvpc_and_roles(task_definition_path):
    """A Fargate awsvpc task with a task role (the session sessionguard watches) and an
    execution role (image pull, awslogs)."""
    td = task_definition(task_definition_path)
    assert td["requiresCompatibilities"] == ["FARGATE"]
    assert td["networkMode"] == "awsvpc"
    for key in ("taskRoleArn", "executionRoleArn"):
        assert td[key].startswith("arn:aws:iam::123456789012:role/"), key


def test_sidecar_health_check_runs_the_binary_within_ecs_limits(task_definition_path):
    """The sidecar's health check is `sessionguard healthcheck` in exec form (no shell in the
    image), inside the ranges ECS accepts: interval 5-300 s, timeout 2-60 s, retries 1-10,
    startPeriod 0-300 s (ECS API reference, HealthCheck)."""
    hc = container(task_definition(task_definition_path), SIDECAR)["healthCheck"]
    assert hc["command"] == ["CMD", "/usr/local/bin/sessionguard", "healthcheck"]
    assert 5 <= hc["interval"] <= 300
    assert 2 <= hc["timeout"] <= 60 and hc["timeout"] < hc["interval"]
    assert 1 <= hc["retries"] <= 10
    assert 0 <= hc["startPeriod"] <= 300


def test_app_starts_after_the_sidecar_is_healthy(task_definition_path):
    """The app waits for a HEALTHY sidecar, which needs the sidecar to have a health check."""
    td = task_definition(task_definition_path)
    app = container(td, APP)
    assert {"containerName": SIDECAR, "condition": "HEALTHY"} in app["dependsOn"]
    assert "healthCheck" in container(td, SIDECAR)
    assert app["essential"] is True


def test_sidecar_is_locked_down(task_definition_path):
    """Non-root (distroless nonroot uid), read-only root filesystem, no capabilities, essential."""
    sidecar = container(task_definition(task_definition_path), SIDECAR)
    assert sidecar["user"] == "65532"
    assert sidecar["readonlyRootFilesystem"] is True
    assert sidecar["essential"] is True
    assert sidecar["linuxParameters"]["capabilities"]["drop"] == ["ALL"]


def test_sidecar_environment(task_definition_path):
    """The sidecar is configured through the documented variables, with values of their form."""
    env = container_env(task_definition(task_definition_path), SIDECAR)
    assert set(env) >= {
        "SESSIONGUARD_LOG_FORMAT",
        "SESSIONGUARD_METRICS_LISTEN",
        "SESSIONGUARD_PRESIGN_ALLOW",
        "AWS_REGION",
    }
    assert env["SESSIONGUARD_LOG_FORMAT"] in {"json", "emf"}
    assert env["SESSIONGUARD_METRICS_LISTEN"] == "0.0.0.0:9781"
    assert "SESSIONGUARD_LISTEN" not in env or env["SESSIONGUARD_LISTEN"].startswith("127.0.0.1:")
    # `METHOD:BUCKET/PREFIX` rules, each limited to one method and a key prefix (the binary's own
    # parser judges them in test_container_contract.py).
    for rule in env["SESSIONGUARD_PRESIGN_ALLOW"].split(","):
        method, sep, target = rule.partition(":")
        bucket, _, prefix = target.partition("/")
        assert sep and method in {"GET", "PUT"} and bucket and prefix.endswith("/"), rule
    assert env["AWS_REGION"] == "us-east-1"


def test_only_the_metrics_port_is_mapped_and_labelled_for_discovery(task_definition_path):
    """Port 9781 (metrics, health) is the only mapping; the API on 9780 stays on the task's
    loopback. The docker labels that ECS Prometheus discovery reads point at the same port."""
    td = task_definition(task_definition_path)
    sidecar = container(td, SIDECAR)
    env = {e["name"]: e["value"] for e in sidecar["environment"]}
    metrics_port = int(env["SESSIONGUARD_METRICS_LISTEN"].rsplit(":", 1)[1])
    assert ipaddress.ip_address(env["SESSIONGUARD_METRICS_LISTEN"].rsplit(":", 1)[0])
    assert [(p["containerPort"], p["protocol"]) for p in sidecar["portMappings"]] == [
        (metrics_port, "tcp")
    ]
    # awsvpc: a hostPort, if given, must equal the containerPort.
    for p in sidecar["portMappings"]:
        assert p.get("hostPort", p["containerPort"]) == p["containerPort"], p
    labels = sidecar["dockerLabels"]
    # CloudWatch agent ECS service discovery: its default sd_port_label / sd_metrics_path_label /
    # sd_job_name_label. prometheus-ecs-discovery: its default port / path / job-name labels.
    assert labels["ECS_PROMETHEUS_EXPORTER_PORT"] == str(metrics_port)
    assert labels["ECS_PROMETHEUS_METRICS_PATH"] == "/metrics"
    assert labels["PROMETHEUS_EXPORTER_PORT"] == str(metrics_port)
    assert labels["PROMETHEUS_EXPORTER_PATH"] == "/metrics"
    # alerts.yml selects job="sessionguard".
    assert labels["ECS_PROMETHEUS_JOB_NAME"] == labels["PROMETHEUS_EXPORTER_JOB_NAME"] == "sessionguard"
    for c in td["containerDefinitions"]:
        for p in c.get("portMappings", []):
            assert p["containerPort"] != 9780, f"{c['name']} maps the loopback API port"


def test_both_containers_log_to_cloudwatch(task_definition_path):
    """awslogs with a group, a region and a per-container stream prefix."""
    td = task_definition(task_definition_path)
    prefixes = set()
    for c in td["containerDefinitions"]:
        log = c["logConfiguration"]
        assert log["logDriver"] == "awslogs", c["name"]
        opts = log["options"]
        assert opts["awslogs-group"].startswith("/ecs/")
        assert opts["awslogs-region"] == "us-east-1"
        prefixes.add(opts["awslogs-stream-prefix"])
    assert len(prefixes) == len(td["containerDefinitions"])


# --- moto ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def moto_ecs(tmp_path_factory):
    """A moto server on a free loopback port and an ECS client pointed at it."""
    proc, url = start_moto(tmp_path_factory.mktemp("moto") / "moto.log")
    try:
        yield boto3.client(
            "ecs",
            region_name="us-east-1",
            endpoint_url=url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
    finally:
        proc.stop()


def assert_subset(expected, actual, path="taskDefinition"):
    """Every key and value we sent comes back (the service may add its own defaults)."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict), path
        for key, value in expected.items():
            assert key in actual, f"{path}.{key} missing from the description"
            assert_subset(value, actual[key], f"{path}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), path
        for i, (e, a) in enumerate(zip(expected, actual)):
            assert_subset(e, a, f"{path}[{i}]")
    else:
        assert actual == expected, f"{path}: sent {expected!r}, got {actual!r}"


def test_registers_on_moto_and_describes_back(moto_ecs, task_definition_path):
    """RegisterTaskDefinition accepts the file as is; DescribeTaskDefinition returns revision 1,
    ACTIVE, with every setting we sent."""
    td = task_definition(task_definition_path)
    registered = moto_ecs.register_task_definition(**copy.deepcopy(td))["taskDefinition"]
    assert registered["family"] == "my-app"
    described = moto_ecs.describe_task_definition(taskDefinition=registered["taskDefinitionArn"])
    got = described["taskDefinition"]
    assert got["revision"] == registered["revision"]
    assert got["status"] == "ACTIVE"
    assert got["taskDefinitionArn"].startswith("arn:aws:ecs:us-east-1:123456789012:task-definition/my-app:")
    assert_subset(td, got)


# --- both files: what the sidecar is given -------------------------------------------------------

# Variables that would give a process AWS credentials, or point it at AWS endpoints or the task
# metadata endpoint. In a container definition, keys in `environment` (or `secrets`) would also
# come before the task role in the default chain, so the sidecar would watch (and sign with) them.
CREDENTIAL_VARIABLES = {
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
}
REACHING_OUT_PREFIXES = ("AWS_CONTAINER_", "AWS_ENDPOINT_URL", "ECS_CONTAINER_METADATA_URI")

SIGV4_MAX_EXPIRES = 7 * 86_400

# humantime's units (the binary parses durations with it), up to weeks. Months and years are
# humantime units too, but no value here should use them.
HUMANTIME_UNITS = {
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), 1),
    **dict.fromkeys(("m", "min", "mins", "minute", "minutes"), 60),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), 3_600),
    **dict.fromkeys(("d", "day", "days"), 86_400),
    **dict.fromkeys(("w", "week", "weeks"), 7 * 86_400),
}


def duration_seconds(text: str) -> int:
    """A humantime duration (`7d`, `1h 30m`, `90s`) in seconds; ValueError for anything else."""
    if not re.fullmatch(r"\s*(\d+\s*[a-z]+\s*)+", text):
        raise ValueError(f"not a duration: {text!r}")
    total = 0
    for number, unit in re.findall(r"(\d+)\s*([a-z]+)", text):
        if unit not in HUMANTIME_UNITS:
            raise ValueError(f"unknown unit {unit!r} in {text!r}")
        total += int(number) * HUMANTIME_UNITS[unit]
    return total


@pytest.mark.parametrize(
    "text, seconds",
    [("7d", 604_800), ("168h", 604_800), ("1w", 604_800), ("12h", 43_200), ("1h 30m", 5_400), ("90s", 90)],
)
def test_duration_parser(text, seconds):
    assert duration_seconds(text) == seconds


@pytest.mark.parametrize("text", ["7", "", "7 fortnights", "7M", "-1d", "1.5h"])
def test_duration_parser_refuses_what_it_does_not_know(text):
    with pytest.raises(ValueError):
        duration_seconds(text)


def test_no_container_is_given_aws_keys(task_definition_path):
    """No container gets static AWS keys (or another credential source) through `environment` or
    `secrets`: the task role is the only identity, and the sidecar reads signing keys itself."""
    td = task_definition(task_definition_path)
    for c in td["containerDefinitions"]:
        names = [e["name"] for e in c.get("environment", [])] + [s["name"] for s in c.get("secrets", [])]
        assert not CREDENTIAL_VARIABLES & set(names), (c["name"], names)


def test_presign_max_expires_in_is_within_the_sigv4_limit(task_definition_path):
    """The longest URL the sidecar may sign (12h when unset) is at most 7 days, SigV4's limit."""
    env = container_env(task_definition(task_definition_path), SIDECAR)
    seconds = duration_seconds(env.get("SESSIONGUARD_PRESIGN_MAX_EXPIRES_IN", "12h"))
    assert 0 < seconds <= SIGV4_MAX_EXPIRES, env.get("SESSIONGUARD_PRESIGN_MAX_EXPIRES_IN")


# What the binary gets on top of the sidecar's environment from the file: no instance metadata, no
# profiles, no home directory, and both listeners on loopback ports of the kernel's choosing (the
# file's 0.0.0.0:9781 is for the task's network namespace, not for a test).
RUN_ENVIRONMENT = {
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": "/dev/null",
    "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    "SESSIONGUARD_LISTEN": "127.0.0.1:0",
    "SESSIONGUARD_METRICS_LISTEN": "127.0.0.1:0",
    "HOME": "/nonexistent",
}


def sidecar_run_environment(td: dict) -> dict:
    """Exactly the sidecar's `environment` from the file plus RUN_ENVIRONMENT (nothing inherited,
    not even PATH). With no credential source in it the binary cannot sign a request, so it never
    calls AWS: its checks fail and it keeps serving on loopback."""
    env = container_env(td, SIDECAR)
    reaching_out = [
        k for k in env if k in CREDENTIAL_VARIABLES or k.startswith(REACHING_OUT_PREFIXES)
    ]
    assert not reaching_out, f"the sidecar's environment would reach AWS from a test: {reaching_out}"
    return {**env, **RUN_ENVIRONMENT}


def started_or_exited(proc, timeout: float = 15):
    """("started", the `sessionguard started` line) or ("exited", the exit code), whichever
    comes first."""

    def probe():
        for line in proc.output().splitlines():
            if line.startswith("{") and json.loads(line).get("message") == "sessionguard started":
                return ("started", json.loads(line))
        if proc.popen.poll() is not None:
            return ("exited", proc.popen.returncode)
        return None

    return wait_for(f"{proc.name} to start or exit", probe, timeout)


@pytest.mark.parametrize(
    "path, signing_source",
    [(TASK_DEFINITION, "task"), (TASK_DEFINITION_SECRETS_MANAGER, "secrets-manager")],
    ids=lambda v: v.name if isinstance(v, Path) else v,
)
def test_the_binary_accepts_the_sidecar_environment(sessionguard_bin, tmp_path, path, signing_source):
    """`sessionguard run` with exactly the sidecar's environment from the file does not refuse it
    (exit 64, bad configuration): it starts with the file's signing source, answers on loopback,
    and exits 0 on SIGTERM."""
    env = sidecar_run_environment(task_definition(path))
    proc = start("sessionguard run", [str(sessionguard_bin), "run"], tmp_path / "run.log", env=env)
    try:
        kind, value = started_or_exited(proc)
        refused = " (64: the configuration was refused)" if value == 64 else ""
        assert kind == "started", f"exited {value}{refused}:\n{proc.output()}"
        assert value["signing_source"] == signing_source, value
        assert value["presign_allow"] == env["SESSIONGUARD_PRESIGN_ALLOW"], value
        assert value["listen"].startswith("127.0.0.1:"), value
        assert value["metrics_listen"].startswith("127.0.0.1:"), value
        status, body = http_get(f"http://{value['listen']}/v1/credentials")
        assert status == 200 and json.loads(body)["signing"]["source"] == signing_source, body
        assert proc.popen.poll() is None, proc.output()
    finally:
        code = proc.stop()  # SIGTERM to its PID, then wait
    assert code == 0, proc.output()


@pytest.mark.parametrize(
    "path, edit, variable",
    [
        (
            TASK_DEFINITION_SECRETS_MANAGER,
            lambda env: env.pop("SESSIONGUARD_SIGNING_SECRET_ID"),
            "SESSIONGUARD_SIGNING_SECRET_ID",
        ),
        (
            TASK_DEFINITION_SECRETS_MANAGER,
            lambda env: env.update(SESSIONGUARD_PRESIGN_MAX_EXPIRES_IN="8d"),
            "SESSIONGUARD_PRESIGN_MAX_EXPIRES_IN",
        ),
        (
            TASK_DEFINITION_SECRETS_MANAGER,
            lambda env: env.update(SESSIONGUARD_SIGNING_SOURCE="secretsmanager"),
            "SESSIONGUARD_SIGNING_SOURCE",
        ),
        (
            TASK_DEFINITION,
            lambda env: env.update(SESSIONGUARD_SIGNING_SECRET_ID="my-app/presigner"),
            "SESSIONGUARD_SIGNING_SECRET_ID",
        ),
    ],
    ids=["no-secret-id", "max-expires-8d", "source-typo", "secret-id-with-task-source"],
)
def test_the_binary_refuses_a_broken_sidecar_environment(sessionguard_bin, path, edit, variable):
    """The check above can fail: the file's environment with one mistake is exit 64 at start,
    naming the variable."""
    env = sidecar_run_environment(task_definition(path))
    edit(env)
    r = run([str(sessionguard_bin), "run"], env=env, timeout=30)
    assert r.returncode == 64, r.stdout + r.stderr
    assert variable in r.stdout + r.stderr


# --- task-definition-secrets-manager.json --------------------------------------------------------

SECRETS_MANAGER_SETTINGS = {
    "SESSIONGUARD_SIGNING_SOURCE",
    "SESSIONGUARD_SIGNING_SECRET_ID",
    "SESSIONGUARD_PRESIGN_MAX_EXPIRES_IN",
}

# A secret's ARN: its name (1-512 of letters, digits and /_+=.@-) plus the hyphen and six random
# characters Secrets Manager appends.
SECRET_ARN = re.compile(
    r"arn:(?P<partition>aws[a-z-]*):secretsmanager:(?P<region>[a-z]{2}(-[a-z]+)+-\d):"
    r"(?P<account>\d{12}):secret:(?P<name>[A-Za-z0-9/_+=.@-]{1,512})-(?P<suffix>[A-Za-z0-9]{6})"
)


def secrets_manager_td() -> dict:
    return task_definition(TASK_DEFINITION_SECRETS_MANAGER)


def secret_arn(td: dict) -> re.Match:
    value = container_env(td, SIDECAR)["SESSIONGUARD_SIGNING_SECRET_ID"]
    match = SECRET_ARN.fullmatch(value)
    assert match, f"not a Secrets Manager secret ARN: {value!r}"
    return match


def ecs_secret_references(td: dict, secret: re.Match) -> list[tuple[str, str, str]]:
    """(container, variable, valueFrom) of every `secrets` entry that mentions the secret's name:
    its full or partial ARN, with or without a JSON key, its name, or an SSM
    /aws/reference/secretsmanager/ path. Deliberately broad."""
    return [
        (c["name"], s["name"], s["valueFrom"])
        for c in td["containerDefinitions"]
        for s in c.get("secrets", [])
        if secret["name"] in s["valueFrom"]
    ]


def test_secrets_manager_file_is_the_task_file_plus_the_signing_settings():
    """The two files stay one task: everything but the sidecar's environment is the same, and
    that environment only adds the signing source, the secret and the 7-day URL limit."""
    base, variant = task_definition(TASK_DEFINITION), secrets_manager_td()
    base_env, variant_env = container_env(base, SIDECAR), container_env(variant, SIDECAR)
    assert set(variant_env) - set(base_env) == SECRETS_MANAGER_SETTINGS
    assert {k: variant_env[k] for k in base_env} == base_env
    for td in (base, variant):
        container(td, SIDECAR)["environment"] = None
    assert variant == base


def test_sidecar_reads_a_secret_in_the_task_region_and_account():
    """SESSIONGUARD_SIGNING_SOURCE=secrets-manager, and SESSIONGUARD_SIGNING_SECRET_ID is the full
    ARN of a secret in the region the sidecar calls Secrets Manager in (AWS_REGION) and in the
    account of the task role that reads it, so the task role's policy can name that one ARN."""
    td = secrets_manager_td()
    env = container_env(td, SIDECAR)
    assert env["SESSIONGUARD_SIGNING_SOURCE"] == "secrets-manager"
    arn = secret_arn(td)
    assert arn["partition"] == "aws"
    # The sidecar's Secrets Manager client uses the SDK's region (AWS_REGION); SESSIONGUARD_REGION
    # is the buckets' and does not matter here.
    assert arn["region"] == env["AWS_REGION"]
    assert arn["region"] == container(td, SIDECAR)["logConfiguration"]["options"]["awslogs-region"]
    task_role_account = td["taskRoleArn"].split(":")[4]
    assert arn["account"] == task_role_account


def test_secrets_manager_file_allows_urls_up_to_7_days():
    """Long-lived keys can sign URLs up to SigV4's 7 days (rotation permitting): the file raises
    the 12h default, and no further than that."""
    env = container_env(secrets_manager_td(), SIDECAR)
    assert duration_seconds(env["SESSIONGUARD_PRESIGN_MAX_EXPIRES_IN"]) <= SIGV4_MAX_EXPIRES


def test_the_secret_is_not_injected_through_ecs_secrets():
    """No container gets the secret through `secrets` (valueFrom): ECS resolves those once, when
    the container starts, so the sidecar would never see a rotation, and the keys would sit in
    the environment. The sidecar reads the secret itself with the task role."""
    td = secrets_manager_td()
    assert ecs_secret_references(td, secret_arn(td)) == []


@pytest.mark.parametrize(
    "value_from",
    [
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:my-app/presigner-AbCdEf",
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:my-app/presigner-AbCdEf:AccessKeyId::",
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:my-app/presigner",
        "arn:aws:ssm:us-east-1:123456789012:parameter/aws/reference/secretsmanager/my-app/presigner",
    ],
    ids=["arn", "arn-json-key", "partial-arn", "ssm-reference"],
)
@pytest.mark.parametrize("target", [SIDECAR, APP])
def test_the_ecs_secrets_check_finds_an_injected_secret(value_from, target):
    """The check above can fail: a `secrets` entry naming the secret, in any form ECS takes, on
    either container, is found."""
    td = secrets_manager_td()
    arn = secret_arn(td)
    assert arn["name"] in value_from, "keep these examples in step with the file's secret"
    container(td, target).setdefault("secrets", []).append(
        {"name": "SIGNING_ACCESS_KEY_ID", "valueFrom": value_from}
    )
    assert ecs_secret_references(td, arn) == [(target, "SIGNING_ACCESS_KEY_ID", value_from)]
