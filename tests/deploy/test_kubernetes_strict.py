"""deploy/kubernetes/'s core manifests (Deployments, ServiceAccounts) held to the Kubernetes API's
own schemas with unknown fields refused, as `kubectl apply` (strict field validation) refuses
them: `kubernetes-validate --strict` (pinned in requirements.txt), at the oldest Kubernetes the
manifests support (1.29, native sidecars) and the newest its schemas know.

scripts/test-kubernetes.sh checks types, enums and the prometheus-operator kinds with
kubernetes-models, whose schemas accept any field name; this is the check that catches a
misspelt one. PodMonitor and PrometheusRule have no schema here (they are CRDs): they are left to
that script, and a document this tool skips fails the test rather than passing unseen.
"""

from __future__ import annotations

import pytest
import yaml

from conftest import REPO, run, tool

MANIFESTS = REPO / "deploy" / "kubernetes"
CORE = ("deployment.yaml", "deployment-irsa.yaml", "serviceaccounts.yaml")
VERSIONS = ("1.29.0", "1.37.0")


def validate(path, version: str):
    return run([tool("kubernetes-validate"), "--strict", "-k", version, str(path)])


def test_every_manifest_is_core_or_left_to_the_crd_check():
    """A new manifest must be added to CORE (or be a prometheus-operator CRD kind)."""
    for path in sorted(MANIFESTS.glob("*.yaml")):
        kinds = {d["kind"] for d in yaml.safe_load_all(path.read_text()) if d}
        assert path.name in CORE or kinds <= {"PodMonitor", "PrometheusRule"}, (path.name, kinds)


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("name", CORE)
def test_core_manifests_have_no_unknown_field(name: str, version: str):
    path = MANIFESTS / name
    result = validate(path, version)
    assert result.returncode == 0, result.stdout + result.stderr
    documents = [d for d in yaml.safe_load_all(path.read_text()) if d]
    passed = [line for line in result.stdout.splitlines() if " passed for resource " in line]
    assert len(passed) == len(documents), result.stdout + result.stderr


def test_a_misspelt_field_is_refused(tmp_path):
    """The check can fail: `securityContexts` for `securityContext` in the pod spec is named."""
    text = (MANIFESTS / "deployment.yaml").read_text()
    assert "      securityContext:\n" in text
    typo = tmp_path / "deployment.yaml"
    typo.write_text(text.replace("      securityContext:\n", "      securityContexts:\n", 1))
    result = validate(typo, VERSIONS[0])
    assert result.returncode != 0, result.stdout
    assert "'securityContexts' was unexpected" in result.stdout + result.stderr
