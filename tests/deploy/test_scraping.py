"""How a Prometheus (or the CloudWatch agent) outside the task finds sessionguard, docs/scraping.md:
every scrape config variant passes `promtool check config` as shipped, and so do the example
targets files the discovery tools write; real Prometheus servers scrape the real daemon (the demo)
through the file_sd relabelling (prometheus-ecs-file-sd.yml), remote-write what they scrape
(prometheus-amp.yml, SigV4 removed) to a second Prometheus, and scrape it as the CloudWatch agent
would (deploy/cloudwatch/prometheus.yml) so that every metric_declaration finds its metrics and
dimensions; the IAM policies name only actions that exist; the doc's commands name their region.

What cannot run here: the discovery tools themselves (they call the ECS API), the CloudWatch agent
(its EMF output goes to CloudWatch Logs), SigV4 against AMP and IAM's evaluation of the policies.
The example targets files stand in for the tools: each is what the tool's code writes (see their
header comments), and the tests check them against task-definition.json's docker labels.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import botocore.session
import pytest
import yaml
from botocore.validate import ParamValidator
from parliament import analyze_policy_string

from conftest import (
    ALERTS,
    PROMETHEUS_DIR,
    REPO,
    container,
    container_env,
    free_port,
    http_get,
    prom_api,
    run,
    start,
    start_demo,
    task_definition,
    tool,
    wait_for,
)

CLOUDWATCH_DIR = REPO / "deploy" / "cloudwatch"
STATIC = PROMETHEUS_DIR / "prometheus.yml"
FILE_SD = PROMETHEUS_DIR / "prometheus-ecs-file-sd.yml"
AMP = PROMETHEUS_DIR / "prometheus-amp.yml"
FILE_SD_EXAMPLE = PROMETHEUS_DIR / "ecs_file_sd.example.yml"
DISCOVERY_POLICY = PROMETHEUS_DIR / "iam-prometheus-ecs-discovery.json"
AMP_POLICY = PROMETHEUS_DIR / "iam-amp-remote-write.json"
CWAGENT_CONFIG = CLOUDWATCH_DIR / "cwagent-config.json"
CWAGENT_PROMETHEUS = CLOUDWATCH_DIR / "prometheus.yml"
CWAGENT_SD_EXAMPLE = CLOUDWATCH_DIR / "cwagent_ecs_auto_sd.example.yaml"
CWAGENT_TASK_DEFINITION = CLOUDWATCH_DIR / "cwagent-task-definition.json"
CWAGENT_TASK_POLICY = CLOUDWATCH_DIR / "iam-cwagent-task-role.json"
CWAGENT_EXECUTION_POLICY = CLOUDWATCH_DIR / "iam-cwagent-execution-role.json"
SCRAPING_DOC = REPO / "docs" / "scraping.md"
DEPLOY_DOC = REPO / "docs" / "deploy.md"

# Every scrape configuration shipped, and whether it loads alerts.yml.
VARIANTS = {STATIC: True, FILE_SD: True, AMP: True, CWAGENT_PROMETHEUS: False}
POLICIES = (DISCOVERY_POLICY, AMP_POLICY, CWAGENT_TASK_POLICY, CWAGENT_EXECUTION_POLICY)

# The fields prometheus-ecs-discovery writes, in the order of its `labels` struct (main.go of
# teralytics/prometheus-ecs-discovery); go-yaml v2 marshals a struct's fields in that order and
# leaves out the `omitempty` ones that are empty (job, __metrics_path__, __scheme__).
DISCOVERY_LABELS = (
    "task_arn", "task_name", "job", "task_revision", "task_group", "cluster_arn",
    "container_name", "container_arn", "docker_image", "__metrics_path__", "__scheme__",
)  # fmt: skip
DISCOVERY_OPTIONAL = {"job", "__metrics_path__", "__scheme__"}
# The docker labels prometheus-ecs-discovery reads by default (-config.port-label, -path-label,
# -job-name-label).
DISCOVERY_DOCKER_LABELS = {
    "port": "PROMETHEUS_EXPORTER_PORT",
    "path": "PROMETHEUS_EXPORTER_PATH",
    "job": "PROMETHEUS_EXPORTER_JOB_NAME",
}
# What the CloudWatch agent's ecs_service_discovery puts on a Fargate target besides the
# container's docker labels (internal/ecsservicediscovery/decoratedtask.go of
# aws/amazon-cloudwatch-agent; InstanceType, VpcId and SubnetId only on EC2).
CWAGENT_TASK_LABELS = {
    "container_name", "TaskDefinitionFamily", "TaskRevision", "TaskGroup", "StartedBy",
    "LaunchType", "TaskClusterName", "TaskId", "__metrics_path__", "job",
}  # fmt: skip
# The keys the agent's JSON schema (translator/config/schema.json) allows where it allows no
# others, for the sections cwagent-config.json uses.
CWAGENT_SCHEMA_KEYS = {
    "logs": {"logs_collected", "metrics_collected", "log_stream_name", "force_flush_interval",
             "credentials", "endpoint_override", "service.name", "deployment.environment",
             "concurrency"},
    "prometheus": {"cluster_name", "log_group_name", "prometheus_config_path", "emf_processor",
                   "ecs_service_discovery", "disable_metric_extraction"},
    "ecs_service_discovery": {"docker_label", "task_definition_list", "service_name_list_for_tasks",
                              "sd_cluster_region", "sd_frequency", "sd_result_file",
                              "sd_target_cluster"},
    "docker_label": {"sd_job_name_label", "sd_metrics_path_label", "sd_port_label"},
    "emf_processor": {"metric_declaration_dedup", "metric_namespace", "metric_unit",
                      "metric_declaration"},
    "metric_declaration": {"source_labels", "label_matcher", "label_separator", "metric_selectors",
                           "dimensions"},
}  # fmt: skip
# API calls each discovery makes (prometheus-ecs-discovery's main.go; the agent's
# internal/ecsservicediscovery, without service_name_list_for_tasks, which cwagent-config.json
# does not use and which would add ecs:ListServices and ecs:DescribeServices).
DISCOVERY_CALLS = {
    DISCOVERY_POLICY: {
        "ecs:ListClusters", "ecs:DescribeClusters", "ecs:ListTasks", "ecs:DescribeTasks",
        "ecs:DescribeTaskDefinition", "ecs:DescribeContainerInstances", "ec2:DescribeInstances",
    },
    CWAGENT_TASK_POLICY: {
        "ecs:ListTasks", "ecs:DescribeTasks", "ecs:DescribeTaskDefinition",
        "ecs:DescribeContainerInstances", "ec2:DescribeInstances",
    },
}  # fmt: skip
# An SSM parameter of the standard tier holds at most 4 KB.
SSM_STANDARD_LIMIT = 4096
AMP_URL = re.compile(
    r"https://aps-workspaces\.([a-z0-9-]+)\.amazonaws\.com/workspaces/(ws-[A-Za-z0-9-]+)/api/v1/remote_write"
)
# The sessionguard task in both example targets files (the first of the my-app service), whose
# identity the tests replace with the demo's.
EXAMPLE_TASK = {"cluster": "my-cluster", "family": "my-app", "task_id": "4a8f0c2e9b7d4e1f8a3c5b6d7e8f9a0b"}
EXAMPLE_DOWN_TASK_ID = "9c3d5e7f1a2b4c6d8e0f1a2b3c4d5e6f"
EXAMPLE_ADDRESSES = {
    "up": "10.0.1.23:9781",  # -> the demo
    "down": "10.0.2.47:9781",  # -> a loopback port nothing listens on
    "other": "10.0.1.88:9100",  # the billing exporter, dropped by the relabelling
}


def load_yaml(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def sidecar(td: dict | None = None) -> dict:
    return container(td or task_definition(), "sessionguard")


def metrics_port(td: dict | None = None) -> int:
    """The port of SESSIONGUARD_METRICS_LISTEN in task-definition.json (9781)."""
    listen = container_env(td or task_definition(), "sessionguard")["SESSIONGUARD_METRICS_LISTEN"]
    return int(listen.rsplit(":", 1)[1])


def promtool_check(path: Path) -> str:
    r = run([tool("promtool"), "check", "config", str(path)])
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout + r.stderr


# --- every config as shipped ---------------------------------------------------------------------


@pytest.mark.parametrize("path", VARIANTS, ids=lambda p: p.relative_to(REPO).as_posix())
def test_every_variant_passes_promtool_check_config(path):
    """Each variant is valid as shipped, with no "uncomment this" step, and the Prometheus ones
    load alerts.yml next to them."""
    out = promtool_check(path)
    assert "is valid prometheus config file syntax" in out
    if VARIANTS[path]:
        assert "SUCCESS: 1 rule files found" in out
    text = path.read_text()
    assert "uncomment" not in text.lower()


@pytest.mark.parametrize("path", VARIANTS, ids=lambda p: p.relative_to(REPO).as_posix())
def test_every_variant_has_one_sessionguard_job_and_a_header(path):
    """Job names are unique (Prometheus refuses a file with two jobs of one name), the sessionguard
    job is there, and the file opens with a comment saying what it is for."""
    jobs = [j["job_name"] for j in load_yaml(path)["scrape_configs"]]
    assert len(jobs) == len(set(jobs)), jobs
    assert "sessionguard" in jobs
    assert path.read_text().startswith("# ")


def pointed_at(config: Path, targets: Path, tmp_path: Path) -> Path:
    """A copy of `config` in tmp_path whose file_sd reads `targets`, and alerts.yml beside it."""
    cfg = load_yaml(config)
    for job in cfg["scrape_configs"]:
        for sd in job.get("file_sd_configs", []):
            sd["files"] = [str(targets)]
    cfg.pop("remote_write", None)
    if "rule_files" in cfg:
        cfg["rule_files"] = [str(ALERTS)]
    out = tmp_path / config.name
    out.write_text(yaml.safe_dump(cfg))
    return out


@pytest.mark.parametrize(
    "config, example",
    [(FILE_SD, FILE_SD_EXAMPLE), (CWAGENT_PROMETHEUS, CWAGENT_SD_EXAMPLE)],
    ids=["file_sd", "cwagent"],
)
def test_the_example_targets_files_pass_promtool(tmp_path, config, example):
    """promtool reads a file_sd file that exists and checks it: the example files are valid targets
    files for the configs that read them, and a file with a wrong field fails the same check."""
    out = promtool_check(pointed_at(config, example, tmp_path))
    assert "WARNING" not in out, out
    broken = tmp_path / "broken.yml"
    broken.write_text(example.read_text().replace("labels:", "label:", 1))
    r = run([tool("promtool"), "check", "config", str(pointed_at(config, broken, tmp_path))])
    assert r.returncode != 0 and "checking SD file" in r.stdout + r.stderr, r.stdout + r.stderr


def test_file_sd_example_is_shaped_as_prometheus_ecs_discovery_writes_it():
    """The example holds only the fields the tool writes, in its order, and its sessionguard
    entries are what it finds for task-definition.json: the container's PROMETHEUS_EXPORTER_*
    labels give the port, path and job, and the image and family are the task's."""
    td = task_definition()
    labels = sidecar(td)["dockerLabels"]
    entries = load_yaml(FILE_SD_EXAMPLE)
    assert all(list(e) == ["targets", "labels"] for e in entries)
    for e in entries:
        keys = list(e["labels"])
        assert keys == [k for k in DISCOVERY_LABELS if k in keys], keys
        assert set(DISCOVERY_LABELS) - set(keys) <= DISCOVERY_OPTIONAL, keys
        assert all(isinstance(v, str) for v in e["labels"].values()), e
    ours = [e for e in entries if e["labels"]["container_name"] == "sessionguard"]
    assert len(ours) == 2 and len(entries) > len(ours)
    for e in ours:
        (target,) = e["targets"]
        assert target.endswith(f":{labels[DISCOVERY_DOCKER_LABELS['port']]}")
        assert int(labels[DISCOVERY_DOCKER_LABELS["port"]]) == metrics_port(td)
        assert e["labels"]["__metrics_path__"] == labels[DISCOVERY_DOCKER_LABELS["path"]]
        assert e["labels"]["job"] == labels[DISCOVERY_DOCKER_LABELS["job"]] == "sessionguard"
        assert e["labels"]["docker_image"] == sidecar(td)["image"]
        assert e["labels"]["task_name"] == td["family"]


