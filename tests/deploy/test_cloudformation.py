"""deploy/cloudformation: cfn-lint finds nothing in either template, and what the templates grant
and run is what the rest of the repository says.

- presigner.yaml's IAM user has exactly the policy `sessionguard iam-policy` prints for the rules
  in the template's `Metadata.sessionguard.presign_allow`, and the task role's policy is exactly
  what it prints with `--principal task-role`. The printed Resource of the latter is the secret's
  ARN, which the template can only name as `!Ref Secret`: the comparison replaces every
  `{"Ref": "Secret"}` of the template's document with the ARN given to iam-policy, and nothing
  else.
- the rotation function's role may do exactly the listed IAM actions on the user, Secrets Manager
  actions on the secret and Logs actions on its log group, and nothing on `*`.
- service.yaml's task definition is task-definition-secrets-manager.json field by field. CFN spells
  keys in PascalCase (`PortMappings`, `ContainerPort`); `api_shape` turns them into the API's
  camelCase, leaving the free-form maps (`Options`, `DockerLabels`) alone. The only documented
  differences are the values that are parameters: PARAMETER_VALUES says which `Ref` stands for
  which of the file's values, and a `Ref` missing from it (or any other intrinsic) fails.

Templates are parsed with cfn-lint's own decoder (`cfnlint.decode`), which reads the short tags
(`!Ref`, `!Sub`, `!GetAtt`) as their long forms. cfn-lint's resource schemas come in its wheel:
the lint runs without network (in an empty network namespace where `unshare` allows it).
"""

from __future__ import annotations

import copy
import importlib.metadata
import json
import re
import shlex
import shutil
from pathlib import Path

import pytest
from cfnlint.decode import decode

from conftest import (
    REPO,
    TASK_DEFINITION_SECRETS_MANAGER,
    container,
    container_env,
    run,
    sessionguard_env,
    task_definition,
    tool,
)
from test_task_definition import duration_seconds

CFN_DIR = REPO / "deploy" / "cloudformation"
PRESIGNER = CFN_DIR / "presigner.yaml"
SERVICE = CFN_DIR / "service.yaml"
TEMPLATES = (PRESIGNER, SERVICE)
CFN_DOC = REPO / "docs" / "cloudformation.md"
DEPLOY_DOC = REPO / "docs" / "deploy.md"

# The secret ARN iam-policy is given; any full ARN does (the S3 statements do not depend on it).
SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:my-app/presigner-AbCdEf"

# Regions the templates are linted for: every resource type they use exists in each.
LINT_REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-2"]


def template(path: Path) -> dict:
    """A template as plain JSON types, short tags in their long form (`{"Ref": ...}`)."""
    parsed, problems = decode(str(path))
    assert not problems, [str(p) for p in problems]
    return json.loads(json.dumps(parsed))


def resources(tpl: dict, kind: str) -> dict:
    return {name: r for name, r in tpl["Resources"].items() if r["Type"] == kind}


def the_resource(tpl: dict, kind: str) -> tuple[str, dict]:
    found = resources(tpl, kind)
    assert len(found) == 1, f"expected one {kind}, found {sorted(found)}"
    return next(iter(found.items()))


def ref(name: str) -> dict:
    return {"Ref": name}


def get_att(name: str, attribute: str) -> dict:
    return {"Fn::GetAtt": [name, attribute]}


def iam_policy(binary, *args: str) -> dict:
    result = run([str(binary), "iam-policy", *args], env=sessionguard_env())
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def presign_allow(tpl: dict) -> str:
    return tpl["Metadata"]["sessionguard"]["presign_allow"]


def replaced(value, old, new):
    """`value` with every part equal to `old` replaced by `new`."""
    if value == old:
        return new
    if isinstance(value, dict):
        return {k: replaced(v, old, new) for k, v in value.items()}
    if isinstance(value, list):
        return [replaced(v, old, new) for v in value]
    return value


# A region of each partition, and the partition CloudFormation gives `${AWS::Partition}` there.
PARTITIONS = {"us-east-1": "aws", "cn-north-1": "aws-cn", "us-gov-west-1": "aws-us-gov"}


