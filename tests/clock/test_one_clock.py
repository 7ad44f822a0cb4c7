"""Long links on every schedule: the sidecar, `rotate-keys` and moto on one virtual clock, moved
forward by days, with Secrets Manager's part played as AWS documents it.

For each schedule and each `--signing-key-overlap`, a deployment as it happens: a presigner user
with one key made before the function (K0) and a secret holding it; the sidecar signs with it for
two days with rotation off; rotation is turned on (recorded, then a rotation at once, as
`RotateImmediately` does); then scheduled rotations at random moments of their windows (the window
ends at `NextRotationDate`), steps delivered twice at random, rotations that fail part-way and are
retried later with the same token, and rotations started by hand. Throughout, the sidecar is asked
for the longest URL it will sign and for a URL of README's documented length.

What is asserted is what a user sees: at every key change (after every step) and at every sample,
every URL whose stated end (`X-Amz-Date` + `X-Amz-Expires`) is still ahead is signed by a key IAM
lists as Active; and the share of virtual time in which a 1-hour URL could be signed, once the key
from before the function is gone, is at least what README's table promises for the schedule.
"""

from __future__ import annotations

import calendar
import random
import re
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from world import (
    FUNCTION_KEYS,
    REPO,
    SIDECAR_KEYS,
    Clock,
    Moto,
    RuntimeApi,
    binary,
    clean_env,
    free_port,
    http,
    poll,
    start,
)

HOUR = 3600
DAY = 86400
# The sidecar reads the secret this often (its default); the function's steps are instant.
REFRESH = 300
DOCUMENTED_URL = HOUR
STEPS = ["createSecret", "setSecret", "testSecret", "finishSecret"]


@dataclass
class Schedule:
    label: str  # as README's table names it
    rules: dict
    period: int
    window: int


SCHEDULES = [
    Schedule("rate(4 hours)", {"ScheduleExpression": "rate(4 hours)"}, 4 * HOUR, HOUR),
    Schedule("rate(1 day), Duration 4h", {"ScheduleExpression": "rate(1 day)", "Duration": "4h"},
             DAY, 4 * HOUR),  # fmt: skip
    Schedule("rate(2 days)", {"ScheduleExpression": "rate(2 days)"}, 2 * DAY, DAY),
    Schedule("AutomaticallyAfterDays 7", {"AutomaticallyAfterDays": 7}, 7 * DAY, DAY),
]
OVERLAPS = ["rotation-period", "0s"]


def promised_availability(schedule: Schedule, overlap: str) -> float:
    """README's table: the least share of time a 1-hour URL can be signed, for this row."""
    readme = (REPO / "README.md").read_text()
    for line in readme.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 5 and cells[0] == f"`{schedule.label}`" and cells[1] == f"`{overlap}`":
            return float(cells[-1].rstrip("%")) / 100
    raise AssertionError(f"README's schedule table has no row for {schedule.label} / {overlap}")


def amz_date(text: str) -> float:
    return calendar.timegm(time.strptime(text, "%Y%m%dT%H%M%SZ"))


@dataclass
class Url:
    key: str
    ends: float  # virtual Unix seconds
    signed: float


