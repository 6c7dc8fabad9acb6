#!/usr/bin/env bash
# The shipped model against the synthetic cohort's planted effects (`make validate`, about
# 7 minutes on 2 cores): synthesize 60 CT + MR subjects, run them with the default model,
# then require every effect that the true volumes show at p < 0.05 (age, sex, group per
# region and ICV; left/right asymmetry per lobe) to show with the same sign and significance
# in the model's volumes (tests/norms/check_model_volumes.py prints both side by side).
#   usage: scripts/validate_model.sh NEUROCOHORT_BINARY DIR
set -euo pipefail
bin=$1
dir=$2
subjects=${VALIDATE_SUBJECTS:-60}
here=$(cd "$(dirname "$0")" && pwd)

mkdir -p "$dir"
[ -f "$dir/cohort/manifest.tsv" ] || "$bin" synth --out "$dir/cohort" --n "$subjects" --seed 21 --modality both
"$bin" run "$dir/cohort/manifest.tsv" --out "$dir/results.h5" --resume
/usr/bin/python3 "$here/../tests/norms/check_model_volumes.py" --neurocohort "$bin" --results "$dir/results.h5" \
  --truth "$dir/cohort/true_volumes.tsv" --work "$dir/check"
