#!/usr/bin/env bash
# `cardseg drift` vs `cardseg predict` on the same generated file (issue 18: drift runs at
# CSV-parse speed, within 1.5x of predict). One model (trained on the real file when it is
# there, else on 100,000 generated customers), one input of --rows customers (default
# 10,000,000), each command run --reps times (default 1; the fastest is reported) under
# /usr/bin/time -v. drift runs every check: PSI, missing shares, range, segment shares and the
# median of every segment x feature against the model's stored quantiles (the script checks
# that the report holds them). Appends machine, date, command, uptime and the figures to
# bench/RESULTS.md.
#
#   bench/drift.sh [--rows N] [--reps N] [--dir DIR] [--cardseg-bin PATH]
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
ROWS=10000000 REPS=1 DIR="" BIN=""
while [ $# -gt 0 ]; do
  case "$1" in
    --rows) ROWS="$2"; shift 2 ;;
    --reps) REPS="$2"; shift 2 ;;
    --dir) DIR="$2"; shift 2 ;;
    --cardseg-bin) BIN="$2"; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
if [ -z "$BIN" ]; then
  (cd "$ROOT" && cargo build --release --quiet)
  BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/cardseg"
fi
[ -n "$DIR" ] || DIR="$(mktemp -d)"
mkdir -p "$DIR"
DATA="$DIR/gen_$ROWS.csv"
[ -f "$DATA" ] || "$BIN" generate --rows "$ROWS" --seed 18 --out "$DATA"
REAL="$ROOT/../shared/data/cc_general.csv"
[ -f "$REAL" ] || REAL="${CARDSEG_REAL_DATA:-}"
if [ -n "$REAL" ] && [ -f "$REAL" ]; then
  TRAIN="$REAL"
else
  TRAIN="$DIR/train.csv"
  [ -f "$TRAIN" ] || "$BIN" generate --rows 100000 --seed 1 --out "$TRAIN"
fi
"$BIN" run --quiet --force --no-dashboard --input "$TRAIN" --out "$DIR/model"
MODEL="$DIR/model/model.json"

measure() { # name, command...: best wall seconds and its peak RSS (MB)
  local best="" rss=""
  for _ in $(seq "$REPS"); do
    /usr/bin/time -v "${@:2}" > /dev/null 2> "$DIR/time.txt" || { cat "$DIR/time.txt" >&2; exit 1; }
    local w r
    w=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,p,":"); s=0; for(i=1;i<=n;i++) s=s*60+p[i]; print s}' "$DIR/time.txt")
    r=$(awk -F': ' '/Maximum resident set size/ {printf "%.0f", $2/1024}' "$DIR/time.txt")
    if [ -z "$best" ] || awk "BEGIN{exit !($w < $best)}"; then best="$w"; rss="$r"; fi
  done
  echo "$best $rss"
}
read -r P_WALL P_RSS < <(measure predict "$BIN" predict --quiet --force --model "$MODEL" --input "$DATA" --out "$DIR/pred.csv")
read -r D_WALL D_RSS < <(measure drift "$BIN" drift --quiet --model "$MODEL" --input "$DATA")
RATIO=$(awk "BEGIN{printf \"%.2f\", $D_WALL / $P_WALL}")
# The timed run printed nothing; one report shows what it computed.
SHIFTS=$("$BIN" drift --json --model "$MODEL" --input "$DATA" | python3 -c 'import json,sys; r=json.load(sys.stdin); print(len(r["segment_shifts"]), "segment x feature medians checked,", len(r["alerts"]), "alerts raised")' || true)
UPTIME="$(uptime)"
{
  echo
  echo "## drift vs predict, $ROWS generated customers ($(date -u +%Y-%m-%dT%H:%MZ))"
  echo
  echo "Machine: $(nproc) cores, $(awk '/model name/ {sub(/.*: /,""); print; exit}' /proc/cpuinfo); commit $(cd "$ROOT" && git rev-parse --short HEAD)."
  echo "Command: \`bench/drift.sh --rows $ROWS --reps $REPS\`; uptime before the report: \`$UPTIME\`."
  echo
  echo "| command | wall (best of $REPS) | peak RSS |"
  echo "|---|---:|---:|"
  echo "| \`cardseg predict\` | ${P_WALL} s | ${P_RSS} MB |"
  echo "| \`cardseg drift\` | ${D_WALL} s | ${D_RSS} MB |"
  echo
  echo "drift / predict = ${RATIO}× (target: within 1.5×). The drift report: ${SHIFTS:-unknown}."
} | tee -a "$ROOT/bench/RESULTS.md"