def in_partition(value, partition: str):
    """`value` as CloudFormation resolves it in `partition`: each `Fn::Sub` whose only variable is
    `${AWS::Partition}` becomes its string; anything else is left as it is."""
    if isinstance(value, dict):
        sub = value.get("Fn::Sub")
        if len(value) == 1 and isinstance(sub, str):
            text = sub.replace("${AWS::Partition}", partition)
            if "${" not in text:
                return text
        return {k: in_partition(v, partition) for k, v in value.items()}
    if isinstance(value, list):
        return [in_partition(v, partition) for v in value]
    return value


def strings(value):
    """Every string in a template value, keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from strings(v)


def policy_documents(value, where="") -> list[tuple[str, dict]]:
    """Every IAM policy document in a template: a mapping with `Statement`, at any depth."""
    found = []
    if isinstance(value, dict):
        if "Statement" in value:
            found.append((where, value))
        for k, v in value.items():
            found += policy_documents(v, f"{where}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found += policy_documents(v, f"{where}[{i}]")
    return found


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


# --- cfn-lint ------------------------------------------------------------------------------------


def offline(argv: list[str]) -> list[str]:
    """`argv` in a user and network namespace of its own, with no network at all, when this
    machine allows unprivileged namespaces; else unchanged (the proxy variables of
    `lint` still point any HTTP client at a closed port)."""
    unshare = shutil.which("unshare")
    if unshare and run([unshare, "-rn", "true"]).returncode == 0:
        return [unshare, "-rn", *argv]
    return argv


def lint(*paths: Path) -> list[dict]:
    """cfn-lint's findings for `paths`, errors, warnings and informational ones alike (`-c I`),
    as its JSON output."""
    argv = [
        tool("cfn-lint"), "--format", "json", "--include-checks", "I",
        "--regions", *LINT_REGIONS, "--", *map(str, paths),
    ]  # fmt: skip
    dead = "http://127.0.0.1:9"  # the discard port: nothing listens there
    env = {"PATH": "/usr/bin:/bin", "HTTP_PROXY": dead, "HTTPS_PROXY": dead, "NO_PROXY": ""}
    result = run(offline(argv), env=env, timeout=120)
    # The exit code is a bit mask: 2 errors, 4 warnings, 8 informational; 1 means it crashed.
    assert result.returncode in (0, 2, 4, 6, 8, 10, 12, 14), result.stderr
    return json.loads(result.stdout or "[]")


def findings(matches: list[dict]) -> list[str]:
    return [
        f"{m['Rule']['Id']} {m['Filename']}:{m['Location']['Start']['LineNumber']} {m['Message']}"
        for m in matches
    ]


def test_cfn_lint_finds_nothing():
    """No error, warning or informational finding in any template of deploy/cloudformation, for
    each region linted, with no rule ignored; offline, from the schemas in cfn-lint's wheel."""
    every = sorted(CFN_DIR.glob("*.y*ml"))
    assert set(every) == set(TEMPLATES), "a new template needs its tests and docs here"
    assert findings(lint(*every)) == []


def test_cfn_lint_schemas_come_with_the_package():
    """The resource schemas cfn-lint validates against are files of the installed distribution
    (its RECORD lists them), not a download: a fresh venv lints offline."""
    files = {str(f) for f in importlib.metadata.distribution("cfn-lint").files or []}
    for region in LINT_REGIONS:
        assert f"cfnlint/data/schemas/providers/{region}.json" in files, region
    assert sum(f.startswith("cfnlint/data/schemas/resources/") for f in files) > 1000


MISTAKES = {
    "x86_64 spelled as Docker's amd64": (PRESIGNER, "Architectures: [x86_64]", "Architectures: [amd64]", "E3"),
    "Lambda timeout above 15 min": (PRESIGNER, "Timeout: 120", "Timeout: 1200", "E3"),
    "GetAtt of a missing resource": (PRESIGNER, "!GetAtt RotationFunction.Arn", "!GetAtt RotationFn.Arn", "E"),
    "Fargate spelled in lower case": (SERVICE, "LaunchType: FARGATE", "LaunchType: fargate", "E3"),
    "health check key in API spelling": (SERVICE, "StartPeriod: 90", "startPeriod: 90", "E3"),
}  # fmt: skip


