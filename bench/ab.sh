#!/usr/bin/env bash
# Old and new cardseg binaries alternating on one input (and optionally the scikit-learn
# reference once per round), each run under /usr/bin/time; prints one line per run
# ("name wall user sys maxrss_kb") and the medians. Noisy machines: compare within one run.
#
#   bash bench/ab.sh OLD_BIN NEW_BIN INPUT.csv [ROUNDS=5] [RUNS_PER_ROUND=4] [--sklearn]
set -euo pipefail
old=$1 new=$2 input=$3 rounds=${4:-5} per=${5:-4} sk=${6:-}
root=$(cd "$(dirname "$0")/.." && pwd)
py=${PYTHON:-$root/.venv/bin/python}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
uptime
for _ in $(seq 1 "$rounds"); do
  for name in new old; do
    bin=$new; [ "$name" = old ] && bin=$old
    for _ in $(seq 1 "$per"); do
      rm -rf "$work/$name"
      /usr/bin/time -f "$name %e %U %S %M" "$bin" run --input "$input" --out "$work/$name" --quiet 2>&1 | tail -1
    done
  done
  if [ "$sk" = --sklearn ]; then
    rm -rf "$work/sk"
    /usr/bin/time -f "sklearn %e %U %S %M" "$py" "$root/bench/sklearn_pipeline.py" --input "$input" --out "$work/sk" 2>&1 >/dev/null | tail -1
  fi
done | tee "$work/runs"
uptime
"$py" - "$work/runs" <<'PY'
import statistics as st, sys
runs = {}
for line in open(sys.argv[1]):
    p = line.split()
    if len(p) == 5:
        runs.setdefault(p[0], []).append((float(p[1]), float(p[2]) + float(p[3]), int(p[4])))
for name, v in runs.items():
    print(f"{name}: {len(v)} runs, wall median {st.median(x[0] for x in v):.3f} s, CPU median "
          f"{st.median(x[1] for x in v):.3f} s, peak RSS median {st.median(x[2] for x in v) / 1024:.0f} MB")
if "sklearn" in runs:
    sk = st.median(x[0] for x in runs["sklearn"])
    for name in ("new", "old"):
        print(f"scikit-learn / {name}: {sk / st.median(x[0] for x in runs[name]):.1f}x wall")
PY
