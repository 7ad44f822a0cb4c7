"""Every signer policy `sessionguard iam-policy` prints, held to an IAM evaluator the project did
not write: moto's server with IAM enforced (`/moto-api/reset-auth`, the runtime form of
`INITIAL_NO_AUTH_ACTION_COUNT`; the evaluator is moto/iam/access_control.py), in the `aws`,
`aws-cn` and `aws-us-gov` partitions.

For each allow-list, the real sidecar (`sessionguard demo`) is asked for every request shape on
keys inside and outside its rules. Each request it answers 200 for is replayed at moto as the
principal `iam-policy`'s policy belongs to (an IAM user holding exactly that policy): same method,
bucket, key and query parameters, and must be allowed; each request outside the rules (other
bucket, sibling prefix, an unnamed DELETE, bucket and account actions, a direct KMS call) must be
denied. A policy narrowed by one action, or widened to a sibling prefix, fails these checks
(the last tests show it).

What each request needs comes from AWS's documentation, not from src/presign/iam.rs: `NEEDS`
below, each row citing its page. moto's evaluator has gaps; each one these tests rely on is
covered by a second check:
1. It reads only the `Authorization` header (a presigned URL's query signature raises a
   KeyError), so each URL is replayed header-signed by botocore with the signer's keys: the same
   principal, action and resource, which is what IAM authorises.
2. It checks one action per request (its S3 `ACTION_MAP`): a PUT with `x-amz-tagging` also needs
   `s3:PutObjectTagging` at AWS, and an SSE-KMS upload `kms:GenerateDataKey`. `test_every_shape_
   has_its_documented_actions` holds the printed policy to `NEEDS` with `iam_allows`, a matcher
   written here from IAM's documented grammar (`*`, `?`, `${*}`, `${?}`, `${$}`).
3. Its matcher knows only `*`, turned into a regex without escaping (`$`, `?`, `.` and `{` keep
   their regex meaning), so prefixes with `*`, `?`, `$` are judged by `iam_allows` alone; the
   moto replay skips them (listed in `MOTO_CANNOT_MATCH`).
4. It evaluates only `StringEquals` conditions, from values the request carries; KMS requests
   carry no `kms:ViaService` there, so moto cannot tell a KMS call made through S3 from a direct
   one. The KMS statement is not replayed at moto: `test_every_shape_has_its_documented_actions`
   checks its actions on the key and its `kms:ViaService` value against AWS's endpoint names
   (`s3.REGION.amazonaws.com`, `.com.cn` in China; DOCS_VIA), which is what keeps a direct call out.
"""

from __future__ import annotations

import copy
import json
import re
import urllib.parse
import urllib.request

import boto3
import botocore.auth
import botocore.awsrequest
import botocore.credentials
import pytest

from conftest import first_json_line, http_post_json, run, sessionguard_env, start_demo, start_moto

DOCS_S3 = "https://docs.aws.amazon.com/AmazonS3/latest/userguide/using-with-s3-policy-actions.html"
DOCS_HEAD = "https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadObject.html"
DOCS_PUT = "https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutObject.html"
DOCS_MPU = "https://docs.aws.amazon.com/AmazonS3/latest/userguide/mpuoverview.html"
DOCS_POST = "https://docs.aws.amazon.com/AmazonS3/latest/API/RESTObjectPOST.html"
DOCS_ARNS = "https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazons3.html"
DOCS_KMS = "https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html"
DOCS_VIA = "https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html"
DOCS_GRAMMAR = "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html"