@pytest.mark.parametrize("path, old, new, rule", MISTAKES.values(), ids=MISTAKES.keys())
def test_cfn_lint_finds_a_mistake(tmp_path, path, old, new, rule):
    """The lint above can fail: one wrong value in a copy of a template is a finding."""
    text = path.read_text()
    assert old in text, old
    broken = tmp_path / path.name
    broken.write_text(text.replace(old, new, 1))
    got = findings(lint(broken))
    assert any(f.startswith(rule) for f in got), got


# --- presigner.yaml: the signer, the secret, the task role ----------------------------------------


def test_presigner_policy_is_what_iam_policy_prints(sessionguard_bin):
    """The user's only policy is, literally, `sessionguard iam-policy --presign-allow <the
    template's rules> --signing-source secrets-manager --signing-secret-id <ARN>`."""
    tpl = template(PRESIGNER)
    name, user = the_resource(tpl, "AWS::IAM::User")
    props = user["Properties"]
    assert [p["PolicyName"] for p in props["Policies"]] == ["presign-s3"]
    for region, partition in PARTITIONS.items():
        printed = iam_policy(
            sessionguard_bin, "--presign-allow", presign_allow(tpl), "--region", region,
            "--signing-source", "secrets-manager", "--signing-secret-id", SECRET,
        )  # fmt: skip
        shipped = in_partition(props["Policies"][0]["PolicyDocument"], partition)
        assert shipped == printed, (region, json.dumps(printed, indent=2))
    # Nothing else: no managed policy, group, console password or other attached policy.
    assert set(props) == {"UserName", "Policies"}, sorted(props)
    attaching = [
        n for n, r in tpl["Resources"].items()
        if r["Type"] in {"AWS::IAM::UserPolicy", "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy",
                         "AWS::IAM::UserToGroupAddition", "AWS::IAM::Group"}
    ]  # fmt: skip
    assert attaching == []
    assert resources(tpl, "AWS::IAM::AccessKey") == {
        "PresignerKey": {"Type": "AWS::IAM::AccessKey", "Properties": {"UserName": ref(name)}}
    }


def test_task_role_policy_is_what_iam_policy_prints_for_the_task_role(sessionguard_bin):
    """The task role (a parameter: the role is not the stack's) gets exactly `--principal
    task-role`'s document, the printed secret ARN being the template's `!Ref Secret`."""
    tpl = template(PRESIGNER)
    _, policy = the_resource(tpl, "AWS::IAM::RolePolicy")
    props = policy["Properties"]
    assert props["RoleName"] == ref("TaskRoleName")
    printed = iam_policy(
        sessionguard_bin, "--presign-allow", presign_allow(tpl),
        "--signing-source", "secrets-manager", "--signing-secret-id", SECRET,
        "--principal", "task-role",
    )  # fmt: skip
    doc = props["PolicyDocument"]
    assert ref("Secret") in [s["Resource"] for s in doc["Statement"]], "the secret is `!Ref Secret`"
    assert replaced(doc, ref("Secret"), SECRET) == printed, json.dumps(printed, indent=2)


def test_the_rules_are_the_sidecars():
    """The rules the template's policies are for are the sidecar's SESSIONGUARD_PRESIGN_ALLOW, in
    task-definition-secrets-manager.json and in service.yaml."""
    rules = presign_allow(template(PRESIGNER))
    assert container_env(task_definition(TASK_DEFINITION_SECRETS_MANAGER), "sessionguard")[
        "SESSIONGUARD_PRESIGN_ALLOW"
    ] == rules
    sidecar = service_task_definition_as_api()
    assert container_env(sidecar, "sessionguard")["SESSIONGUARD_PRESIGN_ALLOW"] == rules