def test_cwagent_example_is_shaped_as_the_agent_writes_it():
    """The agent's example carries the task labels the agent adds and, on sessionguard's entries,
    every docker label of the sidecar with its value: the ECS_PROMETHEUS_* ones give port, path
    and job."""
    td = task_definition()
    docker_labels = sidecar(td)["dockerLabels"]
    entries = load_yaml(CWAGENT_SD_EXAMPLE)
    ours = [e for e in entries if e["labels"]["container_name"] == "sessionguard"]
    assert len(ours) == 2 and len(entries) > len(ours)
    for e in ours:
        assert set(e["labels"]) == CWAGENT_TASK_LABELS | set(docker_labels)
        assert {k: e["labels"][k] for k in docker_labels} == docker_labels
        assert e["labels"]["TaskDefinitionFamily"] == td["family"]
        assert e["labels"]["LaunchType"] == td["requiresCompatibilities"][0]
        assert e["labels"]["job"] == docker_labels["ECS_PROMETHEUS_JOB_NAME"]
        assert e["targets"][0].endswith(f":{docker_labels['ECS_PROMETHEUS_EXPORTER_PORT']}")


def test_amp_variant_is_the_file_sd_variant_plus_remote_write():
    """prometheus-amp.yml scrapes exactly as prometheus-ecs-file-sd.yml (so the file_sd tests
    cover it) and adds one remote_write to an AMP workspace URL, SigV4-signed for the URL's
    region, with a placeholder workspace id that says so and that the IAM policy names too."""
    amp = load_yaml(AMP)
    (remote,) = amp.pop("remote_write")
    assert amp == load_yaml(FILE_SD)
    m = AMP_URL.fullmatch(remote["url"])
    assert m, remote["url"]
    region, workspace = m.groups()
    assert remote["sigv4"] == {"region": region}
    assert "EXAMPLE" in workspace
    (statement,) = json.loads(AMP_POLICY.read_text())["Statement"]
    assert statement["Action"] == "aps:RemoteWrite"
    assert statement["Resource"].startswith(f"arn:aws:aps:{region}:")
    assert statement["Resource"].endswith(f":workspace/{workspace}")


