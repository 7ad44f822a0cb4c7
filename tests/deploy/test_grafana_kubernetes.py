"""The Grafana dashboard and the alerts with Kubernetes labels: the demo playing a pod on EKS (the
Downward API variables given, so sessionguard_pod_info and no sessionguard_task_info), scraped by a
real Prometheus with alerts.yml loaded under the job podmonitor.yaml sets. Every panel's query
answers with the pod's data (its namespace as family, the pod as task id), the namespace variable
filters them, and the alerts fire for the pod as they do for an ECS task."""

from __future__ import annotations

import time

import pytest
import yaml

from conftest import (
    ALERTS,
    PRESIGN_ROUNDS,
    STACK_ALLOW,
    STACK_MARGIN,
    STACK_SESSION,
    drive_presigns,
    first_json_line,
    free_port,
    http_get,
    prom_api,
    sessionguard_env,
    start,
    tool,
    wait_for,
)
from test_grafana_dashboard import all_values, dashboard, panels, run_target, values_of

POD = {
    "SESSIONGUARD_POD_NAME": "shop-api-7d9f8-x2x9q",
    "SESSIONGUARD_POD_NAMESPACE": "shop",
    "SESSIONGUARD_NODE_NAME": "ip-10-0-1-23.ec2.internal",
}


@pytest.fixture(scope="module")
def pod_stack(sessionguard_bin, tmp_path_factory):
    """The demo as a pod and a Prometheus scraping it every second, once it holds a rotation and
    presign answers; (prometheus url, start time)."""
    tmp = tmp_path_factory.mktemp("prometheus-pod")
    started = time.time()
    argv = [
        str(sessionguard_bin), "demo", "--session", STACK_SESSION, "--interval", "1s",
        "--log-format", "json", "--listen", "127.0.0.1:0",
        "--presign-allow", STACK_ALLOW, "--presign-margin", STACK_MARGIN,
    ]  # fmt: skip
    demo = start("sessionguard demo (pod)", argv, tmp / "demo.log", env=sessionguard_env(POD))
    prom = None
    try:
        line = first_json_line(demo, "sessionguard started")
        assert line["k8s_pod_name"] == POD["SESSIONGUARD_POD_NAME"], line
        assert "task_family" not in line, line
        config = tmp / "prometheus.yml"
        config.write_text(
            yaml.safe_dump(
                {
                    "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                    "rule_files": [str(ALERTS)],
                    "scrape_configs": [
                        {
                            # podmonitor.yaml sets job="sessionguard"; discovery adds these two.
                            "job_name": "sessionguard",
                            "static_configs": [
                                {
                                    "targets": [line["listen"]],
                                    "labels": {"namespace": "shop", "pod": POD["SESSIONGUARD_POD_NAME"]},
                                }
                            ],
                        }
                    ],
                }
            )
        )
        port = free_port()
        prom = start(
            "prometheus",
            [
                tool("prometheus"),
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--log.level=warn",
            ],
            tmp / "prometheus.log",
        )
        url = f"http://127.0.0.1:{port}"
        wait_for("prometheus to be ready", lambda: http_get(url + "/-/ready")[0] == 200, timeout=30)
        wait_for(
            "the first scrape of the pod",
            lambda: prom_api(url, "/api/v1/query", query='up{job="sessionguard"} == 1')["result"],
            timeout=30,
            every=0.25,
        )
        drive_presigns(line["listen"], PRESIGN_ROUNDS)
        wait_for(
            "a rotation in Prometheus",
            lambda: prom_api(url, "/api/v1/query", query="sessionguard_credentials_rotations_total >= 1")["result"],
            timeout=60,
            every=0.5,
        )
        yield url, started
    finally:
        if prom is not None:
            prom.stop()
        demo.stop()


def test_the_pod_info_carries_the_downward_api_labels(pod_stack):
    url, _ = pod_stack
    result = prom_api(url, "/api/v1/query", query="sessionguard_pod_info")["result"]
    assert len(result) == 1, result
    labels = result[0]["metric"]
    assert labels["k8s_namespace_name"] == "shop"
    assert labels["k8s_pod_name"] == POD["SESSIONGUARD_POD_NAME"]
    assert labels["k8s_node_name"] == POD["SESSIONGUARD_NODE_NAME"]
    # Discovery's labels are untouched: no exported_namespace / exported_pod.
    assert labels["namespace"] == "shop" and labels["pod"] == POD["SESSIONGUARD_POD_NAME"]
    assert not prom_api(url, "/api/v1/query", query="sessionguard_task_info")["result"]
    found = prom_api(url, "/api/v1/label/k8s_namespace_name/values", **{"match[]": "sessionguard_pod_info"})
    assert found == ["shop"], found


def test_every_panel_shows_the_pod_and_the_namespace_filters_it(pod_stack):
    url, started = pod_stack
    board = dashboard()
    values = all_values(board)
    end = time.time()
    for p in panels(board):
        for t in p["targets"]:
            result = run_target(url, p, t, values, started, end)
            assert result and values_of(result), (p["title"], t["refId"], t["expr"])
            if "$namespace" in t["expr"]:
                assert run_target(url, p, t, {**values, "namespace": "shop"}, end - 20, end), (p["title"], t["refId"])
                assert run_target(url, p, t, {**values, "namespace": "no-such-namespace"}, end - 20, end) == [], (
                    p["title"],
                    t["refId"],
                )
            else:
                assert t["expr"] == "vector($warn_below)", (p["title"], t["refId"])
    remaining = run_target(
        url,
        {"title": "remaining"},
        next(t for p in panels(board) if p["title"] == "Remaining session time per task" for t in p["targets"]),
        values,
        started,
        end,
    )
    assert [(s["metric"]["family"], s["metric"]["task_id"]) for s in remaining] == [
        ("shop", POD["SESSIONGUARD_POD_NAME"])
    ]


def test_the_alerts_fire_for_the_pod(pod_stack):
    """30 s sessions are under the 15-minute threshold: the alert is pending (for: 5m) for the pod,
    with the pod's labels, and the dashboard's Alerts panel shows it under its namespace."""
    url, _ = pod_stack

    def pending():
        return prom_api(url, "/api/v1/query", query='ALERTS{alertname="SessionguardCredentialsExpiringSoon"}')["result"]

    alerts = wait_for("SessionguardCredentialsExpiringSoon for the pod", pending, timeout=30, every=0.5)
    assert alerts[0]["metric"]["pod"] == POD["SESSIONGUARD_POD_NAME"], alerts
    board = dashboard()
    target = next(t for p in panels(board) if p["title"] == "Alerts" for t in p["targets"])
    shown = run_target(url, {"title": "Alerts"}, target, all_values(board), time.time() - 5, time.time())
    names = {s["metric"]["alertname"]: s["metric"] for s in shown}
    assert names["SessionguardCredentialsExpiringSoon"]["family"] == "shop", names
