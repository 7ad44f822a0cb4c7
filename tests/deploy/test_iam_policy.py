"""`sessionguard iam-policy` prints policies IAM would take as least privilege: parliament (an offline
IAM linter with AWS's action database) finds every action real, on the resource type it names, and
no `*`; and every policy the docs show for their rules is what the binary prints for those rules,
so README, docs/deploy.md and the task definitions cannot drift from it."""

from __future__ import annotations

import json
import re
import shlex

import pytest
from parliament import analyze_policy_string

from conftest import (
    REPO,
    TASK_DEFINITIONS,
    container_env,
    run,
    sessionguard_env,
    task_definition,
)

DOCS = [REPO / "README.md", REPO / "docs" / "deploy.md"]
KMS_KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:my-app/presigner-AbCdEf"
ROLE = "arn:aws:iam::123456789012:role/my-app-presigner"
TASK_ROLE = "arn:aws:iam::123456789012:role/my-app-task"

CASES = {
    "every method": ["--presign-allow", "GET:reports/exports/,PUT:uploads/incoming/,DELETE:scratch/tmp/,HEAD:meta/,POST:forms/u/"],
    "no method, whole bucket": ["--presign-allow", "scratch"],
    "wildcards in a prefix": ["--presign-allow", "GET:reports/odd*name?/"],
    "with a KMS key": ["--presign-allow", "GET:reports/,PUT:uploads/", "--kms-key-arn", KMS_KEY],
    "China partition": ["--presign-allow", "GET:reports/", "--region", "cn-north-1"],
    "secret, task role": ["--presign-allow", "GET:reports/", "--signing-source", "secrets-manager",
                          "--signing-secret-id", SECRET, "--principal", "task-role"],
    "secret by name, task role": ["--presign-allow", "GET:reports/", "--signing-source", "secrets-manager",
                                  "--signing-secret-id", "my-app/presigner", "--region", "eu-west-1",
                                  "--account-id", "123456789012", "--principal", "task-role"],
    "assumed role, task role": ["--presign-allow", "GET:reports/", "--signing-source", "assume-role",
                                "--assume-role-arn", ROLE, "--principal", "task-role"],
    "assumed role, signer": ["--presign-allow", "PUT:uploads/", "--signing-source", "assume-role",
                             "--assume-role-arn", ROLE],
}  # fmt: skip

TRUST_CASES = {
    "task role": ["--presign-allow", "GET:reports/", "--trust-policy", "--account-id", "123456789012",
                  "--region", "us-east-1"],
    "assumed signer": ["--presign-allow", "GET:reports/", "--signing-source", "assume-role",
                       "--assume-role-arn", ROLE, "--trust-policy", "--task-role-arn", TASK_ROLE],
}  # fmt: skip


def iam_policy(binary, args: list[str], env: dict | None = None) -> tuple[dict, str]:
    result = run([str(binary), "iam-policy", *args], env=sessionguard_env(env))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout), result.stderr


@pytest.mark.parametrize("args", CASES.values(), ids=CASES.keys())
def test_parliament_finds_nothing(sessionguard_bin, args):
    """No unknown action, no action on a resource type it does not apply to, no `*` anywhere."""
    policy, reasons = iam_policy(sessionguard_bin, args)
    findings = analyze_policy_string(json.dumps(policy)).findings
    assert [(f.issue, f.detail) for f in findings] == [], json.dumps(policy, indent=2)
    text = json.dumps(policy)
    assert '"*"' not in text and ':*"' not in text, text
    for statement in policy["Statement"]:
        for action in statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]:
            assert "*" not in action
            # stderr names the reason of every action it prints.
            assert action in reasons, (action, reasons)


@pytest.mark.parametrize("args", TRUST_CASES.values(), ids=TRUST_CASES.keys())
def test_trust_policies_lint_clean(sessionguard_bin, args):
    """A trust policy has a Principal and no Resource; parliament (made for identity policies)
    must find nothing else, and the only action is sts:AssumeRole."""
    policy, _ = iam_policy(sessionguard_bin, args)
    findings = [
        (f.issue, f.detail)
        for f in analyze_policy_string(json.dumps(policy)).findings
        if (f.issue, f.detail) != ("MALFORMED", "Statement contains neither Resource nor NotResource")
    ]
    assert findings == [], json.dumps(policy, indent=2)
    for statement in policy["Statement"]:
        assert statement["Action"] == "sts:AssumeRole"
        assert "Resource" not in statement and statement["Principal"], statement