@dataclass
class Run:
    schedule: Schedule
    overlap: str
    rng: random.Random
    tmp: Path
    clock: Clock = None
    urls: list[Url] = field(default_factory=list)
    late: list[str] = field(default_factory=list)
    stats: dict = field(default_factory=lambda: {
        "rotations": 0, "refused": 0, "steady refused": 0, "failed part-way": 0, "by hand": 0, "repeated steps": 0,
        "samples": 0, "steady samples": 0, "steady available": 0,
    })  # fmt: skip

    def start(self):
        self.clock = Clock(self.tmp)
        self.moto = Moto(self.clock, self.tmp)
        self.iam, self.sm = self.moto.client("iam"), self.moto.client("secretsmanager")
        self.iam.create_user(UserName="presigner")
        key = self.iam.create_access_key(UserName="presigner")["AccessKey"]
        self.k0 = key["AccessKeyId"]
        value = {"UserName": "presigner", "AccessKeyId": self.k0,
                 "SecretAccessKey": key["SecretAccessKey"]}  # fmt: skip
        import json

        self.arn = self.sm.create_secret(Name="presigner", SecretString=json.dumps(value))["ARN"]
        aws = {"AWS_ENDPOINT_URL_SECRETS_MANAGER": self.moto.url, "AWS_ENDPOINT_URL_IAM": self.moto.url,
               "AWS_ENDPOINT_URL_STS": self.moto.url,
               "SESSIONGUARD_SIGNING_KEY_OVERLAP": self.overlap, **self.clock.env()}  # fmt: skip
        self.sidecar = start("sidecar", [
            str(binary()), "run", "--log-format", "json", "--listen", "127.0.0.1:0",
            "--no-identity", "--presign-allow", "GET:reports/", "--presign-max-expires-in", "7d",
            "--signing-source", "secrets-manager", "--signing-secret-id", self.arn,
            "--signing-secret-refresh", f"{REFRESH}s",
        ], env=clean_env({**aws, "AWS_ACCESS_KEY_ID": SIDECAR_KEYS[0],
                      "AWS_SECRET_ACCESS_KEY": SIDECAR_KEYS[1],
                      "AWS_ENDPOINT_URL_S3": f"http://127.0.0.1:{free_port()}",
                      "SESSIONGUARD_S3_FORCE_PATH_STYLE": "true"}),
            log=self.tmp / "sidecar.log")  # fmt: skip
        started = poll("the sidecar to start", lambda: next(
            (l for l in self.sidecar.lines() if l.get("message") == "sessionguard started"), None))
        self.listen = started["listen"]
        self.api = RuntimeApi(self.clock)
        self.function = start("rotate-keys", [str(binary()), "rotate-keys"], env=clean_env({
            **aws, "AWS_ACCESS_KEY_ID": FUNCTION_KEYS[0], "AWS_SECRET_ACCESS_KEY": FUNCTION_KEYS[1],
            "AWS_LAMBDA_RUNTIME_API": self.api.host_port, "AWS_LAMBDA_FUNCTION_NAME": "rotate-keys",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128", "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/rotate-keys",
            "AWS_LAMBDA_LOG_STREAM_NAME": "2026/12/06/[$LATEST]0123456789abcdef",
        }), log=self.tmp / "rotate-keys.log")  # fmt: skip

    def stop(self):
        for stop in (lambda: self.function.stop(), lambda: self.sidecar.stop(),
                     lambda: self.api.stop(), lambda: self.moto.stop()):  # fmt: skip
            try:
                stop()
            except Exception:  # noqa: BLE001 - stop the rest whatever happened
                pass

    # --- what a user sees ------------------------------------------------------------------------

    def keys(self) -> dict[str, str]:
        listed = self.iam.list_access_keys(UserName="presigner")["AccessKeyMetadata"]
        return {k["AccessKeyId"]: k["Status"] for k in listed}

    def check(self, when: str) -> None:
        """Every URL still ahead is signed by a key IAM lists as Active."""
        now = self.clock.now()
        keys = self.keys()
        for url in self.urls:
            if url.ends > now and keys.get(url.key) != "Active":
                self.late.append(
                    f"{when}: a URL signed at +{(url.signed - self.t0) / DAY:.2f}d, valid "
                    f"{(url.ends - now) / HOUR:.1f}h more, is signed by {url.key}, "
                    f"which IAM lists as {keys.get(url.key, 'deleted')}"
                )

    def synced(self) -> None:
        """Waits until the sidecar's last read of the secret is at most one refresh old."""
        need = self.clock.now() - REFRESH

        def fresh():
            status, view = http("GET", f"http://{self.listen}/v1/credentials")
            at = (view.get("signing") or {}).get("last_refresh_at")
            return status == 200 and at and calendar.timegm(time.strptime(at[:19], "%Y-%m-%dT%H:%M:%S")) >= need - 1

        poll("the sidecar to read the secret", fresh, timeout=30)

    def sample(self, steady: bool) -> None:
        self.synced()
        self.stats["samples"] += 1
        url = f"http://{self.listen}/v1/presign"
        status, doc = http("POST", url, {"bucket": "reports", "key": "k", "expires_in": "7d",
                                         "min_expires_in": "1s"})  # fmt: skip
        if status == 200:
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(doc["url"]).query)
            key = query["X-Amz-Credential"][0].split("/")[0]
            signed = amz_date(query["X-Amz-Date"][0])
            self.urls.append(Url(key, signed + int(query["X-Amz-Expires"][0]), signed))
            self.check(f"signed at +{(self.clock.now() - self.t0) / DAY:.2f}d")
        if steady:
            self.stats["steady samples"] += 1
            status, _ = http("POST", url, {"bucket": "reports", "key": "k",
                                           "expires_in": DOCUMENTED_URL})  # fmt: skip
            self.stats["steady available"] += status == 200

    # --- Secrets Manager's part --------------------------------------------------------------------

    def rotate(self, token: str, chaos: bool, by_hand: bool = False) -> bool:
        """One attempt at the rotation of `token`: the four steps, some delivered twice, and in the
        chaotic phase sometimes one failing part-way (as a step that errors would). True when
        finished."""
        fail = chaos and not by_hand and self.rng.random() < 0.15
        fail_after = self.rng.randrange(4) if fail else None
        for i, step in enumerate(STEPS):
            times = 2 if self.rng.random() < 0.15 else 1
            for _ in range(times):
                event = {"SecretId": self.arn, "ClientRequestToken": token, "Step": step}
                ok, answer = self.api.invoke(event)
                self.check(f"{step} of {token[:8]} at +{(self.clock.now() - self.t0) / DAY:.2f}d")
                if not ok:
                    assert answer.get("errorType") == "RotationRefused", (
                        step, answer, self.function.output()[-3000:])  # fmt: skip
                    self.stats["refused"] += 1
                    self.stats["steady refused"] += not chaos
                    return False
            self.stats["repeated steps"] += times - 1
            if fail_after == i:
                self.stats["failed part-way"] += 1
                return False
        self.stats["rotations"] += 1
        return True

    def next_rotation(self) -> float:
        return self.sm.describe_secret(SecretId=self.arn)["NextRotationDate"].timestamp()

    def run(self) -> None:
        """Rotation off for two days; turned on (a rotation at once); a chaotic phase (failures,
        retries, rotations by hand) until the key from before the function is long gone; then six
        periods of rotations on schedule only, where availability is measured."""
        p, w = self.schedule.period, self.schedule.window
        self.t0 = t = self.clock.now()
        while t < self.t0 + 2 * DAY:
            t += 12 * HOUR
            self.clock.to(t)
            self.sample(steady=False)
        self.sm.rotate_secret(SecretId=self.arn, RotationRules=self.schedule.rules,
                              RotateImmediately=False)  # fmt: skip
        pending = None
        if not self.rotate(first := str(uuid.uuid4()), chaos=True):
            pending = first
        retry_at = t + self.rng.uniform(HOUR, min(12 * HOUR, p))
        chaos_end = t + max(9 * DAY, 3 * p)
        end = chaos_end + 6 * p
        window_end = self.next_rotation()
        scheduled = window_end - self.rng.uniform(0, w)
        by_hand = t + self.rng.uniform(2 * p, 4 * p)
        next_sample = t + min(p / 3, 12 * HOUR)
        while t < end:
            chaos = t < chaos_end
            t = min(next_sample, scheduled if pending is None else retry_at,
                    by_hand if chaos else end)  # fmt: skip
            self.clock.to(t)
            if t == next_sample:
                steady = not chaos and self.k0 not in self.keys()
                self.sample(steady)
                next_sample += min(p / 3, 12 * HOUR) if chaos else p / 12
            elif t == by_hand:
                self.stats["by hand"] += 1
                if pending is None:
                    self.rotate(str(uuid.uuid4()), chaos=True, by_hand=True)
                by_hand = t + self.rng.uniform(2 * p, 4 * p)
            elif t < end:
                token = pending or str(uuid.uuid4())
                if self.rotate(token, chaos):
                    pending = None
                else:
                    pending, retry_at = token, t + self.rng.uniform(HOUR, min(12 * HOUR, p))
            if pending is None and self.next_rotation() != window_end:
                window_end = self.next_rotation()
                scheduled = max(window_end - self.rng.uniform(0, w), t + 1)


