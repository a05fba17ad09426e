#!/usr/bin/env bash
# cardseg benchmark harness (GitHub issue 6: beat scikit-learn 50x on the real file and
# 30x at 10 million customers, side by side). Everything runs in one session on one
# machine, one tool at a time, and the report says how busy the machine was.
#
# Modes (first argument; default "pipeline"):
#   pipeline    For each input: the scikit-learn reference (bench/sklearn_pipeline.py), the
#               linfa peer (bench/linfa) and `cardseg run --quiet --timings --force`, each
#               under /usr/bin/time -v. Reports per-stage times, wall time, peak RSS,
#               ratios (sklearn/cardseg, linfa/cardseg), inertia per k side by side with
#               the check cardseg <= sklearn x (1 + 1e-6), silhouettes and chosen k.
#   silhouette  Exact silhouette of --rows (100,000) generated customers at k = --k (5):
#               sklearn.metrics.silhouette_score on cardseg's own labels (bench/silhouette.py)
#               vs cardseg's exact_many (benches/silhouette_bench.rs) on the same matrix.
#   lloyd       One Lloyd iteration (cluster::lloyd::lloyd_step: assignment + per-centre sums
#               in one pass) and the assignment pass alone over --rows (10,000,000) x 3 at
#               k = --k (10) vs a plain streaming read of the same matrix, interleaved in one
#               process (benches/lloyd_bandwidth.rs).
#   predict     `cardseg predict` vs `cardseg inspect` on the same generated file
#               (--rows, default 10,000,000), plus the read / score / write split of the
#               predict library calls (benches/predict_split.rs): the share spent scoring.
#   micro       criterion micro-benchmarks: cargo bench --bench kernels.
#
# Options:
#   --sizes LIST          pipeline inputs, comma-separated: "real" (the CC GENERAL file) and
#                         row counts of generated files (default: real,100000)
#   --rows N  --k K       silhouette / lloyd / predict sizes (defaults above)
#   --reps N              runs per tool and input; the fastest is reported (default 1)
#   --sklearn-max-rows N  skip scikit-learn above N rows, reported "not run" (default 2000000)
#   --linfa-max-rows N    skip linfa above N rows (default 2000000)
#   --linfa-silhouette-max N  linfa also computes its silhouette when rows <= N (default
#                         20000; linfa's silhouette is exact and O(n^2) with a hash lookup
#                         per pair, so it is sampled nowhere: above N it is "not run")
#   --cardseg-bin PATH    measure this cardseg binary instead of building this checkout
#                         (e.g. a build of main with new kernels)
#   --max-load-per-core X refuse when the 1-minute load average exceeds X x cores (0.5)
#   --wait-idle SECS      wait up to SECS for the load to fall first (default 0)
#   --settle SECS         before each measurement wait up to SECS for the load (which our own
#                         previous measurement raised) to fall below the threshold (90)
#   --force-busy          measure and print anyway, marked "BUSY, not valid"
#   --append              append the markdown section to bench/RESULTS.md
#   --data PATH           the real file (default ../shared/data/cc_general.csv from the root)
#
# Outputs: bench/out/ (gitignored): generated inputs in bench/out/data/, each run's raw
# files in bench/out/runs/<mode>-<timestamp>/, the markdown section in report.md there
# (printed to stdout too). The real data file is only read, never copied.
#
# Examples:
#   bash bench/run.sh                                   # real file + 100k
#   bash bench/run.sh pipeline --sizes 1000000 --append
#   bash bench/run.sh pipeline --sizes 100000,1000000,10000000 --sklearn-max-rows 1000000
#   bash bench/run.sh silhouette --append
#   bash bench/run.sh lloyd --rows 10000000 --append
#   bash bench/run.sh predict --rows 10000000 --append
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
ORIG_CMD="bash bench/run.sh $*"

mode=pipeline
case "${1:-}" in
  pipeline|silhouette|lloyd|predict|micro) mode="$1"; shift ;;
esac

sizes="real,100000"
rows=""
k=""
reps=1
sklearn_max=2000000
linfa_max=2000000
linfa_sil_max=20000
cardseg_bin=""
max_load_per_core=0.5
wait_idle=0
settle=90
force_busy=0
append=0
data="$ROOT/../shared/data/cc_general.csv"

