"""Integration tests of `neurocohort slurm submit|status` and `neurocohort merge` against a
real local Slurm cluster (slurmctld + slurmd + munged, started by tests/slurm/local_slurm.sh
in a ctest fixture; SLURM_CONF points at it).

usage: slurm_test.py BINARY SYNTH_DIR MODEL WORK_DIR SCENARIO
scenarios:
  submit_equals_direct  one batch job; its RESULTS.h5 equals a direct `run` of the manifest
  array_merge           --array 3: three chunk jobs and a merge job (afterok); the merged file
                        equals the direct run, scan by scan; merge refuses conflicting inputs
  checkpoint_requeue    a job whose time limit ends mid-cohort is warned (USR1), checkpoints,
                        requeues itself and completes with every scan ok and nothing lost
  bad_input             no sbatch on PATH, malformed --time, unknown partition, unwritable
                        --out, --dry-run: one clear line each, nothing submitted
"""
import json
import os
import re
import shutil
import subprocess
import sys
import time

import h5py
import numpy as np

BINARY, SYNTH, MODEL, WORK, SCENARIO = sys.argv[1:6]
TIMEOUT_S = 420


def text(dataset):
    return [v.decode() if isinstance(v, bytes) else v for v in dataset[:]]


def mr_cohort(folder, n):
    """n rows of the fixture's MR scan under distinct ids: equal work, equal results."""
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    for sub in ("images", "labels"):  # hard links: a symlink out of the folder needs --allow-external-paths
        shutil.copytree(os.path.join(SYNTH, sub), os.path.join(folder, sub), copy_function=os.link)
    manifest = os.path.join(folder, "manifest.tsv")
    with open(manifest, "w") as f:
        f.write("scan_id\timage\tmodality\tage\tsex\tlabels\n")
        for i in range(n):
            f.write(f"mr-{i:02d}\timages/sub-0002.nii.gz\tMR\t{3 + i}\t{'FM'[i % 2]}\tlabels/sub-0002.nii.gz\n")
    return manifest


def nc(*args, check=True, env=None):
    r = subprocess.run([BINARY, *args], capture_output=True, text=True, env=env)
    if check and r.returncode != 0:
        raise AssertionError(f"neurocohort {' '.join(args)}: exit {r.returncode}\n{r.stdout}\n{r.stderr}")
    return r


def submit(manifest, out, *extra):
    r = nc("slurm", "submit", manifest, "--out", out, "--model", MODEL, "--cpus-per-task", "1", "--time", "10",
           *extra)
    return r.stdout.strip().splitlines()[-1]  # the run job's id


def job_state(job_id):
    r = subprocess.run(["scontrol", "-o", "show", "job", job_id], capture_output=True, text=True)
    states = re.findall(r"JobState=(\S+)", r.stdout)
    return states, r.stdout


