"""deploy/grafana/sessionguard.json: structurally a Grafana 10+ dashboard, and every query of every
panel runs without error and returns data on a real Prometheus scraping the real daemon (the demo,
conftest.py's prometheus_stack: 30 s sessions, so a rotation within half a minute, and presigns of
each answer).

Grafana is not run here (it is AGPL and not packaged for Debian): the test substitutes the template
variables as Grafana does (`All` is the regex `.*`, `$__rate_interval` a duration) and sends each
query to Prometheus itself, as an instant query for a table and as a range query otherwise.
"""

from __future__ import annotations

import json
import math
import re
import time

import pytest

from conftest import GRAFANA_DASHBOARD, PRESIGNS, STACK_SESSION, prom_api, wait_for

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
# What Grafana substitutes for its built-in interval variables with Prometheus' default 15 s
# scrape interval setting: $__rate_interval is at least four scrape intervals.
BUILTINS = {"__rate_interval": "1m", "__interval": "15s", "__range": "1h"}
# Matches every form Grafana accepts: $name, ${name}, ${name:format}, [[name]].
VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]")
# The panels the dashboard promises (README, docs/deploy.md).
TITLES = {
    "Lowest remaining session time",
    "Remaining session time per task",
    "Longest URL grantable now",
    "Signing credentials' remaining time",
    "Presign answers by result",
    "Presign latency",
    "Credential checks by result",
    "Rotations",
    "Alerts",
}
SESSION_SECONDS = 30


def dashboard() -> dict:
    return json.loads(GRAFANA_DASHBOARD.read_text())


def panels(board: dict) -> list[dict]:
    """Every panel, those inside rows included; rows themselves hold no query."""
    out = []
    for p in board["panels"]:
        if p["type"] == "row":
            out.extend(p.get("panels", []))
        else:
            out.append(p)
    return out


def variables(board: dict) -> dict:
    return {v["name"]: v for v in board["templating"]["list"]}


def substitute(expr: str, values: dict) -> str:
    """`expr` with the template variables replaced; fails on one the dashboard does not define."""

    def one(m):
        name = next(g for g in m.groups() if g)
        assert name in values, f"{name} is not a variable of the dashboard: {expr}"
        return values[name]

    return VARIABLE.sub(one, expr)


def all_values(board: dict) -> dict:
    """What every variable stands for with nothing selected: `All` (the regex `.*`) for the query
    variables, the default for a textbox, plus Grafana's built-ins."""
    values = dict(BUILTINS)
    for name, v in variables(board).items():
        if v["type"] == "query":
            values[name] = v["allValue"]
        elif v["type"] == "textbox":
            values[name] = v["query"]
    return values


# --- structure -----------------------------------------------------------------------------------


def test_is_a_grafana_dashboard():
    """Grafana 10 imports it: a schemaVersion it knows, no id (import assigns one), a fixed uid,
    a Prometheus data source variable and the cluster and task_family variables read from
    sessionguard_task_info."""
    board = dashboard()
    assert isinstance(board["schemaVersion"], int) and 36 <= board["schemaVersion"] <= 38
    assert board.get("id") is None
    assert board["uid"] == "sessionguard" and board["title"]
    assert "__inputs" not in board, "the data source is a variable, not an import input"

    v = variables(board)
    assert v["datasource"]["type"] == "datasource" and v["datasource"]["query"] == "prometheus"
    for name, label, selector in [
        ("cluster", "cluster", "sessionguard_task_info"),
        ("task_family", "family", 'sessionguard_task_info{cluster=~"$cluster"}'),
    ]:
        var = v[name]
        assert var["type"] == "query", var
        assert var["datasource"] == DATASOURCE, var
        assert var["definition"] == f"label_values({selector}, {label})", var
        assert var["query"]["query"] == var["definition"], var
        assert var["includeAll"] and var["multi"] and var["allValue"] == ".*", var
    assert v["warn_below"]["type"] == "textbox" and v["warn_below"]["query"] == "900"


