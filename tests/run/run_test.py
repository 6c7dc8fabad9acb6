"""Integration tests of `neurocohort run` with the real binary, a real TorchScript model
(trained for two iterations by models/train.py in a ctest fixture) and h5py reading the store.

usage: run_test.py BINARY SYNTH_DIR MODEL WORK_DIR SCENARIO
scenarios: end_to_end, resume_after_sigkill, sigint_then_resume,
           mpi_equals_single, mpi_balances_uneven_costs, mpi_rank_killed_then_resume,
           bf16_matches_fp32 (the shipped model, not the fixture's), and the hardening cases
           hostile_inputs, resume_refuses_other_model_or_manifest, crashed_scan_is_not_retried,
           overwrite_while_running, unwritable_outputs_fail_first, mpi_rank_fails_in_setup,
           mpi_coordinator_killed_then_resume
The mpi_ scenarios start the binary under a real `mpirun -np 3 --oversubscribe`.
"""
import json
import resource
import os
import shutil
import signal
import subprocess
import sys
import time

import h5py
import nibabel
import numpy as np

BINARY, SYNTH, MODEL, WORK, SCENARIO = sys.argv[1:6]


def write_manifest(path, rows):
    with open(path, "w") as f:
        f.write("scan_id\timage\tmodality\tage\tsex\tlabels\n")
        for r in rows:
            f.write("\t".join(r) + "\n")


def link_images(folder):
    """The fixture's images, hard-linked into `folder` so manifests there may name them (a
    symlink out of the manifest's folder would need --allow-external-paths)."""
    for sub in ("images", "labels"):
        target = os.path.join(folder, sub)
        if not os.path.exists(target):
            shutil.copytree(os.path.join(SYNTH, sub), target, copy_function=os.link)


def mr_cohort(folder, n):
    """n rows of the fixture's MR scan under distinct ids: equal work, equal results."""
    os.makedirs(folder, exist_ok=True)
    link_images(folder)
    manifest = os.path.join(folder, "manifest.tsv")
    write_manifest(manifest, [(f"mr-{i}", "images/sub-0002.nii.gz", "MR", str(3 + i), "F", "labels/sub-0002.nii.gz")
                              for i in range(n)])
    return manifest


MPIRUN = ["mpirun", "-np", "3", "--oversubscribe"]


def run(manifest, out, *extra, check=None, launcher=()):
    r = subprocess.run([*launcher, BINARY, "run", manifest, "--out", out, "--model", MODEL, "--progress-every", "1", *extra],
                       capture_output=True, text=True)
    if check is not None:
        assert r.returncode == check, f"exit {r.returncode}, expected {check}\n{r.stdout}\n{r.stderr}"
    return r


def text(dataset):
    return [v.decode() if isinstance(v, bytes) else v for v in dataset[:]]


def rank_pid(launcher_pid, rank):
    """The process of MPI rank `rank` among the launcher's children (Open MPI's environment)."""
    for pid in subprocess.run(["pgrep", "-P", str(launcher_pid)], capture_output=True, text=True).stdout.split():
        with open(f"/proc/{pid}/environ", "rb") as f:
            if f"OMPI_COMM_WORLD_RANK={rank}".encode() in f.read().split(b"\0"):
                return int(pid)
    raise AssertionError(f"no process of rank {rank} under {launcher_pid}")


