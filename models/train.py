"""Trains one of the networks on `neurocohort preprocess` output of the synthetic cohort.

usage: train.py PREPROCESSED_DIR --out RUN_DIR [--architecture resunet333] [--minutes 45]
                [--iterations N] [--patch 64] [--batch 2] [--spacing 2] [--test-every 5]

Random 64^3 crops of the 2 mm inputs with left-right mirrors (left and right labels swapped)
and small rotations; Adam; cross-entropy plus soft Dice loss. Every fifth scan is held out.
Writes RUN_DIR/weights.pt (a state_dict) and RUN_DIR/summary.json (training settings, time,
hardware, and train and held-out Dice per region and modality at 1 mm), which export.py
embeds in the TorchScript file.
"""
import argparse
import json
import math
import os
import platform
import random
import time

import numpy as np
import torch
import torch.nn.functional as F

import cohort_data
import networks
import sliding_window


def random_crop(scan, patch):
    x, y = scan.input, scan.target
    pad = [max(p - s, 0) for p, s in zip(patch, x.shape[1:])]
    if any(pad):
        x = F.pad(x, (0, pad[2], 0, pad[1], 0, pad[0]))
        y = F.pad(y.float(), (0, pad[2], 0, pad[1], 0, pad[0]))
        y[0] += 1 - y.sum(0)  # padding is background
    starts = [random.randint(0, s - p) for s, p in zip(x.shape[1:], patch)]
    window = tuple(slice(b, b + p) for b, p in zip(starts, patch))
    return x[(slice(None),) + window], y[(slice(None),) + window].float()


