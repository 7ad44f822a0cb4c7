"""deploy/prometheus: the rules pass promtool, their unit tests cover every alert both ways, and a
real Prometheus server scrapes the real daemon (the demo) and evaluates the rules against it.
"""

from __future__ import annotations

import re
import shutil

import pytest
import yaml

from conftest import (
    ALERTS,
    PROMETHEUS_DIR,
    STACK_SESSION,
    http_get,
    prom_api,
    run,
    tool,
    wait_for,
)

ALERTS_TEST = PROMETHEUS_DIR / "alerts_test.yml"
EXAMPLE_CONFIG = PROMETHEUS_DIR / "prometheus.yml"


def alert_rules() -> list[dict]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return [r for g in groups for r in g["rules"] if "alert" in r]


def test_rules_pass_promtool_check():
    r = run([tool("promtool"), "check", "rules", str(ALERTS)])
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"SUCCESS: {len(alert_rules())} rules found" in r.stdout


def test_rule_unit_tests_pass():
    r = run([tool("promtool"), "test", "rules", str(ALERTS_TEST)])
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SUCCESS" in r.stdout


def test_example_config_passes_promtool_check():
    """prometheus.yml is a valid config and loads alerts.yml next to it."""
    r = run([tool("promtool"), "check", "config", str(EXAMPLE_CONFIG)])
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SUCCESS: 1 rule files found" in r.stdout


def test_every_alert_is_tested_firing_and_quiet():
    """Each alert has at least one case where it fires and one where it stays quiet."""
    cases = yaml.safe_load(ALERTS_TEST.read_text())["tests"]
    fired, quiet = set(), set()
    for case in cases:
        for check in case.get("alert_rule_test", []):
            (fired if check.get("exp_alerts") else quiet).add(check["alertname"])
    names = {r["alert"] for r in alert_rules()}
    assert names == {
        "SessionguardCredentialsExpiringSoon",
        "SessionguardCredentialsExpired",
        "SessionguardChecksFailing",
        "SessionguardPresignRefusalsRising",
        "SessionguardSigningRefreshFailing",
        "SessionguardDown",
    }
    assert names - fired == set(), "alerts never shown firing"
    assert names - quiet == set(), "alerts never shown staying quiet"


@pytest.mark.parametrize(
    "old, new",
    [
        ("remaining_seconds < 900", "remaining_seconds < 60"),
        ("> 0.05", "> 0.5"),
        ("for: 3m", "for: 30m"),
        ("unless", "and"),
    ],
)
def test_unit_tests_fail_when_a_rule_changes(tmp_path, old, new):
    """The unit tests pin the rules down: a changed threshold, duration or operator fails them."""
    text = ALERTS.read_text()
    assert old in text
    (tmp_path / "alerts.yml").write_text(text.replace(old, new, 1))
    shutil.copy(ALERTS_TEST, tmp_path / "alerts_test.yml")
    r = run([tool("promtool"), "test", "rules", str(tmp_path / "alerts_test.yml")])
    assert r.returncode != 0, r.stdout


# --- a real Prometheus scraping the real daemon (conftest.py's prometheus_stack) -----------------


def test_prometheus_sees_the_remaining_seconds(prometheus_stack):
    """Queried from Prometheus, the remaining time of the demo's 30-second session is in (0, 30]."""
    url = prometheus_stack.prometheus
    assert STACK_SESSION == "30s"

    def value():
        result = prom_api(url, "/api/v1/query", query="sessionguard_credentials_remaining_seconds")["result"]
        return result[0] if result else None

    sample = wait_for("a sessionguard_credentials_remaining_seconds sample", value, timeout=30, every=0.5)
    remaining = float(sample["value"][1])
    assert 0 < remaining <= 30, sample
    assert sample["metric"]["job"] == "sessionguard"
    up = prom_api(url, "/api/v1/query", query='up{job="sessionguard"}')["result"]
    assert [float(s["value"][1]) for s in up] == [1.0]


def test_prometheus_loads_the_rules_and_the_alerts_go_pending(prometheus_stack):
    """Prometheus evaluates every rule without error; with a 30-second session (under the
    15-minute threshold) SessionguardCredentialsExpiringSoon is pending, and with half of the
    fixture's presigns refused (session_too_short and forbidden, against issued and invalid)
    SessionguardPresignRefusalsRising is too; nothing else is."""
    url = prometheus_stack.prometheus
    refused = prometheus_stack.presigns["session_too_short"] + prometheus_stack.presigns["forbidden"]
    assert refused / sum(prometheus_stack.presigns.values()) > 0.05, prometheus_stack.presigns

    def rules():
        groups = prom_api(url, "/api/v1/rules")["groups"]
        found = [r for g in groups for r in g["rules"]]
        return found if found and all(r.get("lastEvaluation", "").startswith("2") for r in found) else None

    loaded = wait_for("rules to be evaluated", rules, timeout=30, every=0.5)
    assert {r["name"] for r in loaded} == {r["alert"] for r in alert_rules()}
    assert [(r["name"], r["health"], r.get("lastError")) for r in loaded if r["health"] != "ok"] == []

    expected = {"SessionguardCredentialsExpiringSoon", "SessionguardPresignRefusalsRising"}

    def pending():
        alerts = prom_api(url, "/api/v1/alerts")["alerts"]
        names = {a["labels"]["alertname"]: a["state"] for a in alerts}
        return names if expected <= names.keys() else None

    states = wait_for("the two alerts to go pending", pending, timeout=30, every=0.5)
    assert states == {name: "pending" for name in expected}


def test_every_metric_the_alerts_use_is_in_a_real_scrape(prometheus_stack):
    """The alerts query metric names the daemon really exports (a renamed metric would leave an
    alert that can never fire)."""
    status, body = http_get(f"http://{prometheus_stack.demo.extra['listen']}/metrics")
    assert status == 200
    exported = set(re.findall(r"^([a-z_:][a-z0-9_:]*)[{ ]", body.decode(), re.M))
    used = {m for r in alert_rules() for m in re.findall(r"\bsessionguard_[a-z0-9_]+", r["expr"])}
    assert used, "the alerts use no sessionguard metric?"
    assert sorted(used - exported) == []
