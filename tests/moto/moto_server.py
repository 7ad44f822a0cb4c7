"""moto's server (every service, like `moto_server`) on a free loopback port, for tests.

    python tests/moto/moto_server.py

Binds 127.0.0.1 on an OS-assigned port, prints exactly one line to stdout,
`listening on http://127.0.0.1:PORT`, once the socket accepts connections, and serves
until SIGTERM/SIGINT or EOF on stdin, then exits 0. The spawner must give it a stdin
pipe and keep it open (an inherited /dev/null stdin means immediate exit): when the
test process dies, the pipe closes and the server goes with it. Anything moto prints
later, and werkzeug's request log, goes to stderr.

It also ADDS TWO REAL-STS CHECKS THAT MOTO 5.2.5 LACKS. moto's AssumeRole accepts any
DurationSeconds and returns Expiration = now + DurationSeconds (moto/sts/responses.py
TokenResponse.assume_role, moto/sts/models.py STSBackend.assume_role). Here AssumeRole
fails with 400 Sender ValidationError, as real STS does, when
  * the caller is chaining roles (its access key id came from an earlier AssumeRole on
    this server, or MOTO_CHAIN_ALL=1) and DurationSeconds > 3600:
    "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed
    by role chaining."
  * the role exists in moto's IAM and DurationSeconds > its MaxSessionDuration:
    "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
MOTO_CHAIN_ALL=1 treats every caller as chaining: our tests' callers hold credentials
from a fake ECS endpoint, which in real ECS are always task-role (assumed-role)
credentials. Nothing else changes (the 900..43200 range is still not checked).

It also plays Secrets Manager's rotation schedule as AWS keeps it (see "Secrets Manager's
rotation schedule" below): RotateSecret(RotateImmediately=false) without a function records the
rules whole and makes no version, a finished rotation moves LastRotatedDate and NextRotationDate,
and DescribeSecret lists only labelled versions.

It also lists each assumed role's Expiration in /moto-api/data.json (sts.AssumedRole),
as `expiration_rfc3339`, written exactly as the AssumeRole answer wrote it: that listing
keeps only JSON values, and moto's `expiration` is a datetime, so it is left out. Tests
hold every URL signed with an assumed role to this, what STS actually issued.

AssumeRoleWithWebIdentity gets the MaxSessionDuration check too (never the chaining one),
and each session it issues keeps the `web_identity_token` it was asked with.
"""

import os
import re
import signal
import sys
import threading

import json
import time

from moto.iam.exceptions import NotFoundException
from moto.iam.models import iam_backends
from moto.secretsmanager.models import FakeSecret, SecretsManagerBackend
from moto.server import ThreadedMotoServer
from moto.sts.exceptions import STSValidationError
from moto.sts.models import AssumedRole, sts_backends
from moto.sts.responses import TokenResponse

CHAIN_LIMIT = 3600  # real STS: role-chained sessions last at most one hour
CHAIN_ALL = os.environ.get("MOTO_CHAIN_ALL") == "1"


def issued_by_assume_role(access_key_id):
    """Whether an earlier AssumeRole on this server handed out this access key id."""
    backends = [backend for _, _, backend in list(sts_backends.iter_backends())]
    return any(b.get_assumed_role_from_access_key(access_key_id) for b in backends)


def role_max_session_duration(role_arn, partition):
    """The role's MaxSessionDuration if moto's IAM knows the role, else None."""
    account = re.match(r"arn:[^:]+:iam::(\d{12}):role/", role_arn or "")
    if not account:
        return None
    try:
        role = iam_backends[account.group(1)][partition].get_role_by_arn(role_arn)
    except NotFoundException:
        return None
    return int(role.max_session_duration or 3600)


moto_assume_role = TokenResponse.assume_role


def assume_role(self):
    """TokenResponse.assume_role, after the two duration checks real STS makes.

    Raised inside the action, an STSValidationError (a moto ServiceException) is
    serialized by moto as real STS's query-protocol error: HTTP 400,
    <ErrorResponse><Error><Type>Sender</Type><Code>ValidationError</Code>
    <Message>...</Message></Error><RequestId>...</RequestId></ErrorResponse>.
    """
    duration = self._get_int_param("DurationSeconds", 3600)
    if duration > CHAIN_LIMIT and (
        CHAIN_ALL or issued_by_assume_role(self.get_access_key())
    ):
        raise STSValidationError(
            "The requested DurationSeconds exceeds the 1 hour session limit"
            " for roles assumed by role chaining."
        )
    limit = role_max_session_duration(self._get_param("RoleArn"), self.partition)
    if limit is not None and duration > limit:
        raise STSValidationError(
            "The requested DurationSeconds exceeds the MaxSessionDuration"
            " set for this role."
        )
    return moto_assume_role(self)


