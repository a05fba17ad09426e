#!/usr/bin/env bash
# Prints "sha256  name" for every output of the commands a user runs (generate, run with and
# without --previous, predict, inspect --json, export to every SQL dialect and PMML, dashboard
# rebuild, compare, drift) on the real CC GENERAL file and on generated customers.
# tests/outputs.rs compares this against tests/fixtures/outputs.sha256, recorded with the
# binary before the issue-15 refactor, so a refactor that changes one byte of one output fails.
#   usage: output-checksums.sh CARDSEG_BIN WORKDIR REAL_CSV [ROWS...]
set -euo pipefail
bin=$1; work=$2; real=$3; shift 3
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
real=$(cd "$(dirname "$real")" && pwd)/$(basename "$real")
rm -rf "$work"; mkdir -p "$work"
# Outputs name their input and model paths: every command runs inside WORKDIR with relative
# paths (the real file through a symbolic link), so the sums do not depend on where it is.
cd "$work"; ln -s "$real" cc_general.csv; work=.
sums() { # name-prefix dir-or-file
  if [ -d "$2" ]; then
    (cd "$2" && find . -type f | LC_ALL=C sort | while read -r f; do
      printf '%s  %s/%s\n' "$(sha256sum < "$f" | cut -d' ' -f1)" "$1" "${f#./}"; done)
  else
    printf '%s  %s\n' "$(sha256sum < "$2" | cut -d' ' -f1)" "$1"
  fi
}
one() { # label input
  local l=$1 in=$2 d="$work/$1"
  "$bin" --quiet run --input "$in" --out "$d/run" --seed 7
  sums "$l/run" "$d/run"
  "$bin" --quiet predict --model "$d/run/model.json" --input "$in" --out "$d/predict.csv"
  sums "$l/predict.csv" "$d/predict.csv"
  "$bin" --quiet inspect --input "$in" --json > "$d/inspect.json"
  sums "$l/inspect.json" "$d/inspect.json"
}
mkdir -p "$work/real"
one real cc_general.csv
for dialect in ansi postgres sqlite duckdb spark bigquery; do
  "$bin" --quiet export --model "$work/real/run/model.json" --format sql --dialect "$dialect" \
    --out "$work/real/export.$dialect.sql"
  sums "real/export.$dialect.sql" "$work/real/export.$dialect.sql"
done
"$bin" --quiet export --model "$work/real/run/model.json" --format pmml --out "$work/real/model.pmml"
sums real/model.pmml "$work/real/model.pmml"
"$bin" --quiet dashboard --model "$work/real/run/model.json" --labels "$work/real/run/labels.csv" \
  --input cc_general.csv --out "$work/real/rebuilt.html"
sums real/rebuilt.html "$work/real/rebuilt.html"
for rows in "$@"; do
  l="gen$rows"; mkdir -p "$work/$l"
  "$bin" --quiet generate --rows "$rows" --seed 11 --out "$work/$l/customers.csv"
  sums "$l/customers.csv" "$work/$l/customers.csv"
  one "$l" "$work/$l/customers.csv"
  # A monthly retrain on top of the real file's model: continuity, migration, drift.
  "$bin" --quiet run --input "$work/$l/customers.csv" --out "$work/$l/retrain" --seed 7 \
    --previous "$work/real/run/model.json"
  sums "$l/retrain" "$work/$l/retrain"
  "$bin" --quiet compare --before "$work/$l/run" --after "$work/$l/retrain" \
    --out "$work/$l/compare"
  sums "$l/compare" "$work/$l/compare"
  "$bin" --quiet drift --model "$work/real/run/model.json" --input "$work/$l/customers.csv" --json \
    > "$work/$l/drift.json" || [ $? -eq 3 ]
  sums "$l/drift.json" "$work/$l/drift.json"
done
