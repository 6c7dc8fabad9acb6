#!/usr/bin/env bash
# The demo chain (`make demo`): synthesize a small CT + MR cohort from Colin27/AAL, validate it,
# and summarise it. Later stages (run, norms) join the chain as they land.
#   usage: scripts/demo.sh NEUROCOHORT_BINARY DEMO_DIR
set -euo pipefail
bin=$1
dir=$2
subjects=${DEMO_SUBJECTS:-20}

rm -rf "$dir"
"$bin" synth --out "$dir/cohort" --n "$subjects" --seed 1 --modality both
"$bin" check "$dir/cohort/manifest.tsv"

echo
echo "Demo cohort: $dir/cohort ($subjects subjects; manifest.tsv, effects.tsv, true_volumes.tsv)"
echo "True volumes (mL), mean by sex:"
awk -F'\t' '
  NR == 1 { for (c = 7; c <= NF; ++c) name[c] = $c; last = NF; next }
  { n[$4]++; for (c = 7; c <= last; ++c) sum[$4, c] += $c }
  END {
    printf "  %-12s %10s %10s\n", "region", "F (n=" n["F"] ")", "M (n=" n["M"] ")"
    for (c = 7; c <= last; ++c)
      printf "  %-12s %10.1f %10.1f\n", name[c], n["F"] ? sum["F", c] / n["F"] : 0, n["M"] ? sum["M", c] / n["M"] : 0
  }' "$dir/cohort/true_volumes.tsv"
