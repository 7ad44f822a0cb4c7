"""task-definition.json: what RegisterTaskDefinition would accept, and what the sidecar needs.

botocore's ECS model is the API's own description of RegisterTaskDefinition: ParamValidator checks
types, unknown and missing keys against it; it does not check enums, so `enum_errors` walks the
shape for them. Limits the model leaves to prose (Fargate cpu/memory pairs, health check ranges)
are encoded below from the ECS API reference. Then the file is registered on a moto server.
"""

from __future__ import annotations

import copy
import ipaddress

import boto3
import botocore.session
import pytest
from botocore.validate import ParamValidator

from conftest import container, free_port, start, task_definition, tool, wait_for

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


def test_matches_the_register_task_definition_shape():
    """The file has only keys the ECS API knows, with the right types, and every required one."""
    assert validation_errors(task_definition()) == ""


def test_every_enum_value_is_one_the_api_accepts():
    """networkMode, requiresCompatibilities, logDriver, dependsOn conditions, protocols, ... are
    values of the API's enums (ParamValidator does not look)."""
    assert enum_errors(task_definition(), register_shape()) == []


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
def test_shape_validation_reports_mistakes(mistake, edit, expect):
    """The shape check fails on the mistakes it is there to catch."""
    td = task_definition()
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
def test_enum_check_reports_values_outside_the_enum(edit, expect):
    """The enum walk finds a wrong value at any depth and names where it is."""
    td = task_definition()
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


def test_fargate_size_is_one_fargate_offers_and_the_containers_fit():
    """cpu/memory is a pair Fargate runs (else: "No Fargate configuration exists for given
    values"), and the containers' reservations fit inside it."""
    td = task_definition()
    cpu, memory = int(td["cpu"]), int(td["memory"])
    assert memory in fargate_memory_choices(cpu), (cpu, memory)
    containers = td["containerDefinitions"]
    assert sum(c.get("cpu", 0) for c in containers) <= cpu
    assert sum(c.get("memoryReservation", c.get("memory", 0)) for c in containers) <= memory


def test_fargate_awsvpc_and_roles():
    """A Fargate awsvpc task with a task role (the session sessionguard watches) and an
    execution role (image pull, awslogs)."""
    td = task_definition()
    assert td["requiresCompatibilities"] == ["FARGATE"]
    assert td["networkMode"] == "awsvpc"
    for key in ("taskRoleArn", "executionRoleArn"):
        assert td[key].startswith("arn:aws:iam::123456789012:role/"), key


def test_sidecar_health_check_runs_the_binary_within_ecs_limits():
    """The sidecar's health check is `sessionguard healthcheck` in exec form (no shell in the
    image), inside the ranges ECS accepts: interval 5-300 s, timeout 2-60 s, retries 1-10,
    startPeriod 0-300 s (ECS API reference, HealthCheck)."""
    hc = container(task_definition(), SIDECAR)["healthCheck"]
    assert hc["command"] == ["CMD", "/usr/local/bin/sessionguard", "healthcheck"]
    assert 5 <= hc["interval"] <= 300
    assert 2 <= hc["timeout"] <= 60 and hc["timeout"] < hc["interval"]
    assert 1 <= hc["retries"] <= 10
    assert 0 <= hc["startPeriod"] <= 300


def test_app_starts_after_the_sidecar_is_healthy():
    """The app waits for a HEALTHY sidecar, which needs the sidecar to have a health check."""
    td = task_definition()
    app = container(td, APP)
    assert {"containerName": SIDECAR, "condition": "HEALTHY"} in app["dependsOn"]
    assert "healthCheck" in container(td, SIDECAR)
    assert app["essential"] is True


def test_sidecar_is_locked_down():
    """Non-root (distroless nonroot uid), read-only root filesystem, no capabilities, essential."""
    sidecar = container(task_definition(), SIDECAR)
    assert sidecar["user"] == "65532"
    assert sidecar["readonlyRootFilesystem"] is True
    assert sidecar["essential"] is True
    assert sidecar["linuxParameters"]["capabilities"]["drop"] == ["ALL"]


def test_sidecar_environment():
    """The sidecar is configured through the documented variables, with values of their form."""
    env = {e["name"]: e["value"] for e in container(task_definition(), SIDECAR)["environment"]}
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


def test_only_the_metrics_port_is_mapped_and_labelled_for_discovery():
    """Port 9781 (metrics, health) is the only mapping; the API on 9780 stays on the task's
    loopback. The docker labels that ECS Prometheus discovery reads point at the same port."""
    td = task_definition()
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


def test_both_containers_log_to_cloudwatch():
    """awslogs with a group, a region and a per-container stream prefix."""
    td = task_definition()
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
    port = free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    proc = start("moto_server", [tool("moto_server"), "-H", "127.0.0.1", "-p", str(port)], log)
    try:
        client = boto3.client(
            "ecs",
            region_name="us-east-1",
            endpoint_url=f"http://127.0.0.1:{port}",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

        def ready():
            assert proc.popen.poll() is None, proc.output()
            client.list_task_definitions()
            return True

        wait_for("moto_server to answer", ready, timeout=30)
        yield client
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


def test_registers_on_moto_and_describes_back(moto_ecs):
    """RegisterTaskDefinition accepts the file as is; DescribeTaskDefinition returns revision 1,
    ACTIVE, with every setting we sent."""
    td = task_definition()
    registered = moto_ecs.register_task_definition(**copy.deepcopy(td))["taskDefinition"]
    assert registered["family"] == "my-app"
    described = moto_ecs.describe_task_definition(taskDefinition=registered["taskDefinitionArn"])
    got = described["taskDefinition"]
    assert got["revision"] == registered["revision"]
    assert got["status"] == "ACTIVE"
    assert got["taskDefinitionArn"].startswith("arn:aws:ecs:us-east-1:123456789012:task-definition/my-app:")
    assert_subset(td, got)
