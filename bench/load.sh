#!/usr/bin/env bash
# Load benchmark of the release daemon, in one command: bench/load.sh
#
# Installs wrk (Debian) when missing, builds target/release/sessionguard when missing, starts its
# demo on loopback (`--interval 1s`, presigning `GET:reports/,PUT:uploads/`), warms it up under load,
# then runs wrk against POST /v1/presign and then GET /metrics. For each: requests/s, p50/p99
# latency, non-2xx responses and socket errors, and the daemon's RSS after the run. Prints a markdown
# table on stdout (progress and wrk's own output on stderr).
#
# Fails (exit 1) when any request failed (a socket error, a non-2xx answer, or a presign answer the
# daemon counted as anything but `issued`), or when the RSS after a run is more than 10% above the
# RSS after the warm-up: that would be memory growing with the number of requests served.
#
# Environment: DURATION (wrk -d per endpoint, default 60s), CONNECTIONS (64), WARMUP (seconds,
# default 10, split between the two endpoints), SESSIONGUARD_BIN (default target/release/sessionguard),
# STDOUT (`read`, the default: the daemon's stdout drained as a log driver does; `stalled`: held open
# and never read, as a blocking awslogs driver behind a throttled CloudWatch Logs: the daemon must
# keep answering, dropping and counting per-request lines).
# Not a test: the numbers depend on the machine, and wrk shares its cores with the daemon.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

DURATION="${DURATION:-60s}"
CONNECTIONS="${CONNECTIONS:-64}"
WARMUP="${WARMUP:-10}"
THREADS=2
BIN="${SESSIONGUARD_BIN:-target/release/sessionguard}"
PRESIGN_BODY='{"bucket":"reports","key":"bench/object.csv","expires_in":600}'
# RSS after a run may exceed the post-warm-up RSS by at most this many percent.
MAX_RSS_GROWTH_PERCENT=10
STDOUT="${STDOUT:-read}"
case "$STDOUT" in read | stalled) ;; *) echo "STDOUT must be read or stalled, not $STDOUT" >&2; exit 64 ;; esac

log() { echo "--- $*" >&2; }

if ! command -v wrk >/dev/null 2>&1; then
  log "installing wrk (Debian package wrk)"
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk >/dev/null
fi
if [ ! -x "$BIN" ]; then
  log "cargo build --release --locked"
  cargo build --release --locked >&2
fi

tmp="$(mktemp -d)"
daemon=""
drain=""
cleanup() {
  # Only what this script started, by PID.
  if [ -n "$daemon" ] && kill -0 "$daemon" 2>/dev/null; then
    kill -TERM "$daemon" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$daemon" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$daemon" 2>/dev/null || true
  fi
  if [ -n "$daemon" ]; then wait "$daemon" 2>/dev/null || true; fi
  if [ -n "$drain" ]; then
    kill "$drain" 2>/dev/null || true
    wait "$drain" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# wrk scripts: the presign request, and a machine-readable summary line for both runs.
cat >"$tmp/summary.lua" <<'EOF'
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%.0f duration_us=%.0f p50_us=%.0f p99_us=%.0f connect=%.0f read=%.0f write=%.0f timeout=%.0f status=%.0f\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.timeout, e.status))
end
EOF
{
  echo 'wrk.method = "POST"'
  echo "wrk.body = '$PRESIGN_BODY'"
  echo 'wrk.headers["Content-Type"] = "application/json"'
  cat "$tmp/summary.lua"
} >"$tmp/presign.lua"

# The demo logs a line per check and per presign; like awslogs in ECS, something must read them.
# Its first stdout line says where it listens; the rest is drained to /dev/null.
mkfifo "$tmp/stdout"
"$BIN" demo --session 2h --interval 1s --log-format json --listen 127.0.0.1:0 \
  --presign-allow GET:reports/,PUT:uploads/ >"$tmp/stdout" 2>"$tmp/stderr" &
daemon=$!
exec 3<"$tmp/stdout"
listen=""
while IFS= read -r -t 15 line <&3; do
  case "$line" in
    *'"message":"sessionguard started"'*)
      listen="$(sed -n 's/.*"listen":"\(127\.0\.0\.1:[0-9]*\)".*/\1/p' <<<"$line")"
      break
      ;;
  esac
done
if [ -z "$listen" ]; then
  echo "the demo did not start:" >&2
  cat "$tmp/stderr" >&2
  exit 1
fi
if [ "$STDOUT" = read ]; then
  cat <&3 >/dev/null &
  drain=$!
  exec 3<&-
else
  # fd 3 stays open and unread until the script exits: the pipe fills and every write blocks.
  log "stdout held open and never read"
fi
base="http://$listen"
log "daemon $BIN (pid $daemon) on $base"

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$daemon/status"; }
metric() { curl -sf "$base/metrics" | awk -v name="$1" '$1 == name { printf "%.0f\n", $2 }'; }
# Presign answers other than `issued`, as the daemon counts them.
presign_refused() {
  curl -sf "$base/metrics" |
    awk '/^sessionguard_presign_requests_total\{/ && !/result="issued"/ { s += $2 } END { printf "%.0f\n", s }'
}
mib() { awk -v k="$1" 'BEGIN { printf "%.1f MiB", k / 1024 }'; }

for _ in $(seq 50); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' "$base/readyz")" = 200 ] && break
  sleep 0.1