die() { echo "run.sh: $*" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --sizes) sizes="${2:?}"; shift 2 ;;
    --rows) rows="${2:?}"; shift 2 ;;
    --k) k="${2:?}"; shift 2 ;;
    --reps) reps="${2:?}"; shift 2 ;;
    --sklearn-max-rows) sklearn_max="${2:?}"; shift 2 ;;
    --linfa-max-rows) linfa_max="${2:?}"; shift 2 ;;
    --linfa-silhouette-max) linfa_sil_max="${2:?}"; shift 2 ;;
    --cardseg-bin) cardseg_bin="${2:?}"; shift 2 ;;
    --max-load-per-core) max_load_per_core="${2:?}"; shift 2 ;;
    --wait-idle) wait_idle="${2:?}"; shift 2 ;;
    --settle) settle="${2:?}"; shift 2 ;;
    --force-busy) force_busy=1; shift ;;
    --append) append=1; shift ;;
    --data) data="${2:?}"; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
done

# Python with the reference stack: $CARDSEG_PYTHON, else the repo's .venv (scripts/setup.sh).
PY="${CARDSEG_PYTHON:-}"
[ -z "$PY" ] && [ -x "$ROOT/.venv/bin/python" ] && PY="$ROOT/.venv/bin/python"
[ -z "$PY" ] && PY=python3
[ -x /usr/bin/time ] || die "/usr/bin/time is needed for peak RSS (apt-get install time)"

cores=$(nproc)
threshold=$(awk -v c="$cores" -v p="$max_load_per_core" 'BEGIN { printf "%.2f", c * p }')
load1() { cut -d' ' -f1 /proc/loadavg; }
is_busy() { awk -v l="$(load1)" -v t="$threshold" 'BEGIN { exit !(l > t) }'; }

# Waits up to $1 seconds for the 1-minute load to fall to the threshold; true if it did.
wait_for_idle() {
  local limit=$1 waited=0
  while is_busy; do
    [ "$waited" -ge "$limit" ] && return 1
    sleep 10; waited=$((waited + 10))
  done
  return 0
}

stamp=$(date -u +%Y%m%dT%H%M%SZ)
RUN="$ROOT/bench/out/runs/$mode-$stamp"
busy=0
echo "run.sh: $(uptime)" >&2
if ! wait_for_idle "$wait_idle"; then
  if [ "$force_busy" = 1 ]; then
    busy=1
    echo "run.sh: 1-minute load $(load1) > $threshold ($max_load_per_core per core): measuring anyway, results marked BUSY, not valid" >&2
  else
    echo "run.sh: 1-minute load $(load1) > $threshold ($max_load_per_core per core on $cores cores): refusing to measure." >&2
    echo "run.sh: wait, or use --wait-idle SECS, or --force-busy (results then marked BUSY, not valid)" >&2
    exit 3
  fi
fi

mkdir -p "$RUN" "$ROOT/bench/out/data"
{
  echo "mode=$mode"
  echo "command=$ORIG_CMD"
  echo "date=$(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  echo "uname=$(uname -a)"
  echo "cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
  echo "cache=$(grep -m1 'cache size' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
  echo "cores=$cores"
  echo "mem=$(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
  echo "uptime_start=$(uptime)"
  echo "threshold=$threshold"
  echo "busy_start=$busy"
  echo "git=$(git rev-parse --short HEAD 2>/dev/null || echo unknown) ($(git rev-parse --abbrev-ref HEAD 2>/dev/null || echo ?))"
  echo "clk_tck=$(getconf CLK_TCK)"
} > "$RUN/meta.txt"

# --- builds -----------------------------------------------------------------------------
build_cardseg() {
  if [ -n "$cardseg_bin" ]; then
    [ -x "$cardseg_bin" ] || die "--cardseg-bin $cardseg_bin is not an executable"
    CARDSEG="$cardseg_bin"
  else
    echo "run.sh: building cardseg (release)" >&2
    cargo build --release --quiet --bin cardseg
    CARDSEG="$ROOT/target/release/cardseg"
  fi
  echo "cardseg_bin=$CARDSEG" >> "$RUN/meta.txt"
  echo "cardseg_version=$("$CARDSEG" --version)" >> "$RUN/meta.txt"
}
# Builds one of the benches/ programs (harness = false) and prints its executable's path.
build_bench() {
  echo "run.sh: building bench program $1 (release)" >&2
  local exe
  exe=$(cargo build --release --quiet --bench "$1" --message-format=json \
    | grep -F "\"kind\":[\"bench\"]" | grep -F "\"name\":\"$1\"" \
    | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -n 1)
  [ -x "$exe" ] || die "cannot find the executable of benches/$1.rs"
  echo "$exe"
}
check_python() {
  "$PY" -c 'import sklearn, pandas, numpy, kneed, plotly, joblib' 2>/dev/null \
    || die "$PY lacks the reference stack: run 'bash scripts/setup.sh' (creates .venv) or set CARDSEG_PYTHON"
  echo "python=$PY ($("$PY" -c 'import sklearn; print("scikit-learn", sklearn.__version__)'))" >> "$RUN/meta.txt"
}