def test_every_panel_queries_the_data_source_variable():
    """Each panel and each of its targets uses the data source variable and has a PromQL `expr`;
    ids and refIds are unique; the panels tile the 24-column grid without overlapping."""
    all_panels = panels(dashboard())
    assert {p["title"] for p in all_panels} == TITLES
    ids = [p["id"] for p in all_panels]
    assert len(set(ids)) == len(ids), ids
    taken = set()
    for p in all_panels:
        assert p["datasource"] == DATASOURCE, p["title"]
        assert p["targets"], p["title"]
        refs = [t["refId"] for t in p["targets"]]
        assert len(set(refs)) == len(refs), p["title"]
        for t in p["targets"]:
            assert t["datasource"] == DATASOURCE, (p["title"], t["refId"])
            assert isinstance(t.get("expr"), str) and t["expr"].strip(), (p["title"], t["refId"])
        g = p["gridPos"]
        assert g["x"] >= 0 and g["w"] > 0 and g["x"] + g["w"] <= 24 and g["h"] > 0, p["title"]
        cells = {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}
        assert not cells & taken, f"{p['title']} overlaps another panel"
        taken |= cells


def test_panels_read_what_the_issue_asks_for():
    """The remaining time with the --warn-below line, the histogram quantiles, the alerts."""
    by_title = {p["title"]: [t["expr"] for t in p["targets"]] for p in panels(dashboard())}
    assert any("$warn_below" in e for e in by_title["Remaining session time per task"])
    latency = by_title["Presign latency"]
    assert [re.match(r"histogram_quantile\((0\.\d+),", e).group(1) for e in latency] == ["0.5", "0.99"]
    assert all("sessionguard_presign_duration_seconds_bucket" in e for e in latency)
    assert any('ALERTS{alertname=~"Sessionguard.*"}' in e for e in by_title["Alerts"])
    longest = by_title["Longest URL grantable now"]
    assert any("sessionguard_presign_max_expires_in_seconds" in e for e in longest)
    assert any(
        "sessionguard_signing_credentials_expiry_timestamp_seconds" in e
        for e in by_title["Signing credentials' remaining time"]
    )


# --- every query against a real Prometheus -------------------------------------------------------


@pytest.fixture(scope="module")
def scraped(prometheus_stack):
    """The stack once Prometheus holds a rotation and the fixture's presign answers."""
    url = prometheus_stack.prometheus

    def rotated():
        result = prom_api(url, "/api/v1/query", query="sessionguard_credentials_rotations_total >= 1")
        return result["result"]

    # The endpoint rotates a 30 s session with 6 s left: 24 s after the demo started.
    wait_for("a rotation in Prometheus", rotated, timeout=60, every=0.5)

    def counted():
        result = prom_api(url, "/api/v1/query", query="sessionguard_presign_requests_total")["result"]
        seen = {s["metric"]["result"]: float(s["value"][1]) for s in result}
        return all(seen.get(r, 0) >= n for r, n in prometheus_stack.presigns.items())

    wait_for("the presign answers in Prometheus", counted, timeout=15, every=0.25)
    return prometheus_stack


def run_target(url: str, panel: dict, target: dict, values: dict, start: float, end: float) -> list:
    """The result of one target with `values` substituted: an instant query for an instant
    target, a range query (1 s steps) otherwise. The steps end exactly at `end`, so a range
    query sees every sample an instant query at `end` would."""
    expr = substitute(target["expr"], values)
    start = end - math.ceil(end - start)
    if target.get("instant") and not target.get("range"):
        data = prom_api(url, "/api/v1/query", query=expr, time=end)
        assert data["resultType"] == "vector", (panel["title"], expr)
    else:
        data = prom_api(url, "/api/v1/query_range", query=expr, start=start, end=end, step="1s")
        assert data["resultType"] == "matrix", (panel["title"], expr)
    return data["result"]


def values_of(result: list) -> list[float]:
    """Every sample value of a query result, NaN left out."""
    out = []
    for series in result:
        for _, v in series.get("values", [series.get("value")]):
            if not math.isnan(float(v)):
                out.append(float(v))
    return out


def peaks(result: list, label: str) -> dict:
    """The highest value of each series of a range query, by the value of `label`."""
    return {s["metric"][label]: max(float(v) for _, v in s["values"]) for s in result}