TokenResponse.assume_role = assume_role

moto_assume_role_with_web_identity = TokenResponse.assume_role_with_web_identity


def assume_role_with_web_identity(self):
    """TokenResponse.assume_role_with_web_identity, after real STS's MaxSessionDuration check.

    A web identity session is never role chaining: only the role's MaxSessionDuration (when
    moto's IAM knows the role) limits DurationSeconds, with the same 400 ValidationError as
    AssumeRole. The token moto otherwise ignores is kept on the assumed role as
    `web_identity_token`, so /moto-api/data.json shows which token each session was asked with
    (tests rotate the token file and check the next call sent the new one; test tokens only).
    """
    duration = self._get_int_param("DurationSeconds", 3600)
    limit = role_max_session_duration(self._get_param("RoleArn"), self.partition)
    if limit is not None and duration > limit:
        raise STSValidationError(
            "The requested DurationSeconds exceeds the MaxSessionDuration"
            " set for this role."
        )
    answer = moto_assume_role_with_web_identity(self)
    answer.result["Credentials"].web_identity_token = self._get_param("WebIdentityToken")
    return answer


TokenResponse.assume_role_with_web_identity = assume_role_with_web_identity

# moto's query serializer writes a timestamp with microseconds when it has any
# (moto/core/serialize.py TimestampSerializer._timestamp_iso8601).
AssumedRole.expiration_rfc3339 = property(
    lambda self: self.expiration.strftime(
        "%Y-%m-%dT%H:%M:%S.%fZ" if self.expiration.microsecond else "%Y-%m-%dT%H:%M:%SZ"
    )
)


def stamps_new_versions(method):
    """`method`, after which versions it added carry the float time as `createdate`."""

    def wrapper(self, secret_id, *args, **kwargs):
        def versions():
            secret = self.secrets.get(secret_id)
            return getattr(secret, "versions", None) or {}

        before = set(versions())
        result = method(self, secret_id, *args, **kwargs)
        now = time.time()
        for version_id, version in versions().items():
            if version_id not in before:
                version["createdate"] = now
        return result

    return wrapper


SecretsManagerBackend._add_secret = stamps_new_versions(SecretsManagerBackend._add_secret)
SecretsManagerBackend.rotate_secret = stamps_new_versions(SecretsManagerBackend.rotate_secret)
moto_list_secret_version_ids = SecretsManagerBackend.list_secret_version_ids


def list_secret_version_ids(self, secret_id):
    """moto's answer, with each version's own CreatedDate instead of the time of the call."""
    answer = json.loads(moto_list_secret_version_ids(self, secret_id))
    versions = self.secrets[secret_id].versions
    for listed in answer["Versions"]:
        listed["CreatedDate"] = versions[listed["VersionId"]]["createdate"]
    return json.dumps(answer)


SecretsManagerBackend.list_secret_version_ids = list_secret_version_ids
moto_update_secret_version_stage = SecretsManagerBackend.update_secret_version_stage


def update_secret_version_stage(
    self, secret_id, version_stage, remove_from_version_id, move_to_version_id
):
    """moto's, then the moved AWSCURRENT is what GetSecretValue answers by default."""
    result = moto_update_secret_version_stage(
        self, secret_id, version_stage, remove_from_version_id, move_to_version_id
    )
    if version_stage == "AWSCURRENT" and move_to_version_id:
        self.secrets[secret_id].default_version_id = move_to_version_id
    return result


SecretsManagerBackend.update_secret_version_stage = update_secret_version_stage


# --- Secrets Manager's rotation schedule as AWS keeps it (moto 5.2.5 differs) -------------------
#
# AWS, RotateSecret (API reference): "RotateImmediately: Specifies whether to rotate the secret
# immediately or wait until the next scheduled rotation window ... If you don't immediately rotate
# the secret, Secrets Manager tests the rotation configuration by running the testSecret step of the
# Lambda rotation function." Without a function (our tests play Secrets Manager's part and invoke
# the steps themselves) that leaves only the recorded rules: no new version. moto instead adds an
# AWSPENDING copy of the value and, without a function, makes it AWSCURRENT at once
# (SecretsManagerBackend.rotate_secret), keeps only AutomaticallyAfterDays (drops ScheduleExpression
# and Duration), and sets NextRotationDate to exactly now + N days.
#
# AWS, DescribeSecret: "NextRotationDate: The next rotation is scheduled to occur on or before this
# date and time." and "LastRotatedDate: The last date and time that Secrets Manager rotated the
# secret." Here a rotation is complete when AWSCURRENT moves to the version that was AWSPENDING
# (what finishSecret does); LastRotatedDate is then that moment, and NextRotationDate that moment
# plus the period: the end of the next window, which opens `Duration` (or a day, an hour for
# hourly rates) earlier.
#
# AWS, DescribeSecret: "VersionIdsToStages: A list of the versions of the secret that have
# staging labels attached. Versions that don't have staging labels are considered deprecated and
# Secrets Manager can delete them." moto lists every version.