@pytest.mark.parametrize("overlap", OVERLAPS)
@pytest.mark.parametrize("schedule", SCHEDULES, ids=lambda s: s.label)
def test_no_url_outlives_its_key_and_the_sidecar_can_sign(schedule, overlap, tmp_path):
    """No URL outlives the key that signed it, on this schedule, in this overlap mode, across
    rotations turned on late, failed and retried, repeated and started by hand; and in steady
    state a 1-hour URL can be signed at least as often as README promises."""
    seed = sum(map(ord, schedule.label + overlap))
    run = Run(schedule, overlap, random.Random(seed), tmp_path)
    try:
        run.start()
        run.run()
    finally:
        run.stop()
    stats = run.stats
    availability = stats["steady available"] / max(stats["steady samples"], 1)
    print(f"\n{schedule.label} / {overlap}: {stats}; {len(run.urls)} URLs; "
          f"1-hour URLs available {availability:.1%} of steady state")  # fmt: skip
    assert run.late == [], "\n".join(run.late[:20])
    assert stats["rotations"] >= 5, stats
    # A rotation on schedule in steady state is never refused.
    assert stats["steady refused"] == 0, stats
    assert stats["steady samples"] >= 20, stats
    promised = promised_availability(schedule, overlap)
    assert availability >= promised, (availability, promised, stats)
