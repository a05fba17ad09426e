#!/usr/bin/env bash
# Two cardseg binaries side by side on the same generated customers: `run` end to end (and
# `predict`), alternating A and B so machine noise hits both alike; prints the medians and
# the ratio B/A. Used for issue 15 (a refactor must not slow the 1M run down).
#   usage: bench/binaries.sh OLD_BIN NEW_BIN [ROWS=1000000] [REPS=5]
set -euo pipefail
a=$1; b=$2; rows=${3:-1000000}; reps=${4:-5}
w=$(mktemp -d /tmp/cardseg-binaries-XXXX); trap 'rm -rf "$w"' EXIT
"$a" --quiet generate --rows "$rows" --seed 11 --out "$w/c.csv"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg); rows: $rows; reps: $reps; $(date -u +%FT%TZ)"
time_of() { # bin args... -> seconds
  local s e; s=$(date +%s.%N); "$@" > /dev/null; e=$(date +%s.%N); echo "$e - $s" | bc
}
declare -a ra rb pa pb
for i in $(seq "$reps"); do
  for side in a b; do
    bin=${!side}; rm -rf "$w/o$side" "$w/p$side.csv"
    t=$(time_of "$bin" --quiet run --input "$w/c.csv" --out "$w/o$side" --seed 7)
    p=$(time_of "$bin" --quiet predict --model "$w/o$side/model.json" --input "$w/c.csv" --out "$w/p$side.csv")
    if [ $side = a ]; then ra+=("$t"); pa+=("$p"); else rb+=("$t"); pb+=("$p"); fi
  done
done
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'; }
for what in run predict; do
  if [ $what = run ]; then ma=$(median "${ra[@]}"); mb=$(median "${rb[@]}"); else ma=$(median "${pa[@]}"); mb=$(median "${pb[@]}"); fi
  printf '%-8s A %.3f s  B %.3f s  B/A %.3f\n' "$what" "$ma" "$mb" "$(echo "$mb / $ma" | bc -l)"
done
cmp -s "$w/oa/labels.csv" "$w/ob/labels.csv" && echo "labels.csv identical" || echo "labels.csv DIFFER"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