# --- inputs -------------------------------------------------------------------------------
# Prints the path of the input for a size: the real file, or a generated file (made once).
input_for() {
  local size=$1
  if [ "$size" = real ]; then
    [ -f "$data" ] || die "the real file $data is missing"
    echo "$data"
  else
    local f="$ROOT/bench/out/data/gen_${size}_seed42.csv"
    if [ ! -s "$f" ]; then
      echo "run.sh: generating $size customers into $f" >&2
      "$CARDSEG" --quiet generate --rows "$size" --seed 42 --out "$f" --force >&2
    fi
    echo "$f"
  fi
}
rows_of() { if [ "$1" = real ]; then echo $(( $(wc -l < "$2") - 1 )); else echo "$1"; fi; }

# --- one measurement ----------------------------------------------------------------------
# measure PREFIX CMD...: waits for the load to settle, then runs CMD under /usr/bin/time -v
# with stdout in PREFIX.out, stderr in PREFIX.err, and saves the load average and /proc/stat
# before and after (the report computes how much CPU other processes took meanwhile).
measure() {
  local pfx=$1; shift
  wait_for_idle "$settle" || true
  { cat /proc/loadavg; head -1 /proc/stat; } > "$pfx.pre"
  local rc=0
  /usr/bin/time -v -o "$pfx.time" "$@" > "$pfx.out" 2> "$pfx.err" || rc=$?
  head -1 /proc/stat > "$pfx.post"
  echo "$rc" > "$pfx.rc"
  printf '%s\n' "$*" > "$pfx.cmd"
  if [ "$rc" != 0 ]; then
    echo "run.sh: $(basename "$pfx") failed (exit $rc); see $pfx.err" >&2
  fi
}

report() {
  "$PY" "$ROOT/bench/report.py" "$RUN" > "$RUN/report.md"
  cat "$RUN/report.md"
  if [ "$append" = 1 ]; then
    [ -f "$ROOT/bench/RESULTS.md" ] || printf '# cardseg benchmark results\n\nSections appended by `bash bench/run.sh ... --append`; newest last.\n' > "$ROOT/bench/RESULTS.md"
    { echo; cat "$RUN/report.md"; } >> "$ROOT/bench/RESULTS.md"
    echo "run.sh: appended to bench/RESULTS.md" >&2
  fi
  echo "run.sh: raw files in $RUN" >&2
}

# --- modes --------------------------------------------------------------------------------
mode_pipeline() {
  build_cardseg
  check_python
  echo "run.sh: building the linfa peer (release, standalone crate bench/linfa)" >&2
  (cd "$ROOT/bench/linfa" && cargo build --release --quiet)
  local LINFA="$ROOT/bench/linfa/target/release/cardseg-linfa-bench"
  IFS=',' read -r -a list <<< "$sizes"
  for size in "${list[@]}"; do
    local input n dir
    input=$(input_for "$size")
    n=$(rows_of "$size" "$input")
    dir="$RUN/$size"
    mkdir -p "$dir"
    printf 'size=%s\ninput=%s\nrows=%s\n' "$size" "$input" "$n" > "$dir/input.txt"
    echo "run.sh: == $size ($n customers) ==" >&2
    for r in $(seq 1 "$reps"); do
      if [ "$n" -le "$sklearn_max" ]; then
        echo "run.sh:   scikit-learn (rep $r)" >&2
        rm -rf "$dir/sklearn_out"
        measure "$dir/sklearn.r$r" "$PY" "$ROOT/bench/sklearn_pipeline.py" --input "$input" --out "$dir/sklearn_out"
      else
        echo "not run: $n rows > --sklearn-max-rows $sklearn_max" > "$dir/sklearn.skipped"
      fi
      if [ "$n" -le "$linfa_max" ]; then
        local sil=()
        [ "$n" -le "$linfa_sil_max" ] && sil=(--silhouette)
        echo "run.sh:   linfa (rep $r)" >&2
        measure "$dir/linfa.r$r" "$LINFA" --input "$input" "${sil[@]}"
      else
        echo "not run: $n rows > --linfa-max-rows $linfa_max" > "$dir/linfa.skipped"
      fi
      echo "run.sh:   cardseg (rep $r)" >&2
      measure "$dir/cardseg.r$r" "$CARDSEG" run --quiet --timings --force --input "$input" --out "$dir/cardseg_out"
      cp "$dir/cardseg_out/k_selection.csv" "$dir/cardseg.r$r.k_selection.csv" 2>/dev/null || true
    done
    # Generated inputs above 1M rows are large: keep the outputs small on disk.
    rm -rf "$dir/sklearn_out/labels.csv" "$dir/cardseg_out/labels.csv"
  done
}

