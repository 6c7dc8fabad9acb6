#!/usr/bin/env bash
# Stages .gpu/ for the GPU machine's one-call check (../shared/gpu/README.md): the shared
# prepare.sh (ITK, oneTBB, libdeflate, jemalloc, verify.sh), plus mricron-data, which that
# machine lacks too: `synth` builds its cohort from Colin27 and AAL, and the GPU tests read
# Colin27. on-device.sh unpacks every staged package into /opt/ncdeps, where CMake finds the
# templates (NEUROCOHORT_TEMPLATE_DIR, cmake/NeurocohortDependencies.cmake).
set -euo pipefail
root=$(git rev-parse --show-toplevel)
bash "$root/../shared/gpu/prepare.sh"
cd "$root/.gpu/debs"
if ! apt-get download mricron-data >/dev/null 2>&1; then
  apt-get update -qq && apt-get download mricron-data >/dev/null
fi
echo "staged mricron-data; .gpu/ is now $(du -sh "$root/.gpu" | cut -f1)"