# Request shape -> (what identifies it in the signed URL, the actions S3 authorises it with, page).
# The resource of every S3 action is the object, arn:PARTITION:s3:::BUCKET/KEY (DOCS_ARNS).
NEEDS = {
    "GetObject": (("GET", ()), ["s3:GetObject"], DOCS_S3),
    "GetObject with response-* overrides": (("GET", ("response-content-disposition",)), ["s3:GetObject"], DOCS_S3),
    "GetObject of a version": (("GET", ("versionId",)), ["s3:GetObjectVersion"], DOCS_S3),
    "HeadObject": (("HEAD", ()), ["s3:GetObject"], DOCS_HEAD),
    "HeadObject of a version": (("HEAD", ("versionId",)), ["s3:GetObjectVersion"], DOCS_HEAD),
    "PutObject": (("PUT", ()), ["s3:PutObject"], DOCS_S3),
    "PutObject with x-amz-tagging": (("PUT", ("x-amz-tagging",)), ["s3:PutObject", "s3:PutObjectTagging"], DOCS_PUT),
    "PutObject with SSE-KMS": (("PUT", ("x-amz-server-side-encryption-aws-kms-key-id",)), ["s3:PutObject", "kms:GenerateDataKey"], DOCS_KMS),
    "DeleteObject": (("DELETE", ()), ["s3:DeleteObject"], DOCS_S3),
    "DeleteObject of a version": (("DELETE", ("versionId",)), ["s3:DeleteObjectVersion"], DOCS_S3),
    "PostObject (form)": (("POST-FORM", ()), ["s3:PutObject"], DOCS_POST),
    "CreateMultipartUpload": (("POST", ("uploads",)), ["s3:PutObject"], DOCS_MPU),
    "UploadPart": (("PUT", ("uploadId", "partNumber")), ["s3:PutObject"], DOCS_MPU),
    "ListParts": (("GET", ("uploadId",)), ["s3:ListMultipartUploadParts"], DOCS_MPU),
    "CompleteMultipartUpload": (("POST", ("uploadId",)), ["s3:PutObject"], DOCS_MPU),
    "AbortMultipartUpload": (("DELETE", ("uploadId",)), ["s3:AbortMultipartUpload"], DOCS_MPU),
}  # fmt: skip

KMS_KEY = "key/1234abcd-12ab-34cd-56ef-1234567890ab"
PARTITIONS = {"us-east-1": "aws", "cn-north-1": "aws-cn", "us-gov-west-1": "aws-us-gov"}
DNS_SUFFIX = {"aws": "amazonaws.com", "aws-cn": "amazonaws.com.cn", "aws-us-gov": "amazonaws.com"}


# --- IAM's resource grammar, written from DOCS_GRAMMAR ----------------------------------------


def iam_pattern(resource: str) -> re.Pattern:
    """A policy Resource as a regex: `*` any run of characters, `?` one, `${*}`, `${?}`, `${$}`
    the literal character; everything else literal."""
    out, i = [], 0
    while i < len(resource):
        if resource.startswith(("${*}", "${?}", "${$}"), i):
            out.append(re.escape(resource[i + 2]))
            i += 4
        elif resource[i] == "*":
            out.append(".*")
            i += 1
        elif resource[i] == "?":
            out.append(".")
            i += 1
        else:
            out.append(re.escape(resource[i]))
            i += 1
    return re.compile("".join(out) + r"\Z", re.S)


def iam_allows(policy: dict, action: str, resource: str) -> bool:
    """Whether an Allow statement without conditions (or with kms:ViaService, which S3 meets)
    grants `action` on `resource`."""
    for s in policy["Statement"]:
        actions = s["Action"] if isinstance(s["Action"], list) else [s["Action"]]
        resources = s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]]
        if s["Effect"] == "Allow" and action in actions:
            if any(iam_pattern(r).match(resource) for r in resources):
                return True
    return False


def test_iam_pattern_follows_the_documented_grammar():
    """The second matcher itself: wildcards, their literal escapes, no crossing into siblings."""
    cases = [
        ("arn:aws:s3:::b/reports/exports/*", "arn:aws:s3:::b/reports/exports/a.csv", True),
        ("arn:aws:s3:::b/reports/exports/*", "arn:aws:s3:::b/reports/exports-x/a.csv", False),
        ("arn:aws:s3:::b/odd${*}x/*", "arn:aws:s3:::b/odd*x/k", True),
        ("arn:aws:s3:::b/odd${*}x/*", "arn:aws:s3:::b/oddYYx/k", False),
        ("arn:aws:s3:::b/q${?}/*", "arn:aws:s3:::b/qZ/k", False),
        ("arn:aws:s3:::b/d${$}/*", "arn:aws:s3:::b/d$/k", True),
        ("arn:aws:secretsmanager:r:1:secret:n-??????", "arn:aws:secretsmanager:r:1:secret:n-AbCdEf", True),
        ("arn:aws:secretsmanager:r:1:secret:n-??????", "arn:aws:secretsmanager:r:1:secret:n-x-AbCdEf", False),
    ]  # fmt: skip
    for pattern, value, want in cases:
        assert bool(iam_pattern(pattern).match(value)) == want, (pattern, value)


