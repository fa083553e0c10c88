"""pix2pixHD networks: the global generator and the multi-scale PatchGAN discriminator.

The generator follows Wang et al. (CVPR 2018) as Yu et al. (IUCrJ 2023) use it, and keeps the
module order of NVIDIA's public pix2pixHD ``GlobalGenerator`` so that its state-dict keys
(``model.N.weight``, ``model.N.conv_block.1.weight``, …) match: a ``latest_net_G.pth`` trained
with that code loads unchanged (:mod:`.inference` does the loading).

    ReflectionPad(3) → Conv 7×7 (in → ngf) → InstanceNorm → ReLU
    n_downsampling × [Conv 3×3 stride 2 (doubling) → InstanceNorm → ReLU]
    n_blocks × ResnetBlock(ngf·2ⁿ): [ReflPad(1), Conv 3×3, Norm, ReLU, ReflPad(1), Conv 3×3, Norm] + x
    n_downsampling × [ConvTranspose 3×3 stride 2, output_padding 1 (halving) → Norm → ReLU]
    ReflectionPad(3) → Conv 7×7 (ngf → out) → Tanh

InstanceNorm is ``affine=False`` (pix2pixHD's default), so norms hold no parameters.

Presets (``PRESETS``): ``paper`` = (ngf 64, 4 down-samplings, 9 blocks; 182 M parameters,
0.86 TFLOP per 1024 × 512 frame) and ``lite`` = (ngf 16, 3, 9; 2.9 M parameters, 52 GFLOP),
small enough to train and run on a CPU.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class GeneratorConfig:
    """Sizes of the global generator (channels are image channels, 1 for grayscale)."""

    ngf: int = 64
    n_downsampling: int = 4
    n_blocks: int = 9
    input_nc: int = 1
    output_nc: int = 1

    def to_dict(self) -> dict[str, int]:
        return asdict(self)

    @property
    def multiple(self) -> int:
        """Image sides must be a multiple of this (2^n_downsampling) for a full-frame pass."""
        return 2**self.n_downsampling


PRESETS: dict[str, GeneratorConfig] = {
    "paper": GeneratorConfig(64, 4, 9),
    "lite": GeneratorConfig(16, 3, 9),
}


def _norm(channels: int) -> nn.Module:
    return nn.InstanceNorm2d(channels, affine=False)


class ResnetBlock(nn.Module):
    """Two 3×3 convolutions with reflection padding and an identity shortcut."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.conv_block = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3), _norm(dim), nn.ReLU(True),
            nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3), _norm(dim),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


class GlobalGenerator(nn.Module):
    """The pix2pixHD global generator (module order and state-dict keys as NVIDIA's)."""

    def __init__(self, config: GeneratorConfig = PRESETS["paper"]) -> None:
        super().__init__()
        self.config = config
        ngf, n = config.ngf, config.n_downsampling
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(config.input_nc, ngf, 7),
                                   _norm(ngf), nn.ReLU(True)]
        for i in range(n):
            c = ngf * 2**i
            layers += [nn.Conv2d(c, 2 * c, 3, stride=2, padding=1), _norm(2 * c), nn.ReLU(True)]
        layers += [ResnetBlock(ngf * 2**n) for _ in range(config.n_blocks)]
        for i in range(n):
            c = ngf * 2 ** (n - i)
            layers += [nn.ConvTranspose2d(c, c // 2, 3, stride=2, padding=1, output_padding=1),
                       _norm(c // 2), nn.ReLU(True)]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, config.output_nc, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def config_from_state_dict(state: dict[str, torch.Tensor]) -> GeneratorConfig:
    """Infer the generator sizes from a (pix2pixHD-style) state dict."""
    first = state.get("model.1.weight")
    if first is None or first.ndim != 4:
        raise KeyError("model.1.weight (the first 7×7 convolution) is missing")
    ngf, input_nc = int(first.shape[0]), int(first.shape[1])
    block_ids = sorted({int(k.split(".")[1]) for k in state if ".conv_block." in k})
    n_blocks = len(block_ids)
    convs_before = [k for k in state if k.endswith(".weight") and ".conv_block." not in k
                    and int(k.split(".")[1]) < (block_ids[0] if block_ids else 10**6)]
    n_down = len(convs_before) - 1
    last = max(int(k.split(".")[1]) for k in state if k.endswith(".weight"))
    output_nc = int(state[f"model.{last}.weight"].shape[0])
    return GeneratorConfig(ngf, n_down, n_blocks, input_nc, output_nc)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# --- discriminator -------------------------------------------------------------------------
class NLayerDiscriminator(nn.Module):
    """PatchGAN: 4×4 convolutions, LeakyReLU(0.2), instance norm after all but the first.

    Returns the list of every layer's output (for feature matching); the last is the patch
    map of real/fake scores (passed through a sigmoid when ``use_sigmoid``, as the paper says;
    pix2pixHD's default LSGAN leaves it linear).
    """

    def __init__(self, input_nc: int, ndf: int = 64, n_layers: int = 3,
                 use_sigmoid: bool = False) -> None:
        super().__init__()
        pad = 2
        blocks: list[nn.Sequential] = [nn.Sequential(
            nn.Conv2d(input_nc, ndf, 4, stride=2, padding=pad), nn.LeakyReLU(0.2, True))]
        nf = ndf
        for _n in range(1, n_layers):
            prev, nf = nf, min(nf * 2, 512)
            blocks.append(nn.Sequential(nn.Conv2d(prev, nf, 4, stride=2, padding=pad), _norm(nf),
                                        nn.LeakyReLU(0.2, True)))
        prev, nf = nf, min(nf * 2, 512)
        blocks.append(nn.Sequential(nn.Conv2d(prev, nf, 4, stride=1, padding=pad), _norm(nf),
                                    nn.LeakyReLU(0.2, True)))
        last: list[nn.Module] = [nn.Conv2d(nf, 1, 4, stride=1, padding=pad)]
        if use_sigmoid:
            last.append(nn.Sigmoid())
        blocks.append(nn.Sequential(*last))
        self.blocks = nn.ModuleList(blocks)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = []
        for block in self.blocks:
            x = block(x)
            feats.append(x)
        return feats


class MultiscaleDiscriminator(nn.Module):
    """``num_d`` PatchGANs; scale i sees the (condition, image) pair down-sampled 2^i times."""

    def __init__(self, input_nc: int, ndf: int = 64, n_layers: int = 3, num_d: int = 2,
                 use_sigmoid: bool = False) -> None:
        super().__init__()
        self.scales = nn.ModuleList(
            [NLayerDiscriminator(input_nc, ndf, n_layers, use_sigmoid) for _ in range(num_d)]
        )
        self.down = nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)

    def forward(self, x: torch.Tensor) -> list[list[torch.Tensor]]:
        out = []
        for i, d in enumerate(self.scales):
            if i:
                x = self.down(x)
            out.append(d(x))
        return out