def test_the_variables_resolve_on_the_demo(scraped):
    """label_values(...) of the cluster and task_family variables find the demo's task."""
    url = scraped.prometheus
    for var, label in [("cluster", "cluster"), ("task_family", "family")]:
        selector = re.match(r"label_values\((.*), \w+\)$", variables(dashboard())[var]["definition"]).group(1)
        match = substitute(selector, {"cluster": ".*"})
        found = prom_api(url, f"/api/v1/label/{label}/values", **{"match[]": match})
        assert found == [{"cluster": "demo", "family": "sessionguard-demo"}[label]], (var, found)


def test_every_panel_query_returns_data(scraped):
    """With every variable at `All`, each target of each panel answers without error and with
    data; and the data says what the panel promises: a sawtooth in (0, 30] s with its rotation,
    every presign answer the fixture produced, finite latencies, the pending alerts."""
    board = dashboard()
    url = scraped.prometheus
    values = all_values(board)
    start, end = scraped.started, time.time()
    results = {}
    for p in panels(board):
        for t in p["targets"]:
            result = run_target(url, p, t, values, start, end)
            assert result, f"{p['title']} / {t['refId']} returned no data: {substitute(t['expr'], values)}"
            assert values_of(result), f"{p['title']} / {t['refId']}: only NaN"
            results[(p["title"], t["refId"])] = result

    remaining = results[("Remaining session time per task", "A")]
    assert [s["metric"]["family"] for s in remaining] == ["sessionguard-demo"]
    teeth = [float(v) for _, v in remaining[0]["values"]]
    assert all(0 < v <= SESSION_SECONDS for v in teeth), teeth
    assert any(b > a + 10 for a, b in zip(teeth, teeth[1:])), f"no rotation in the sawtooth: {teeth}"
    assert set(values_of(results[("Remaining session time per task", "B")])) == {900.0}
    assert all(0 < v <= SESSION_SECONDS for v in values_of(results[("Lowest remaining session time", "A")]))
    assert all(0 <= v < SESSION_SECONDS for v in values_of(results[("Longest URL grantable now", "A")]))
    signing = values_of(results[("Signing credentials' remaining time", "A")])
    assert all(0 < v <= SESSION_SECONDS + 1 for v in signing), signing
    assert max(values_of(results[("Rotations", "A")])) > 0

    answers = peaks(results[("Presign answers by result", "A")], "result")
    assert set(PRESIGNS) <= {r for r, top in answers.items() if top > 0}, answers
    checks = peaks(results[("Credential checks by result", "A")], "result")
    assert checks["success"] > 0 and checks.get("failure", 0) == 0, checks
    for ref in ("A", "B"):
        latency = values_of(results[("Presign latency", ref)])
        assert all(0 < v < 5 for v in latency), (ref, latency)

    alerts = results[("Alerts", "A")]
    names = {s["metric"]["alertname"]: s["metric"] for s in alerts}
    assert "SessionguardCredentialsExpiringSoon" in names, names
    assert names["SessionguardCredentialsExpiringSoon"]["family"] == "sessionguard-demo", names
    assert STACK_SESSION == f"{SESSION_SECONDS}s"


def test_the_task_variables_filter_every_task_panel(scraped):
    """Selecting the demo's cluster and family keeps every panel's data; a cluster or family with
    no task empties every query that reads the variables (so none bypasses the filter), while the
    --warn-below line stays."""
    board = dashboard()
    url = scraped.prometheus
    start, end = time.time() - 20, time.time()
    chosen = {**all_values(board), "cluster": "demo", "task_family": "sessionguard-demo"}
    for name, other in [("cluster", "no-such-cluster"), ("task_family", "no-such-family")]:
        elsewhere = {**chosen, name: other}
        for p in panels(board):
            for t in p["targets"]:
                assert run_target(url, p, t, chosen, start, end), (p["title"], t["refId"])
                result = run_target(url, p, t, elsewhere, start, end)
                if "$cluster" in t["expr"] or "$task_family" in t["expr"]:
                    assert result == [], (p["title"], t["refId"], name, result)
                else:
                    assert t["expr"] == "vector($warn_below)", (p["title"], t["refId"])
                    assert result, (p["title"], t["refId"])
