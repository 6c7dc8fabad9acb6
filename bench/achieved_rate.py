"""How close the network's CPU inference comes to this machine's multiply-add peak.

Counts the default ResU-Net's FLOPs per window (every Conv3d and ConvTranspose3d: two FLOPs per
multiply-add; normalisation, activations and additions are left out, a few per cent), then
runs bench/machine_peak (fp32 FMA, bf16 dot products) and inference_bench's forward pass over
one batch of windows, in fp32 and bf16, and prints the achieved GFLOP/s as a share of peak.

usage: achieved_rate.py BUILD_DIR [--json OUT.json]
"""
import json
import os
import subprocess
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "models"))
import networks  # noqa: E402

build = sys.argv[1]
out_json = sys.argv[sys.argv.index("--json") + 1] if "--json" in sys.argv else None


def flops_per_window(architecture="resunet333", classes=11, patch=64):
    model = networks.build(architecture, classes).eval()
    total = 0

    def count(module, inputs, output):
        nonlocal total
        kernel = 1
        for k in module.kernel_size:
            kernel *= k
        cin = module.in_channels // module.groups
        # A convolution does cin·k³ multiply-adds per output value; a transposed one, per input value.
        values = inputs[0].numel() // module.in_channels * module.out_channels if isinstance(
            module, torch.nn.ConvTranspose3d) else output.numel()
        total += 2 * cin * kernel * values

    for m in model.modules():
        if isinstance(m, (torch.nn.Conv3d, torch.nn.ConvTranspose3d)):
            m.register_forward_hook(count)
    with torch.no_grad():
        model(torch.zeros(1, 1, patch, patch, patch))
    return total


def benchmark(binary, pattern):
    result = subprocess.run([os.path.join(build, "bench", binary), f"--benchmark_filter={pattern}",
                             "--benchmark_format=json"], capture_output=True, text=True, check=True)
    return json.loads(result.stdout)["benchmarks"]


flops = flops_per_window()
peaks = {}
for b in benchmark("machine_peak", "Peak"):
    if b.get("error_occurred") or b.get("aggregate_name") != "median":
        continue
    peaks["bf16" if "Bf16" in b["name"] else "fp32"] = b["gflops"]
windows = {b["name"].split("/")[1]: b["window_s"] for b in benchmark("inference_bench", "ForwardWindow")}

print(f"default ResU-Net: {flops / 1e9:.2f} GFLOP per 64³ window (convolutions)")
summary = {"gflop_per_window": flops / 1e9, "peak_gflops": peaks, "precision": {}}
for precision, seconds in windows.items():
    achieved = flops / seconds / 1e9
    peak = peaks.get(precision)
    share = f"{100 * achieved / peak:.1f} % of the {peak:.0f} GFLOP/s {precision} peak" if peak else "no native peak"
    print(f"  {precision}: {seconds * 1e3:.0f} ms per window, {achieved:.1f} GFLOP/s, {share}")
    summary["precision"][precision] = {"seconds_per_window": seconds, "gflops": achieved,
                                       "share_of_peak": achieved / peak if peak else None}
for precision, peak in peaks.items():
    print(f"  machine peak {precision}: {peak:.0f} GFLOP/s")
if out_json:
    with open(out_json, "w") as f:
        json.dump(summary, f, indent=2)