# --- the allow-lists --------------------------------------------------------------------------

ALLOW_LISTS = {
    "one prefix": "GET:reports/exports/",
    "several buckets": "GET:reports/exports/,PUT:uploads/incoming/",
    "whole buckets": "GET:reports,PUT:uploads",
    "DELETE named": "DELETE,PUT:scratch/tmp/",
    "form only": "POST:forms/u/",
    "multipart and KMS": "PUT:uploads/big/",
    "a space in a prefix": "GET:reports/with space/,DELETE:reports/with space/",
    "IAM wildcards in prefixes": "GET:reports/odd*name?/,GET:reports/cost$/",
}
# Keys inside each rule are `<prefix>k.bin`; these stand just outside.
SIBLINGS = {"exports/": "exports-x/", "incoming/": "incoming-x/", "tmp/": "tmp-x/", "u/": "u-x/",
            "big/": "big-x/", "odd*name?/": "oddXnameY/", "cost$/": "cost/", "with space/": "with spacex/"}  # fmt: skip
MOTO_CANNOT_MATCH = ("*", "?", "$")  # gap 3: judged by iam_allows only
BUCKETS = ["reports", "uploads", "scratch", "forms", "others"]


def rules(allow: str) -> list[tuple[str, str, str]]:
    """(methods, bucket, prefix) of each rule."""
    out, held = [], []
    for fragment in allow.split(","):
        if fragment in ("GET", "HEAD", "PUT", "DELETE", "POST"):
            held.append(fragment)  # DELETE,PUT:scratch/ is one rule
            continue
        methods, target = fragment.split(":", 1)
        methods, held = ",".join([*held, methods]), []
        bucket, _, prefix = target.partition("/")
        out.append((methods, bucket, prefix))
    return out


def requests_for(bucket: str, key: str, kms_arn: str) -> dict[str, tuple[str, dict]]:
    """Every request shape the sidecar signs, as (route, body) on that object."""
    base = {"bucket": bucket, "key": key, "expires_in": 300}
    return {
        "GetObject": ("/v1/presign", {**base}),
        "GetObject with response-* overrides": ("/v1/presign", {**base, "response_content_disposition": "attachment"}),
        "GetObject of a version": ("/v1/presign", {**base, "version_id": "v1"}),
        "HeadObject": ("/v1/presign", {**base, "method": "HEAD"}),
        "HeadObject of a version": ("/v1/presign", {**base, "method": "HEAD", "version_id": "v1"}),
        "PutObject": ("/v1/presign", {**base, "method": "PUT"}),
        "PutObject with x-amz-tagging": ("/v1/presign", {**base, "method": "PUT", "tagging": {"t": "1"}}),
        "PutObject with SSE-KMS": ("/v1/presign", {**base, "method": "PUT", "server_side_encryption": "aws:kms", "sse_kms_key_id": kms_arn}),
        "DeleteObject": ("/v1/presign", {**base, "method": "DELETE"}),
        "DeleteObject of a version": ("/v1/presign", {**base, "method": "DELETE", "version_id": "v1"}),
        "PostObject (form)": ("/v1/presign/post", {**base}),
        "CreateMultipartUpload": ("/v1/presign", {**base, "method": "POST"}),
        "UploadPart": ("/v1/presign", {**base, "method": "PUT", "upload_id": "u1", "part_number": 1}),
        "ListParts": ("/v1/presign", {**base, "method": "GET", "upload_id": "u1"}),
        "CompleteMultipartUpload": ("/v1/presign", {**base, "method": "POST", "upload_id": "u1"}),
        "AbortMultipartUpload": ("/v1/presign", {**base, "method": "DELETE", "upload_id": "u1"}),
    }  # fmt: skip


def shape_of(answer: dict, route: str) -> tuple[str, tuple[str, ...]]:
    """What identifies a signed request in NEEDS: its method and the query parameters or signed
    headers S3 authorises by."""
    if route.endswith("/post"):
        return ("POST-FORM", ())
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(answer["url"]).query, keep_blank_values=True)
    marks = [p for p in ("response-content-disposition", "versionId", "uploads", "uploadId", "partNumber") if p in query]
    marks += [h for h in ("x-amz-tagging", "x-amz-server-side-encryption-aws-kms-key-id") if h in answer["headers"]]
    return (answer["method"], tuple(marks))  # fmt: skip


