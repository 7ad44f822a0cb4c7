"""The forms of /v1/presign/post are the ones boto3's generate_presigned_post builds for the same
upload: the same policy conditions and the same form fields, so a browser form S3 users already
know works unchanged.

Each case is one request to the sidecar. boto3 gets the same upload as a boto3 user would write it,
following generate_presigned_post's documentation, not the sidecar's code: `Key` (ending in
`${filename}` when the browser picks the name; boto3 then adds the key and bucket conditions
itself), `Fields` for every value the form carries, and one condition in `Conditions` for each of
them (boto3 adds none for `Fields`). Anything either side builds that the other does not fails the
case.
"""

from __future__ import annotations

import base64
import json
import re
import urllib.error
import urllib.request
from datetime import datetime, timedelta

import boto3
import pytest
from botocore.config import Config

from conftest import start_demo

# `uploads` only under u/ (as a deployment would allow it), and the whole of `drop` and of a bucket
# whose name has dots (S3 then answers on path-style URLs).
ALLOW = ("PUT:uploads/u/", "POST:drop/", "POST:drop.example.com/")


@pytest.fixture(scope="module")
def form_demo(sessionguard_bin, tmp_path_factory):
    args = [arg for rule in ALLOW for arg in ("--presign-allow", rule)]
    # The one key uploads may name (by ARN): the signer's policy grants KMS on it alone.
    args += ["--kms-key-arn", KMS_KEY_ARN]
    proc = start_demo(
        sessionguard_bin, tmp_path_factory.mktemp("post") / "demo.log", *args, session="2h"
    )
    yield proc
    proc.stop()


def presign_post(daemon, body: dict) -> dict:
    url = f"http://{daemon.extra['listen']}/v1/presign/post"
    assert url.startswith("http://127.0.0.1:")
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"content-type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as r:
        assert r.status == 200
        return json.loads(r.read())


# --- the same upload, as a boto3 user writes it ---------------------------------------------------

FILENAME = "${filename}"
# The sidecar's request fields the translation below knows; a case using another one fails until
# it is translated too.
TRANSLATED = {
    "bucket", "key", "key_prefix", "expires_in", "min_expires_in", "content_length_range",
    "content_type", "content_type_prefix", "metadata", "server_side_encryption",
    "sse_kms_key_id", "success_action_status",
}  # fmt: skip


def seconds(expires_in) -> int:
    """The sidecar's `expires_in` (seconds, or text like `10m`) as boto3's ExpiresIn."""
    if isinstance(expires_in, int):
        return expires_in
    m = re.fullmatch(r"(\d+)([smh])", expires_in)
    assert m, f"the test translates only N, Ns, Nm, Nh: {expires_in!r}"
    return int(m[1]) * {"s": 1, "m": 60, "h": 3600}[m[2]]


def boto3_call(ours: dict) -> dict:
    """generate_presigned_post's arguments for the upload `ours` asks the sidecar for."""
    assert set(ours) <= TRANSLATED, f"no boto3 translation for {set(ours) - TRANSLATED}"
    fields: dict = {}
    conditions: list = []

    def exact(name: str, value: str) -> None:
        # boto3: "if a particular element is included in the fields dictionary it will not be
        # automatically added to the conditions list. You must specify a condition for the element
        # as well."
        fields[name] = value
        conditions.append({name: value})

    # "Key name, optionally add ${filename} to the end to attach the submitted filename" - boto3
    # turns that into ["starts-with", "$key", prefix] itself ("key related conditions and fields
    # are filled out for you").
    key = ours["key"] if "key" in ours else ours["key_prefix"] + FILENAME
    if "content_length_range" in ours:
        r = ours["content_length_range"]
        conditions.append(["content-length-range", r["min"], r["max"]])
    if "content_type" in ours:
        exact("Content-Type", ours["content_type"])
    if "content_type_prefix" in ours:
        # The browser sends its file's own type; the policy only bounds it.
        conditions.append(["starts-with", "$Content-Type", ours["content_type_prefix"]])
    for name, value in ours.get("metadata", {}).items():
        exact(f"x-amz-meta-{name}", value)
    if "server_side_encryption" in ours:
        exact("x-amz-server-side-encryption", ours["server_side_encryption"])
    if "sse_kms_key_id" in ours:
        exact("x-amz-server-side-encryption-aws-kms-key-id", ours["sse_kms_key_id"])
    if "success_action_status" in ours:
        exact("success_action_status", str(ours["success_action_status"]))
    # min_expires_in has no boto3 counterpart: it only lets the sidecar shorten a form that the
    # session cannot cover, and the demo's 2 h session covers every case here.
    return {
        "Bucket": ours["bucket"],
        "Key": key,
        "Fields": fields,
        "Conditions": conditions,
        "ExpiresIn": seconds(ours["expires_in"]),
    }


# --- what is compared -----------------------------------------------------------------------------