def test_the_secret_holds_the_users_key_as_the_sidecar_reads_it():
    """The secret's first value is `{"UserName", "AccessKeyId", "SecretAccessKey"}` from the
    stack's access key of the user: the sidecar reads the two keys, the rotation the user."""
    tpl = template(PRESIGNER)
    name, secret = the_resource(tpl, "AWS::SecretsManager::Secret")
    assert name == "Secret"
    sub = secret["Properties"]["SecretString"]["Fn::Sub"]
    assert isinstance(sub, str), "no substitution map: every ${} names a resource"
    value = json.loads(re.sub(r"\$\{([^}]+)\}", r"<\1>", sub))
    assert value == {
        "UserName": "<PresignerUser>",
        "AccessKeyId": "<PresignerKey>",  # Ref of an AccessKey is its AccessKeyId
        "SecretAccessKey": "<PresignerKey.SecretAccessKey>",
    }
    assert tpl["Resources"]["PresignerUser"]["Type"] == "AWS::IAM::User"
    assert secret["DeletionPolicy"] == secret["UpdateReplacePolicy"] == "Delete"


def test_rotation_schedule():
    """The secret rotates with the stack's function on the schedule parameter (default
    `rate(30 days)`, a rate() so the sidecar can derive the period) with a window, once the
    function may be invoked."""
    tpl = template(PRESIGNER)
    _, schedule = the_resource(tpl, "AWS::SecretsManager::RotationSchedule")
    props = schedule["Properties"]
    assert props["SecretId"] == ref("Secret")
    assert props["RotationLambdaARN"] == get_att("RotationFunction", "Arn")
    assert props["RotationRules"] == {
        "ScheduleExpression": ref("RotationSchedule"),
        "Duration": ref("RotationWindow"),
    }
    params = tpl["Parameters"]
    assert params["RotationSchedule"]["Default"] == "rate(30 days)"
    assert re.fullmatch(params["RotationWindow"]["AllowedPattern"], params["RotationWindow"]["Default"])
    assert "RotationFunctionInvokePermission" in as_list(schedule["DependsOn"])


def test_rotation_function_runs_the_image_as_rotate_keys():
    """`sessionguard rotate-keys` from the image parameter (the ENTRYPOINT is the binary), for the
    image's architecture (the task's), 120 s, logging to its own log group, with the key overlap
    the sidecar assumes."""
    tpl = template(PRESIGNER)
    name, function = the_resource(tpl, "AWS::Lambda::Function")
    props = function["Properties"]
    assert name == "RotationFunction"
    assert props["PackageType"] == "Image"
    assert props["Code"] == {"ImageUri": ref("ImageUri")}
    assert props["ImageConfig"] == {"Command": ["rotate-keys"]}
    assert props["Timeout"] == 120
    # The same image as the sidecar's: the function's architecture is the task's.
    task_arch = service_task_definition_as_api()["runtimePlatform"]["cpuArchitecture"]
    assert props["Architectures"] == [{"X86_64": "x86_64", "ARM64": "arm64"}[task_arch]]
    assert props["Role"] == get_att("RotationFunctionRole", "Arn")
    log_group, group = the_resource(tpl, "AWS::Logs::LogGroup")
    assert props["LoggingConfig"] == {"LogGroup": ref(log_group)}
    assert isinstance(group["Properties"]["RetentionInDays"], int)
    # The function retires keys the way the sidecar's bound assumes: its overlap is the
    # sidecar's (the default, rotation-period, when the task definition leaves it unset).
    overlap = props["Environment"]["Variables"]["SESSIONGUARD_SIGNING_KEY_OVERLAP"]
    sidecar = container_env(service_task_definition_as_api(), "sessionguard")
    assert sidecar.get("SESSIONGUARD_SIGNING_KEY_OVERLAP", "rotation-period") == overlap


def test_the_binary_takes_the_functions_command_and_environment(sessionguard_bin):
    """`sessionguard <ImageConfig.Command>` with exactly the function's Environment gets past its
    flags and stops only because Lambda's own variables are missing here (exit 64, saying so);
    the same with an overlap rotate-keys does not implement is refused, naming the flag."""
    props = template(PRESIGNER)["Resources"]["RotationFunction"]["Properties"]
    variables = props["Environment"]["Variables"]
    argv = [str(sessionguard_bin), *props["ImageConfig"]["Command"]]
    result = run(argv, env=sessionguard_env(variables), timeout=30)
    assert result.returncode == 64, result.stderr
    assert "rotate-keys is a Lambda function" in result.stderr, result.stderr
    bad = {**variables, "SESSIONGUARD_SIGNING_KEY_OVERLAP": "30d"}
    result = run(argv, env=sessionguard_env(bad), timeout=30)
    assert result.returncode == 64 and "signing-key-overlap" in result.stderr, result.stderr


