"""MPI efficiency on one machine: the same cohort with 1 and with 2 ranks, one thread each.

usage: mpi_efficiency.py NEUROCOHORT MANIFEST WORK_DIR [--model M.pt]

Runs `neurocohort run` three ways — one process with one thread (the baseline), `mpirun -np 2
--coordinator-works` with one thread per rank (rank 0 hands out scans and processes them too),
and one process with two threads (what the cores give without MPI) — checks that all three
results files hold the same volumes, and prints scans per minute, the np = 2 / np = 1 ratio
(issue target: at least 1.7 on 2 cores) and the same as JSON.
"""
import argparse
import json
import os
import shutil
import subprocess
import time

import h5py
import numpy as np

MPIRUN = ["mpirun", "-np", "2", "--oversubscribe", "--bind-to", "none"]


def timed_run(binary, manifest, out, threads, model, launcher=(), extra=()):
    command = [*launcher, binary, "run", manifest, "--out", out, "--threads", str(threads), *extra]
    if model:
        command += ["--model", model]
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, text=True,
                   env=dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1"))
    return time.perf_counter() - start


def volumes(path):
    with h5py.File(path) as f:
        assert all(s == b"ok" or s == "ok" for s in f["scans/status"][()]), f"{path}: not every scan ok"
        return f["metrics/volume_ml"][()]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("neurocohort")
    parser.add_argument("manifest")
    parser.add_argument("work")
    parser.add_argument("--model")
    args = parser.parse_args()
    shutil.rmtree(args.work, ignore_errors=True)
    os.makedirs(args.work)
    with open(args.manifest) as f:
        scans = sum(1 for line in f if line.strip()) - 1

    out = {name: os.path.join(args.work, name + ".h5") for name in ("np1_t1", "np2_t1", "np1_t2")}
    seconds = {
        "np1_t1": timed_run(args.neurocohort, args.manifest, out["np1_t1"], 1, args.model),
        "np2_t1": timed_run(args.neurocohort, args.manifest, out["np2_t1"], 1, args.model, MPIRUN,
                            ["--coordinator-works"]),
        "np1_t2": timed_run(args.neurocohort, args.manifest, out["np1_t2"], 2, args.model),
    }
    reference = volumes(out["np1_t1"])
    for name in ("np2_t1", "np1_t2"):
        np.testing.assert_array_equal(volumes(out[name]), reference, err_msg=f"{name} volumes differ")
    rate = {k: 60 * scans / s for k, s in seconds.items()}
    result = {"scans": scans, "seconds": seconds, "scans_per_minute": rate,
              "np2_over_np1": rate["np2_t1"] / rate["np1_t1"], "threads2_over_threads1": rate["np1_t2"] / rate["np1_t1"]}
    print(f"{'configuration':<36} {'seconds':>8} {'scans/min':>10}")
    for name, label in (("np1_t1", "1 rank, 1 thread"), ("np2_t1", "2 ranks (coordinator works), 1 thread each"),
                        ("np1_t2", "1 rank, 2 threads")):
        print(f"{label:<36} {seconds[name]:8.1f} {rate[name]:10.2f}")
    print(f"np = 2 / np = 1: {result['np2_over_np1']:.2f}x (target >= 1.7); "
          f"2 threads / 1 thread: {result['threads2_over_threads1']:.2f}x")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