def test_bad_input_is_a_usage_error(sessionguard_bin):
    """No rules, a KMS alias for a key ARN, a secret name without account: exit 64, naming why."""
    cases = [
        ([], "no --presign-allow rule"),
        (["--presign-allow", "GET:reports/", "--kms-key-arn", "alias/uploads"], "--kms-key-arn"),
        (["--presign-allow", "GET:reports/", "--signing-source", "secrets-manager",
          "--signing-secret-id", "my-app/presigner", "--principal", "task-role"], "give its ARN"),
        (["--presign-allow", "GET:reports/", "--principal", "someone"], "--principal"),
    ]  # fmt: skip
    for args, needle in cases:
        result = run([str(sessionguard_bin), "iam-policy", *args], env=sessionguard_env())
        assert result.returncode == 64, (args, result.stderr)
        assert needle in result.stderr, (args, result.stderr)
        assert result.stdout == ""


def documented_policies() -> list[tuple[str, list[str], dict]]:
    """Every `sessionguard iam-policy ...` command in the docs, with the JSON block that follows it."""
    found = []
    block = re.compile(r"```(\w*)\n(.*?)```", re.S)
    for doc in DOCS:
        blocks = [(m.group(1), m.group(2)) for m in block.finditer(doc.read_text())]
        for (lang, body), nxt in zip(blocks, blocks[1:] + [("", "")]):
            if lang not in ("sh", "console"):
                continue
            command = " ".join(line.rstrip("\\").strip() for line in body.splitlines())
            if "sessionguard iam-policy" not in command:
                continue
            args = re.split(r"[>|]", command.split("sessionguard iam-policy", 1)[1])[0]
            where = f"{doc.name}: sessionguard iam-policy{args}"
            assert nxt[0] == "json", f"{where} is not followed by its output"
            found.append((where, shlex.split(args), json.loads(nxt[1])))
    return found


def test_the_docs_show_what_the_binary_prints(sessionguard_bin):
    """README and docs/deploy.md show, under each `sessionguard iam-policy` command, exactly its
    output."""
    documented = documented_policies()
    assert len(documented) >= 3, documented
    for where, args, shown in documented:
        printed, _ = iam_policy(sessionguard_bin, args)
        assert printed == shown, f"{where} shows another policy than it prints:\n{json.dumps(printed, indent=2)}"


@pytest.mark.parametrize("path", TASK_DEFINITIONS, ids=lambda p: p.name)
def test_each_task_definition_has_its_policy_in_the_docs(sessionguard_bin, path):
    """The policy for the rules and source a task definition gives the sidecar, computed from that
    environment as `run` reads it, is one the docs show."""
    env = container_env(task_definition(path), "sessionguard")
    printed, _ = iam_policy(sessionguard_bin, [], env)
    shown = [policy for _, _, policy in documented_policies()]
    assert printed in shown, f"no doc shows the policy for {path.name}:\n{json.dumps(printed, indent=2)}"


def test_readme_head_says_403_without_list_bucket(sessionguard_bin):
    """The policy never grants s3:ListBucket, and without it S3 answers a HEAD (or GET) of a
    missing key with 403, not 404: README's HEAD section says so, and shows how to get 404 (a
    listing statement on the rule's prefix, parliament-clean) with its cost."""
    for args in CASES.values():
        policy, _ = iam_policy(sessionguard_bin, args)
        assert "s3:ListBucket" not in json.dumps(policy), args
    text = (REPO / "README.md").read_text()
    section = text[text.index("### HEAD: does it exist"):]
    section = section[: section.index("\n### ", 1)]
    assert "404 when it does not exist" not in section
    assert "403, not a 404" in section and "s3:ListBucket" in section and "cost" in section.lower()
    [listing] = [b for lang, b in re.findall(r"```(\w*)\n(.*?)```", section, re.S) if "ListBucket" in b]
    statement = json.loads(listing)
    assert statement["Condition"]["StringLike"]["s3:prefix"].endswith("*")
    document = {"Version": "2012-10-17", "Statement": [statement]}
    assert analyze_policy_string(json.dumps(document)).findings == []