def test_function_timeout_covers_the_key_test(sessionguard_bin):
    """testSecret retries a new key for SESSIONGUARD_TEST_TIMEOUT (the binary's default unless
    the function sets it); the function's Timeout leaves the step's other calls 30 s more."""
    props = template(PRESIGNER)["Resources"]["RotationFunction"]["Properties"]
    shown = run([str(sessionguard_bin), "rotate-keys", "--help"], env=sessionguard_env())
    assert shown.returncode == 0, shown.stderr
    default = re.search(r"--test-timeout.*?\[default: ([^\]]+)\]", shown.stdout, re.S)
    assert default, shown.stdout
    test_timeout = props["Environment"]["Variables"].get("SESSIONGUARD_TEST_TIMEOUT", default[1])
    assert duration_seconds(test_timeout) + 30 <= props["Timeout"] <= 900, test_timeout


# The rotation function's role: these actions, on these resources, and nothing else.
ROTATION_GRANTS = [
    (get_att("PresignerUser", "Arn"), {
        "iam:ListAccessKeys", "iam:CreateAccessKey", "iam:DeleteAccessKey", "iam:UpdateAccessKey",
    }),
    (ref("Secret"), {
        "secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue",
        "secretsmanager:PutSecretValue", "secretsmanager:UpdateSecretVersionStage",
        "secretsmanager:ListSecretVersionIds",
    }),
    (get_att("RotationLogGroup", "Arn"), {"logs:CreateLogStream", "logs:PutLogEvents"}),
]  # fmt: skip


