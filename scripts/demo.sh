#!/usr/bin/env bash
# The demo chain (`make demo`): synthesize a CT + MR cohort from Colin27/AAL, validate it, run it
# end to end with the default model into one HDF5 cohort store, summarise Dice and volumes, then
# build the statistics and the HTML report (model volumes against the true volumes) and score
# the cohort against a normative reference built from 400 synthetic subjects' true volumes, and
# end with the QC page (flags, snapshots) beside the report.
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

echo
"$bin" norms build "$dir/results.h5" --out "$dir/norms.h5" --tsv "$dir/tables" \
  --compare "$dir/cohort/true_volumes.tsv" --report "$dir/report.html"
"$bin" synth --out "$dir/reference" --n 400 --seed 2 --volumes-only
"$bin" norms build "$dir/reference/true_volumes.tsv" --out "$dir/reference_norms.h5"
"$bin" norms score "$dir/results.h5" --reference "$dir/reference_norms.h5" --out "$dir/scores.tsv"
# 10 scans per modality: too few for the cohort outlier rules, so volumes are judged against the reference.
"$bin" qc "$dir/results.h5" --out "$dir/qc" --images --reference "$dir/reference_norms.h5"
echo
echo "Statistics: $dir/tables/*.tsv and $dir/norms.h5; z-scores against the reference: $dir/scores.tsv"
echo "Report: $dir/report.html"
echo "QC page: $dir/qc/index.html (qc.tsv beside it)"
