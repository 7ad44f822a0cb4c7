"""docs/eks.md shows, under each `sessionguard iam-policy` command, exactly what the binary prints
(the Pod Identity trust policy held to the manifest's service account, the web-identity trust
policy with its `aud` and `sub` conditions, and the signer's S3 policy),
and the MaxSessionDuration it tells the operator to set; the signer's policy passes parliament."""

from __future__ import annotations

import json
import re
import shlex

import yaml
from parliament import analyze_policy_string

from conftest import REPO, run, sessionguard_env

EKS_DOC = REPO / "docs" / "eks.md"


def documented(doc) -> list[tuple[list[str], dict]]:
    """Every `sessionguard iam-policy ...` sh block of `doc`, with the JSON block that follows it."""
    found = []
    blocks = [(m.group(1), m.group(2)) for m in re.finditer(r"```(\w*)\n(.*?)```", doc.read_text(), re.S)]
    for (lang, body), nxt in zip(blocks, blocks[1:] + [("", "")]):
        command = " ".join(line.rstrip("\\").strip() for line in body.splitlines())
        if lang != "sh" or "sessionguard iam-policy" not in command:
            continue
        args = re.split(r"[>|]", command.split("sessionguard iam-policy", 1)[1])[0]
        assert nxt[0] == "json", f"sessionguard iam-policy{args} is not followed by its output"
        found.append((shlex.split(args), json.loads(nxt[1])))
    return found


def test_the_eks_doc_shows_what_the_binary_prints(sessionguard_bin):
    shown = documented(EKS_DOC)
    assert len(shown) >= 2, shown
    trust_seen = pod_identity_seen = False
    for args, policy in shown:
        result = run([str(sessionguard_bin), "iam-policy", *args], env=sessionguard_env())
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout) == policy, f"docs/eks.md shows another policy for {args}:\n{result.stdout}"
        if "--pod-identity" in args:
            pod_identity_seen = True
            statement = policy["Statement"][0]
            assert statement["Principal"] == {"Service": "pods.eks.amazonaws.com"}, statement
            assert statement["Action"] == ["sts:AssumeRole", "sts:TagSession"], statement
            # The service account it admits is the one deploy/kubernetes/deployment.yaml runs as.
            deployment = yaml.safe_load((REPO / "deploy" / "kubernetes" / "deployment.yaml").read_text())
            conditions = statement["Condition"]["StringEquals"]
            assert conditions == {
                "aws:RequestTag/kubernetes-namespace": deployment["metadata"]["namespace"],
                "aws:RequestTag/kubernetes-service-account": deployment["spec"]["template"]["spec"]["serviceAccountName"],
            }, conditions
        elif "--trust-policy" in args:
            trust_seen = True
            statement = policy["Statement"][0]
            assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
            conditions = statement["Condition"]["StringEquals"]
            assert any(k.endswith(":aud") and v == "sts.amazonaws.com" for k, v in conditions.items())
            assert any(k.endswith(":sub") and v.startswith("system:serviceaccount:") for k, v in conditions.items())
            assert "--max-session-duration 43200" in result.stderr, result.stderr
            assert "--max-session-duration 43200" in EKS_DOC.read_text()
        else:
            findings = analyze_policy_string(result.stdout).findings
            assert not findings, findings
    assert trust_seen, "docs/eks.md shows no web-identity trust policy"
    assert pod_identity_seen, "docs/eks.md shows no Pod Identity trust policy"