done
code="$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'content-type: application/json' \
  -d "$PRESIGN_BODY" "$base/v1/presign")"
[ "$code" = 200 ] || { echo "POST /v1/presign answered $code before the load" >&2; exit 1; }

# wrk_run NAME DURATION URL SCRIPT: runs wrk, shows its output on stderr, keeps its RESULT line.
wrk_run() {
  wrk -t "$THREADS" -c "$CONNECTIONS" -d "$2" --latency -s "$4" "$3" >"$tmp/$1.out" 2>&1 || {
    cat "$tmp/$1.out" >&2
    echo "wrk failed" >&2
    exit 1
  }
  grep -v '^RESULT ' "$tmp/$1.out" >&2
  grep '^RESULT ' "$tmp/$1.out" | tail -1 >"$tmp/$1.result"
}
field() { sed -n "s/.* $2=\([0-9]*\).*/\1/p" "$tmp/$1.result"; }

half=$(((WARMUP + 1) / 2))
log "warm-up: ${half}s POST /v1/presign, ${half}s GET /metrics"
wrk_run warmup-presign "${half}s" "$base/v1/presign" "$tmp/presign.lua"
wrk_run warmup-metrics "${half}s" "$base/metrics" "$tmp/summary.lua"
sleep 1
rss_warm="$(rss_kib)"
prm_warm="$(metric process_resident_memory_bytes)"
log "after warm-up: VmRSS $(mib "$rss_warm"), process_resident_memory_bytes $prm_warm"

failures=()
rows=()
run() { # run NAME LABEL URL SCRIPT
  local refused_before refused_after
  refused_before="$(presign_refused)"
  log "$2: wrk -t $THREADS -c $CONNECTIONS -d $DURATION --latency"
  wrk_run "$1" "$DURATION" "$3" "$4"
  refused_after="$(presign_refused)"
  local requests duration_us p50 p99 status socket rss prm rps growth refused
  requests="$(field "$1" requests)"
  duration_us="$(field "$1" duration_us)"
  p50="$(field "$1" p50_us)"
  p99="$(field "$1" p99_us)"
  # wrk counts answers above 399 as status errors; the daemon never answers 1xx or 3xx.
  status="$(field "$1" status)"
  socket=$(($(field "$1" connect) + $(field "$1" read) + $(field "$1" write) + $(field "$1" timeout)))
  refused=$((refused_after - refused_before))
  rss="$(rss_kib)"
  prm="$(metric process_resident_memory_bytes)"
  rps="$(awk -v r="$requests" -v d="$duration_us" 'BEGIN { printf "%.0f", r / (d / 1e6) }')"
  growth="$(awk -v a="$rss" -v b="$rss_warm" 'BEGIN { printf "%+.1f", (a - b) * 100 / b }')"
  log "$2: $requests requests, $rps req/s, non-2xx $status, socket errors $socket, refused $refused, VmRSS $(mib "$rss") ($growth%), process_resident_memory_bytes $prm"
  [ "$status" = 0 ] || failures+=("$2: $status non-2xx responses")
  [ "$socket" = 0 ] || failures+=("$2: $socket socket errors")
  [ "$refused" = 0 ] || failures+=("$2: the daemon refused $refused presign requests")
  if awk -v a="$rss" -v b="$rss_warm" -v m="$MAX_RSS_GROWTH_PERCENT" 'BEGIN { exit !(a > b * (1 + m / 100)) }'; then
    failures+=("$2: VmRSS $(mib "$rss") is more than ${MAX_RSS_GROWTH_PERCENT}% above $(mib "$rss_warm") after the warm-up")
  fi
  # shellcheck disable=SC2016 # the backticks are markdown
  rows+=("$(printf '| `%s` | %s | %s ms | %s ms | %s | %s | %s (%s%%) |' "$2" \
    "$rps" \
    "$(awk -v u="$p50" 'BEGIN { printf "%.2f", u / 1000 }')" \
    "$(awk -v u="$p99" 'BEGIN { printf "%.2f", u / 1000 }')" \
    "$status" "$socket" "$(mib "$rss")" "$growth")")
}
run presign "POST /v1/presign" "$base/v1/presign" "$tmp/presign.lua"
run metrics "GET /metrics" "$base/metrics" "$tmp/summary.lua"

cores="$(nproc)"
cpu="$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
# `wrk -v` prints its version and exits 1.
wrk_version="$( (wrk -v 2>&1 || true) | awk 'NR == 1 { sub("^debian/", "", $2); print $2 }')"
cat <<EOF

$(date -u +%Y-%m-%d): \`sessionguard demo --interval 1s\` (release build, stdout $STDOUT), wrk $wrk_version with $THREADS threads and
$CONNECTIONS connections, $DURATION per endpoint after a ${WARMUP}s warm-up, on loopback: wrk and the daemon
share $cores cores ($cpu). RSS after the warm-up: $(mib "$rss_warm") (process_resident_memory_bytes $(mib "$((prm_warm / 1024))")).
Log lines dropped: $(metric sessionguard_log_lines_dropped_total).

| endpoint | requests/s | p50 | p99 | non-2xx | socket errors | RSS after (vs warm-up) |
|---|---:|---:|---:|---:|---:|---:|
EOF
printf '%s\n' "${rows[@]}"

if [ "${#failures[@]}" -gt 0 ]; then
  echo >&2
  printf 'FAIL: %s\n' "${failures[@]}" >&2
  exit 1
fi
