"""The three segmentation networks of the pediatric CT study, sized for CPU training.

Tensors are [batch, channel, k, j, i]: axis k is the slice axis, so the 1 x 3 x 3 ResU-Net
convolves within slices only (kernel (1, 3, 3)), as the study's anisotropic variant did.

* ResUNet(kernel=(3, 3, 3)): residual blocks with U-Net skips, 27 convolution layers
  (Conv3d and ConvTranspose3d), the default model.
* ResUNet(kernel=(1, 3, 3)): the same network with in-plane kernels.
* UNet3D: the baseline, plain double convolutions and the same skips and widths.
"""
import torch
from torch import nn


def conv(cin, cout, kernel, stride=1):
    padding = tuple(k // 2 for k in kernel)
    return nn.Conv3d(cin, cout, kernel, stride=stride, padding=padding, bias=False)


def norm_act(channels):
    # Instance norm: batch sizes of one or two patches make batch statistics useless.
    return nn.Sequential(nn.InstanceNorm3d(channels, affine=True), nn.LeakyReLU(0.01, inplace=True))


class ResidualBlock(nn.Module):
    """conv-norm-act-conv-norm plus the input (projected by a 1x1x1 conv when widths differ)."""

    def __init__(self, cin, cout, kernel):
        super().__init__()
        self.conv1 = conv(cin, cout, kernel)
        self.act1 = norm_act(cout)
        self.conv2 = conv(cout, cout, kernel)
        self.norm2 = nn.InstanceNorm3d(cout, affine=True)
        self.project = conv(cin, cout, (1, 1, 1)) if cin != cout else nn.Identity()
        self.act2 = nn.LeakyReLU(0.01, inplace=True)

    def forward(self, x):
        return self.act2(self.norm2(self.conv2(self.act1(self.conv1(x)))) + self.project(x))


class DoubleConv(nn.Module):
    """The plain U-Net block: two conv-norm-act layers, no shortcut."""

    def __init__(self, cin, cout, kernel):
        super().__init__()
        self.body = nn.Sequential(conv(cin, cout, kernel), norm_act(cout), conv(cout, cout, kernel), norm_act(cout))

    def forward(self, x):
        return self.body(x)


class UpLevel(nn.Module):
    """Transposed convolution up, concatenation with the encoder's skip, then the block."""

    def __init__(self, block, cin, cout, kernel):
        super().__init__()
        self.up = nn.ConvTranspose3d(cin, cout, 2, stride=2, bias=False)
        self.block = block(2 * cout, cout, kernel)

    def forward(self, x, skip):
        return self.block(torch.cat([self.up(x), skip], dim=1))


class UNetFamily(nn.Module):
    """Four resolution levels; strided convolutions down, transposed convolutions up,
    concatenated skips. `block` builds every level's block."""

    def __init__(self, block, kernel, classes, base=8, channels=1):
        super().__init__()
        widths = [base, base * 2, base * 4, base * 8]
        self.stem = nn.Sequential(conv(channels, widths[0], kernel), norm_act(widths[0]))
        levels = [block(widths[0], widths[0], kernel)]
        for level in range(1, 4):
            levels.append(nn.Sequential(conv(widths[level - 1], widths[level], kernel, stride=2),
                                        norm_act(widths[level]), block(widths[level], widths[level], kernel)))
        self.encoders = nn.ModuleList(levels)
        self.bottleneck = block(widths[3], widths[3], kernel)
        self.decoders = nn.ModuleList([UpLevel(block, widths[level], widths[level - 1], kernel)
                                       for level in range(3, 0, -1)])
        self.head = nn.Conv3d(widths[0], classes, 1)

    def forward(self, x):
        x = self.stem(x)
        skips = []
        for encoder in self.encoders:
            x = encoder(x)
            skips.append(x)
        x = self.bottleneck(x)
        for level, decoder in enumerate(self.decoders):
            x = decoder(x, skips[len(skips) - 2 - level])
        return self.head(x)


ARCHITECTURES = {
    "resunet333": lambda classes, base: UNetFamily(ResidualBlock, (3, 3, 3), classes, base),
    "resunet133": lambda classes, base: UNetFamily(ResidualBlock, (1, 3, 3), classes, base),
    "unet3d": lambda classes, base: UNetFamily(DoubleConv, (3, 3, 3), classes, base),
}


def build(architecture, classes, base=8):
    if architecture not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {architecture!r} (expected one of {sorted(ARCHITECTURES)})")
    return ARCHITECTURES[architecture](classes, base)


def convolution_layers(model):
    return sum(isinstance(m, (nn.Conv3d, nn.ConvTranspose3d)) for m in model.modules())