# --- the CloudWatch agent's files ----------------------------------------------------------------


def cwagent() -> dict:
    return json.loads(CWAGENT_CONFIG.read_text())


def cwagent_prometheus(config: dict | None = None) -> dict:
    return (config or cwagent())["logs"]["metrics_collected"]["prometheus"]


def declarations() -> list[dict]:
    return cwagent_prometheus()["emf_processor"]["metric_declaration"]


def test_cwagent_config_uses_only_keys_of_the_agent_schema():
    """Where the agent's JSON schema allows no other keys, cwagent-config.json uses only its keys;
    every metric_declaration has the source_labels and metric_selectors without which the agent
    skips it."""
    config = cwagent()
    assert set(config) == {"logs"}
    prom = cwagent_prometheus(config)
    sections = {
        "logs": config["logs"],
        "prometheus": prom,
        "ecs_service_discovery": prom["ecs_service_discovery"],
        "docker_label": prom["ecs_service_discovery"]["docker_label"],
        "emf_processor": prom["emf_processor"],
    }
    for name, section in sections.items():
        assert set(section) <= CWAGENT_SCHEMA_KEYS[name], (name, set(section) - CWAGENT_SCHEMA_KEYS[name])
    for d in declarations():
        assert set(d) <= CWAGENT_SCHEMA_KEYS["metric_declaration"], d
        assert d["source_labels"] and d["metric_selectors"] and d["dimensions"], d


