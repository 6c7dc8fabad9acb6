#!/usr/bin/python3
"""Fail on a gross performance regression, judged by ratios measured in the same run.

Runs a Google Benchmark program of bench/ with a filter, reads its JSON output and checks that
a counter (by default `speedup_vs_itk`, ours against the ITK filter timed in the same
iteration) stays above a floor for every benchmark whose name contains a given key. The floors
sit well below the targets in docs/BENCHMARKS.md: they catch a kernel that became several times
slower, not noise. Absolute times are never judged.

    check_ratios.py build/bench/kernels_bench --filter 'Resample|Skull' \
        --floor Resample=1.0 --floor SkullStrip=1.0
"""
import argparse
import json
import subprocess
import sys
import tempfile


def parse_floor(text):
    key, _, value = text.partition("=")
    if not key or not value:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, float(value)


def run_benchmarks(binary, name_filter):
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        subprocess.run([binary, f"--benchmark_filter={name_filter}", f"--benchmark_out={out.name}",
                        "--benchmark_out_format=json"], check=True, stdout=sys.stderr)
        return json.load(open(out.name))["benchmarks"]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("binary")
    parser.add_argument("--filter", required=True, help="--benchmark_filter regular expression")
    parser.add_argument("--counter", default="speedup_vs_itk")
    parser.add_argument("--floor", type=parse_floor, action="append", required=True,
                        help="KEY=MIN: benchmarks whose name contains KEY need counter >= MIN")
    args = parser.parse_args()

    results = run_benchmarks(args.binary, args.filter)
    failures = []
    for key, floor in args.floor:
        matching = [b for b in results if key in b["name"]]
        if not matching:
            failures.append(f"no benchmark name contains {key!r}")
        for b in matching:
            value = b.get(args.counter)
            verdict = "ok" if value is not None and value >= floor else "REGRESSION"
            print(f"{b['name']}: {args.counter} = {value if value is None else round(value, 2)} "
                  f"(floor {floor}) {verdict}")
            if verdict != "ok":
                failures.append(f"{b['name']}: {args.counter} {value} below {floor}")
    for f in failures:
        print("check_ratios: " + f, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
