#!/usr/bin/env bash
# Ingest benchmark of the data sources (issue 7); not run in CI.
#   bash bench/sources.sh [ROWS_PARQUET] [ROWS_PG]      (defaults 10000000 and 1000000)
# Measures the "read" stage that `cardseg run --timings` prints (ingest only: the same
# Table comes out of every source) for: CSV vs Parquet at ROWS_PARQUET customers, and
# CSV vs PostgreSQL (COPY streamed from a server this script starts on 127.0.0.1) at
# ROWS_PG customers. Appends the numbers, with the machine's load, to bench/RESULTS.md.
# Inputs go to bench/out/ (git-ignored). Needs PostgreSQL (scripts/setup.sh installs it).
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS_PQ=${1:-10000000}
ROWS_PG=${2:-1000000}
OUT=bench/out
mkdir -p "$OUT"
cargo build --release -q
B=$PWD/target/release/cardseg

gen() { # rows file
  [ -s "$2" ] || { echo "generating $2" >&2; "$B" --quiet generate --rows "$1" --out "$2"; }
}

# The read time of a run: k fixed at 2 and one restart, so the rest of the pipeline is short.
read_secs() { # args...
  local out="$OUT/run-$$"
  rm -rf "$out"
  "$B" --quiet run "$@" --out "$out" --k 2 --k-min 2 --k-max 2 --n-init 1 --no-dashboard --timings 2>&1 >/dev/null \
    | awk '$2 == "read" { print $3 }'
  rm -rf "$out"
}

best_of() { # n args... -> the fastest of n runs
  local n=$1; shift
  local best=""
  for _ in $(seq "$n"); do
    local t; t=$(read_secs "$@")
    if [ -z "$best" ] || awk -v a="$t" -v b="$best" 'BEGIN { exit !(a < b) }'; then best=$t; fi
  done
  echo "$best"
}

# ---- CSV vs Parquet
gen "$ROWS_PQ" "$OUT/cc-$ROWS_PQ.csv"
[ -s "$OUT/cc-$ROWS_PQ.parquet" ] || { echo "generating $OUT/cc-$ROWS_PQ.parquet" >&2; "$B" --quiet generate --rows "$ROWS_PQ" --out "$OUT/cc-$ROWS_PQ.parquet"; }
csv_pq=$(best_of 3 --input "$OUT/cc-$ROWS_PQ.csv")
pq=$(best_of 3 --input "$OUT/cc-$ROWS_PQ.parquet")
echo "rows=$ROWS_PQ csv=${csv_pq}s parquet=${pq}s" >&2

# ---- CSV vs PostgreSQL
gen "$ROWS_PG" "$OUT/cc-$ROWS_PG.csv"
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
PGDIR=$(mktemp -d /tmp/cardseg-bench-pg.XXXXXX)
RUNAS=()
if [ "$(id -u)" = 0 ]; then chown postgres "$PGDIR"; RUNAS=(runuser -u postgres --); fi
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
PW=bench-pw-$$
echo "$PW" > "$PGDIR/pw"; [ "$(id -u)" = 0 ] && chown postgres "$PGDIR/pw"
"${RUNAS[@]}" "$PGBIN/initdb" -D "$PGDIR/data" -U cardseg --pwfile "$PGDIR/pw" -A scram-sha-256 --no-sync >/dev/null
"${RUNAS[@]}" "$PGBIN/pg_ctl" -D "$PGDIR/data" -l "$PGDIR/log" -w \
  -o "-p $PORT -k $PGDIR -c listen_addresses=127.0.0.1 -c fsync=off -c shared_buffers=512MB" start >/dev/null
trap '"${RUNAS[@]}" "$PGBIN/pg_ctl" -D "$PGDIR/data" -m immediate stop >/dev/null 2>&1; rm -rf "$PGDIR"' EXIT
export PGPASSWORD=$PW
cols=$(head -1 "$OUT/cc-$ROWS_PG.csv" | sed 's/CUST_ID/"CUST_ID" text/; s/,\([A-Z_]*\)/, "\1" double precision/g')
qcols=$(head -1 "$OUT/cc-$ROWS_PG.csv" | sed 's/\([A-Z_][A-Z_]*\)/"\1"/g')
psql -q -h 127.0.0.1 -p "$PORT" -U cardseg -d postgres -c "CREATE TABLE cc (ord bigserial, $cols)" \
  -c "\copy cc ($qcols) FROM '$OUT/cc-$ROWS_PG.csv' WITH (FORMAT csv, HEADER true)" -c "VACUUM ANALYZE cc"
unset PGPASSWORD
URL="postgres://cardseg:$PW@127.0.0.1:$PORT/postgres"
csv_pg=$(best_of 3 --input "$OUT/cc-$ROWS_PG.csv")
pg=$(best_of 3 --input "$URL" --query "SELECT $qcols FROM cc ORDER BY ord")
pg_table=$(best_of 3 --input "$URL" --table cc)
echo "rows=$ROWS_PG csv=${csv_pg}s postgres=${pg}s (table scan ${pg_table}s)" >&2

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
{
  echo
  echo "## Data sources ingest ($(date -u '+%Y-%m-%d %H:%M UTC'))"
  echo
  echo "- machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -sr); load: $(uptime | sed 's/.*load average/load average/')"
  echo "- command: \`bash bench/sources.sh $ROWS_PQ $ROWS_PG\` (read stage of \`cardseg run --timings\`, best of 3; inputs from \`cardseg generate\`)"
  echo
  echo "| input | rows | read (s) | vs CSV |"
  echo "| --- | ---: | ---: | ---: |"
  echo "| CSV | $ROWS_PQ | $csv_pq | 1.00 |"
  echo "| Parquet (snappy, 1M-row groups) | $ROWS_PQ | $pq | $(ratio "$pq" "$csv_pq") |"
  echo "| CSV | $ROWS_PG | $csv_pg | 1.00 |"
  echo "| PostgreSQL 15, \`--query ... ORDER BY ord\` (binary COPY, loopback) | $ROWS_PG | $pg | $(ratio "$pg" "$csv_pg") |"
  echo "| PostgreSQL 15, \`--table cc\` | $ROWS_PG | $pg_table | $(ratio "$pg_table" "$csv_pg") |"
} >> bench/RESULTS.md
tail -12 bench/RESULTS.md