def augment(x, y, max_degrees):
    """x [B,1,K,J,I], y [B,C,K,J,I]: a left-right mirror half of the time, then a rotation."""
    for b in range(x.shape[0]):
        if random.random() < 0.5:
            x[b] = x[b].flip(-1)
            y[b] = y[b].flip(-1)[cohort_data.MIRRORED_CLASS]
    angles = [math.radians(random.uniform(-max_degrees, max_degrees)) for _ in range(3)]
    rotation = torch.eye(3)
    for axis, a in enumerate(angles):
        c, s = math.cos(a), math.sin(a)
        r = torch.eye(3)
        p, q = [n for n in range(3) if n != axis]
        r[p, p], r[p, q], r[q, p], r[q, q] = c, -s, s, c
        rotation = rotation @ r
    theta = torch.cat([rotation, torch.zeros(3, 1)], 1)[None].expand(x.shape[0], 3, 4)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    y = F.grid_sample(y, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return x, y


def loss_function(logits, target):
    ce = -(target * F.log_softmax(logits, dim=1)).sum(1).mean()
    probs = torch.softmax(logits, dim=1)[:, 1:]
    fg = target[:, 1:]
    dims = (0, 2, 3, 4)
    dice = (2 * (probs * fg).sum(dims) + 1) / (probs.sum(dims) + fg.sum(dims) + 1)
    return ce + (1 - dice.mean())


def dice_per_region(predicted, truth):
    out = {}
    for label, name, _ in cohort_data.REGIONS:
        p, t = predicted == label, truth == label
        denominator = int(p.sum()) + int(t.sum())
        out[name] = 2.0 * int((p & t).sum()) / denominator if denominator else float("nan")
    return out


def evaluate(model, scans, patch):
    """Mean Dice per region and modality at 1 mm, and seconds per scan of the evaluation."""
    model.eval()
    frozen = torch.jit.freeze(torch.jit.script(model))  # as neurocohort runs it
    per_modality, seconds = {}, []
    for scan in scans:
        start = time.time()
        probs = sliding_window.predict_probabilities(frozen, scan.input, patch)
        labels = sliding_window.labels_at_full_resolution(probs, scan.factor, scan.mask).numpy()
        seconds.append(time.time() - start)
        per_modality.setdefault(scan.modality, []).append(dice_per_region(labels, scan.labels))
    model.train()
    summary = {}
    for modality, rows in per_modality.items():
        regions = {name: float(np.nanmean([r[name] for r in rows])) for _, name, _ in cohort_data.REGIONS}
        summary[modality] = {"scans": len(rows), "mean_dice": float(np.mean(list(regions.values()))),
                             "dice": regions}
    return summary, float(np.mean(seconds))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data")
    parser.add_argument("--out", required=True)
    parser.add_argument("--architecture", default="resunet333", choices=sorted(networks.ARCHITECTURES))
    parser.add_argument("--minutes", type=float, default=45.0)
    parser.add_argument("--iterations", type=int, default=0, help="stop after N iterations (0: by --minutes)")
    parser.add_argument("--patch", type=int, default=64)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--base", type=int, default=8, help="channels of the first level")
    parser.add_argument("--spacing", type=float, default=2.0, help="model input spacing (a multiple of 1 mm)")
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--rotation", type=float, default=10.0, help="largest rotation per axis, degrees")
    parser.add_argument("--test-every", type=int, default=5)
    parser.add_argument("--limit", type=int, default=None, help="use only the first N scans (tests)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--init", help="continue from this earlier RUN_DIR (same architecture; its time counts)")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    random.seed(args.seed)
    torch.manual_seed(args.seed)
    os.makedirs(args.out, exist_ok=True)
    factor = int(round(args.spacing))
    scans = cohort_data.load_scans(args.data, factor, args.limit)
    train, test = cohort_data.split_scans(scans, args.test_every)
    if not train:
        raise SystemExit("no training scans")
    print(f"{len(train)} training scans, {len(test)} held out; {args.architecture}", flush=True)

    model = networks.build(args.architecture, cohort_data.CLASSES, args.base)
    earlier = {"iterations": 0, "training_seconds": 0.0}
    if args.init:
        model.load_state_dict(torch.load(os.path.join(args.init, "weights.pt")))
        with open(os.path.join(args.init, "summary.json")) as f:
            earlier = json.load(f)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr, weight_decay=1e-5)
    patch = (args.patch,) * 3
    budget = args.minutes * 60
    start = time.time()
    iteration, running = 0, None
    while True:
        elapsed = time.time() - start
        progress = iteration / args.iterations if args.iterations else elapsed / budget
        if progress >= 1:
            break
        for group in optimizer.param_groups:  # polynomial decay over the budget
            group["lr"] = args.lr * (1 - progress) ** 0.9
        pairs = [random_crop(random.choice(train), patch) for _ in range(args.batch)]
        x, y = augment(torch.stack([p[0] for p in pairs]), torch.stack([p[1] for p in pairs]), args.rotation)
        loss = loss_function(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        iteration += 1
        running = loss.item() if running is None else 0.98 * running + 0.02 * loss.item()
        if iteration % 50 == 0:
            print(f"iteration {iteration} loss {running:.4f} ({elapsed / 60:.1f} min)", flush=True)
    training_seconds = time.time() - start
    torch.save(model.state_dict(), os.path.join(args.out, "weights.pt"))

    test_dice, seconds_per_scan = evaluate(model, test, patch) if test else ({}, float("nan"))
    train_dice, _ = evaluate(model, train[:len(test) or 2], patch)
    summary = {
        "architecture": args.architecture,
        "convolution_layers": networks.convolution_layers(model),
        "base_channels": args.base,
        "parameters": sum(p.numel() for p in model.parameters()),
        "input_spacing_mm": [float(factor)] * 3,
        "patch_size": list(patch),
        "iterations": iteration + earlier["iterations"],
        "batch": args.batch,
        "training_seconds": round(training_seconds + earlier["training_seconds"], 1),
        "hardware": f"{platform.processor() or platform.machine()}, {args.threads} CPU threads, torch {torch.__version__}",
        "training_scans": [s.scan_id for s in train],
        "held_out_scans": [s.scan_id for s in test],
        "train_dice": train_dice,
        "held_out_dice": test_dice,
        "python_seconds_per_scan": round(seconds_per_scan, 2),
    }
    with open(os.path.join(args.out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    print(json.dumps({k: summary[k] for k in ("iterations", "training_seconds", "python_seconds_per_scan")}))
    for modality, d in test_dice.items():
        print(f"held-out {modality}: mean Dice {d['mean_dice']:.4f} over {d['scans']} scans")


if __name__ == "__main__":
    main()
