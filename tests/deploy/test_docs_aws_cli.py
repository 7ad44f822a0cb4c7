"""Every `aws ...` command in README.md, docs/deploy.md, docs/cloudformation.md, docs/scraping.md
and docs/eks.md, parsed and validated by the real AWS CLI (PyPI `awscli`, pinned in
requirements.txt) exactly as printed, placeholders filled the way the docs tell the reader to.

The CLI parses each command, reads its `file://` arguments, and validates the parameters against
the service model before it sends anything; pointed at a closed loopback port, a command that gets
that far fails only with "Could not connect to the endpoint URL". Any other failure (an unknown
operation or option, a malformed shorthand, a missing or unparsable file, a parameter the model
rejects) is a mistake in the docs. Files the docs create with `sessionguard iam-policy ... > FILE`
are made by running those lines with the binary; files of the repository are read from it.

`aws logs tail` exists only in AWS CLI v2; v1 must refuse it as an unknown operation, and the docs
say it is v2 where they use it (V2_ONLY).

Then each doc's commands run in order against moto's server (a fresh one per doc: the docs are
alternative ways to deploy), a later command using what an earlier one created: the output a doc
assigns to a variable (`TASK_SG=$(aws ...)`) is what moto answered. What the reader brings (a VPC,
its subnets and route table, the scraper's security group, the Prometheus server's role) is
created in moto first and its ids put where the docs' `export` lines tell the reader to. The
commands moto cannot serve are listed in MOTO_CANNOT with the reason; each is still parsed and
validated above.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import boto3
import pytest

from conftest import REPO, run, sessionguard_env, start_moto, tool, wait_for

DOCS = ["README.md", "docs/deploy.md", "docs/cloudformation.md", "docs/scraping.md", "docs/eks.md"]

# What the docs tell the reader to set (their `export` lines), and what earlier commands print
# (`X=$(aws ...)`), as the reader would have them.
CAPTURED = {
    "TASK_SG": "sg-0def",
    "ENDPOINT_SG": "sg-0fed",
    "TOPIC": "arn:aws:sns:us-east-1:123456789012:my-app-alarms",
    "SECRET_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:my-app/presigner-AbCdEf",
    "WORKSPACE_ID": "ws-0123abcd-4567-89ef-0123-456789abcdef",
    "TRUST": '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": '
    '{"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}]}',
    "service": "sts",  # `for service in ...` of docs/deploy.md
    "IMAGE": "123456789012.dkr.ecr.us-east-1.amazonaws.com/sessionguard:1.0.0",
    # docs/eks.md: the cluster's OIDC issuer, from `aws eks describe-cluster`.
    "ISSUER": "https://oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE",
}
# Commands only AWS CLI v2 has (the PyPI `awscli` is v1), and why the docs keep them.
V2_ONLY = {
    "aws logs tail": "follows a log group; v1's equivalent is a filter-log-events loop, and v2 is the CLI AWS installs today",
}
# `<...>` placeholders the reader replaces by hand.
ANGLE = {"<task-arn>": "arn:aws:ecs:us-east-1:123456789012:task/my-cluster/0123456789abcdef0123456789abcdef"}


def blocks(doc: str) -> list[str]:
    """The doc's shell blocks, continuation lines joined."""
    text = (REPO / doc).read_text()
    return [re.sub(r"\\\n\s*", " ", m.group(2)) for m in re.finditer(r"```(sh|console|bash)\n(.*?)```", text, re.S)]


def exports() -> dict[str, str]:
    """The variables the docs' `export` lines set."""
    found = {}
    for doc in DOCS:
        for block in blocks(doc):
            for line in block.splitlines():
                line = line.split("#", 1)[0].strip()
                if line.startswith("export "):
                    for pair in line[len("export ") :].split():
                        name, _, value = pair.partition("=")
                        found[name] = value
    return found


def cut(text: str) -> str:
    """`text` up to the first pipe, `)`, `;`, `&` or redirect outside quotes: one command."""
    quote = None
    for i, c in enumerate(text):
        if quote:
            quote = None if c == quote else quote
        elif c in "'\"":
            quote = c
        elif c in "|);&>" or text.startswith(" 2>", i):
            return text[:i].strip()
    return text.strip()


