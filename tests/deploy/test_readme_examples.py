"""Every `curl` example of README.md and docs/deploy.md that talks to the sidecar is run, pasted as
printed, against the demo README names for them, and its answer is held to the JSON shown below it
field by field: the same fields, and the same values wherever the demo makes them predictable
(buckets, keys, methods, headers, durations asked and granted, messages, every digit of them);
what changes from run to run (times, access keys, signatures, tokens, the seconds a session has
left) is held to its form, and where a message quotes such a value it must quote the answer's own.
An example with no JSON shown is held to what its route answers. A README that drifts from the
daemon fails here.

Examples that need something this machine lacks are listed in NOT_RUN with the reason (S3 itself,
another server), so none is skipped silently."""

from __future__ import annotations

import base64
import json
import re
import shlex
import subprocess
from pathlib import Path

import pytest

from conftest import REPO, first_json_line, sessionguard_env, start

README = REPO / "README.md"
DEPLOY_DOC = REPO / "docs" / "deploy.md"
SIDECAR = re.compile(r"http://127\.0\.0\.1:(9780|9781)")
# Examples whose commands do not reach the sidecar: run by other tests or not runnable here.
NOT_RUN = {
    '"$URL"': "uses a presigned URL against S3 itself (the integration tests send them to s3s-fs)",
    "http://prometheus:9090": "reloads your Prometheus",
    "grafana.example.com": "imports into your Grafana",
}
# Fields whose values change with every run or every session.
VOLATILE_KEYS = {
    "expires_at",
    "credentials_expire_at",
    "available_seconds",
    "x-amz-credential",
    "x-amz-date",
    "x-amz-security-token",
    "x-amz-signature",
    "policy",
}
VOLATILE_PARAMS = ("X-Amz-Credential", "X-Amz-Date", "X-Amz-Signature", "X-Amz-Security-Token")
STATUS_OF_ERROR = {
    "invalid_request": 400,
    "forbidden": 403,
    "session_too_short": 409,
    "credentials_unavailable": 503,
}


def blocks(doc: Path) -> list[tuple[str, str]]:
    return [(m.group(1), m.group(2)) for m in re.finditer(r"```(\w*)\n(.*?)```", doc.read_text(), re.S)]


def the_demo_command() -> list[str]:
    """The `cargo run -- demo ...` README's presign section names for its examples."""
    text = README.read_text()
    section = text[text.index("## Presigning that keeps its promise"):]
    m = re.search(r"```sh\ncargo run -- (demo [^\n]*)\n```", section)
    assert m, "README's presign section names no demo command for its examples"
    return shlex.split(m.group(1))


def examples() -> list[tuple[str, str, str | None]]:
    """(where, command, the JSON block after it or None) for every sh block calling the sidecar."""
    found = []
    for doc in (README, DEPLOY_DOC):
        bs = blocks(doc)
        for i, (lang, body) in enumerate(bs):
            if lang != "sh" or "curl" not in body:
                continue
            if any(marker in body for marker in NOT_RUN):
                assert not SIDECAR.search(body), f"{doc.name}: a sidecar call next to {body!r}"
                continue
            assert SIDECAR.search(body), f"{doc.name}: a curl example to an unknown host: {body}"
            shown = bs[i + 1][1] if i + 1 < len(bs) and bs[i + 1][0] == "json" else None
            found.append((f"{doc.name} block {i}", body, shown))
    return found


@pytest.fixture(scope="module")
def readme_demo(sessionguard_bin, tmp_path_factory):
    argv = [str(sessionguard_bin), *the_demo_command(), "--listen", "127.0.0.1:0",
            "--metrics-listen", "127.0.0.1:0", "--log-format", "json"]  # fmt: skip
    proc = start("readme-demo", argv, tmp_path_factory.mktemp("readme") / "demo.log", env=sessionguard_env())
    try:
        started = first_json_line(proc, "sessionguard started")
        first_json_line(proc, "credentials checked")
    except BaseException:
        proc.stop()
        raise
    proc.extra.update(listen=started["listen"], metrics=started["metrics_listen"])
    yield proc
    proc.stop()


def curl_lines(block: str) -> list[str]:
    """The curl commands of a block (continuation lines joined), without the other commands."""
    joined = block.replace("\\\n", " ")
    return [line.strip() for line in joined.splitlines() if line.strip().startswith("curl ")]