@pytest.fixture(scope="module")
def sidecar_answers(sessionguard_bin, tmp_path_factory):
    """For each allow-list: {(bucket, key, shape name): (status, answer)} from a real sidecar."""
    answers = {}
    kms_arn = f"arn:aws:kms:us-east-1:123456789012:{KMS_KEY}"
    for name, allow in ALLOW_LISTS.items():
        log = tmp_path_factory.mktemp("evaluator") / "demo.log"
        proc = start_demo(sessionguard_bin, log, "--presign-allow", allow, "--kms-key-arn", kms_arn, session="1h")
        try:
            listen = proc.extra["listen"]
            first_json_line(proc, "credentials checked")
            got = {}
            for _, bucket, prefix in rules(allow):
                for key in {f"{prefix}k.bin", f"{SIBLINGS.get(prefix, 'elsewhere/')}k.bin"}:
                    for b in {bucket, "others"}:
                        for shape, (route, body) in requests_for(b, key, kms_arn).items():
                            got[(b, key, shape)] = http_post_json(f"http://{listen}{route}", body, timeout=10)
            answers[name] = got
        finally:
            proc.stop()
    return answers


def test_every_shape_has_its_documented_actions(sessionguard_bin, sidecar_answers):
    """Each request the sidecar answers 200 for is, per AWS's documentation (NEEDS), authorised
    by the printed policy in every partition; the URL it signed is the shape NEEDS names."""
    for name, allow in ALLOW_LISTS.items():
        for region, partition in PARTITIONS.items():
            key_arn = f"arn:{partition}:kms:{region}:123456789012:{KMS_KEY}"
            policy = signer_policy(sessionguard_bin, allow, region, [key_arn])
            for (bucket, key, shape), (status, answer) in sidecar_answers[name].items():
                if status != 200:
                    continue
                identified, actions, page = NEEDS[shape]
                assert shape_of(answer, requests_for(bucket, key, "")[shape][0]) == identified, (shape, answer)
                for action in actions:
                    resource = key_arn if action.startswith("kms:") else f"arn:{partition}:s3:::{bucket}/{key}"
                    assert iam_allows(policy, action, resource), f"{name}/{region}: {shape} needs {action} on {resource} ({page})"
            kms = [s for s in policy["Statement"] if s["Sid"] == "PresignKms"]
            for s in kms:
                assert s["Condition"] == {"StringEquals": {"kms:ViaService": f"s3.{region}.{DNS_SUFFIX[partition]}"}}, DOCS_VIA


def signer_policy(binary, allow: str, region: str, kms: list[str]) -> dict:
    args = [str(binary), "iam-policy", "--presign-allow", allow]
    if any(m in allow for m in ("PUT", "POST")) or ":" not in allow:
        for k in kms:
            args += ["--kms-key-arn", k]
    result = run(args, env=sessionguard_env({"AWS_REGION": region}))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


# --- moto's evaluator ---------------------------------------------------------------------------


