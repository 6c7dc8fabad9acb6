"""Exports a tiny TorchScript 'segmentation' network with Debian's torch, for the LibTorch tests.

usage: export_tiny_model.py OUT.pt CLASSES [--no-metadata] [--metadata-out SIDE.json] [--spatial] [--patch N]

The network is one 1x1x1 Conv3d from 1 channel to CLASSES channels with weight 1 and bias
equal to the class index, so class c's logit is x + c: the test can check values exactly.
With --spatial it is a seeded random 3x3x3 convolution instead, whose output depends on the
neighbourhood (and on where a window's zero padding starts). --patch sets the metadata's
patch size (8 by default).
"""
import json
import sys

import torch


class Tiny(torch.nn.Module):
    def __init__(self, classes, spatial):
        super().__init__()
        if spatial:
            torch.manual_seed(3)
            self.conv = torch.nn.Conv3d(1, classes, kernel_size=3, padding=1)
            return
        self.conv = torch.nn.Conv3d(1, classes, kernel_size=1)
        with torch.no_grad():
            self.conv.weight.fill_(1.0)
            self.conv.bias.copy_(torch.arange(classes, dtype=torch.float32))

    def forward(self, x):
        return self.conv(x)


def main(argv):
    out, classes = argv[1], int(argv[2])
    patch = int(argv[argv.index("--patch") + 1]) if "--patch" in argv else 8
    metadata = json.dumps({
        "labels": [{"id": i, "name": f"region_{i}", "hemisphere": "-"} for i in range(1, 3)],
        "input_spacing_mm": [2.0, 2.0, 2.0],
        "patch_size": [patch, patch, patch],
        "channels": 1,
        "normalisation": "zscore",
    })
    module = torch.jit.script(Tiny(classes, "--spatial" in argv))
    extra = {} if "--no-metadata" in argv else {"metadata.json": metadata}
    torch.jit.save(module, out, _extra_files=extra)
    if "--metadata-out" in argv:
        with open(argv[argv.index("--metadata-out") + 1], "w") as f:
            f.write(metadata)


if __name__ == "__main__":
    main(sys.argv)