mode_silhouette() {
  build_cardseg
  check_python
  local exe
  exe=$(build_bench silhouette_bench)
  local n=${rows:-100000} kk=${k:-5}
  local input dir="$RUN/silhouette"
  mkdir -p "$dir"
  input=$(input_for "$n")
  printf 'rows=%s\nk=%s\ninput=%s\n' "$n" "$kk" "$input" > "$dir/input.txt"
  echo "run.sh: cardseg run --k $kk on $n customers (for its labels)" >&2
  "$CARDSEG" run --quiet --force --k "$kk" --k-min "$kk" --k-max "$kk" --no-dashboard \
    --silhouette-exact-max 0 --silhouette-sample 100 --input "$input" --out "$dir/cardseg_out"
  echo "run.sh: scaling the matrix (bench/silhouette.py --skip-sklearn)" >&2
  "$PY" "$ROOT/bench/silhouette.py" --input "$input" --labels "$dir/cardseg_out/labels.csv" \
    --scaled-out "$dir/scaled.csv" --skip-sklearn > /dev/null
  for r in $(seq 1 "$reps"); do
    echo "run.sh:   cardseg exact_many (rep $r)" >&2
    measure "$dir/cardseg.r$r" "$exe" --input "$dir/scaled.csv"
    echo "run.sh:   sklearn silhouette_score (rep $r)" >&2
    measure "$dir/sklearn.r$r" "$PY" "$ROOT/bench/silhouette.py" --input "$input" \
      --labels "$dir/cardseg_out/labels.csv" --scaled-out "$dir/scaled_check.csv"
  done
  rm -f "$dir/scaled_check.csv"
}

mode_lloyd() {
  local exe
  exe=$(build_bench lloyd_bandwidth)
  local n=${rows:-10000000} kk=${k:-10}
  mkdir -p "$RUN/lloyd"
  printf 'rows=%s\nk=%s\n' "$n" "$kk" > "$RUN/lloyd/input.txt"
  measure "$RUN/lloyd/lloyd" "$exe" --rows "$n" --k "$kk" --reps "$((reps < 5 ? 5 : reps))"
}

mode_predict() {
  build_cardseg
  local exe
  exe=$(build_bench predict_split)
  local n=${rows:-10000000} input dir="$RUN/predict"
  mkdir -p "$dir"
  input=$(input_for "$n")
  printf 'rows=%s\ninput=%s\n' "$n" "$input" > "$dir/input.txt"
  # A model to score with: trained on the real file when present (fast), else on 100k.
  local train="$data"
  [ -f "$train" ] || train=$(input_for 100000)
  "$CARDSEG" run --quiet --force --no-dashboard --input "$train" --out "$dir/model_run"
  for r in $(seq 1 "$reps"); do
    echo "run.sh:   cardseg predict (rep $r)" >&2
    measure "$dir/predict.r$r" "$CARDSEG" predict --quiet --force --model "$dir/model_run/model.json" --input "$input" --out "$dir/labels.csv"
    echo "run.sh:   cardseg inspect (rep $r)" >&2
    measure "$dir/inspect.r$r" "$CARDSEG" inspect --json --input "$input"
    echo "run.sh:   predict split (rep $r)" >&2
    measure "$dir/split.r$r" "$exe" --model "$dir/model_run/model.json" --input "$input" --out "$dir/labels_split.csv"
  done
  rm -f "$dir/labels.csv" "$dir/labels_split.csv"
}

mode_micro() {
  mkdir -p "$RUN/micro"
  measure "$RUN/micro/criterion" cargo bench --quiet --bench kernels
}

"mode_$mode"
report
