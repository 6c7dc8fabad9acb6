"""Exports a trained network (train.py's RUN_DIR) as TorchScript with its metadata embedded.

usage: export.py RUN_DIR --out MODEL.pt

The file carries `metadata.json` (label table, input spacing, patch size, channels,
normalisation, the preprocessing it expects, training summary and held-out Dice) as a
TorchScript extra file, which neurocohort reads with the weights. Export with Debian's
torch 1.13 so that LibTorch 1.13 and later versions both load the file.
"""
import argparse
import json
import os

import torch

import cohort_data
import networks


def metadata(summary):
    return {
        "labels": [{"id": i, "name": n, "hemisphere": h} for i, n, h in cohort_data.REGIONS],
        "input_spacing_mm": summary["input_spacing_mm"],
        "patch_size": summary["patch_size"],
        "channels": 1,
        "normalisation": "zscore",
        "preprocessing": "neurocohort preprocess defaults: 1 mm, skull strip, AHE radius 5 inside the brain mask",
        "architecture": summary["architecture"],
        "training": {k: summary[k] for k in ("convolution_layers", "base_channels", "parameters", "iterations", "batch",
                                             "training_seconds", "hardware")}
        | {"training_scans": len(summary["training_scans"]), "held_out_scans": len(summary["held_out_scans"])},
        "held_out_dice": summary["held_out_dice"],
        "train_dice": summary["train_dice"],
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    with open(os.path.join(args.run_dir, "summary.json")) as f:
        summary = json.load(f)
    model = networks.build(summary["architecture"], cohort_data.CLASSES, summary["base_channels"])
    model.load_state_dict(torch.load(os.path.join(args.run_dir, "weights.pt"), map_location="cpu"))
    model.eval()
    scripted = torch.jit.script(model)
    torch.jit.save(scripted, args.out, _extra_files={"metadata.json": json.dumps(metadata(summary), indent=1)})
    print(f"wrote {args.out} ({os.path.getsize(args.out) / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