def wait_for(job_ids, timeout=TIMEOUT_S):
    """Until none of the jobs (or their array tasks) is pending or running; returns final states."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        active = subprocess.run(["squeue", "-h", "-j", ",".join(job_ids), "-o", "%i %T"], capture_output=True,
                                text=True).stdout.split("\n")
        if not any(line.strip() for line in active):
            return {j: job_state(j)[0] for j in job_ids}
        time.sleep(2)
    raise AssertionError(f"jobs {job_ids} still active after {timeout} s:\n" +
                         subprocess.run(["squeue"], capture_output=True, text=True).stdout)


def results_by_scan(path):
    with h5py.File(path) as f:
        ids = text(f["scans/scan_id"])
        status = text(f["scans/status"])
        volumes = f["metrics/volume_ml"][:]
        dice = f["metrics/dice"][:]
    return {i: (s, v, d) for i, s, v, d in zip(ids, status, volumes, dice)}


def assert_same_by_scan(a, b):
    ra, rb = results_by_scan(a), results_by_scan(b)
    assert sorted(ra) == sorted(rb), f"different scans: {sorted(ra)} vs {sorted(rb)}"
    for scan in ra:
        assert ra[scan][0] == rb[scan][0] == "ok", f"{scan}: status {ra[scan][0]} / {rb[scan][0]}"
        np.testing.assert_array_equal(ra[scan][1], rb[scan][1], err_msg=f"{scan} volume_ml")
        np.testing.assert_array_equal(ra[scan][2], rb[scan][2], err_msg=f"{scan} dice")


def direct_run(manifest, out):
    nc("run", manifest, "--out", out, "--model", MODEL, "--threads", "1")
    return out


def log_text(out_dir):
    logs = os.path.join(out_dir, "logs")
    return "".join(open(os.path.join(logs, f)).read() for f in sorted(os.listdir(logs)))


def submit_equals_direct():
    folder = os.path.join(WORK, "single")
    manifest = mr_cohort(folder, 3)
    out = os.path.join(folder, "slurm")
    job = submit(manifest, out)
    states = wait_for([job])
    assert states[job] in ([], ["COMPLETED"]), f"job {job}: {states[job]}\n{log_text(out)}"
    assert_same_by_scan(os.path.join(out, "results.h5"), direct_run(manifest, os.path.join(folder, "direct.h5")))
    status = nc("slurm", "status", out).stdout
    assert "3/3 ok" in status and job in status, status
    print(status)


def array_merge():
    folder = os.path.join(WORK, "array")
    manifest = mr_cohort(folder, 5)
    out = os.path.join(folder, "slurm")
    job = submit(manifest, out, "--array", "3")
    with open(os.path.join(out, "jobs.json")) as f:
        jobs = json.load(f)["jobs"]
    assert [j["kind"] for j in jobs] == ["array", "merge"], jobs
    merge_job = jobs[1]["id"]
    states = wait_for([job, merge_job])
    merged = os.path.join(out, "results.h5")
    assert os.path.exists(merged), f"no merged results; states {states}\n{log_text(out)}"
    assert_same_by_scan(merged, direct_run(manifest, os.path.join(folder, "direct.h5")))
    status = nc("slurm", "status", out).stdout
    assert "5/5 ok" in status, status
    print(status)

    # The same scan with different results in two inputs (here: another image under the same
    # scan_id, same model) is an error unless --prefer-latest.
    other = mr_cohort(os.path.join(folder, "other"), 2)
    rows = open(other).read().splitlines()
    rows[1] = "mr-00\timages/sub-0001.nii.gz\tCT\t3\tF\tlabels/sub-0001.nii.gz"
    with open(other, "w") as f:
        f.write("\n".join(rows) + "\n")
    other_results = direct_run(other, os.path.join(folder, "other.h5"))
    conflict = nc("merge", merged, other_results, "--out", os.path.join(folder, "conflict.h5"), check=False)
    assert conflict.returncode == 2 and "mr-00 has different results" in conflict.stderr, conflict.stderr
    nc("merge", merged, other_results, "--out", os.path.join(folder, "latest.h5"), "--prefer-latest")
    latest = results_by_scan(os.path.join(folder, "latest.h5"))
    np.testing.assert_array_equal(latest["mr-00"][1], results_by_scan(other_results)["mr-00"][1])
    print("merge: conflict refused, --prefer-latest takes the later file")


def checkpoint_requeue():
    folder = os.path.join(WORK, "requeue")
    manifest = mr_cohort(folder, 24)
    out = os.path.join(folder, "slurm")
    # One minute of time limit, the warning 30 s before it: the cohort takes longer than that.
    job = nc("slurm", "submit", manifest, "--out", out, "--model", MODEL, "--cpus-per-task", "1", "--time", "1",
             "--checkpoint-seconds", "30").stdout.strip().splitlines()[-1]
    wait_for([job], timeout=600)
    log = log_text(out)
    assert "checkpointing" in log and "requeueing job" in log, f"no checkpoint in the log:\n{log}"
    restarts = re.findall(r"Restarts=(\d+)", job_state(job)[1])
    with h5py.File(os.path.join(out, "results.h5")) as f:
        status = text(f["scans/status"])
    assert status == ["ok"] * 24, f"statuses after requeue: {status}\n{log}"
    print(f"requeued {restarts} time(s); 24/24 scans ok")


def bad_input():
    folder = os.path.join(WORK, "bad")
    manifest = mr_cohort(folder, 2)
    cases = [
        (["--out", os.path.join(folder, "a"), "--time", "1:2:3:4"], None, "is not a Slurm time limit"),
        (["--out", os.path.join(folder, "b"), "--partition", "nosuch"], None, "invalid partition"),
        (["--out", os.path.join(manifest, "inside_a_file")], None, "cannot create the folder"),
        (["--out", os.path.join(folder, "c")], {"PATH": "/nonexistent"}, "sbatch is not on PATH"),
    ]
    for args, env_change, expected in cases:
        env = dict(os.environ, **(env_change or {}))
        r = nc("slurm", "submit", manifest, *args, check=False, env=env)
        lines = [line for line in r.stderr.splitlines() if line.strip()]
        assert r.returncode != 0 and len(lines) == 1 and expected in lines[0], \
            f"{args}: exit {r.returncode}, stderr {r.stderr!r}, expected one line with {expected!r}"
        print(f"ok: {lines[0]}")
    dry = nc("slurm", "submit", manifest, "--out", os.path.join(folder, "dry"), "--dry-run", "--array", "2",
             "--partition", "debug", "--account", "lab", "--gpus-per-node", "4", "--nodes", "2",
             "--precision", "bf16")
    for expected in ("#SBATCH --signal=B:USR1@", "#SBATCH --requeue", "#SBATCH --gpus-per-node=4",
                     "#SBATCH --ntasks-per-node=4", "#SBATCH --account=lab", "#SBATCH --array=0-1",
                     "--dependency=afterok", " merge ", "'--precision' 'bf16'"):
        assert expected in dry.stdout, f"--dry-run output lacks {expected!r}:\n{dry.stdout}"
    assert not os.path.exists(os.path.join(folder, "dry", "jobs.json")), "--dry-run submitted something"
    print("ok: --dry-run prints the scripts and submits nothing")


if __name__ == "__main__":
    {"submit_equals_direct": submit_equals_direct, "array_merge": array_merge,
     "checkpoint_requeue": checkpoint_requeue, "bad_input": bad_input}[SCENARIO]()
    print(SCENARIO, "passed")