def test_cwagent_discovers_by_the_docker_labels_of_the_task_definition(task_definition_path):
    """The agent's docker_label names are labels of the sidecar in both task definitions, naming
    the metrics port, /metrics and job "sessionguard"; the agent's prometheus.yml reads the file
    its discovery writes; and it gets that prometheus.yml from the variable its task sets."""
    td = task_definition(task_definition_path)
    labels = sidecar(td)["dockerLabels"]
    docker_label = cwagent_prometheus()["ecs_service_discovery"]["docker_label"]
    assert set(docker_label.values()) <= set(labels), set(docker_label.values()) - set(labels)
    assert int(labels[docker_label["sd_port_label"]]) == metrics_port(td)
    assert [m["containerPort"] for m in sidecar(td)["portMappings"]] == [metrics_port(td)]
    assert labels[docker_label["sd_metrics_path_label"]] == "/metrics"
    assert labels[docker_label["sd_job_name_label"]] == "sessionguard"

    (job,) = load_yaml(CWAGENT_PROMETHEUS)["scrape_configs"]
    (sd,) = job["file_sd_configs"]
    assert sd["files"] == [cwagent_prometheus()["ecs_service_discovery"]["sd_result_file"]]
    variable = cwagent_prometheus()["prometheus_config_path"].removeprefix("env:")
    (agent,) = json.loads(CWAGENT_TASK_DEFINITION.read_text())["containerDefinitions"]
    assert {s["name"] for s in agent["secrets"]} == {variable, "CW_CONFIG_CONTENT"}


def test_prometheus_ecs_discovery_reads_the_docker_labels_of_the_task_definition(task_definition_path):
    """prometheus-ecs-discovery's default labels are on the sidecar, naming the same port, path
    and job as the agent's."""
    td = task_definition(task_definition_path)
    labels = sidecar(td)["dockerLabels"]
    assert int(labels[DISCOVERY_DOCKER_LABELS["port"]]) == metrics_port(td)
    assert labels[DISCOVERY_DOCKER_LABELS["path"]] == "/metrics"
    assert labels[DISCOVERY_DOCKER_LABELS["job"]] == "sessionguard"


def test_no_cloudwatch_dimension_is_per_task():
    """CloudWatch bills each dimension combination as a metric: no declaration splits by task
    (TaskId, task_id) or target (instance), and the only other dimension is `result`, whose
    values are the few outcomes README lists."""
    for d in declarations():
        for dims in d["dimensions"]:
            assert not {"TaskId", "task_id", "instance"} & set(dims), dims
            assert set(dims) - {"ClusterName", "task_family"} <= {"result"}, dims


def test_metric_units_are_cloudwatch_units_of_declared_metrics():
    """Every metric_unit names a metric some declaration selects, with a unit CloudWatch knows
    (botocore's StandardUnit)."""
    units = cwagent_prometheus()["emf_processor"]["metric_unit"]
    standard = set(
        botocore.session.get_session().get_service_model("cloudwatch").shape_for("StandardUnit").enum
    )
    selectors = [s for d in declarations() for s in d["metric_selectors"]]
    for metric, unit in units.items():
        assert unit in standard, unit
        assert any(re.search(s, metric) for s in selectors), metric


@pytest.mark.parametrize("path", [CWAGENT_CONFIG, CWAGENT_PROMETHEUS], ids=lambda p: p.name)
def test_agent_configs_fit_a_standard_ssm_parameter(path):
    """Each goes into an SSM parameter of the standard tier (docs/scraping.md), at most 4 KB."""
    assert len(path.read_bytes()) <= SSM_STANDARD_LIMIT