def period_seconds(rules):
    """The period of RotationRules in seconds, or None (cron() or none)."""
    days = rules.get("AutomaticallyAfterDays")
    if days:
        return int(days) * 86400
    m = re.fullmatch(r"rate\((\d+) (hour|hours|day|days)\)", (rules.get("ScheduleExpression") or "").strip())
    if not m:
        return None
    return int(m.group(1)) * (3600 if m.group(2).startswith("hour") else 86400)


moto_rotate_secret = SecretsManagerBackend.rotate_secret


def rotate_secret(self, secret_id, client_request_token=None, rotation_lambda_arn=None,
                  rotation_rules=None, rotate_immediately=True):
    """Without a rotation function and RotateImmediately=false: records the rules, whole, and the
    next rotation date, and makes no version (AWS would only run testSecret). Otherwise moto's."""
    if rotation_lambda_arn or rotate_immediately:
        return moto_rotate_secret(self, secret_id, client_request_token, rotation_lambda_arn,
                                  rotation_rules, rotate_immediately)
    if not self._is_valid_identifier(secret_id):
        from moto.secretsmanager.exceptions import SecretNotFoundException
        raise SecretNotFoundException()
    secret = self.secrets[secret_id]
    rules = dict(rotation_rules or {})
    secret.rotation_requested = True
    secret.rotation_lambda_arn = ""
    secret.full_rotation_rules = rules
    secret.auto_rotate_after_days = rules.get("AutomaticallyAfterDays", 0) or 0
    secret.rotation_enabled = True
    period = period_seconds(rules)
    secret.next_rotation_date = time.time() + period if period else None
    return secret.to_short_dict()


SecretsManagerBackend.rotate_secret = rotate_secret
moto_to_dict = FakeSecret.to_dict


def to_dict(self):
    """moto's DescribeSecret, with the rules as given and only labelled versions."""
    dct = moto_to_dict(self)
    rules = getattr(self, "full_rotation_rules", None)
    if rules is not None and "RotationRules" in dct:
        dct["RotationRules"] = rules
    for key in ("VersionIdsToStages", "SecretVersionsToStages"):
        if key in dct:
            dct[key] = {v: st for v, st in dct[key].items() if st}
    return dct


FakeSecret.to_dict = to_dict


def completes_rotations(method):
    """`method` (UpdateSecretVersionStage), after which moving AWSCURRENT to the AWSPENDING version
    completes the rotation: LastRotatedDate now, NextRotationDate a period on."""

    def wrapper(self, secret_id, version_stage, remove_from_version_id, move_to_version_id):
        secret = self.secrets.get(secret_id)
        was_pending = bool(
            secret is not None
            and move_to_version_id in secret.versions
            and "AWSPENDING" in secret.versions[move_to_version_id]["version_stages"]
        )
        result = method(self, secret_id, version_stage, remove_from_version_id, move_to_version_id)
        if version_stage == "AWSCURRENT" and was_pending:
            now = time.time()
            secret.last_rotation_date = now
            rules = getattr(secret, "full_rotation_rules", None) or {
                "AutomaticallyAfterDays": secret.auto_rotate_after_days
            }
            period = period_seconds(rules)
            if secret.rotation_enabled and period:
                secret.next_rotation_date = now + period
        return result

    return wrapper


SecretsManagerBackend.update_secret_version_stage = completes_rotations(
    SecretsManagerBackend.update_secret_version_stage
)


def main():
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())

    def watch_stdin():
        # EOF: the spawner closed the pipe or died. os.read, not sys.stdin: a daemon
        # thread blocked in a buffered read makes interpreter shutdown abort.
        while os.read(0, 4096):
            pass
        stop.set()

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()  # returns once the socket is bound and listening
    _, port = server.get_host_and_port()
    os.environ["MOTO_PORT"] = str(port)  # as moto_server does; moto builds URLs from it
    print(f"listening on http://127.0.0.1:{port}", flush=True)
    sys.stdout = sys.stderr  # keep stdout to that one line, whatever moto prints
    threading.Thread(target=watch_stdin, daemon=True).start()

    while not stop.wait(1):  # a timed wait lets the signal handlers run promptly
        pass
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
