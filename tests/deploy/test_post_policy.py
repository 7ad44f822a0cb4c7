"""The POST policies of /v1/presign/post hold the conditions boto3's generate_presigned_post builds
for the same input: the form fields a browser sends are the ones S3 users already know."""

from __future__ import annotations

import base64
import json
import urllib.request

import boto3
import pytest
from botocore.config import Config

from conftest import start_demo


@pytest.fixture
def form_demo(sessionguard_bin, tmp_path):
    proc = start_demo(
        sessionguard_bin, tmp_path / "demo.log", "--presign-allow", "PUT:uploads/u/", session="2h"
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


def normalised(conditions: list) -> list[str]:
    """Conditions as sorted JSON text, the date and credential scope blanked (they name the
    second each side signed at)."""
    out = []
    for c in conditions:
        if isinstance(c, dict):
            c = {k: ("*" if k in ("x-amz-date", "x-amz-credential") else v) for k, v in c.items()}
        out.append(json.dumps(c, sort_keys=True))
    return sorted(out)


CASES = [
    # (our request, boto3's Key, Fields, Conditions for the same input)
    (
        {"bucket": "uploads", "key": "u/1/a.png", "expires_in": 600},
        "u/1/a.png",
        {},
        [],
    ),
    (
        {
            "bucket": "uploads",
            "key_prefix": "u/1/",
            "expires_in": 600,
            "content_length_range": {"min": 1, "max": 1048576},
            "content_type_prefix": "image/",
            "success_action_status": 201,
        },
        "u/1/${filename}",
        {"success_action_status": "201"},
        [
            ["starts-with", "$Content-Type", "image/"],
            {"success_action_status": "201"},
            ["content-length-range", 1, 1048576],
        ],
    ),
    (
        {"bucket": "uploads", "key": "u/2/b.csv", "expires_in": 300, "content_type": "text/csv"},
        "u/2/b.csv",
        {"Content-Type": "text/csv"},
        [{"Content-Type": "text/csv"}],
    ),
    (
        {
            "bucket": "uploads",
            "key": "u/3/c.bin",
            "expires_in": 120,
            "metadata": {"project": "q3"},
            "server_side_encryption": "aws:kms",
            "sse_kms_key_id": "alias/uploads",
        },
        "u/3/c.bin",
        {
            "x-amz-meta-project": "q3",
            "x-amz-server-side-encryption": "aws:kms",
            "x-amz-server-side-encryption-aws-kms-key-id": "alias/uploads",
        },
        [
            {"x-amz-meta-project": "q3"},
            {"x-amz-server-side-encryption": "aws:kms"},
            {"x-amz-server-side-encryption-aws-kms-key-id": "alias/uploads"},
        ],
    ),
]


@pytest.mark.parametrize("ours,key,fields,conditions", CASES)
def test_conditions_match_boto3(form_demo, ours, key, fields, conditions):
    form = presign_post(form_demo, ours)
    policy = json.loads(base64.b64decode(form["fields"]["policy"]))
    access_key = form["fields"]["x-amz-credential"].split("/")[0]
    s3 = boto3.client(
        "s3",
        region_name="us-east-1",
        aws_access_key_id=access_key,
        aws_secret_access_key="not-used-for-the-conditions",
        aws_session_token=form["fields"]["x-amz-security-token"],
        config=Config(signature_version="s3v4"),
    )
    theirs = s3.generate_presigned_post(
        "uploads", key, Fields=fields, Conditions=conditions, ExpiresIn=ours["expires_in"]
    )
    their_policy = json.loads(base64.b64decode(theirs["fields"]["policy"]))
    assert normalised(policy["conditions"]) == normalised(their_policy["conditions"])
    # The same fields, but for the signature (its secret differs) and the policy itself.
    assert set(form["fields"]) == set(theirs["fields"]) | {"x-amz-signature"} - {"signature"}, (
        form["fields"].keys(),
        theirs["fields"].keys(),
    )
    assert form["fields"]["key"] == theirs["fields"]["key"]
    assert form["url"].startswith("https://uploads.s3.")