def test_cwagent_task_definition_matches_the_register_task_definition_shape():
    """The agent's task definition passes botocore's RegisterTaskDefinition input shape, and its
    SSM parameters are the ones the execution role may read."""
    shape = (
        botocore.session.get_session()
        .get_service_model("ecs")
        .operation_model("RegisterTaskDefinition")
        .input_shape
    )
    td = json.loads(CWAGENT_TASK_DEFINITION.read_text())
    report = ParamValidator().validate(td, shape)
    assert not report.has_errors(), report.generate_report()
    (agent,) = td["containerDefinitions"]
    (statement,) = json.loads(CWAGENT_EXECUTION_POLICY.read_text())["Statement"]
    assert statement["Action"] == "ssm:GetParameters"
    assert sorted(s["valueFrom"] for s in agent["secrets"]) == sorted(statement["Resource"])


# --- IAM -----------------------------------------------------------------------------------------


def policy_findings(text: str) -> list[tuple]:
    """parliament's findings, less one it makes for every ecs:ListTasks on "*": ListTasks is
    scoped by its ecs:cluster condition key (the way ECS's own policy examples do it), which
    parliament does not take into account."""
    policy = json.loads(text)
    scoped = {
        a
        for s in policy["Statement"]
        if "ecs:cluster" in s.get("Condition", {}).get("ArnEquals", {})
        for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    }
    out = []
    for f in analyze_policy_string(text).findings:
        if f.issue == "RESOURCE_STAR" and set(f.detail) <= scoped:
            continue
        out.append((f.issue, f.detail))
    return out


def actions(path: Path) -> set[str]:
    out = set()
    for s in json.loads(path.read_text())["Statement"]:
        out |= {s["Action"]} if isinstance(s["Action"], str) else set(s["Action"])
    return out


@pytest.mark.parametrize("path", POLICIES, ids=lambda p: p.name)
def test_iam_policies_pass_parliament(path):
    """parliament (AWS's list of actions, resources and condition keys) finds no unknown action,
    no resource or condition an action does not take, no malformed statement."""
    assert policy_findings(path.read_text()) == []


@pytest.mark.parametrize("path", POLICIES, ids=lambda p: p.name)
def test_iam_api_actions_are_operations_of_botocore_models(path):
    """Every ecs/ec2/ssm action is an operation of that service in botocore's model too
    (aps:RemoteWrite is no SDK operation: parliament alone checks it)."""
    session = botocore.session.get_session()
    for action in actions(path):
        service, name = action.split(":")
        if service == "aps":
            continue
        assert name in session.get_service_model(service).operation_names, action


def test_parliament_refuses_an_action_that_does_not_exist():
    """The check is real: ecs:DescribeTask (singular, as prometheus-ecs-discovery's README spells
    it) is no IAM action."""
    text = DISCOVERY_POLICY.read_text().replace('"ecs:DescribeTasks"', '"ecs:DescribeTask"')
    assert ("UNKNOWN_ACTION", "Unknown action ecs:DescribeTask") in policy_findings(text)


@pytest.mark.parametrize("path", DISCOVERY_CALLS, ids=lambda p: p.name)
def test_discovery_policies_allow_exactly_the_calls_the_tool_makes(path):
    """Each discovery policy allows the API calls its tool makes, and nothing else, on the
    cluster cwagent-config.json names."""
    assert actions(path) == DISCOVERY_CALLS[path]
    cluster = cwagent_prometheus()["ecs_service_discovery"]["sd_target_cluster"]
    region = cwagent_prometheus()["ecs_service_discovery"]["sd_cluster_region"]
    text = path.read_text()
    assert f"arn:aws:ecs:{region}:123456789012:cluster/{cluster}" in text
    assert f"task/{cluster}/*" in text


# --- real Prometheus servers scraping the demo ---------------------------------------------------


@pytest.fixture(scope="module")
def scraping_demo(sessionguard_bin, tmp_path_factory):
    """The demo (30 s sessions, checks every second); its task metadata says cluster "demo",
    family "sessionguard-demo" and a task id, in proc.extra like its listen address."""
    proc = start_demo(sessionguard_bin, tmp_path_factory.mktemp("scraping-demo") / "demo.log", session="30s")
    yield proc
    proc.stop()


def as_the_demo(example: Path, demo, tmp: Path) -> Path:
    """The example targets file with its first sessionguard task made the demo: that task's
    address is the demo's metrics listener and its cluster, family and task id are the ones the
    demo's task metadata reports. The second sessionguard task gets a loopback port nothing
    listens on, the other exporter another. The file's layout is left as the tool writes it."""
    text = example.read_text()
    demo_task = {k: demo.extra[k if k != "family" else "task_family"] for k in EXAMPLE_TASK}
    replacements = {
        EXAMPLE_ADDRESSES["up"]: demo.extra["listen"],
        EXAMPLE_ADDRESSES["down"]: f"127.0.0.1:{free_port()}",
        EXAMPLE_ADDRESSES["other"]: f"127.0.0.1:{free_port()}",
        **{EXAMPLE_TASK[k]: demo_task[k] for k in EXAMPLE_TASK},
    }
    for old, new in replacements.items():
        assert old in text, f"{example.name} no longer holds {old}"
        text = text.replace(old, new)
    out = tmp / example.name
    out.write_text(text)
    return out


