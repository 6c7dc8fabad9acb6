#!/usr/bin/env bash
# The demo chain (`make demo`): synthesize a CT + MR cohort from Colin27/AAL, validate it, run it
# end to end with the default model into one HDF5 cohort store, and summarise Dice and volumes.
#   usage: scripts/demo.sh NEUROCOHORT_BINARY DEMO_DIR
set -euo pipefail
bin=$1
dir=$2
subjects=${DEMO_SUBJECTS:-20}
here=$(cd "$(dirname "$0")" && pwd)

rm -rf "$dir"
"$bin" synth --out "$dir/cohort" --n "$subjects" --seed 1 --modality both
"$bin" check "$dir/cohort/manifest.tsv"
"$bin" run "$dir/cohort/manifest.tsv" --out "$dir/results.h5" --export-nifti "$dir/labels"

echo
echo "Demo: $dir/cohort ($subjects subjects), results in $dir/results.h5, label maps in $dir/labels"
/usr/bin/python3 "$here/demo_summary.py" "$dir/results.h5" "$dir/cohort/true_volumes.tsv"
