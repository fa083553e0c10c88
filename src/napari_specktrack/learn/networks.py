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

InstanceNorm is ``affine=False`` (pix2pixHD's default), so norms hold no parameters. It
normalises every feature map by its mean and variance over the *whole frame*, so a pixel's
output depends on the rest of the frame (docs/generator-size.md).
``GeneratorConfig(norm="frozen")`` puts a :class:`FrozenNorm` in each of those places instead:
fixed per-channel statistics and a learnable affine, a per-pixel operation — the generator is
then a local operator (receptive field :func:`receptive_field_px`, 329 px across for ``lite``).
:func:`freeze_norms` turns an instance-norm generator into a frozen-norm one with the
statistics its norms saw on given inputs. The discriminator always uses instance norm.

Presets (``PRESETS``): ``paper`` = (ngf 64, 4 down-samplings, 9 blocks; 182 M parameters,
0.86 TFLOP per 1024 × 512 frame) and ``lite`` = (ngf 16, 3, 9; 2.9 M parameters, 52 GFLOP),
small enough to train and run on a CPU.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InputError

#: the generator's norms: "instance" (frame-wide statistics, pix2pixHD's) or "frozen"
#: (fixed per-channel statistics and a learnable affine, :class:`FrozenNorm`)
NORMS = ("instance", "frozen")


@dataclass(frozen=True)
class GeneratorConfig:
    """Sizes of the global generator (channels are image channels, 1 for grayscale).

    ``ngf``: channels of the first layer (doubled at each down-sampling); ``n_downsampling``:
    stride-2 stages (image sides a multiple of 2^n_downsampling pixels); ``n_blocks``: residual
    blocks at the lowest resolution; ``norm``: one of :data:`NORMS` — "instance" (every weights
    file written before the option existed) or "frozen" (:class:`FrozenNorm`).
    """

    ngf: int = 64
    n_downsampling: int = 4
    n_blocks: int = 9
    input_nc: int = 1
    output_nc: int = 1
    norm: str = "instance"

    def __post_init__(self) -> None:
        if self.norm not in NORMS:
            raise InputError(f"unknown generator norm {self.norm!r}; choose one of "
                             f"{', '.join(repr(n) for n in NORMS)}")

    def to_dict(self) -> dict[str, int | str]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GeneratorConfig:
        """The config of a stored ``to_dict()``; a dict without ``"norm"`` (written before the
        option existed) is an instance-norm generator. Unknown keys are ignored."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    @property
    def multiple(self) -> int:
        """Image sides must be a multiple of this (2^n_downsampling) for a full-frame pass."""
        return 2**self.n_downsampling


PRESETS: dict[str, GeneratorConfig] = {
    "paper": GeneratorConfig(64, 4, 9),
    "lite": GeneratorConfig(16, 3, 9),
}


def receptive_field_px(config: GeneratorConfig) -> int:
    """Side in pixels of the input window one output pixel of a frozen-norm generator depends
    on (with instance norm every pixel also depends on the frame-wide statistics).

    Each layer widens it by (kernel − 1) × its input's pixel pitch in frame pixels: the 7×7
    convolutions 6 each, the stride-2 3×3 convolutions 2·2^i, the 2·n_blocks residual 3×3
    convolutions 2·2^n each, and each transposed 3×3 convolution (an output pixel reads at most
    two neighbouring input pixels) 2^(n−i). Sum: 9 + (n_blocks + 1)·2^(n + 2) — 329 px for
    ``lite``, 649 px for ``paper``. The window is centred on the output pixel (every layer is
    symmetric), so outputs more than (side − 1)/2 px from a change of the input do not change.
    """
    return 9 + (config.n_blocks + 1) * 2 ** (config.n_downsampling + 2)


class FrozenNorm(nn.Module):
    """Normalisation with fixed per-channel statistics and a learnable affine.

    y = (x − mean) / sqrt(var + eps) · weight + bias, per channel: ``mean`` and ``var`` are
    buffers (the statistics, in the units of the layer's input activations; saved with the
    state dict, never trained), ``weight`` (dimensionless scale, initially 1) and ``bias``
    (in output activation units, initially 0) are parameters. A per-pixel affine map: unlike
    instance norm, a pixel's output does not depend on the rest of the frame. ``eps`` is added
    to the variance, as in :class:`torch.nn.InstanceNorm2d` (1e-5).
    """

    def __init__(self, channels: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.channels = int(channels)
        self.eps = float(eps)
        self.register_buffer("mean", torch.zeros(channels))
        self.register_buffer("var", torch.ones(channels))
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # batch norm with given statistics (training=False) is exactly this per-channel affine
        return F.batch_norm(x, self.mean, self.var, self.weight, self.bias, training=False,
                            eps=self.eps)

    def scale_shift(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(scale, shift), per channel, with y = x · scale + shift (float64, detached; scale
        dimensionless, shift in output activation units): the affine the float32 tiled walk
        (:mod:`.tiling`) applies in place."""
        scale = self.weight.detach().double() / torch.sqrt(self.var.double() + self.eps)
        return scale, self.bias.detach().double() - self.mean.double() * scale

    def extra_repr(self) -> str:
        return f"{self.channels}, eps={self.eps:g}"


def _norm(channels: int, kind: str = "instance") -> nn.Module:
    """The norm after a generator convolution (``kind`` from :data:`NORMS`); the
    discriminator's are always instance norms."""
    if kind == "frozen":
        return FrozenNorm(channels)
    return nn.InstanceNorm2d(channels, affine=False)


class ResnetBlock(nn.Module):
    """Two 3×3 convolutions with reflection padding and an identity shortcut."""

    def __init__(self, dim: int, norm: str = "instance") -> None:
        super().__init__()
        self.conv_block = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3), _norm(dim, norm), nn.ReLU(True),
            nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3), _norm(dim, norm),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


