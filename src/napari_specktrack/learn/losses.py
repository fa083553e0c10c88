"""Losses of pix2pixHD (Wang et al. 2018) as Yu et al. train it.

- conditional GAN loss summed over the discriminator scales: LSGAN (pix2pixHD's default) or
  binary cross-entropy on sigmoid outputs (the paper's wording);
- discriminator feature matching: Σ_scales Σ_layers (4/(n_layers+1)) / num_D · L1(D(fake), D(real))
  over every intermediate layer, weighted by λ = 10;
- VGG19 perceptual loss, layer weights 1/32, 1/16, 1/8, 1/4, 1 (relu1_1 … relu5_1), λ = 10.
  VGG19 is defined here; its ImageNet weights are read from a file the user gives (a
  torchvision ``vgg19`` state dict, loaded with ``weights_only=True``) — nothing is downloaded.
  Without the file, training runs with feature matching alone and says so.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch import nn

from ..errors import FileFormatError

log = logging.getLogger(__name__)

VGG_LAYER_WEIGHTS = (1 / 32, 1 / 16, 1 / 8, 1 / 4, 1.0)
# indices (in torchvision's vgg19.features) after which relu1_1 … relu5_1 are taken
_VGG_SLICES = (2, 7, 12, 21, 30)
_VGG_CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
            512, 512, 512, 512, "M")


def gan_loss(outputs: list[list[torch.Tensor]], target_is_real: bool, lsgan: bool = True) -> torch.Tensor:
    """GAN loss over all discriminator scales (on each scale's last output)."""
    loss = 0.0
    for scale in outputs:
        pred = scale[-1]
        target = torch.full_like(pred, 1.0 if target_is_real else 0.0)
        if lsgan:
            loss = loss + nn.functional.mse_loss(pred, target)
        else:
            loss = loss + nn.functional.binary_cross_entropy(pred.clamp(1e-6, 1 - 1e-6), target)
    return loss


def feature_matching_loss(fake: list[list[torch.Tensor]], real: list[list[torch.Tensor]],
                          n_layers: int = 3, weight: float = 10.0) -> torch.Tensor:
    """pix2pixHD's discriminator feature-matching loss (real features detached)."""
    num_d = len(fake)
    w_layer = 4.0 / (n_layers + 1)
    loss = 0.0
    for f_scale, r_scale in zip(fake, real, strict=True):
        for f, r in zip(f_scale[:-1], r_scale[:-1], strict=True):
            loss = loss + w_layer / num_d * nn.functional.l1_loss(f, r.detach()) * weight
    return loss


class VGG19Features(nn.Module):
    """VGG19's convolutional trunk (torchvision layout: keys ``features.N.weight``)."""

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c = 3
        for v in _VGG_CFG:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(c, int(v), 3, padding=1), nn.ReLU(inplace=False)]
                c = int(v)
        self.features = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outs = []
        start = 0
        for end in _VGG_SLICES:
            for layer in self.features[start:end]:
                x = layer(x)
            outs.append(x)
            start = end
        return outs


class VGGLoss(nn.Module):
    """Perceptual loss on VGG19 features; grayscale inputs are repeated to 3 channels."""

    def __init__(self, weights_path: str | Path, weight: float = 10.0) -> None:
        super().__init__()
        path = Path(weights_path)
        if not path.is_file():
            raise FileFormatError(f"VGG19 weights {path} not found; pass a torchvision vgg19 state dict")
        state = torch.load(path, map_location="cpu", weights_only=True)
        state = {k: v for k, v in state.items() if k.startswith("features.")}
        self.vgg = VGG19Features()
        missing = self.vgg.load_state_dict(state, strict=False).missing_keys
        if missing:
            raise FileFormatError(f"{path} is not a VGG19 state dict (missing {missing[:3]} …)")
        for p in self.vgg.parameters():
            p.requires_grad_(False)
        self.weight = weight
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))

    def _prep(self, x: torch.Tensor) -> torch.Tensor:
        x = (x + 1) / 2  # tanh range → [0, 1]
        if x.shape[1] == 1:
            x = x.repeat(1, 3, 1, 1)
        return (x - self.mean) / self.std

    def forward(self, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        f, r = self.vgg(self._prep(fake)), self.vgg(self._prep(real))
        loss = 0.0
        for w, a, b in zip(VGG_LAYER_WEIGHTS, f, r, strict=True):
            loss = loss + w * nn.functional.l1_loss(a, b.detach())
        return loss * self.weight


def make_vgg_loss(weights_path: str | Path | None, weight: float = 10.0) -> VGGLoss | None:
    """The VGG loss, or None (with a warning) when no weights file is given."""
    if weights_path is None:
        log.warning("no VGG19 weights file given: training with GAN + feature matching only "
                    "(the paper adds a VGG19 perceptual loss; pass --vgg-weights to enable it)")
        return None
    return VGGLoss(weights_path, weight)