# Per signing: the second signed at (also in the credential scope), and what the secret signs.
SIGNED_AT = ("x-amz-date",)
PER_SECRET = ("x-amz-signature", "policy")
# Form fields that need no condition (S3's POST policy rules); `file` goes last and is the
# browser's.
UNCONDITIONED = {"x-amz-signature", "policy", "file"}


def field_name(name: str) -> str:
    """S3 stores user metadata names in lowercase, so `x-amz-meta-Project` and
    `x-amz-meta-project` store the same object; every other name is kept as it is."""
    return name.lower() if name.lower().startswith("x-amz-meta-") else name


def blank_credential_day(value: str) -> str:
    """`AKID/20261201/us-east-1/s3/aws4_request` with the day blanked: key, region, service and
    terminator still compared."""
    parts = value.split("/")
    assert len(parts) == 5 and parts[2:] == parts[2:3] + ["s3", "aws4_request"], value
    parts[1] = "*"
    return "/".join(parts)


def comparable_value(name: str, value):
    if name in SIGNED_AT or name in PER_SECRET:
        return "*"
    if name == "x-amz-credential":
        return blank_credential_day(value)
    return value


def comparable_fields(fields: dict) -> dict:
    return {field_name(k): comparable_value(k, v) for k, v in fields.items()}


def comparable_conditions(conditions: list) -> list[str]:
    """Conditions as sorted JSON text (their order means nothing to S3), with the same blanks as
    the fields."""
    out = []
    for c in conditions:
        if isinstance(c, dict):
            assert len(c) == 1, f"an exact condition names one field: {c}"
            c = {field_name(k): comparable_value(k, v) for k, v in c.items()}
        elif c[0] in ("eq", "starts-with"):
            c = [c[0], "$" + field_name(c[1].removeprefix("$")), *c[2:]]
        out.append(json.dumps(c, sort_keys=True, ensure_ascii=False))
    return sorted(out)


def condition_names(conditions: list) -> set[str]:
    names = set()
    for c in conditions:
        if isinstance(c, dict):
            names |= set(c)
        elif c[0] in ("eq", "starts-with"):
            names.add(c[1].removeprefix("$"))
    return names


def unlike(a: dict, b: dict) -> dict:
    """The entries of `a` that `b` lacks or holds another value for."""
    return {k: v for k, v in a.items() if k not in b or b[k] != v}


def lifetime(policy: dict, fields: dict) -> timedelta:
    """The policy's `expiration` minus the form's own `x-amz-date`: how long the form is valid."""
    expiration = datetime.fromisoformat(policy["expiration"].replace("Z", "+00:00"))
    signed = datetime.strptime(fields["x-amz-date"], "%Y%m%dT%H%M%SZ").replace(
        tzinfo=expiration.tzinfo
    )
    return expiration - signed


KMS_KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
CASES = {
    "exact key": {"bucket": "uploads", "key": "u/1/a.png", "expires_in": 600},
    "exact key, duration as text": {"bucket": "uploads", "key": "u/1/a.png", "expires_in": "10m"},
    "non-ASCII key": {"bucket": "uploads", "key": "u/1/été 2026.png", "expires_in": 600},
    "key prefix": {"bucket": "uploads", "key_prefix": "u/1/", "expires_in": 600},
    "empty key prefix": {"bucket": "drop", "key_prefix": "", "expires_in": 600},
    "bucket with dots": {"bucket": "drop.example.com", "key": "a.png", "expires_in": 600},
    "length range": {
        "bucket": "uploads", "key": "u/1/a.bin", "expires_in": 600,
        "content_length_range": {"min": 1, "max": 1048576},
    },
    "empty files only": {
        "bucket": "uploads", "key": "u/1/a.bin", "expires_in": 600,
        "content_length_range": {"min": 0, "max": 0},
    },
    "exact content type": {
        "bucket": "uploads", "key": "u/2/b.csv", "expires_in": 300, "content_type": "text/csv",
    },
    "content-type prefix": {
        "bucket": "uploads", "key_prefix": "u/1/", "expires_in": 600,
        "content_type_prefix": "image/",
    },
    "metadata": {
        "bucket": "uploads", "key": "u/3/c.bin", "expires_in": 120,
        "metadata": {"project": "q3", "Owner-Id": "42", "note": "a \"quoted\" $value"},
    },
    "SSE-S3": {
        "bucket": "uploads", "key": "u/3/c.bin", "expires_in": 120,
        "server_side_encryption": "AES256",
    },
    "SSE-KMS, the bucket's default key": {
        "bucket": "uploads", "key": "u/3/c.bin", "expires_in": 120,
        "server_side_encryption": "aws:kms",
    },
    "SSE-KMS with a key": {
        "bucket": "uploads", "key": "u/3/c.bin", "expires_in": 120,
        "server_side_encryption": "aws:kms", "sse_kms_key_id": KMS_KEY_ARN,
    },
    "DSSE-KMS with a key ARN": {
        "bucket": "uploads", "key": "u/3/c.bin", "expires_in": 120,
        "server_side_encryption": "aws:kms:dsse",
        "sse_kms_key_id": KMS_KEY_ARN,
    },
    "success status": {
        "bucket": "uploads", "key": "u/1/a.png", "expires_in": 600, "success_action_status": 201,
    },
    "everything at once": {
        "bucket": "uploads", "key_prefix": "u/9/", "expires_in": "1h", "min_expires_in": 60,
        "content_length_range": {"min": 1, "max": 10485760}, "content_type_prefix": "image/",
        "metadata": {"project": "q3"}, "server_side_encryption": "aws:kms",
        "sse_kms_key_id": KMS_KEY_ARN, "success_action_status": 204,
    },
}  # fmt: skip