class Moto:
    def __init__(self, url: str):
        self.url = url

    def client(self, service: str, region: str, keys=("testing", "testing")):
        return boto3.client(service, region_name=region, endpoint_url=self.url,
                            aws_access_key_id=keys[0], aws_secret_access_key=keys[1])  # fmt: skip

    def next_id(self) -> int:
        self.count = getattr(self, "count", 0) + 1
        return self.count

    def enforce(self, on: bool):
        # The runtime form of INITIAL_NO_AUTH_ACTION_COUNT: 0 enforces from the next request on.
        count = "0" if on else "1e9"
        request = urllib.request.Request(f"{self.url}/moto-api/reset-auth", data=count.encode(), method="POST",
                                         headers={"content-type": "text/plain"})  # fmt: skip
        urllib.request.urlopen(request, timeout=10).read()

    def signer(self, region: str, name: str, policy: dict) -> tuple[str, str]:
        """An IAM user (in the region's partition) holding exactly `policy`; its keys."""
        iam = self.client("iam", region)
        iam.create_user(UserName=name)
        iam.put_user_policy(UserName=name, PolicyName="presign", PolicyDocument=json.dumps(policy))
        key = iam.create_access_key(UserName=name)["AccessKey"]
        return key["AccessKeyId"], key["SecretAccessKey"]

    def replay(self, region: str, keys, method: str, bucket, key, query: dict, headers: dict) -> int:
        """The request, header-signed with `keys` (gap 1): moto's status. `key` None: the
        bucket itself; `bucket` None: the account (ListBuckets)."""
        if method == "POST-FORM":
            method, query = "PUT", {}  # a form upload is authorised as PutObject (DOCS_POST)
        path = "/" if bucket is None else "/" + bucket + "/"
        if key is not None:
            path += urllib.parse.quote(key, safe="/")
        qs = urllib.parse.urlencode(query)
        url = f"{self.url}{path}" + (f"?{qs}" if qs else "")
        request = botocore.awsrequest.AWSRequest(method=method, url=url, headers=dict(headers), data=b"")
        botocore.auth.S3SigV4Auth(botocore.credentials.Credentials(*keys), "s3", region).add_auth(request)
        prepared = request.prepare()
        req = urllib.request.Request(prepared.url, data=prepared.body or None, method=method, headers=dict(prepared.headers))
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code


@pytest.fixture(scope="module")
def moto(tmp_path_factory):
    """moto's server on a free loopback port, IAM not enforced until a test asks."""
    proc, url = start_moto(tmp_path_factory.mktemp("moto") / "moto.log")
    try:
        yield Moto(url)
    finally:
        proc.stop()


def replay_target(answer: dict, route: str) -> tuple[str, dict, dict]:
    """What moto needs of a signed request: its method, the query parameters S3 authorises by
    (not SigV4's own) and the signed headers that change the action."""
    if route.endswith("/post"):
        return "POST-FORM", {}, {}
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(answer["url"]).query, keep_blank_values=True))
    query = {k: v for k, v in query.items() if not k.startswith("X-Amz-")}
    headers = {k: v for k, v in answer["headers"].items() if k == "x-amz-tagging"}
    return answer["method"], query, headers


def outside_rules(allow: str, bucket: str, key: str) -> bool:
    return not any(b == bucket and key.startswith(p) for _, b, p in rules(allow))


# Requests no rule lets the sidecar sign, on the bucket level and the account: (method, bucket
# or None, query). ListBucket, CreateBucket, ListBucketMultipartUploads, DeleteBucket, ListBuckets.
NOT_OBJECTS = [("GET", "reports", {}), ("PUT", "brand-new-bucket", {}), ("GET", "uploads", {"uploads": ""}),
               ("DELETE", "scratch", {}), ("GET", None, {})]  # fmt: skip


def judge(moto, binary, answers, mutate=None, seen: list | None = None) -> list[str]:
    """Replays every sidecar answer at moto as the signer holding `iam-policy`'s policy (changed
    by `mutate`, if given), for each allow-list moto can match and each partition. Returns what
    disagrees: a signed request moto denies, or a request outside the rules moto allows."""
    failures = []
    for name, allow in ALLOW_LISTS.items():
        if any(c in allow for c in MOTO_CANNOT_MATCH):
            continue  # gap 3
        for region, partition in PARTITIONS.items():
            policy = signer_policy(binary, allow, region, [])
            if mutate:
                policy = mutate(copy.deepcopy(policy), allow)
            moto.enforce(False)
            keys = moto.signer(region, f"signer-{moto.next_id()}", policy)
            moto.enforce(True)
            try:
                for (bucket, key, shape), (status, answer) in answers[name].items():
                    if shape == "PutObject with SSE-KMS":
                        continue  # gap 2: its KMS half is iam_allows' check; its S3 half is PutObject's
                    route = requests_for(bucket, key, "")[shape][0]
                    where = f"{name}/{partition}: {shape} s3://{bucket}/{key}"
                    if status == 200:
                        method, query, headers = replay_target(answer, route)
                        got = moto.replay(region, keys, method, bucket, key, query, headers)
                        if seen is not None:
                            seen.append((partition, shape, "signed", got))
                        if got == 403:
                            failures.append(f"{where}: signed by the sidecar, denied by moto")
                    elif outside_rules(allow, bucket, key) or shape.startswith("DeleteObject"):
                        (method, marks), _, _ = NEEDS[shape]
                        query = {m: "1" for m in marks if not m.startswith(("x-amz", "response"))}
                        got = moto.replay(region, keys, method, bucket, key, query, {})
                        if seen is not None:
                            seen.append((partition, shape, "outside", got))
                        if got != 403:
                            failures.append(f"{where}: outside the rules, moto answers {got}")
                for method, bucket, query in NOT_OBJECTS:
                    got = moto.replay(region, keys, method, bucket, None, query, {})
                    if got != 403:
                        failures.append(f"{name}/{partition}: {method} {bucket} {query}: moto answers {got}")
            finally:
                moto.enforce(False)
    return failures