def start_then_signal(manifest, out, sig, after_done, launcher=(), rank=None):
    """Starts a run and sends `sig` once `after_done` scans are reported done: to the run, or
    under MPI to the process of one rank."""
    p = subprocess.Popen([*launcher, BINARY, "run", manifest, "--out", out, "--model", MODEL, "--progress-every", "1"],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    log, ranks = [], []
    for line in p.stdout:
        log.append(line)
        if f"run: {after_done}/" in line:
            if rank is None:
                os.kill(p.pid, sig)
            else:
                ranks = [rank_pid(p.pid, r) for r in range(3)]
                os.kill(ranks[rank], sig)
            break
    rest = p.stdout.read()
    p.wait()
    for pid in ranks:  # the launcher may return before every rank is gone (and its file lock with it)
        for _ in range(600):
            if not os.path.exists(f"/proc/{pid}"):
                break
            time.sleep(0.1)
    return p.returncode, "".join(log) + rest


def assert_same_results(a, b):
    with h5py.File(a) as fa, h5py.File(b) as fb:
        assert text(fa["scans/status"]) == text(fb["scans/status"])
        assert text(fa["scans/scan_id"]) == text(fb["scans/scan_id"])
        for metric in ("volume_ml", "dice", "hd95_mm"):
            np.testing.assert_array_equal(fa["metrics/" + metric][:], fb["metrics/" + metric][:])
        assert sorted(fa["labels"].keys()) == sorted(fb["labels"].keys())
        for scan in fa["labels"]:
            np.testing.assert_array_equal(fa["labels/" + scan][:], fb["labels/" + scan][:])


def check_status(results, counts, failed_scan=None, ranks=None):
    """`neurocohort status` agrees with what h5py reads from the same file."""
    r = subprocess.run([BINARY, "status", results, "--bins", "4"], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout
    total = sum(counts.values())
    assert f"{total} scans: {counts['ok']} ok, {counts['failed']} failed, {counts['pending']} pending" in out, out
    if failed_scan:
        assert "failures by reason:" in out and f"e.g. {failed_scan}: " in out, out
    assert "seconds per scan by stage: read " in out and "in 4 bins of" in out, out
    with h5py.File(results) as f:
        hosts, seen_ranks = text(f["scans/host"]), f["scans/rank"][:]
        finished = np.isfinite(f["timing/finished_at"][:])
    table = out.split("scans/min by host and rank")[1].splitlines()[2:]  # past the title and the header
    rows = [line.split() for line in table]
    assert all(len(row) == 8 for row in rows), out
    per_worker = {(h, int(k)): int(n) for h, k, n, *_ in rows}
    expected = {}
    for h, k, done in zip(hosts, seen_ranks, finished):
        if done:
            expected[(h, int(k))] = expected.get((h, int(k)), 0) + 1
    assert per_worker == expected, (per_worker, expected, out)
    if ranks is not None:
        assert {k for _, k in per_worker} == ranks, out


def end_to_end():
    folder = os.path.join(WORK, "end_to_end")
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    link_images(folder)
    with open(os.path.join(folder, "broken.nii.gz"), "wb") as f:
        f.write(open(os.path.join(SYNTH, "images", "sub-0002.nii.gz"), "rb").read()[:100000])
    manifest = os.path.join(folder, "manifest.tsv")
    write_manifest(manifest, [
        ("ct", "images/sub-0001.nii.gz", "CT", "3.0", "F", "labels/sub-0001.nii.gz"),
        ("broken", "broken.nii.gz", "MR", "4.0", "M", ""),
        ("mr", "images/sub-0002.nii.gz", "MR", "10.9", "F", "labels/sub-0002.nii.gz"),
    ])
    out = os.path.join(folder, "results.h5")
    exported = os.path.join(folder, "nifti")
    timings = os.path.join(folder, "timings.json")
    r = run(manifest, out, "--export-nifti", exported, "--timings", timings, check=1)  # one scan failed
    assert "broken failed: read:" in r.stdout + r.stderr, r.stdout + r.stderr
    with open(timings) as f:
        t = json.load(f)
    assert t["scans"] == 3 and t["wall_seconds"] > 0 and t["scans_per_minute"] > 0, t
    assert set(t["stage_seconds_per_scan"]) == {"read", "preprocess", "infer", "measure", "write"}, t
    assert t["stage_seconds_per_scan"]["infer"] > 0, t
    # The CPU backend copies nothing to a device.
    assert t["transfer_bytes_per_scan"] == {"host_to_device": 0, "device_to_host": 0}, t
    with h5py.File(out) as f:
        assert text(f["scans/status"]) == ["ok", "failed", "ok"]
        assert "broken.nii.gz" in text(f["scans/error"])[1]
        assert list(text(f["regions/name"]))[:2] == ["frontal_L", "frontal_R"]
        volumes, dice = f["metrics/volume_ml"][:], f["metrics/dice"][:]
        assert np.isnan(volumes[1]).all() and np.isfinite(volumes[[0, 2]]).all()
        assert ((dice[[0, 2]] >= 0) & (dice[[0, 2]] <= 1)).all()
        labels_ids = f["regions/label"][:]
        for row, scan in ((0, "ct"), (2, "mr")):
            labels = f["labels/" + scan][:]
            image = nibabel.load(os.path.join(SYNTH, "images", f"sub-000{1 if scan == 'ct' else 2}.nii.gz"))
            # Stored on the scan's native grid, [k][j][i] as neurocohort lays volumes out.
            assert labels.shape == image.shape[::-1], (labels.shape, image.shape)
            voxel_ml = float(np.prod(image.header.get_zooms()[:3])) / 1000.0
            counts = np.array([(labels == l).sum() for l in labels_ids]) * voxel_ml
            np.testing.assert_allclose(volumes[row], counts, rtol=1e-4)
            exported_map = np.asarray(nibabel.load(os.path.join(exported, scan + "_labels.nii.gz")).dataobj)
            np.testing.assert_array_equal(exported_map.transpose(2, 1, 0), labels)
        assert f["scans/icv_ml"][0] > 500
        assert f.attrs["model_sha256"] and f.attrs["end_time"]
        # Each scan's own account: start, end and seconds per stage, summing to its seconds.
        assert text(f["timing/stages"]) == ["read", "preprocess", "infer", "measure"]
        started, finished = f["timing/started_at"][:], f["timing/finished_at"][:]
        stage_seconds, seconds = f["timing/stage_seconds"][:], f["scans/seconds"][:]
        assert (finished >= started).all() and (finished - started <= time.time()).all(), (started, finished)
        np.testing.assert_allclose(stage_seconds.sum(axis=1), seconds, rtol=1e-9)
        assert (finished - started >= seconds - 1e-6).all(), (finished - started, seconds)
    check_status(out, {"ok": 2, "failed": 1, "pending": 0}, failed_scan="broken")
    # A second run into the same file is refused without --resume or --overwrite.
    r = run(manifest, out, check=2)
    assert "--resume" in r.stderr, r.stderr


def kill_then_resume(name, launcher=(), rank=None, resume_flags=()):
    """A clean run, then a run SIGKILLed (the run, or one MPI rank) after two scans, resumed:
    the resumed file equals the clean one, every scan exactly once."""
    folder = os.path.join(WORK, name)
    shutil.rmtree(folder, ignore_errors=True)
    manifest = mr_cohort(folder, 6)
    clean = os.path.join(folder, "clean.h5")
    run(manifest, clean, check=0)
    killed = os.path.join(folder, "killed.h5")
    code, log = start_then_signal(manifest, killed, signal.SIGKILL, 2, launcher=launcher, rank=rank)
    # A killed run dies of the signal; under MPI, Open MPI ends the job when a rank dies.
    assert code == -signal.SIGKILL if rank is None else code != 0, (code, log)
    with h5py.File(killed) as f:
        statuses = text(f["scans/status"])
    assert 2 <= statuses.count("ok") < 6, statuses
    r = run(manifest, killed, "--resume", *resume_flags, check=0, launcher=launcher)
    assert f"{6 - statuses.count('ok')} to do" in r.stdout, r.stdout
    assert_same_results(clean, killed)


def resume_after_sigkill():
    kill_then_resume("kill")


def sigint_then_resume():
    folder = os.path.join(WORK, "sigint")
    shutil.rmtree(folder, ignore_errors=True)
    manifest = mr_cohort(folder, 6)
    out = os.path.join(folder, "results.h5")
    code, log = start_then_signal(manifest, out, signal.SIGINT, 1)
    assert code == 128 + signal.SIGINT, (code, log)
    assert "Continue with --resume" in log, log
    with h5py.File(out) as f:
        statuses = text(f["scans/status"])
    assert "pending" in statuses and "ok" in statuses and "failed" not in statuses, statuses
    run(manifest, out, "--resume", check=0)
    with h5py.File(out) as f:
        assert text(f["scans/status"]) == ["ok"] * 6


def mpi_equals_single():
    folder = os.path.join(WORK, "mpi_equal")
    shutil.rmtree(folder, ignore_errors=True)
    manifest = mr_cohort(folder, 5)
    single, distributed = os.path.join(folder, "np1.h5"), os.path.join(folder, "np3.h5")
    run(manifest, single, check=0)
    run(manifest, distributed, "--threads", "1", check=0, launcher=MPIRUN)
    assert_same_results(single, distributed)
    with h5py.File(distributed) as f:
        assert set(f["scans/rank"][:]) == {1, 2}, f["scans/rank"][:]  # rank 0 only coordinates
    check_status(distributed, {"ok": 5, "failed": 0, "pending": 0}, ranks={1, 2})


def write_cropped(source, target, half_width):
    """A cube of 2·half_width voxels from the centre of `source`, with its true position kept."""
    image = nibabel.load(source)
    centre = [n // 2 for n in image.shape[:3]]
    corner = [c - half_width for c in centre]
    window = tuple(slice(c, c + 2 * half_width) for c in corner)
    affine = image.affine.copy()
    affine[:3, 3] = image.affine[:3, :3] @ np.array(corner) + image.affine[:3, 3]
    nibabel.save(nibabel.Nifti1Image(np.asanyarray(image.dataobj)[window], affine, image.header), target)


def mpi_balances_uneven_costs():
    """Slow CT scans on the even rows, fast small MR scans (the centre 96³ of the fixture's MR)
    on the odd rows, one scan in flight per worker. A static split by row would give every CT
    scan to one worker; with work pulled on demand the worker busy with the first CT scan is
    still busy when the second is handed out, so both workers get CT scans."""
    folder = os.path.join(WORK, "mpi_uneven")
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    link_images(folder)
    for sub in ("images", "labels"):
        write_cropped(os.path.join(SYNTH, sub, "sub-0002.nii.gz"), os.path.join(folder, f"small-mr-{sub}.nii.gz"), 48)
    manifest = os.path.join(folder, "manifest.tsv")
    rows = []
    for i in range(3):
        rows.append((f"ct-{i}", "images/sub-0001.nii.gz", "CT", "3", "F", "labels/sub-0001.nii.gz"))
        rows.append((f"mr-{i}", "small-mr-images.nii.gz", "MR", "5", "M", "small-mr-labels.nii.gz"))
    write_manifest(manifest, rows)
    out = os.path.join(folder, "results.h5")
    run(manifest, out, "--threads", "1", "--in-flight", "1", check=0, launcher=MPIRUN)
    with h5py.File(out) as f:
        ranks, seconds = list(f["scans/rank"][:]), f["scans/seconds"][:]
    assert seconds[0::2].min() > seconds[1::2].max(), seconds  # the CT scans are the slow ones
    assert set(ranks[0::2]) == {1, 2}, ranks


def mpi_rank_killed_then_resume():
    kill_then_resume("mpi_kill", launcher=MPIRUN, rank=1, resume_flags=("--threads", "1"))


def mpi_coordinator_killed_then_resume():
    """SIGKILL of rank 0, the writer, mid-run: every row that reads ok is complete, and the
    resumed file equals a clean run's."""
    kill_then_resume("mpi_kill0", launcher=MPIRUN, rank=0, resume_flags=("--threads", "1"))


def hostile_inputs():
    """Files that once crashed the process inside ITK, read outside the cohort or were stored as
    `ok` although corrupt: each scan fails with its reason, the good scan is measured, and
    `check` names the same scans before any work."""
    folder = os.path.join(WORK, "hostile")
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    link_images(folder)
    header = "ObjectType = Image\nNDims = 3\nDimSize = 8 8 8\nElementSpacing = 1 1 1\nElementType = MET_SHORT\n"
    with open(os.path.join(folder, "pattern.mhd"), "w") as f:
        f.write(header + "ElementDataFile = /proc/self/%s 1 100 1\n")
    with open(os.path.join(folder, "short.mhd"), "w") as f:
        f.write(header + "ElementDataFile = short.raw\n")
    with open(os.path.join(folder, "short.raw"), "wb") as f:
        f.write(b"\0" * 500)
    with open(os.path.join(folder, "passwd.mhd"), "w") as f:
        f.write(header + "ElementDataFile = /etc/passwd\n")
    data = bytearray(open(os.path.join(SYNTH, "images", "sub-0002.nii.gz"), "rb").read())
    data[len(data) // 2] ^= 0x5A
    with open(os.path.join(folder, "flipped.nii.gz"), "wb") as f:
        f.write(data)
    manifest = os.path.join(folder, "manifest.tsv")
    write_manifest(manifest, [
        ("pattern", "pattern.mhd", "MR", "4", "M", ""),
        ("short", "short.mhd", "MR", "4", "M", ""),
        ("passwd", "passwd.mhd", "MR", "4", "M", ""),
        ("flipped", "flipped.nii.gz", "MR", "4", "M", ""),
        ("mr", "images/sub-0002.nii.gz", "MR", "10.9", "F", "labels/sub-0002.nii.gz"),
    ])
    reasons = {"pattern": "file-name pattern", "short": "truncated voxel data", "passwd": "outside the manifest's folder",
               "flipped": "corrupt"}
    c = subprocess.run([BINARY, "check", manifest], capture_output=True, text=True)
    assert c.returncode == 1, (c.returncode, c.stdout, c.stderr)
    for scan in ("pattern", "short", "passwd"):  # header-level problems; the CRC needs the voxels
        assert any(l.startswith(scan + "\tfailed") and reasons[scan] in l for l in c.stdout.splitlines()), c.stdout
    out = os.path.join(folder, "results.h5")
    r = run(manifest, out, check=1)
    with h5py.File(out) as f:
        status, error = text(f["scans/status"]), text(f["scans/error"])
    assert status == ["failed"] * 4 + ["ok"], (status, error)
    for row, scan in enumerate(("pattern", "short", "passwd", "flipped")):
        assert reasons[scan] in error[row], (scan, error[row])
    # A symlink out of the folder is refused up front, like a path with "..".
    os.symlink(os.path.join(SYNTH, "images", "sub-0002.nii.gz"), os.path.join(folder, "outside.nii.gz"))
    write_manifest(manifest, [("linked", "outside.nii.gz", "MR", "4", "M", "")])
    r = run(manifest, os.path.join(folder, "linked.h5"), check=2)
    assert "outside the manifest's folder" in r.stderr, r.stderr
    run(manifest, os.path.join(folder, "linked.h5"), "--allow-external-paths", check=0)


def resume_refuses_other_model_or_manifest():
    """Resuming with another model, precision, window plan or an edited manifest would mix two runs in one
    file while its provenance names one: refused, naming what differs."""
    folder = os.path.join(WORK, "resume_checks")
    shutil.rmtree(folder, ignore_errors=True)
    manifest = mr_cohort(folder, 2)
    out = os.path.join(folder, "results.h5")
    run(manifest, out, "--precision", "fp32", check=0)
    r = run(manifest, out, "--resume", check=0)  # --precision auto continues the file's fp32
    assert "0 to do" in r.stdout, r.stdout
    r = subprocess.run([BINARY, "run", manifest, "--out", out, "--resume", "--model", SHIPPED_MODEL],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "cannot --resume" in r.stderr, (r.returncode, r.stderr)
    other = os.path.join(folder, "copy.pt")
    shutil.copy(MODEL, other)
    r = subprocess.run([BINARY, "run", manifest, "--out", out, "--resume", "--model", other],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr  # the same bytes elsewhere: the same model
    r = run(manifest, out, "--resume", "--precision", "bf16", check=2)
    assert "precision" in r.stderr, r.stderr
    r = run(manifest, out, "--resume", "--window-plan", "whole", check=2)
    assert "window_plan 'windows, overlap 0.5', now 'whole'" in r.stderr, r.stderr
    with open(manifest) as f:
        lines = f.read().splitlines()
    lines[2] = lines[2].replace("\t4\t", "\t9\t")  # the second scan's age
    with open(manifest, "w") as f:
        f.write("\n".join(lines) + "\n")
    r = run(manifest, out, "--resume", check=2)
    assert "scan mr-1 has age '4' in the results file but '9' in the manifest" in r.stderr, r.stderr


def crashed_scan_is_not_retried():
    """A scan that crashed the process leaves its row in the crash journal (the handler is tested
    in jobs_tests); resume fails that row instead of crashing on it again, unless asked."""
    folder = os.path.join(WORK, "crashed")
    shutil.rmtree(folder, ignore_errors=True)
    manifest = mr_cohort(folder, 4)
    out = os.path.join(folder, "results.h5")
    code, log = start_then_signal(manifest, out, signal.SIGKILL, 1)
    with h5py.File(out) as f:
        pending = [i for i, s in enumerate(text(f["scans/status"])) if s != "ok"]
    assert pending, log
    with open(out + ".crash-2", "w") as f:  # as a worker rank's handler writes it
        f.write(f"{pending[0]} 11\n")
    r = run(manifest, out, "--resume", check=1)
    assert "crashed the process in an earlier run (signal 11" in r.stdout + r.stderr, r.stdout + r.stderr
    assert not os.path.exists(out + ".crash-2")
    with h5py.File(out) as f:
        status, error = text(f["scans/status"]), text(f["scans/error"])
    assert status.count("ok") == 3 and status[pending[0]] == "failed", status
    r = run(manifest, out, "--resume", check=1)
    assert "0 to do" in r.stdout, r.stdout
    r = run(manifest, out, "--resume", "--retry-crashed", check=0)
    assert "1 to do" in r.stdout, r.stdout


def overwrite_while_running():
    """A second run with --overwrite must not pull the file from under a live writer, and a writer
    whose file is replaced anyway stops instead of reporting results that are not in the file."""
    folder = os.path.join(WORK, "overwrite")
    shutil.rmtree(folder, ignore_errors=True)
    manifest = mr_cohort(folder, 6)
    out = os.path.join(folder, "results.h5")
    p = subprocess.Popen([BINARY, "run", manifest, "--out", out, "--model", MODEL, "--progress-every", "1"],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    log = []
    for line in p.stdout:
        log.append(line)
        if "run: 1/" in line:
            break
    r = run(manifest, out, "--overwrite", check=2)
    assert "is being written by process" in r.stderr, r.stderr
    shutil.copy(out, out + ".copy")
    os.replace(out + ".copy", out)  # what a careless script would do
    rest = p.stdout.read()
    p.wait()
    assert p.returncode == 3, (p.returncode, "".join(log) + rest)  # a runtime failure, not a usage error
    assert "removed or replaced by another process" in rest, rest


def unwritable_outputs_fail_first():
    """An unusable --timings or --export-nifti folder is an error before any scan, not after."""
    folder = os.path.join(WORK, "unwritable")
    shutil.rmtree(folder, ignore_errors=True)
    manifest = mr_cohort(folder, 1)
    blocker = os.path.join(folder, "a_file")
    open(blocker, "w").close()
    for option in ("--timings", "--export-nifti"):
        target = os.path.join(blocker, "sub", "t.json" if option == "--timings" else "")
        start = time.time()
        r = run(manifest, os.path.join(folder, "r.h5"), option, target, check=2)
        assert option in r.stderr and "cannot be created or written" in r.stderr, r.stderr
        assert time.time() - start < 30 and not os.path.exists(os.path.join(folder, "r.h5"))


def mpi_rank_fails_in_setup():
    """Any exception on any rank ends the whole job at once, naming the rank: here one that is
    not an nc::Error, injected on rank 2 during setup, under a real mpirun -np 3."""
    folder = os.path.join(WORK, "mpi_setup_fault")
    shutil.rmtree(folder, ignore_errors=True)
    manifest = mr_cohort(folder, 3)
    start = time.time()
    r = subprocess.run([*MPIRUN, BINARY, "run", manifest, "--out", os.path.join(folder, "r.h5"), "--model", MODEL],
                       capture_output=True, text=True, env={**os.environ, "NEUROCOHORT_FAULT": "setup@2"}, timeout=120)
    seconds = time.time() - start
    assert r.returncode != 0, (r.returncode, r.stdout, r.stderr)
    assert "injected fault" in r.stderr and "(rank 2)" in r.stderr, r.stderr
    assert seconds < 30, f"the job took {seconds:.1f} s to end"
    print(f"the job ended {seconds:.1f} s after it started")


SHIPPED_MODEL = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "models", "default",
                             "resunet333.pt")


def threads_cap_every_stage():
    """--threads 1 keeps the whole run on one core (kernels and pipeline as well as LibTorch),
    and the labels do not depend on the thread count."""
    folder = os.path.join(WORK, "threads")
    shutil.rmtree(folder, ignore_errors=True)
    manifest = mr_cohort(folder, 4)
    outs = {}
    for threads in (1, 2):
        outs[threads] = os.path.join(folder, f"threads{threads}.h5")
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        run(manifest, outs[threads], "--threads", str(threads), check=0)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        print(f"--threads {threads}: {cpu:.1f} s of CPU in {wall:.1f} s")
        if threads == 1:
            # Other processes can only stretch the wall time; uncapped, oneTBB used every core.
            assert cpu <= 1.2 * wall, f"--threads 1 used {cpu:.1f} s of CPU in {wall:.1f} s"
    assert_same_results(outs[1], outs[2])


def precision_auto():
    """--precision auto (the default) is bf16 where the CPU computes it natively and fp32
    elsewhere, and every MPI rank resolves it alike."""
    folder = os.path.join(WORK, "precision_auto")
    shutil.rmtree(folder, ignore_errors=True)
    manifest = mr_cohort(folder, 3)
    with open("/proc/cpuinfo") as f:
        expected = "bf16" if "avx512_bf16" in f.read().split() else "fp32"
    for name, launcher in (("single", ()), ("mpi", MPIRUN)):
        out = os.path.join(folder, name + ".h5")
        r = run(manifest, out, check=0, launcher=launcher)
        assert f"in {expected}, CPU" in r.stdout + r.stderr, r.stdout + r.stderr
        with h5py.File(out) as f:
            stored = f.attrs["precision"]
            assert (stored.decode() if isinstance(stored, bytes) else stored) == expected, (name, stored)


def bf16_matches_fp32():
    """The shipped model on the fixture's MR scan, float32 and bf16 autocast: the label maps
    differ only along region borders and Dice against the truth moves by less than 0.01."""
    folder = os.path.join(WORK, "bf16")
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    link_images(folder)
    manifest = os.path.join(folder, "manifest.tsv")
    write_manifest(manifest, [("mr", "images/sub-0002.nii.gz", "MR", "10.9", "F", "labels/sub-0002.nii.gz")])
    results = {}
    for precision in ("fp32", "bf16"):
        out = os.path.join(folder, precision + ".h5")
        r = subprocess.run([BINARY, "run", manifest, "--out", out, "--model", SHIPPED_MODEL, "--device", "cpu",
                            "--precision", precision], capture_output=True, text=True)
        assert r.returncode == 0, f"{precision}: exit {r.returncode}\n{r.stdout}\n{r.stderr}"
        with h5py.File(out) as f:
            stored = f.attrs["precision"]
            stored = stored.decode() if isinstance(stored, bytes) else stored
            assert stored == precision, stored
            results[precision] = (f["labels/mr"][:], f["metrics/dice"][0])
    (labels32, dice32), (labels16, dice16) = results["fp32"], results["bf16"]
    agreement = float((labels32 == labels16).mean())
    print(f"bf16 against fp32: {agreement:.5f} of voxels agree; mean Dice {dice32.mean():.4f} vs {dice16.mean():.4f}")
    assert agreement >= 0.99, agreement
    assert abs(dice32.mean() - dice16.mean()) < 0.01, (dice32, dice16)


if __name__ == "__main__":
    {"end_to_end": end_to_end, "resume_after_sigkill": resume_after_sigkill,
     "sigint_then_resume": sigint_then_resume, "mpi_equals_single": mpi_equals_single,
     "mpi_balances_uneven_costs": mpi_balances_uneven_costs,
     "mpi_rank_killed_then_resume": mpi_rank_killed_then_resume, "bf16_matches_fp32": bf16_matches_fp32,
     "precision_auto": precision_auto,
     "hostile_inputs": hostile_inputs, "resume_refuses_other_model_or_manifest": resume_refuses_other_model_or_manifest,
     "crashed_scan_is_not_retried": crashed_scan_is_not_retried, "overwrite_while_running": overwrite_while_running,
     "unwritable_outputs_fail_first": unwritable_outputs_fail_first,
     "mpi_rank_fails_in_setup": mpi_rank_fails_in_setup,
     "mpi_coordinator_killed_then_resume": mpi_coordinator_killed_then_resume,
     "threads_cap_every_stage": threads_cap_every_stage}[SCENARIO]()
    print(SCENARIO, "passed")