class GlobalGenerator(nn.Module):
    """The pix2pixHD global generator (module order and state-dict keys as NVIDIA's)."""

    def __init__(self, config: GeneratorConfig = PRESETS["paper"]) -> None:
        super().__init__()
        self.config = config
        ngf, n, kind = config.ngf, config.n_downsampling, config.norm
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(config.input_nc, ngf, 7),
                                   _norm(ngf, kind), nn.ReLU(True)]
        for i in range(n):
            c = ngf * 2**i
            layers += [nn.Conv2d(c, 2 * c, 3, stride=2, padding=1), _norm(2 * c, kind),
                       nn.ReLU(True)]
        layers += [ResnetBlock(ngf * 2**n, kind) for _ in range(config.n_blocks)]
        for i in range(n):
            c = ngf * 2 ** (n - i)
            layers += [nn.ConvTranspose2d(c, c // 2, 3, stride=2, padding=1, output_padding=1),
                       _norm(c // 2, kind), nn.ReLU(True)]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, config.output_nc, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def config_from_state_dict(state: dict[str, torch.Tensor]) -> GeneratorConfig:
    """Infer the generator sizes and norm from a (pix2pixHD-style) state dict.

    The norm is "frozen" when the state holds :class:`FrozenNorm` statistics (keys ending in
    ``.mean`` and ``.var``), else "instance" — what every file written before frozen norms
    existed (and NVIDIA's pix2pixHD) holds, since instance norms store nothing.
    """
    first = state.get("model.1.weight")
    if first is None or first.ndim != 4:
        raise KeyError("model.1.weight (the first 7×7 convolution) is missing")
    ngf, input_nc = int(first.shape[0]), int(first.shape[1])
    block_ids = sorted({int(k.split(".")[1]) for k in state if ".conv_block." in k})
    n_blocks = len(block_ids)
    # convolution kernels are 4-D; a frozen norm's weight is 1-D
    conv_keys = [k for k in state if k.endswith(".weight") and state[k].ndim == 4]
    convs_before = [k for k in conv_keys if ".conv_block." not in k
                    and int(k.split(".")[1]) < (block_ids[0] if block_ids else 10**6)]
    n_down = len(convs_before) - 1
    last = max(int(k.split(".")[1]) for k in conv_keys)
    output_nc = int(state[f"model.{last}.weight"].shape[0])
    frozen = any(k.endswith(".var") for k in state) and any(k.endswith(".mean") for k in state)
    return GeneratorConfig(ngf, n_down, n_blocks, input_nc, output_nc,
                           "frozen" if frozen else "instance")


class _StatsRecorder:
    """Forward hook of an :class:`~torch.nn.InstanceNorm2d`: sums of its inputs' per-image,
    per-channel means and biased variances (float64) over every image it sees."""

    def __init__(self, channels: int) -> None:
        self.mean_sum = torch.zeros(channels, dtype=torch.float64)
        self.var_sum = torch.zeros(channels, dtype=torch.float64)
        self.images = 0

    def __call__(self, _module: nn.Module, args: tuple[torch.Tensor, ...], _out: Any) -> None:
        x = args[0].detach().double()
        self.mean_sum += x.mean(dim=(2, 3)).sum(0).cpu()
        self.var_sum += x.var(dim=(2, 3), unbiased=False).sum(0).cpu()
        self.images += int(x.shape[0])


def freeze_norms(generator: GlobalGenerator,
                 inputs: Iterable[torch.Tensor]) -> GlobalGenerator:
    """A frozen-norm copy of an instance-norm generator, its statistics measured on ``inputs``.

    ``inputs``: tensors (N, C, H, W) as the generator takes them (normalised network inputs,
    sides multiples of 2^n_downsampling). The instance-norm generator runs on each; every
    :class:`~torch.nn.InstanceNorm2d` records, per image and channel, the mean and the biased
    variance over the frame of its input — what it normalised by. The new generator (same
    sizes, ``norm="frozen"``, a copy of every convolution weight, on the same device and in
    the same train/eval mode) gets in the matching :class:`FrozenNorm`: ``mean`` = the mean
    over all images of the per-image means, ``var`` = the mean over all images of the
    per-image variances (not the pooled variance: the spread of the per-image means is left
    out, as each image was normalised by its own variance), ``eps`` = the instance norm's,
    ``weight`` = 1 and ``bias`` = 0. Calibrated on one image, its output on that image is the
    instance-norm generator's (to float round-off). ``generator`` is left unchanged.
    """
    if not isinstance(generator, GlobalGenerator) or generator.config.norm != "instance":
        got = generator.config.norm if isinstance(generator, GlobalGenerator) else type(generator)
        raise InputError(f"freeze_norms needs an instance-norm GlobalGenerator, got {got!r}")
    norms = [m for m in generator.modules() if isinstance(m, nn.InstanceNorm2d)]
    recorders = [_StatsRecorder(m.num_features) for m in norms]
    handles = [m.register_forward_hook(r) for m, r in zip(norms, recorders)]
    was_training = generator.training
    device = next(generator.parameters()).device
    try:
        generator.eval()
        with torch.no_grad():
            for x in inputs:
                if not isinstance(x, torch.Tensor) or x.ndim != 4:
                    raise InputError(f"freeze_norms takes (N, C, H, W) tensors, got "
                                     f"{tuple(getattr(x, 'shape', ())) or type(x).__name__}")
                generator(x.to(device=device, dtype=torch.float32))
    finally:
        for h in handles:
            h.remove()
        generator.train(was_training)
    if not recorders or recorders[0].images == 0:
        raise InputError("freeze_norms needs at least one input image to measure the statistics")
    frozen = GlobalGenerator(replace(generator.config, norm="frozen")).to(device)
    missing, unexpected = frozen.load_state_dict(generator.state_dict(), strict=False)
    targets = [m for m in frozen.modules() if isinstance(m, FrozenNorm)]
    norm_keys = {f"{name}.{p}" for name, m in frozen.named_modules() if isinstance(m, FrozenNorm)
                 for p in ("mean", "var", "weight", "bias")}
    if unexpected or set(missing) != norm_keys or len(targets) != len(norms):
        raise InputError(f"freeze_norms: the generator's layers do not match a frozen-norm "
                         f"generator of its config (missing {missing}, unexpected {unexpected})")
    with torch.no_grad():
        for src, dst, rec in zip(norms, targets, recorders):
            dst.eps = float(src.eps)
            dst.mean.copy_(rec.mean_sum / rec.images)
            dst.var.copy_(rec.var_sum / rec.images)
            dst.weight.fill_(1.0)
            dst.bias.fill_(0.0)
    return frozen.train(was_training)


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