def prometheus_config(path: Path, targets: Path, **edits) -> dict:
    """A variant made to run here: file_sd reads `targets`, every second instead of every 30 s
    (the agent's timeout shortened to match), alerts.yml by its absolute path."""
    cfg = load_yaml(path)
    cfg["global"].update({"scrape_interval": "1s", "evaluation_interval": "1s"})
    if "scrape_timeout" in cfg["global"]:
        cfg["global"]["scrape_timeout"] = "1s"
    if "rule_files" in cfg:
        cfg["rule_files"] = [str(ALERTS)]
    for job in cfg["scrape_configs"]:
        for sd in job["file_sd_configs"]:
            sd["files"] = [str(targets)]
    cfg.update(edits)
    return cfg


def start_prometheus(name: str, config: dict, tmp: Path, *flags: str):
    """Debian's prometheus on a free loopback port with `config`; returns (proc, url) once ready."""
    (tmp / f"{name}.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    argv = [
        tool("prometheus"),
        f"--config.file={tmp / f'{name}.yml'}",
        f"--storage.tsdb.path={tmp / f'{name}-data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--log.level=warn",
        *flags,
    ]
    proc = start(f"prometheus ({name})", argv, tmp / f"{name}.log")
    url = f"http://127.0.0.1:{port}"

    def ready():
        assert proc.popen.poll() is None, proc.output()
        return http_get(url + "/-/ready")[0] == 200

    try:
        wait_for(f"prometheus ({name}) to be ready", ready, timeout=30)
    except BaseException:
        proc.stop()
        raise
    return proc, url


def query(url: str, promql: str) -> list[dict]:
    return prom_api(url, "/api/v1/query", query=promql)["result"]


def wait_for_series(url: str, promql: str, timeout: float = 30) -> list[dict]:
    return wait_for(f"{promql} on {url}", lambda: query(url, promql), timeout=timeout, every=0.5)


def active_targets(url: str, count: int) -> list[dict]:
    """The active targets once there are `count` of them, each scraped at least once."""

    def probe():
        targets = prom_api(url, "/api/v1/targets", state="active")["activeTargets"]
        scraped = [t for t in targets if t["health"] != "unknown"]
        return targets if len(targets) == count and len(scraped) == count else None

    return wait_for(f"{count} scraped targets on {url}", probe, timeout=30, every=0.5)


@pytest.fixture(scope="module")
def file_sd_prometheus(scraping_demo, tmp_path_factory):
    """prometheus-ecs-file-sd.yml on the example targets file made the demo (as_the_demo)."""
    tmp = tmp_path_factory.mktemp("file-sd")
    targets = as_the_demo(FILE_SD_EXAMPLE, scraping_demo, tmp)
    proc, url = start_prometheus("file-sd", prometheus_config(FILE_SD, targets), tmp)
    yield url
    proc.stop()


def demo_identity(demo) -> dict:
    return {
        "cluster": demo.extra["cluster"],
        "family": demo.extra["task_family"],
        "task_id": demo.extra["task_id"],
    }


def test_file_sd_keeps_only_sessionguard_with_the_labels_the_dashboard_needs(
    file_sd_prometheus, scraping_demo
):
    """Of the tool's three targets Prometheus keeps the two sessionguard tasks, each with job,
    instance, cluster, family and task_id and none of the tool's raw labels; the other service's
    exporter is dropped."""
    url = file_sd_prometheus
    targets = active_targets(url, 2)
    for t in targets:
        assert set(t["labels"]) == {"job", "instance", "cluster", "family", "task_id"}, t["labels"]
        assert t["labels"]["job"] == "sessionguard"
        assert t["scrapePool"] == "sessionguard"
    dropped = prom_api(url, "/api/v1/targets", state="dropped")["droppedTargets"]
    assert [d["discoveredLabels"]["container_name"] for d in dropped] == ["billing"]


def test_file_sd_target_is_up_and_its_series_carry_the_relabelled_labels(file_sd_prometheus, scraping_demo):
    """up{job="sessionguard"} is 1 for the demo and 0 for the task nobody answers for, which still
    says which task it is; sessionguard's series carry cluster, family and task_id with the values
    the demo reads from its own task metadata, which sessionguard_task_info exports as the
    exported_* labels."""
    url = file_sd_prometheus
    identity = demo_identity(scraping_demo)
    listen = scraping_demo.extra["listen"]
    active_targets(url, 2)
    up = {
        s["metric"]["instance"]: (float(s["value"][1]), s["metric"])
        for s in query(url, 'up{job="sessionguard"}')
    }
    assert up[listen][0] == 1.0
    assert {k: up[listen][1][k] for k in identity} == identity
    ((down, labels),) = [v for k, v in up.items() if k != listen]
    assert down == 0.0
    assert labels["task_id"] == EXAMPLE_DOWN_TASK_ID and labels["family"] == identity["family"]

    (sample,) = wait_for_series(url, 'sessionguard_credentials_remaining_seconds{job="sessionguard"}')
    assert sample["metric"] == {
        "__name__": "sessionguard_credentials_remaining_seconds",
        "job": "sessionguard",
        "instance": listen,
        **identity,
    }
    (info,) = wait_for_series(url, "sessionguard_task_info")
    assert {k: info["metric"][k] for k in identity} == identity
    assert {k: info["metric"][f"exported_{k}"] for k in identity} == identity