def run_example(command: str, demo) -> tuple[int, str]:
    """Runs the example as bash would, on the demo's ports, with curl also printing the status."""
    command = command.replace("127.0.0.1:9780", demo.extra["listen"]).replace(
        "127.0.0.1:9781", demo.extra["metrics"]
    )
    command = command.replace("curl -s ", "curl -s -w '\\n%{http_code}' ", 1)
    out = subprocess.run(["bash", "-euo", "pipefail", "-c", command], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, (command, out.stderr)
    body, _, status = out.stdout.rstrip("\n").rpartition("\n")
    return int(status), body


def pattern(shown: str) -> re.Pattern:
    """A string of the docs as a pattern: `…` (the docs' own elision) stands for anything; every
    other character, digits included, stands for itself."""
    return re.compile(".*".join(re.escape(p) for p in shown.split("…")), re.S)


# The form of each value that changes from run to run.
RFC3339 = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"
AMZ_DATE = r"\d{8}T\d{6}Z"
FORMS = {
    "expires_at": RFC3339,
    "credentials_expire_at": RFC3339,
    "x-amz-date": AMZ_DATE,
    "X-Amz-Date": AMZ_DATE,
    "x-amz-signature": r"[0-9a-f]{64}",
    "X-Amz-Signature": r"[0-9a-f]{64}",
    "x-amz-security-token": r"[A-Za-z0-9+/=]+",
    "X-Amz-Security-Token": r"[A-Za-z0-9%]+",
    "x-amz-credential": r"ASIA[A-Z0-9]{16}/\d{8}/[a-z0-9-]+/s3/aws4_request",
    "X-Amz-Credential": r"ASIA[A-Z0-9]{16}%2F\d{8}%2F[a-z0-9-]+%2Fs3%2Faws4_request",
    "policy": r"[A-Za-z0-9+/]+=*",
}


def quoted(shown: dict, got: dict) -> dict[str, str]:
    """What the shown answer's volatile values are in the answer got, for messages quoting them."""
    return {str(shown[k]): str(got[k]) for k in VOLATILE_KEYS if k in shown and k in got and not isinstance(shown[k], (dict, list))}


def volatile(key: str, got, shown, at: str) -> None:
    """A value that changes from run to run, held to its form."""
    assert type(got) is type(shown), f"{at}: {got!r} vs {shown!r}"
    if key == "available_seconds":
        assert 0 < got <= 7 * 24 * 3600, f"{at}: {got!r}"
        return
    assert re.fullmatch(FORMS[key], got), f"{at}: {got!r} is not of the form {FORMS[key]}"
    if key == "policy":
        policy = json.loads(base64.b64decode(got))
        assert set(policy) == {"expiration", "conditions"}, f"{at}: {policy!r}"


def same_url(got: str, shown: str, at: str) -> None:
    """A URL: what the docs show, with each volatile query parameter held to its form."""
    for name in VOLATILE_PARAMS:
        value = re.search(rf"[?&]{name}=([^&]+)", got)
        if value:
            volatile(name, value.group(1), "", f"{at}?{name}")
        shown = re.sub(rf"({name}=)[^&…]+", r"\1…", shown)
    assert pattern(shown).fullmatch(got), f"{at}: {got!r} is not what the docs show, {shown!r}"


def same(got, shown, at: str = "", quotes: dict[str, str] | None = None) -> None:
    if isinstance(shown, dict):
        assert isinstance(got, dict), f"{at}: {got!r} is not an object"
        assert set(got) == set(shown), f"{at}: fields {sorted(got)} are not the shown {sorted(shown)}"
        quotes = {**(quotes or {}), **quoted(shown, got)}
        for key in shown:
            if key in VOLATILE_KEYS:
                volatile(key, got[key], shown[key], f"{at}.{key}")
            else:
                same(got[key], shown[key], f"{at}.{key}", quotes)
    elif isinstance(shown, list):
        assert isinstance(got, list) and len(got) == len(shown), f"{at}: {got!r}"
        for i, (g, s) in enumerate(zip(got, shown)):
            same(g, s, f"{at}[{i}]", quotes)
    elif isinstance(shown, str):
        assert isinstance(got, str), f"{at}: {got!r}"
        if at.endswith(".url") and "?" in shown:
            same_url(got, shown, at)
            return
        for was, now in (quotes or {}).items():
            shown = shown.replace(was, now)
        assert pattern(shown).fullmatch(got), f"{at}: {got!r} is not what the docs show, {shown!r}"
    else:
        assert got == shown, f"{at}: {got!r} != {shown!r}"


def what_the_route_answers(line: str, status: int, body: str, where: str) -> None:
    """An example the docs show no answer for, held to what its route answers."""
    assert status == 200, (where, line, status, body)
    if "/healthz" in line:
        assert json.loads(body) == {"status": "ok"}, (where, body)
    elif "/readyz" in line:
        assert json.loads(body)["ready"] is True, (where, body)
    elif "/metrics" in line:
        assert "sessionguard_credentials_remaining_seconds " in body, (where, body)
    else:
        raise AssertionError(f"{where}: {line} shows no answer and is no health or metrics route")


def test_there_are_examples():
    found = examples()
    assert len([e for e in found if e[2]]) >= 9, found


@pytest.mark.parametrize("where,command,shown", examples(), ids=[e[0] for e in examples()])
def test_example_answers_what_the_docs_show(readme_demo, where, command, shown):
    if shown is None:
        # GETs of metrics or health next to other commands (docker, ...): each answers.
        for line in curl_lines(command):
            if "|" in line:
                out = subprocess.run(["bash", "-euo", "pipefail", "-c", line.replace("127.0.0.1:9781", readme_demo.extra["metrics"]).replace("127.0.0.1:9780", readme_demo.extra["listen"])], capture_output=True, text=True, timeout=30)
                assert out.returncode == 0, (where, line, out.stderr)
                piped = line.split("|", 1)[0].strip()
                status, body = run_example(piped, readme_demo)
                what_the_route_answers(piped, status, body, where)
            else:
                status, body = run_example(line, readme_demo)
                what_the_route_answers(line, status, body, where)
        return
    status, body = run_example(command, readme_demo)
    answer = json.loads(body)
    expected = json.loads(shown)
    assert status == STATUS_OF_ERROR.get(expected.get("error"), 200), (where, status, body)
    same(answer, expected, where)