def aws_steps() -> list[tuple[str, str, str | None]]:
    """(doc, command, the variable its output is assigned to or None) for every `aws`
    invocation, in order."""
    found = []
    for doc in DOCS:
        for block in blocks(doc):
            for line in block.splitlines():
                line = line.strip()
                if line.startswith("#"):
                    continue
                for placeholder, value in ANGLE.items():
                    line = line.replace(placeholder, value)
                for m in re.finditer(r"(?:^|[|(;&]\s*|\$\()\s*(aws\s)", line):
                    var = re.search(r"([A-Z_]+)=\$\($", line[: m.start(1)].rstrip())
                    found.append((doc, cut(line[m.start(1) :]), var.group(1) if var else None))
    return found


def aws_commands() -> list[tuple[str, str]]:
    """(doc, command) for every `aws` invocation, in order."""
    return [(doc, command) for doc, command, _ in aws_steps()]


def iam_policy_files(binary, workdir) -> list[str]:
    """Runs every documented `sessionguard iam-policy ... > FILE` line in `workdir`."""
    made = []
    for doc in DOCS:
        for block in blocks(doc):
            for m in re.finditer(r"sessionguard (iam-policy [^>\n]*)>\s*(\S+\.json)", block):
                result = run(["bash", "-c", f'"$SG" {m.group(1)}'], env=sessionguard_env({"SG": str(binary)}), cwd=workdir)
                assert result.returncode == 0, (doc, m.group(0), result.stderr)
                (workdir / m.group(2)).write_text(result.stdout)
                made.append(m.group(2))
    return made


def test_there_are_commands():
    commands = aws_commands()
    assert len(commands) >= 50, commands
    assert {doc for doc, _ in commands} == set(DOCS)


@pytest.fixture(scope="module")
def workdir(sessionguard_bin, tmp_path_factory):
    """Where the reader runs the commands: the repository's files, and the policies they made."""
    work = tmp_path_factory.mktemp("reader")
    for name in ("deploy", "task-definition.json", "task-definition-secrets-manager.json"):
        os.symlink(REPO / name, work / name)
    made = iam_policy_files(sessionguard_bin, work)
    assert "ecs-tasks-trust.json" in made and "presigner-s3-policy.json" in made, made
    # docs/deploy.md shows this file's content in a JSON block for the reader to save.
    text = (REPO / "docs" / "deploy.md").read_text()
    kms = text[text.index("(`task-role-presigner-kms.json`)") :]
    (work / "task-role-presigner-kms.json").write_text(re.search(r"```json\n(.*?)```", kms, re.S).group(1))
    return work


@pytest.mark.parametrize("doc,command", aws_commands(), ids=lambda v: v if "/" in v and len(v) < 40 else None)
def test_the_cli_accepts_the_command(workdir, doc, command):
    """The real CLI parses and validates the command as printed; it fails only at the network.
    A command of AWS CLI v2 alone (V2_ONLY) is refused by v1 as an unknown operation, and its
    doc says it is v2."""
    cli = shutil.which("aws", path=os.path.dirname(tool("pytest")))
    closed = "http://127.0.0.1:9"  # discard: nothing listens
    env = {
        "PATH": f"{os.path.dirname(cli)}:/usr/bin:/bin",
        "HOME": str(workdir),
        "AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": closed,
        "AWS_MAX_ATTEMPTS": "1",
        "AWS_RETRY_MODE": "standard",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        "AWS_EC2_METADATA_DISABLED": "true",
        **exports(),
        **CAPTURED,
    }
    result = subprocess.run(
        ["bash", "-c", command], cwd=workdir, env=env, capture_output=True, text=True, timeout=60,
        input='{"UserName": "my-app-presigner", "AccessKeyId": "AKIA...", "SecretAccessKey": "..."}',
    )  # fmt: skip
    v2 = [why for prefix, why in V2_ONLY.items() if command.startswith(prefix)]
    if v2:
        assert "Invalid choice" in result.stderr, (command, result.stderr[-500:])
        assert "`aws logs tail` is AWS CLI v2" in (REPO / doc).read_text(), f"{doc}: {v2[0]}"
        return
    assert result.returncode != 0 and "Could not connect to the endpoint URL" in result.stderr, (
        f"{doc}: {command}\nexit {result.returncode}\n{result.stderr[-2000:]}"
    )


