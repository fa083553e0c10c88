"""The settings of a training run, and their one check (every number before anything runs)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from ..errors import FileFormatError, InputError

#: the command-line option of each setting, named in messages
FLAGS = {
    "preset": "--preset", "epochs": "--epochs", "crop_yx_px": "--crop", "lr": "--lr",
    "seed": "--seed", "device": "--device", "vgg_weights": "--vgg-weights",
    "l1_weight": "--l1-weight", "grad_weight": "--grad-weight", "ndf": "--ndf",
    "checkpoint_every_steps": "--checkpoint-every",
    "max_steps": "--max-steps", "ema_decay": "--ema-decay", "init_weights": "--init-weights",
    "norm": "--norm",
}


def _bad(name: str, rule: str, value: Any) -> InputError:
    flag = FLAGS.get(name)
    return InputError(f"{name}{f' ({flag})' if flag else ''} must be {rule}, got {value!r}")


def _whole(name: str, value: Any, lo: int) -> None:
    ok = not isinstance(value, bool) and isinstance(value, (int, float)) and value == value
    if not (ok and math.isfinite(value) and int(value) == value and value >= lo):
        raise _bad(name, f"a whole number ≥ {lo}", value)


def _real(name: str, value: Any, lo: float, hi: float | None = None, *,
          lo_open: bool = False) -> None:
    """A finite number in [lo, hi) — (lo, hi) with ``lo_open``."""
    ok = not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
    ok = ok and (value > lo if lo_open else value >= lo) and (hi is None or value < hi)
    if not ok:
        if hi is not None:
            rule = f"a number in {'(' if lo_open else '['}{lo:g}, {hi:g})"
        else:
            rule = "a positive finite number" if lo_open and lo == 0 else f"a finite number ≥ {lo:g}"
        raise _bad(name, rule, value)


@dataclass
class TrainConfig:
    """Training settings.

    Sizes in pixels (``crop_yx_px`` = (height, width) of the training crops, multiples of
    2^n_downsampling of the preset); ``lr`` per step (Adam, both networks); loss weights
    dimensionless; ``checkpoint_every_steps`` and ``max_steps`` in steps (one crop each);
    ``ema_decay`` per step. ``init_weights``: ``None`` (random initialisation), ``"pretrained"``
    (the shipped weights) or a weights file — the generator starts from those weights
    (fine-tuning), the discriminator starts fresh. ``norm``: the generator's norm, "instance"
    or "frozen" (:class:`~.networks.FrozenNorm`); ``None`` keeps the initial weights' norm
    (instance for random weights). "frozen" from instance-norm weights (or random ones) freezes
    their norms at the statistics of the first 8 training crops (:func:`~.networks.freeze_norms`);
    frozen norms cannot be turned back into instance norms. A resumed run keeps its norm.
    """

    preset: str = "lite"
    epochs: int = 10
    crop_yx_px: tuple[int, int] = (1024, 512)
    lr: float = 2e-4
    beta1: float = 0.5
    seed: int = 0
    device: str = "cpu"
    lsgan: bool = False  # the paper: sigmoid discriminator outputs + BCE; LSGAN is pix2pixHD's default
    feat_weight: float = 10.0
    vgg_weights: str | None = None
    vgg_weight: float = 10.0
    l1_weight: float = 10.0
    #: weight of an L1 term on the outputs' finite differences (image gradients, per pixel) —
    #: the edge fringes, a small share of the pixels, carry most of what the phase needs
    grad_weight: float = 0.0
    ndf: int = 64
    num_d: int = 2
    n_layers_d: int = 3
    checkpoint_every_steps: int = 200
    max_steps: int | None = None
    amp: bool = True
    ema_decay: float = 0.999  # exported generator = moving average of the weights; 0: raw weights
    init_weights: str | None = None
    norm: str | None = None  # None: as the initial weights (a run written before: None)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["crop_yx_px"] = list(self.crop_yx_px)
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        d = {k: v for k, v in data.items() if k in known}
        if "crop_yx_px" in d:
            d["crop_yx_px"] = tuple(d["crop_yx_px"])
        return cls(**d)

    @property
    def multiple(self) -> int:
        """Crop sides must be multiples of this (2^n_downsampling of the preset), pixels."""
        from .networks import PRESETS

        return PRESETS[self.preset].multiple

    def check(self) -> TrainConfig:
        """Check every setting; returns self. Raises :class:`InputError` naming the option."""
        from .networks import NORMS, PRESETS

        if self.preset not in PRESETS:
            raise InputError(f"unknown preset {self.preset!r} (--preset); choose one of "
                             f"{sorted(PRESETS)}")
        for name, lo in (("epochs", 1), ("ndf", 1), ("num_d", 1), ("n_layers_d", 1),
                         ("checkpoint_every_steps", 1), ("seed", 0)):
            _whole(name, getattr(self, name), lo)
        if self.max_steps is not None:
            _whole("max_steps", self.max_steps, 1)
        _real("lr", self.lr, 0.0, lo_open=True)
        _real("beta1", self.beta1, 0.0, 1.0)
        for name in ("feat_weight", "vgg_weight", "l1_weight", "grad_weight"):
            _real(name, getattr(self, name), 0.0)
        _real("ema_decay", self.ema_decay, 0.0, 1.0)
        if self.norm is not None and self.norm not in NORMS:
            raise _bad("norm", f"one of {', '.join(repr(n) for n in NORMS)} (or unset: as the "
                               f"initial weights)", self.norm)
        self._check_crop()
        for name in ("vgg_weights", "init_weights"):
            value = getattr(self, name)
            if value is None or (name == "init_weights" and str(value) in _shipped_names()):
                continue
            if not Path(value).expanduser().is_file():
                what = "a shipped model ('pretrained', …) or a weights file" \
                    if name == "init_weights" else "a file"
                raise FileFormatError(f"{name} ({FLAGS[name]}) {value} not found; give {what}")
        return self

    def _check_crop(self) -> None:
        crop, m = self.crop_yx_px, self.multiple
        pair = isinstance(crop, (tuple, list)) and len(crop) == 2 and all(
            not isinstance(c, bool) and isinstance(c, (int, float)) and math.isfinite(c)
            for c in crop)
        if pair and all(c == int(c) and c >= m and int(c) % m == 0 for c in crop):
            return
        hint = ""
        if pair:  # the nearest valid crop at least as large
            hint = "; use " + " ".join(str(max(m, -(-int(c) // m) * m)) for c in crop)
        raise InputError(f"crop_yx_px (--crop) must be two whole numbers of pixels, positive "
                         f"multiples of {m} (2^n_downsampling of the {self.preset} preset), got "
                         f"{tuple(crop) if isinstance(crop, (tuple, list)) else crop!r}{hint}")


def _shipped_names() -> set[str]:
    from .inference import shipped_weights

    return set(shipped_weights())