def test_rotation_role_may_only_manage_that_users_keys_and_that_secret():
    """Exactly ROTATION_GRANTS, Allow only, no NotAction/NotResource, no condition needed, no
    managed policy; only Lambda may assume the role; no other resource adds to it."""
    tpl = template(PRESIGNER)
    role_name, role = the_resource(tpl, "AWS::IAM::Role")
    props = role["Properties"]
    assert set(props) == {"AssumeRolePolicyDocument", "Policies"}, sorted(props)
    trust = props["AssumeRolePolicyDocument"]["Statement"]
    assert trust == [
        {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ]
    granted: dict[str, set] = {}
    for policy in props["Policies"]:
        for statement in policy["PolicyDocument"]["Statement"]:
            assert statement["Effect"] == "Allow", statement
            assert set(statement) <= {"Sid", "Effect", "Action", "Resource"}, statement
            for resource in as_list(statement["Resource"]):
                granted.setdefault(json.dumps(resource, sort_keys=True), set()).update(
                    as_list(statement["Action"])
                )
    assert granted == {json.dumps(k, sort_keys=True): v for k, v in ROTATION_GRANTS}
    # No other resource of the stack attaches a policy to the role.
    for name, r in tpl["Resources"].items():
        if name != role_name:
            props = r.get("Properties", {})
            assert ref(role_name) not in as_list(props.get("Roles", [])), name
            assert props.get("RoleName") != ref(role_name), name


def test_no_policy_grants_anything_on_star():
    """No statement of either template has `*` as (or in) an action or a resource: every grant
    names its user, secret, log group, bucket prefix or trail."""
    for path in TEMPLATES:
        for where, doc in policy_documents(template(path)["Resources"]):
            for statement in doc["Statement"]:
                for key in ("Action", "Resource", "NotAction", "NotResource"):
                    for value in as_list(statement.get(key, [])):
                        assert value != "*", f"{path.name}{where}: {key} *"
                        if key.endswith("Action"):
                            assert "*" not in value, f"{path.name}{where}: {value}"


def test_secrets_manager_alone_may_invoke_the_function_for_this_secret():
    """The resource policy AWS recommends for a rotation function: secretsmanager.amazonaws.com,
    this account (SourceAccount) and this secret (SourceArn)."""
    _, permission = the_resource(template(PRESIGNER), "AWS::Lambda::Permission")
    assert permission["Properties"] == {
        "FunctionName": get_att("RotationFunction", "Arn"),
        "Action": "lambda:InvokeFunction",
        "Principal": "secretsmanager.amazonaws.com",
        "SourceAccount": ref("AWS::AccountId"),
        "SourceArn": ref("Secret"),
    }


def test_a_failed_rotation_alarms():
    """Any error of the function (a failed step or its retry) is an alarm on the topic parameter,
    and no data (no rotation running) is not."""
    tpl = template(PRESIGNER)
    _, alarm = the_resource(tpl, "AWS::CloudWatch::Alarm")
    props = alarm["Properties"]
    assert (props["Namespace"], props["MetricName"], props["Statistic"]) == ("AWS/Lambda", "Errors", "Sum")
    assert props["Dimensions"] == [{"Name": "FunctionName", "Value": ref("RotationFunction")}]
    assert (props["ComparisonOperator"], props["Threshold"]) == ("GreaterThanOrEqualToThreshold", 1)
    assert props["TreatMissingData"] == "notBreaching"
    assert ref("AlarmTopicArn") in props["AlarmActions"]
    assert tpl["Parameters"]["AlarmTopicArn"]["Type"] == "String"


def test_data_events_are_optional_and_cover_the_rules_prefixes():
    """The trail, its bucket and the bucket policy exist only with EnableDataEvents=true (default
    false), and log data events on exactly the prefixes of the rules."""
    tpl = template(PRESIGNER)
    assert tpl["Parameters"]["EnableDataEvents"]["Default"] == "false"
    assert tpl["Conditions"]["DataEvents"] == {"Fn::Equals": [ref("EnableDataEvents"), "true"]}
    conditional = {n for n, r in tpl["Resources"].items() if r.get("Condition") == "DataEvents"}
    assert conditional == {"Trail", "TrailBucket", "TrailBucketPolicy"}
    _, trail = the_resource(tpl, "AWS::CloudTrail::Trail")
    [selector] = trail["Properties"]["AdvancedEventSelectors"]
    fields = {f["Field"]: f for f in selector["FieldSelectors"]}
    assert fields["eventCategory"]["Equals"] == ["Data"]
    assert fields["resources.type"]["Equals"] == ["AWS::S3::Object"]
    for partition in PARTITIONS.values():
        prefixes = [
            f"arn:{partition}:s3:::{rule.split(':', 1)[1]}"
            for rule in presign_allow(tpl).split(",")
        ]
        assert in_partition(fields["resources.ARN"]["StartsWith"], partition) == prefixes


@pytest.mark.parametrize("path", [PRESIGNER, SERVICE], ids=lambda p: p.name)
def test_every_arn_names_the_stacks_partition(path):
    """No ARN is written for one partition: each is built with `${AWS::Partition}` (a stack in
    AWS China or GovCloud gets `aws-cn`/`aws-us-gov`); an `AllowedPattern` accepts any partition."""
    hard_coded = [s for s in strings(template(path)) if re.search(r"arn:aws(-[a-z]+)*:", s)]
    assert hard_coded == []


def test_outputs():
    """The stack gives what the service and the operator need: the secret's ARN (the sidecar's
    SESSIONGUARD_SIGNING_SECRET_ID), the user, the function."""
    outputs = template(PRESIGNER)["Outputs"]
    assert {k: v["Value"] for k, v in outputs.items()} == {
        "SecretArn": ref("Secret"),
        "UserName": ref("PresignerUser"),
        "RotationFunctionArn": get_att("RotationFunction", "Arn"),
    }


# --- service.yaml: the task definition file, as CloudFormation --------------------------------------

# The documented differences from task-definition-secrets-manager.json: the template's parameter
# (or pseudo parameter) that stands where the file has a literal value. Nothing else may differ.
PARAMETER_VALUES = {
    "AppImage": "123456789012.dkr.ecr.us-east-1.amazonaws.com/my-app:1.0.0",
    "SessionguardImage": "123456789012.dkr.ecr.us-east-1.amazonaws.com/sessionguard:0.1.0",
    "TaskRoleArn": "arn:aws:iam::123456789012:role/my-app-task",
    "ExecutionRoleArn": "arn:aws:iam::123456789012:role/my-app-task-execution",
    "LogGroupName": "/ecs/my-app",
    "AWS::Region": "us-east-1",
    "SigningSecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:my-app/presigner-AbCdEf",
}

# Values that are maps of the user's own keys: their keys are not CloudFormation property names.
FREE_FORM = {"Options", "DockerLabels"}


def api_shape(value, used: set | None = None):
    """A CloudFormation AWS::ECS::TaskDefinition's properties in RegisterTaskDefinition's
    spelling, every `Ref` replaced by its PARAMETER_VALUES value (noted in `used`). Any other
    intrinsic, or a Ref not listed, fails: it would be an undocumented difference."""
    used = set() if used is None else used
    if isinstance(value, dict):
        if len(value) == 1 and next(iter(value)).startswith(("Ref", "Fn::")):
            [(fn, arg)] = value.items()
            assert fn == "Ref" and arg in PARAMETER_VALUES, f"undocumented difference: {value}"
            used.add(arg)
            return PARAMETER_VALUES[arg]
        out = {}
        for key, item in value.items():
            api_key = key[0].lower() + key[1:]
            if key in FREE_FORM:
                out[api_key] = {k: api_shape(v, used) for k, v in item.items()}
            else:
                out[api_key] = api_shape(item, used)
        return out
    if isinstance(value, list):
        return [api_shape(v, used) for v in value]
    return value


def service_task_definition_as_api(used: set | None = None) -> dict:
    _, td = the_resource(template(SERVICE), "AWS::ECS::TaskDefinition")
    return api_shape(td["Properties"], used)


def test_service_task_definition_is_the_file_field_by_field():
    """Every container, and every field of each (ports, health check, environment, dependsOn,
    dockerLabels, logConfiguration, user, readonlyRootFilesystem, linuxParameters...), and every
    task-level field equals task-definition-secrets-manager.json's, once each parameter stands for
    the file's value; and every documented parameter is used."""
    used: set = set()
    got = service_task_definition_as_api(used)
    want = task_definition(TASK_DEFINITION_SECRETS_MANAGER)
    assert used == set(PARAMETER_VALUES), f"documented but not parameters: {set(PARAMETER_VALUES) - used}"
    assert [c["name"] for c in got["containerDefinitions"]] == [
        c["name"] for c in want["containerDefinitions"]
    ]
    for wanted in want["containerDefinitions"]:
        name = wanted["name"]
        mine = container(got, name)
        assert sorted(mine) == sorted(wanted), f"{name}: fields differ"
        for field in wanted:
            assert mine[field] == wanted[field], f"{name}.{field}: {mine[field]!r} != {wanted[field]!r}"
    mine = {k: v for k, v in got.items() if k != "containerDefinitions"}
    theirs = {k: v for k, v in want.items() if k != "containerDefinitions"}
    assert mine == theirs
    assert got == want


def test_parameters_are_declared_and_real_inputs():
    """Each documented parameter is a parameter of service.yaml (pseudo parameters aside), and
    those that are the file's account-specific placeholders have no default to forget."""
    params = template(SERVICE)["Parameters"]
    for name in PARAMETER_VALUES:
        if name.startswith("AWS::"):
            continue
        assert name in params, name
        if "123456789012" in PARAMETER_VALUES[name]:
            assert "Default" not in params[name], f"{name} defaults to an example account"


def test_the_drift_check_finds_a_difference():
    """The comparison above can fail: a changed port, health check, label or a new intrinsic in
    the template is a difference."""
    _, td = the_resource(template(SERVICE), "AWS::ECS::TaskDefinition")
    want = task_definition(TASK_DEFINITION_SECRETS_MANAGER)
    edits = [
        lambda p: p["ContainerDefinitions"][1]["PortMappings"][0].update(ContainerPort=9780),
        lambda p: p["ContainerDefinitions"][1]["HealthCheck"].update(StartPeriod=60),
        lambda p: p["ContainerDefinitions"][1]["DockerLabels"].update(ECS_PROMETHEUS_JOB_NAME="x"),
        lambda p: p["ContainerDefinitions"][0]["DependsOn"][0].update(Condition="START"),
    ]
    for edit in edits:
        props = copy.deepcopy(td["Properties"])
        edit(props)
        assert api_shape(props) != want
    props = copy.deepcopy(td["Properties"])
    props["Family"] = {"Fn::Sub": "${AWS::StackName}"}
    with pytest.raises(AssertionError, match="undocumented difference"):
        api_shape(props)


def test_service_runs_the_task_on_fargate_in_the_given_network():
    """A Fargate service of the stack's task definition in the cluster, subnets and security
    groups given, without public IPs, rolling back a deployment that never gets healthy."""
    tpl = template(SERVICE)
    _, service = the_resource(tpl, "AWS::ECS::Service")
    props = service["Properties"]
    assert props["TaskDefinition"] == ref("TaskDefinition")
    assert props["Cluster"] == ref("Cluster")
    assert props["LaunchType"] == "FARGATE"
    assert props["NetworkConfiguration"]["AwsvpcConfiguration"] == {
        "Subnets": ref("Subnets"),
        "SecurityGroups": ref("SecurityGroups"),
        "AssignPublicIp": "DISABLED",
    }
    assert props["DeploymentConfiguration"]["DeploymentCircuitBreaker"] == {"Enable": True, "Rollback": True}
    assert tpl["Parameters"]["Subnets"]["Type"] == "List<AWS::EC2::Subnet::Id>"
    assert tpl["Parameters"]["SecurityGroups"]["Type"] == "List<AWS::EC2::SecurityGroup::Id>"


# --- docs/cloudformation.md --------------------------------------------------------------------------


def deploy_commands() -> list[list[str]]:
    """Every `aws cloudformation deploy` command in docs/cloudformation.md's sh blocks, as argv."""
    found = []
    for body in re.findall(r"```sh\n(.*?)```", CFN_DOC.read_text(), re.S):
        joined = re.sub(r"\\\n\s*", " ", body)
        for line in joined.splitlines():
            if "aws cloudformation deploy" in line:
                found.append(shlex.split(line.split("#", 1)[0]))
    return found


def test_docs_name_every_resource_and_link_from_deploy_md():
    """docs/cloudformation.md explains every resource of both templates (by logical id) and
    docs/deploy.md links to it from its Secrets Manager section."""
    doc = CFN_DOC.read_text()
    for path in TEMPLATES:
        for name in template(path)["Resources"]:
            assert f"`{name}`" in doc, f"docs/cloudformation.md does not explain {path.name}'s {name}"
    section = DEPLOY_DOC.read_text().split("## Signing with keys from Secrets Manager", 1)[1]
    intro = section.split("\n1. ", 1)[0]
    assert "(cloudformation.md)" in intro


def test_docs_deploy_commands_give_every_required_parameter():
    """Each `aws cloudformation deploy` in the docs names a template that exists, the capability
    named IAM resources need, a region, and overrides only parameters of that template, every one
    without a default among them."""
    commands = deploy_commands()
    assert {Path(c[c.index("--template-file") + 1]).name for c in commands} == {p.name for p in TEMPLATES}
    for argv in commands:
        path = REPO / argv[argv.index("--template-file") + 1]
        params = template(path)["Parameters"]
        assert "--region" in argv, argv
        if resources(template(path), "AWS::IAM::User"):
            assert argv[argv.index("--capabilities") + 1] == "CAPABILITY_NAMED_IAM", argv
        overrides = argv[argv.index("--parameter-overrides") + 1 :]
        overrides = overrides[: next((i for i, a in enumerate(overrides) if a.startswith("--")), len(overrides))]
        given = {o.split("=", 1)[0] for o in overrides}
        assert given <= set(params), given - set(params)
        required = {n for n, p in params.items() if "Default" not in p}
        assert required <= given, f"{path.name}: {required - given} not given"