def test_the_dashboard_queries_work_on_the_file_sd_labels(file_sd_prometheus, scraping_demo):
    """Every panel query of the Grafana dashboard, with its Cluster and Task family variables set
    to the demo's, runs without error on the relabelled series; the per-task panel finds the demo's
    task by its family and task id."""
    from test_grafana_dashboard import all_values, dashboard, panels, substitute

    url = file_sd_prometheus
    identity = demo_identity(scraping_demo)
    wait_for_series(url, "sessionguard_task_info")
    board = dashboard()
    values = {**all_values(board), "cluster": identity["cluster"], "task_family": identity["family"]}
    per_task = None
    for panel in panels(board):
        for target in panel["targets"]:
            result = query(url, substitute(target["expr"], values))
            if panel["title"] == "Remaining session time per task" and "remaining_seconds" in target["expr"]:
                per_task = result
    assert per_task, "no series in 'Remaining session time per task'"
    (series,) = per_task
    assert {k: series["metric"][k] for k in identity} == identity


@pytest.fixture(scope="module")
def remote_write_pair(scraping_demo, tmp_path_factory):
    """A Prometheus receiving remote write, and prometheus-amp.yml writing to it: the AMP URL
    replaced by the receiver's /api/v1/write and sigv4 removed (nothing here signs for or checks
    SigV4), sending every second."""
    tmp = tmp_path_factory.mktemp("amp")
    receiver, receiver_url = start_prometheus(
        "receiver", {"global": {"scrape_interval": "1m"}}, tmp, "--web.enable-remote-write-receiver"
    )
    sender = None
    try:
        targets = as_the_demo(FILE_SD_EXAMPLE, scraping_demo, tmp)
        (remote,) = load_yaml(AMP)["remote_write"]
        remote = {k: v for k, v in remote.items() if k != "sigv4"}
        remote["url"] = f"{receiver_url}/api/v1/write"
        remote["queue_config"] = {"batch_send_deadline": "1s"}
        sender, _ = start_prometheus("amp", prometheus_config(AMP, targets, remote_write=[remote]), tmp)
        yield receiver_url
    finally:
        if sender is not None:
            sender.stop()
        receiver.stop()


def test_amp_variant_remote_writes_the_relabelled_series(remote_write_pair, scraping_demo):
    """What prometheus-amp.yml scrapes arrives by remote write at another Prometheus, which
    scrapes nothing itself: up and sessionguard's series, with the relabelled labels."""
    url = remote_write_pair
    identity = demo_identity(scraping_demo)
    selector = ",".join(f'{k}="{v}"' for k, v in identity.items())
    (sample,) = wait_for_series(
        url, f'sessionguard_credentials_remaining_seconds{{job="sessionguard",{selector}}}'
    )
    assert 0 < float(sample["value"][1]) <= 30
    up = wait_for_series(url, f'up{{job="sessionguard",{selector}}}')
    assert [float(s["value"][1]) for s in up] == [1.0]


@pytest.fixture(scope="module")
def cwagent_scrape(scraping_demo, tmp_path_factory):
    """deploy/cloudwatch/prometheus.yml (the agent's scrape config) run by Prometheus on the
    agent's example targets file made the demo: the agent scrapes with Prometheus' scrape code, so
    the series are those the agent turns into EMF records."""
    tmp = tmp_path_factory.mktemp("cwagent")
    targets = as_the_demo(CWAGENT_SD_EXAMPLE, scraping_demo, tmp)
    proc, url = start_prometheus("cwagent", prometheus_config(CWAGENT_PROMETHEUS, targets), tmp)
    yield url
    proc.stop()


def test_cwagent_scrape_keeps_sessionguard_with_the_dimension_labels(cwagent_scrape, scraping_demo):
    """The agent's scrape keeps the two sessionguard tasks, labelled with job, instance,
    ClusterName, task_family and TaskId and none of the docker labels; it keeps sessionguard_*
    series only."""
    url = cwagent_scrape
    identity = demo_identity(scraping_demo)
    for t in active_targets(url, 2):
        assert set(t["labels"]) == {"job", "instance", "ClusterName", "task_family", "TaskId"}, t["labels"]
    (sample,) = wait_for_series(url, 'sessionguard_credentials_remaining_seconds{job="sessionguard"}')
    assert {k: sample["metric"][k] for k in ("ClusterName", "task_family", "TaskId")} == {
        "ClusterName": identity["cluster"],
        "task_family": identity["family"],
        "TaskId": identity["task_id"],
    }
    # up and scrape_* are Prometheus' own series about each scrape, not samples of the target.
    names = {s["metric"]["__name__"] for s in query(url, '{job="sessionguard",__name__!~"up|scrape_.+"}')}
    assert names and all(n.startswith("sessionguard_") for n in names), names


