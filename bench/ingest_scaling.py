"""Rank 0's ingest rate and merge's copy rate, measured with the real binary under real mpirun.

usage: /usr/bin/python3 bench/ingest_scaling.py NEUROCOHORT CT_LABELS MR_LABELS WORK
           [--np 2 5 9 17] [--records 400] [--shards 4] [--shard-records 100]

For each np, `neurocohort bench ingest` (np - 1 workers replaying a native CT and a 1 mm MR
label map in the store's form, as fast as rank 0 takes them) into a fresh results file; then
`--shards` files of `--shard-records` CT records each, merged by `neurocohort merge`. Prints a
markdown table (docs/SCALING.md) and one JSON object per measurement. The label maps of the
synthetic cohort serve: `neurocohort synth --out c --n 2` gives labels/sub-0001.nii.gz (CT,
512 × 512 × 247) and labels/sub-0002.nii.gz (MR, 181 × 217 × 181).
"""
import argparse
import json
import os
import shutil
import subprocess
import time

import h5py

MPI_ENV = {**os.environ, "OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"}


def ingest(binary, ct, mr, out, np, records, ct_share=0.5, prefix="ingest"):
    r = subprocess.run(["mpirun", "-np", str(np), "--oversubscribe", binary, "bench", "ingest", "--out", out,
                        "--ct-labels", ct, "--mr-labels", mr, "--records", str(records), "--ct-share", str(ct_share),
                        "--id-prefix", prefix], capture_output=True, text=True, env=MPI_ENV)
    if r.returncode != 0:
        raise SystemExit(f"bench ingest at np={np} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
    result = json.loads(r.stdout.strip().splitlines()[-1])
    with h5py.File(out) as f:  # a real file: every row ok, every map readable
        status = [s.decode() if isinstance(s, bytes) else s for s in f["scans/status"][:]]
        assert status == ["ok"] * records, set(status)
        assert f[f"labels/{prefix}-0"][:].max() > 0
    return result


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("binary")
    p.add_argument("ct")
    p.add_argument("mr")
    p.add_argument("work")
    p.add_argument("--np", type=int, nargs="+", default=[2, 5, 9, 17])
    p.add_argument("--records", type=int, default=400)
    p.add_argument("--shards", type=int, default=4)
    p.add_argument("--shard-records", type=int, default=100)
    a = p.parse_args()
    shutil.rmtree(a.work, ignore_errors=True)
    os.makedirs(a.work)
    rows = []
    for np in a.np:
        result = ingest(a.binary, a.ct, a.mr, os.path.join(a.work, f"ingest_np{np}.h5"), np, a.records)
        print(json.dumps({"measure": "ingest", "np": np, **result}), flush=True)
        rows.append(result)
    print("\n| np | workers | records | records/s | writer s per record | wire MB per CT record | per MR record |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for np, r in zip(a.np, rows):
        print(f"| {np} | {r['workers']} | {r['records']} | {r['records_per_second']:.0f} | "
              f"{r['writer_seconds_per_record'] * 1000:.2f} ms | {r['wire_mb_per_record']['ct']:.2f} | "
              f"{r['wire_mb_per_record']['mr']:.2f} |")
    if a.shards > 0:
        shards = []
        for s in range(a.shards):
            shard = os.path.join(a.work, f"shard_{s}.h5")
            ingest(a.binary, a.ct, a.mr, shard, 3, a.shard_records, ct_share=1.0, prefix=f"shard{s}")
            shards.append(shard)
        merged = os.path.join(a.work, "merged.h5")
        start = time.perf_counter()
        r = subprocess.run([a.binary, "merge", *shards, "--out", merged], capture_output=True, text=True)
        seconds = time.perf_counter() - start
        if r.returncode != 0:
            raise SystemExit(f"merge failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
        total = a.shards * a.shard_records
        with h5py.File(merged) as f:
            assert len(f["scans/scan_id"]) == total and len(f["labels"]) == total
        print(json.dumps({"measure": "merge", "shards": a.shards, "records": total, "seconds": round(seconds, 3),
                          "records_per_second": round(total / seconds, 1)}))


if __name__ == "__main__":
    main()
