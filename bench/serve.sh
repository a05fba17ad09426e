#!/usr/bin/env bash
# Load benchmark of `cardseg serve` (NOT run in CI). Every request goes to 127.0.0.1 only,
# every load run is bounded in count or time, and the server is stopped on exit.
#
#   bash bench/serve.sh            # ~1 minute of load; appends a section to bench/RESULTS.md
#
# The server is pinned to core 0 (one tokio worker: it sizes itself to its CPU set) and the
# load generator, oha, to core 1, so the batch figure is per server core. Targets:
#   - batch scoring (JSON arrays of 10,000 customers): >= 100,000 customers/s per core
#   - single-customer requests at 2,000 requests/s: p99 < 2 ms, zero errors
#   - 10,000 malformed requests: all refused with 4xx, and the server stays healthy
# Environment: DURATION (seconds per timed run, default 10), RESULTS (file to append to).
set -euo pipefail
trap 'echo "bench/serve.sh: failed at line $LINENO" >&2' ERR
cd "$(dirname "$0")/.."
root=$PWD
out=bench/out/serve
mkdir -p "$out"
: >"$out/server.err"
duration=${DURATION:-10}
results=${RESULTS:-bench/RESULTS.md}

echo "== uptime before: $(uptime)"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)

# oha: HTTP load generator from crates.io. Its default TLS backend does not build without
# a TLS feature here, so it is built with native-tls (system OpenSSL; libssl-dev).
if ! command -v oha >/dev/null 2>&1; then
  if ! pkg-config --exists openssl 2>/dev/null && [ "$(id -u)" = 0 ]; then
    apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends libssl-dev pkg-config >/dev/null
  fi
  cargo install oha --locked --no-default-features --features native-tls
fi
oha_version=$(oha --version | head -1)

cargo build --release --quiet
bin=$root/target/release/cardseg

# Synthetic customers only (the real file is never copied anywhere).
"$bin" generate --rows 20000 --seed 1 --out "$out/customers.csv" --force --quiet
"$bin" run --input "$out/customers.csv" --out "$out/run" --force --quiet --no-dashboard
python3 bench/make_bodies.py "$out/customers.csv" "$out" 10000
model=$out/run/model.json