def test_every_metric_declaration_finds_its_metrics_with_every_dimension(cwagent_scrape, scraping_demo):
    """For each metric_declaration, each metric selector matches a metric the demo exports, of a
    type the agent sends (gauge or counter: it drops histograms), from a series whose source labels
    match label_matcher and that carries every label of every dimension set; ClusterName is among
    them, so the agent does not put its own cluster name in its place."""
    url = cwagent_scrape
    wait_for_series(url, 'sessionguard_credentials_remaining_seconds{job="sessionguard"}')
    metadata = wait_for("metric metadata", lambda: prom_api(url, "/api/v1/metadata"), timeout=30)
    series = [s["metric"] for s in query(url, '{job="sessionguard",__name__=~"sessionguard_.+"}')]
    for d in declarations():
        separator = d.get("label_separator", ";")
        for selector in d["metric_selectors"]:
            matched = [s for s in series if re.search(selector, s["__name__"])]
            assert matched, f"{selector} selects no metric the demo exports"
            for s in matched:
                assert metadata[s["__name__"]][0]["type"] in {"gauge", "counter"}, s["__name__"]
                source = separator.join(s.get(name, "") for name in d["source_labels"])
                assert re.search(d["label_matcher"], source), s
                for dims in d["dimensions"]:
                    assert set(dims) <= set(s), (selector, dims, s)


# --- docs/scraping.md ----------------------------------------------------------------------------

REGIONAL_SERVICES = {"ec2", "ecs", "ssm", "amp", "logs", "cloudwatch"}


def shell_commands(markdown: str) -> list[str]:
    """The commands of the ```sh blocks, continuation lines joined."""
    out = []
    for block in re.findall(r"```sh\n(.*?)```", markdown, re.S):
        out.extend(
            c.strip()
            for c in re.sub(r"\s*\\\n\s*", " ", block).splitlines()
            if c.strip() and not c.lstrip().startswith("#")
        )
    return out


def test_scraping_doc_is_linked_and_names_files_that_exist():
    """README and docs/deploy.md link to docs/scraping.md, and every repository path it names
    exists."""
    doc = SCRAPING_DOC.read_text()
    assert "(docs/scraping.md" in (REPO / "README.md").read_text()
    assert "(scraping.md" in (REPO / "docs" / "deploy.md").read_text()
    paths = set(re.findall(r"\b(deploy/[\w./-]+\.(?:yml|yaml|json)|task-definition[\w-]*\.json)\b", doc))
    assert paths, "docs/scraping.md names no file?"
    assert sorted(p for p in paths if not (REPO / p).is_file()) == []
    for variant in (
        list(VARIANTS) + list(POLICIES) + [FILE_SD_EXAMPLE, CWAGENT_CONFIG, CWAGENT_TASK_DEFINITION]
    ):
        assert variant.relative_to(REPO).as_posix() in doc, variant


def test_every_regional_aws_command_names_its_region():
    """Pasted into a shell whose default region is another, no command of docs/scraping.md acts in
    the wrong one: every ec2, ecs, ssm, amp, logs and cloudwatch call says --region (IAM has none)."""
    calls = []
    for command in shell_commands(SCRAPING_DOC.read_text()):
        for segment in re.split(r"\||&&|;", command):
            calls += [(m.group(1), segment) for m in re.finditer(r"\baws ([a-z0-9-]+) ", segment)]
    assert {service for service, _ in calls} >= REGIONAL_SERVICES | {"iam"}, calls
    for service, segment in calls:
        if service in REGIONAL_SERVICES:
            assert "--region " in segment, segment


def test_security_group_rule_opens_the_metrics_port_to_the_scraper_only():
    """The doc's ingress rule is docs/deploy.md's: TCP on the metrics port into the tasks' group,
    from the scraper's security group, never from an address range."""
    rules = [c for c in shell_commands(SCRAPING_DOC.read_text()) if "authorize-security-group-ingress" in c]
    assert rules
    deploy_rules = [c for c in shell_commands(DEPLOY_DOC.read_text()) if f"--port {metrics_port()}" in c]
    for c in rules:
        assert re.search(
            rf'--group-id "\$TASK_SG" --protocol tcp --port {metrics_port()} --source-group "\$SCRAPER_SG"$',
            c,
        ), c
        assert "--cidr" not in c and "--ip-permissions" not in c, c
        assert c in deploy_rules, c