# Commands moto's server cannot serve as AWS would, with why; each still passes the CLI's parse
# and validation above.
MOTO_CANNOT = {
    "aws secretsmanager rotate-secret": "names the rotation function the reader deployed from the image; moto's Lambda runs functions in Docker, absent here",
    "aws logs tail": "AWS CLI v2 only (V2_ONLY)",
    "aws cloudformation describe-stacks --region \"$AWS_REGION\" --stack-name my-app-presigner":
        "moto's CloudFormation creates the stack but leaves out its SecretArn output (`!Ref Secret`), so the query prints None",
    "aws secretsmanager describe-secret --region \"$AWS_REGION\" --secret-id \"$SECRET_ARN\"":
        "needs the SecretArn output moto leaves out (above)",
    "aws eks create-addon": "moto's EKS has clusters, node groups and Fargate profiles, not add-ons",
    "aws eks create-pod-identity-association": "moto's EKS has no Pod Identity associations",
}


def moto_for(tmp, name):
    """A fresh moto server with AWS's managed policies loaded (the docs attach two)."""
    env = {**os.environ, "MOTO_IAM_LOAD_MANAGED_POLICIES": "true"}
    return start_moto(tmp / f"moto-{name}.log", env=env)


def readers_resources(url: str) -> dict[str, str]:
    """What the docs expect the reader to have, made in moto: {variable: id}. (docs/deploy.md
    creates `my-cluster` itself: a second create-cluster of the same name is a no-op in ECS.)"""
    session = dict(region_name="us-east-1", endpoint_url=url, aws_access_key_id="t", aws_secret_access_key="t")
    ec2 = boto3.client("ec2", **session)
    wait_for("moto", lambda: ec2.describe_vpcs() is not None, timeout=30)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24")["Subnet"]["SubnetId"] for i in (1, 2)]
    table = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    scraper = ec2.create_security_group(VpcId=vpc, GroupName="scraper", Description="scraper")["GroupId"]
    tasks = ec2.create_security_group(VpcId=vpc, GroupName="tasks", Description="tasks")["GroupId"]
    trust = '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}]}'
    boto3.client("iam", **session).create_role(RoleName="prometheus", AssumeRolePolicyDocument=trust)
    boto3.client("ecs", **session).create_cluster(clusterName="my-cluster")  # docs/scraping.md: your cluster
    boto3.client("eks", **session).create_cluster(  # docs/eks.md: your EKS cluster
        name="my-cluster", roleArn="arn:aws:iam::123456789012:role/eks-cluster",
        resourcesVpcConfig={"subnetIds": subnets},
    )  # fmt: skip
    return {"VPC": vpc, "SUBNETS": ",".join(subnets), "ROUTE_TABLE": table, "SCRAPER_SG": scraper, "TASK_SG": tasks}


@pytest.mark.parametrize("doc", DOCS)
def test_the_docs_commands_run_in_order_against_moto(workdir, tmp_path, doc):
    """Each doc's `aws` commands, in order, against moto: every one succeeds but those in
    MOTO_CANNOT, and a doc variable assigned from a command holds what moto answered."""
    proc, url = moto_for(tmp_path, "docs")
    try:
        env = {
            "PATH": f"{os.path.dirname(shutil.which('aws', path=os.path.dirname(tool('pytest'))))}:/usr/bin:/bin",
            "HOME": str(workdir),
            "AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE",
            "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": url,
            "AWS_MAX_ATTEMPTS": "1",
            "AWS_CONFIG_FILE": "/dev/null",
            "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
            "AWS_EC2_METADATA_DISABLED": "true",
            **exports(),
            "service": CAPTURED["service"],
            "TRUST": CAPTURED["TRUST"],
            **readers_resources(url),
        }
        failures, ran = [], 0
        for where, command, assigned in aws_steps():
            if where != doc:
                continue
            result = subprocess.run(
                ["bash", "-c", command], cwd=workdir, env=env, capture_output=True, text=True, timeout=120,
                input='{"UserName": "my-app-presigner", "AccessKeyId": "AKIA...", "SecretAccessKey": "..."}',
            )  # fmt: skip
            cannot = [why for prefix, why in MOTO_CANNOT.items() if command.startswith(prefix)]
            if cannot:
                continue
            ran += 1
            if result.returncode != 0:
                failures.append(f"{command}\n  {result.stderr.strip()[-400:]}")
            elif assigned:
                env[assigned] = result.stdout.strip()
                assert env[assigned] and env[assigned] != "None", (command, result.stdout)
        assert ran >= 2, (doc, ran)
        assert failures == [], "\n".join(failures)
    finally:
        proc.stop()