# start_server CPU-SET: starts `cardseg serve` (pinned to CPU-SET, or unpinned for "all").
pid=
port=
start_server() {
  local pin=()
  [ "$1" = all ] || pin=(taskset -c "$1")
  rm -f "$out/server.out"
  "${pin[@]}" "$bin" serve --model "$model" --addr 127.0.0.1:0 >"$out/server.out" 2>>"$out/server.err" &
  pid=$!
  port=
  for _ in $(seq 100); do
    port=$(sed -n 's/^listening on http:\/\/127\.0\.0\.1:\([0-9]*\)$/\1/p' "$out/server.out" 2>/dev/null)
    [ -n "$port" ] && break
    sleep 0.1
  done
  [ -n "$port" ] || { echo "server did not start: $(cat "$out/server.err")" >&2; exit 1; }
  url=http://127.0.0.1:$port
  echo "== server pid $pid on $url (cpus: $1)"
}
stop_server() {
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
trap stop_server EXIT

# oha (pinned to core 1 while the server is pinned to core 0), bounded by timeout(1) on top
# of its own -n / -z. Its report goes to $out/oha_NAME.json.
oha_pin=(taskset -c 1)
oha_threads=1
load() {
  local name=$1
  shift
  timeout 300 "${oha_pin[@]}" oha --no-tui --worker-threads "$oha_threads" --output-format json "$@" >"$out/oha_$name.json"
}
field() { # FILE PYTHON-EXPRESSION-ON-r
  python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print($2)" "$1"
}
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$pid/status"; }

# Throughput per core: the server alone on core 0, oha on core 1.
start_server 0

# Warm-up (not recorded).
load warmup -n 200 -c 2 -m POST -T application/json -D "$out/batch.json" "$url/v1/score"

# 1. Batch scoring: 10,000-customer JSON arrays, 2 connections, for $duration s.
load batch_json -z "${duration}s" -w -c 2 -m POST -T application/json -D "$out/batch.json" "$url/v1/score"
batch_rps=$(field "$out/oha_batch_json.json" 'round(r["summary"]["requestsPerSec"], 1)')
batch_codes=$(field "$out/oha_batch_json.json" 'r["statusCodeDistribution"]')
batch_cps=$(field "$out/oha_batch_json.json" 'round(r["summary"]["requestsPerSec"] * 10000)')
batch_p99=$(field "$out/oha_batch_json.json" 'round(r["latencyPercentiles"]["p99"]*1000, 2)')
echo "== batch JSON: $batch_rps req/s = $batch_cps customers/s (p99 $batch_p99 ms) $batch_codes"

# 1b. The same customers as CSV (text/csv in, labels out).
load batch_csv -z "${duration}s" -w -c 2 -m POST -T text/csv -D "$out/batch.csv" "$url/v1/score"
csv_rps=$(field "$out/oha_batch_csv.json" 'round(r["summary"]["requestsPerSec"], 1)')
csv_codes=$(field "$out/oha_batch_csv.json" 'r["statusCodeDistribution"]')
csv_cps=$(field "$out/oha_batch_csv.json" 'round(r["summary"]["requestsPerSec"] * 10000)')
echo "== batch CSV: $csv_rps req/s = $csv_cps customers/s $csv_codes"

# Latency and robustness: the server as deployed (not pinned, one worker per core), oha
# unpinned too, so a busy neighbour on one core does not stall either side.
stop_server
start_server all
oha_pin=()
oha_threads=2
rss_start=$(rss_kib)

# 2. Single customers at a fixed 2,000 requests/s, latency corrected for coordinated omission.
load single -z "${duration}s" -w -q 2000 --latency-correction -c 16 -m POST -T application/json -D "$out/single.json" "$url/v1/score"
single_rps=$(field "$out/oha_single.json" 'round(r["summary"]["requestsPerSec"], 1)')
single_p50=$(field "$out/oha_single.json" 'round(r["latencyPercentiles"]["p50"]*1000, 3)')
single_p99=$(field "$out/oha_single.json" 'round(r["latencyPercentiles"]["p99"]*1000, 3)')
single_p999=$(field "$out/oha_single.json" 'round(r["latencyPercentiles"]["p99.9"]*1000, 3)')
single_codes=$(field "$out/oha_single.json" 'r["statusCodeDistribution"]')
single_fb99=$(field "$out/oha_single.json" 'round(r["firstBytePercentiles"]["p99"]*1000, 3)')
single_errors=$(field "$out/oha_single.json" 'r["errorDistribution"]')
single_total=$(field "$out/oha_single.json" 'sum(r["statusCodeDistribution"].values())')
# The server's own view (request in to response head, without the client's or the
# scheduler's delays): the share of the scoring requests answered within 1 and 2 ms.
server_share() {
  curl -s -m 5 "$url/metrics" | python3 -c "
import sys
b = {}
for line in sys.stdin:
    if line.startswith('cardseg_http_request_duration_seconds_bucket{route=\"/v1/score\"'):
        le = line.split('le=\"')[1].split('\"')[0]
        b[le] = float(line.split()[-1])
t = b['+Inf']
print(f'{100 * b[\"0.001\"] / t:.2f}% within 1 ms, {100 * b[\"0.002\"] / t:.2f}% within 2 ms of {int(t)}')
"
}
single_server=$(server_share)
echo "== single: $single_rps req/s, p50 $single_p50 ms, p99 $single_p99 ms, p99.9 $single_p999 ms (first byte p99 $single_fb99 ms, uncorrected), $single_codes, errors $single_errors; server side: $single_server"

# 3. 10,000 malformed requests of 7 kinds.
before=$(curl -s -m 5 -H 'Content-Type: application/json' --data-binary @"$out/single.json" "$url/v1/score")
bad_codes=""
for kind in truncated field nan shape nested; do
  load "bad_$kind" -n 1500 -c 8 -m POST -T application/json -D "$out/bad_$kind.json" "$url/v1/score"
  bad_codes="$bad_codes $kind=$(field "$out/oha_bad_$kind.json" 'r["statusCodeDistribution"]')"
done
load bad_type -n 1250 -c 8 -m POST -T text/plain -d 'hello' "$url/v1/score"
bad_codes="$bad_codes content-type=$(field "$out/oha_bad_type.json" 'r["statusCodeDistribution"]')"
load bad_path -n 1250 -c 8 -m POST -T application/json -d '{}' "$url/v1/nope"
bad_codes="$bad_codes path=$(field "$out/oha_bad_path.json" 'r["statusCodeDistribution"]')"
after=$(curl -s -m 5 -H 'Content-Type: application/json' --data-binary @"$out/single.json" "$url/v1/score")
health=$(curl -s -m 5 -o /dev/null -w '%{http_code}' "$url/healthz")
panics=$(curl -s -m 5 "$url/metrics" | awk '$1 == "cardseg_panics_total" {print $2}')
alive=no
kill -0 "$pid" 2>/dev/null && alive=yes
same=no
[ "$before" = "$after" ] && same=yes
rss_end=$(rss_kib)
echo "== malformed:$bad_codes"
echo "== after them: alive=$alive healthz=$health panics=$panics same-answer=$same rss ${rss_start}->${rss_end} KiB"

load_after=$(cut -d' ' -f1-3 /proc/loadavg)
echo "== uptime after: $(uptime)"

verdict() { python3 -c "print('met' if $1 else 'NOT met')"; }
{
  echo
  echo "## serve load benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo
  echo "- machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), $(free -g | awk '/^Mem:/ {print $2}') GiB; $(uname -sr)"
  echo "- commit: $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src Cargo.toml || echo ' (with local changes)'); $oha_version"
  echo "- load average (1, 5, 15 min): before $load_before, after $load_after (the machine is shared; other work runs beside the benchmark)"
  echo "- command: \`bash bench/serve.sh\` (DURATION=$duration). Batch runs: server \`taskset -c 0 cardseg serve\` (1 tokio worker), load \`taskset -c 1 oha --worker-threads 1\`. Single and malformed runs: server and \`oha --worker-threads 2\` both unpinned on the 2 cores"
  echo "- model: 20,000 synthetic customers (\`cardseg generate --seed 1\`), k = $(field "$model" 'r["model"]["k"]'); bodies from bench/make_bodies.py"
  echo
  echo "| run | oha arguments | result | target |"
  echo "|---|---|---|---|"
  echo "| batch JSON (10,000 customers/request) | \`-z ${duration}s -w -c 2 -m POST -T application/json -D batch.json\` | $batch_rps req/s = **$batch_cps customers/s** on 1 core, p99 $batch_p99 ms, statuses $batch_codes | >= 100,000/s per core: $(verdict "$batch_cps >= 100000") |"
  echo "| batch CSV (10,000 rows/request) | \`-z ${duration}s -w -c 2 -m POST -T text/csv -D batch.csv\` | $csv_rps req/s = **$csv_cps customers/s**, statuses $csv_codes | (information) |"
  echo "| single customers at 2,000/s | \`-z ${duration}s -w -q 2000 --latency-correction -c 16 -m POST -T application/json -D single.json\` | $single_rps req/s, $single_total requests, p50 $single_p50 ms, **p99 $single_p99 ms**, p99.9 $single_p999 ms (latency corrected for coordinated omission; time to first byte p99 $single_fb99 ms), statuses $single_codes, errors $single_errors; server-side histogram: $single_server | p99 < 2 ms, zero errors: $(verdict "$single_p99 < 2 and '$single_errors' == '{}' and set($single_codes) == {'200'}") |"
  echo "| 10,000 malformed requests | 5 bad JSON bodies x 1,500, wrong Content-Type x 1,250, unknown path x 1,250 (\`-n ... -c 8\`) |$bad_codes; afterwards alive=$alive, /healthz $health, panics $panics, same answer for a probe customer=$same, RSS ${rss_start} -> ${rss_end} KiB | server healthy: $(verdict "'$alive' == 'yes' and '$health' == '200' and '$panics' == '0' and '$same' == 'yes'") |"
} >>"$results"
echo "== appended to $results"
