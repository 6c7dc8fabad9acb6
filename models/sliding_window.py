"""Sliding-window inference with Gaussian importance blending, as neurocohort's C++ does it
(sliding_window_probabilities in pipeline/inference.cpp): windows at a step of half the patch
(the C++ default overlap of 0.5), the last one flush with the end of each axis, each window's
softmax weighted by a Gaussian of sigma = patch / 8."""
import torch
import torch.nn.functional as F


def window_starts(size, patch):
    if size <= patch:
        return [0]
    step = max(patch // 2, 1)
    starts = list(range(0, size - patch, step))
    return starts + [size - patch]


def gaussian_weights(patch):
    axes = []
    for p in patch:
        x = torch.arange(p, dtype=torch.float64) - (p - 1) / 2
        axes.append(torch.exp(-0.5 * (x / (p / 8.0)) ** 2))
    w = axes[0][:, None, None] * axes[1][None, :, None] * axes[2][None, None, :]
    return (w / w.max()).clamp_min(1e-3).float()


@torch.no_grad()
def predict_probabilities(model, volume, patch):
    """volume [C, K, J, I] -> class probabilities [classes, K, J, I]."""
    size = volume.shape[1:]
    pad = [max(p - s, 0) for p, s in zip(patch, size)]
    x = F.pad(volume, (0, pad[2], 0, pad[1], 0, pad[0]))
    padded = x.shape[1:]
    weights = gaussian_weights(patch)
    total, norm = None, torch.zeros(padded)
    for k in window_starts(padded[0], patch[0]):
        for j in window_starts(padded[1], patch[1]):
            for i in window_starts(padded[2], patch[2]):
                window = x[:, k:k + patch[0], j:j + patch[1], i:i + patch[2]][None]
                probs = torch.softmax(model(window)[0], dim=0) * weights
                if total is None:
                    total = torch.zeros((probs.shape[0],) + tuple(padded))
                total[:, k:k + patch[0], j:j + patch[1], i:i + patch[2]] += probs
                norm[k:k + patch[0], j:j + patch[1], i:i + patch[2]] += weights
    return (total / norm)[:, :size[0], :size[1], :size[2]]


def labels_at_full_resolution(probabilities, factor, mask):
    """Trilinear upsampling of the probabilities to the 1 mm grid, argmax, 0 outside the mask."""
    if factor > 1:
        probabilities = F.interpolate(probabilities[None], scale_factor=factor, mode="trilinear",
                                      align_corners=False)[0]
    labels = probabilities.argmax(dim=0)
    return labels * torch.from_numpy(mask > 0)