def test_moto_allows_what_the_sidecar_signs_and_denies_the_rest(moto, sessionguard_bin, sidecar_answers):
    """Held to moto's evaluator, in the three partitions: every request the sidecar signs is
    allowed by the printed policy; other buckets, sibling prefixes, unnamed DELETEs, bucket and
    account actions are denied."""
    seen = []
    assert judge(moto, sessionguard_bin, sidecar_answers, seen=seen) == []
    # Not vacuous: every partition replayed every shape signed, and refusals outside the rules.
    for partition in PARTITIONS.values():
        signed = {shape for p, shape, kind, _ in seen if p == partition and kind == "signed"}
        assert signed == set(NEEDS) - {"PutObject with SSE-KMS"}, (partition, sorted(signed))
        assert any(p == partition and kind == "outside" for p, _, kind, _ in seen)


def test_a_policy_narrowed_by_one_action_fails(moto, sessionguard_bin, sidecar_answers):
    """Without s3:AbortMultipartUpload (one action of a PUT rule) the sidecar signs an abort the
    signer may not make, and the evaluator says so."""

    def narrowed(policy, allow):
        for s in policy["Statement"]:
            s["Action"] = [a for a in s["Action"] if a != "s3:AbortMultipartUpload"]
        return policy

    failures = judge(moto, sessionguard_bin, sidecar_answers, narrowed)
    assert failures and all("AbortMultipartUpload" in f for f in failures), failures


def test_a_policy_widened_to_a_sibling_prefix_fails(moto, sessionguard_bin, sidecar_answers):
    """`reports/exports*` instead of `reports/exports/*` also grants `reports/exports-x/`: the
    evaluator allows requests outside the rules, and the check says so."""

    def widened(policy, allow):
        for s in policy["Statement"]:
            s["Resource"] = s["Resource"].replace("/exports/*", "/exports*")
        return policy

    failures = judge(moto, sessionguard_bin, sidecar_answers, widened)
    assert failures and all("exports-x/" in f and "outside the rules" in f for f in failures), failures


# Each signing source's signer (the assumed role, the secret's IAM user, the web identity role)
# holds the same S3 policy as the task role it replaces: what moto judged above.
SOURCE_ARGS = {
    "assume-role": ["--signing-source", "assume-role", "--assume-role-arn",
                    "arn:{partition}:iam::123456789012:role/presigner"],
    "secrets-manager": ["--signing-source", "secrets-manager", "--signing-secret-id",
                        "arn:{partition}:secretsmanager:{region}:123456789012:secret:presigner-AbCdEf"],
    "web-identity": ["--signing-source", "web-identity", "--web-identity-role-arn",
                     "arn:{partition}:iam::123456789012:role/presigner"],
}  # fmt: skip


@pytest.mark.parametrize("source", SOURCE_ARGS)
def test_every_signing_source_signs_with_the_policy_moto_judged(sessionguard_bin, source):
    """`iam-policy --signing-source S` prints, for the signer of each source and in each partition,
    exactly the policy the evaluator tests above hold to moto (the task role's, `task`)."""
    for allow in ALLOW_LISTS.values():
        for region, partition in PARTITIONS.items():
            judged = signer_policy(sessionguard_bin, allow, region, [])
            extra = [a.format(partition=partition, region=region) for a in SOURCE_ARGS[source]]
            args = [str(sessionguard_bin), "iam-policy", "--presign-allow", allow, *extra]
            result = run(args, env=sessionguard_env({"AWS_REGION": region}))
            assert result.returncode == 0, result.stderr
            assert json.loads(result.stdout) == judged, (source, allow, partition)