@pytest.mark.parametrize("ours", CASES.values(), ids=CASES.keys())
def test_form_matches_boto3(form_demo, ours):
    """For the same upload, the sidecar's policy holds the same conditions, and its form the same
    fields with the same values, as boto3's; both forms last the asked-for time and post to the
    same URL. Only the signing second, the signature and the policy's base64 may differ."""
    form = presign_post(form_demo, ours)
    fields = form["fields"]
    policy = json.loads(base64.b64decode(fields["policy"]))
    # boto3 signs as the same session (key and token) in the same region; its secret is unknown
    # here, so its signature differs and is not compared.
    s3 = boto3.client(
        "s3",
        region_name="us-east-1",
        aws_access_key_id=fields["x-amz-credential"].split("/")[0],
        aws_secret_access_key="not-the-demo-secret",
        aws_session_token=fields["x-amz-security-token"],
        # The regional endpoint, as the sidecar's URLs name it (boto3 defaults to the global one
        # in us-east-1, which reaches the same bucket).
        config=Config(signature_version="s3v4", s3={"us_east_1_regional_endpoint": "regional"}),
    )
    call = boto3_call(ours)
    theirs = s3.generate_presigned_post(**call)
    their_fields = theirs["fields"]
    their_policy = json.loads(base64.b64decode(their_fields["policy"]))

    ours_c = comparable_conditions(policy["conditions"])
    theirs_c = comparable_conditions(their_policy["conditions"])
    assert ours_c == theirs_c, (
        f"conditions only the sidecar's policy holds: {sorted(set(ours_c) - set(theirs_c))}; "
        f"only boto3's: {sorted(set(theirs_c) - set(ours_c))} (boto3 called with {call})"
    )
    ours_f, theirs_f = comparable_fields(fields), comparable_fields(their_fields)
    assert ours_f == theirs_f, (
        f"fields that differ, the sidecar's: {unlike(ours_f, theirs_f)}; "
        f"boto3's: {unlike(theirs_f, ours_f)} (boto3 called with {call})"
    )
    # Each field the browser sends has a condition naming it exactly (what S3 requires), in the
    # sidecar's form as in boto3's.
    assert set(fields) - UNCONDITIONED <= condition_names(policy["conditions"])
    assert set(their_fields) - UNCONDITIONED <= condition_names(their_policy["conditions"])
    assert lifetime(policy, fields) == lifetime(their_policy, their_fields)
    assert lifetime(policy, fields) == timedelta(seconds=call["ExpiresIn"])
    assert form["expires_in"] == call["ExpiresIn"]
    assert form["url"].rstrip("/") == theirs["url"].rstrip("/")


def test_an_exact_key_with_filename_is_refused(form_demo):
    """boto3 turns `Key='u/1/${filename}'` into a prefix condition; the sidecar's exact `key` cannot
    hold `${filename}` (S3 substitutes it before checking the policy, so the form would always be
    refused), and its 400 says to send the prefix as `key_prefix`, the case boto3 matches above."""
    url = f"http://{form_demo.extra['listen']}/v1/presign/post"
    body = {"bucket": "uploads", "key": "u/1/" + FILENAME, "expires_in": 600}
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"content-type": "application/json"}
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 400
    answer = json.loads(refused.value.read())
    assert answer["field"] == "key"
    assert '"key_prefix": "u/1/"' in answer["message"]


def test_the_comparison_sees_a_missing_condition():
    """The comparison can fail: a form that lacks one of boto3's conditions, or carries another
    value for one field, is not equal to it."""
    call = boto3_call(CASES["everything at once"])
    conditions = call["Conditions"]
    assert comparable_conditions(conditions[1:]) != comparable_conditions(conditions)
    fields = dict(call["Fields"], **{"x-amz-server-side-encryption": "AES256"})
    assert comparable_fields(fields) != comparable_fields(call["Fields"])
    # Metadata names compare as S3 stores them; other names exactly.
    assert comparable_fields({"x-amz-meta-A": "1"}) == comparable_fields({"x-amz-meta-a": "1"})
    assert comparable_fields({"Content-Type": "a"}) != comparable_fields({"content-type": "a"})
