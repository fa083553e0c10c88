"""Setting a training run up: every check first (:func:`prepare_run`), then the networks.

:func:`prepare_run` validates the settings, the device, the run folder, the initial weights
and the pairs, and creates nothing; :func:`build_session` makes the generator, its moving
average, the discriminator and both Adams — from a checkpoint when resuming, from initial
weights when fine-tuning, else randomly (seeded by ``config.seed``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..errors import FileFormatError, InputError
from ._train_checks import (
    RunFolder,
    check_crop,
    open_pairs,
    pair_shapes,
    plan_run_folder,
    split_pairs,
)
from ._train_config import TrainConfig
from .pairs import PairFolder, compute_normalisation


@dataclass
class RunPlan:
    """A checked run: where it writes, what it trains on, from which state."""

    pairs_dir: Path
    folder: RunFolder
    config: TrainConfig
    device: str
    pairs: PairFolder  #: every pair
    training: PairFolder
    validation: PairFolder | None  #: the "validation" split, or None (none held out)
    shapes: list[tuple[int, int]]  #: (y, x) pixels of each pair, in ``pairs`` order
    norm: dict[str, float]
    state: dict[str, Any] | None = None  #: the checkpoint to resume
    init: tuple[dict, dict] | None = None  #: (generator state dict, metadata) to fine-tune from

    @property
    def total_steps(self) -> int:
        total = self.config.epochs * len(self.training)
        return total if self.config.max_steps is None else min(total, self.config.max_steps)

    @property
    def start_step(self) -> int:
        return int(self.state["step"]) if self.state else 0


def _resumed_config(state: dict, overrides: dict[str, Any]) -> TrainConfig:
    config = TrainConfig.from_dict(json.loads(state["config"]))
    epochs = overrides.get("epochs")
    if epochs is not None and epochs < config.epochs:
        raise InputError(f"--epochs {epochs} is below the run's {config.epochs}; give a larger "
                         f"number to continue training, or leave --epochs out")
    return replace(config, **{k: v for k, v in overrides.items() if v is not None})


def _init_weights(config: TrainConfig) -> tuple[dict, dict] | None:
    """The generator state dict and metadata to start from (checked: shapes, finite values)."""
    if config.init_weights is None:
        return None
    from .inference import load_generator

    model, meta = load_generator(config.init_weights, "cpu", preset=config.preset)
    if config.norm == "instance" and model.config.norm == "frozen":
        raise InputError(f"init_weights (--init-weights) {config.init_weights} has frozen norms, "
                         f"which cannot be turned back into instance norms; leave --norm out or "
                         f"pass --norm frozen")
    return model.state_dict(), meta


def prepare_run(pairs_dir: str | Path, run_dir: str | Path, config: TrainConfig | None, *,
                resume: bool, overwrite: bool, overrides: dict[str, Any]) -> RunPlan:
    """Check everything a run needs, in order of cost; nothing is created."""
    from ..devices import resolve_device
    from ._checkpoint import load_checkpoint

    pairs_dir, run = Path(pairs_dir).expanduser(), Path(run_dir).expanduser()
    folder = plan_run_folder(run, pairs_dir, resume=resume, overwrite=overwrite)
    state = load_checkpoint(run / "checkpoint.pt") if resume else None
    if state is not None:
        config = _resumed_config(state, overrides)
    config = (config or TrainConfig()).check()
    device = resolve_device(config.device)
    init = _init_weights(config) if state is None else None
    pairs = open_pairs(pairs_dir)
    training, validation = split_pairs(pairs)
    shapes = pair_shapes(pairs)
    check_crop(pairs, shapes, config.crop_yx_px, config.multiple)
    if state is not None:
        norm = json.loads(state["normalisation"])
    elif init is not None and init[1].get("normalisation"):
        norm = dict(init[1]["normalisation"])  # fine-tuning keeps the weights' own map
    else:
        norm = pairs.normalisation or compute_normalisation(training)
    return RunPlan(pairs_dir, folder, config, device, pairs, training, validation, shapes, norm,
                   state, init)


#: training crops whose statistics a run converting to frozen norms calibrates them on
CALIBRATION_CROPS = 8


def _calibration_inputs(plan: RunPlan) -> list:
    """The first :data:`CALIBRATION_CROPS` training inputs as the network sees them: normalised,
    cut to the run's crop size (at the positions epoch 0 would cut, without flips or turns),
    each (1, 1, h, w)."""
    from .pairs import PairDataset

    data = PairDataset(plan.training, plan.norm, crop_yx_px=plan.config.crop_yx_px,
                       augment=False, seed=plan.config.seed)
    return [data[i][0][None] for i in range(min(CALIBRATION_CROPS, len(data)))]


def _generator_norm(plan: RunPlan) -> str:
    """The norm of the generator the weights to load were made with: a resumed run's own,
    the initial weights', else instance (random weights)."""
    from .networks import config_from_state_dict

    if plan.state is not None:
        return config_from_state_dict(plan.state["generator"]).norm
    if plan.init is not None:
        return config_from_state_dict(plan.init[0]).norm
    return "instance"


@dataclass
class Session:
    """The networks and optimisers of a run, and its step."""

    config: TrainConfig
    device: str
    gen: Any
    ema: Any
    disc: Any
    opt_g: Any
    opt_d: Any
    scaler: Any
    vgg: Any
    use_amp: bool
    step: int = 0

    @property
    def exported(self) -> Any:
        """The generator that is exported: its moving average, or the raw one (ema_decay 0)."""
        return self.ema if self.config.ema_decay > 0 else self.gen

    def checkpoint(self, norm: dict, meta: dict) -> dict[str, Any]:
        """The full state as tensors and plain containers (what checkpoint.pt holds)."""
        ck = {
            "generator": self.gen.state_dict(), "discriminator": self.disc.state_dict(),
            "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict(), "step": self.step,
            "config": json.dumps(self.config.to_dict()), "normalisation": json.dumps(norm),
            "meta": json.dumps({**meta, "step": self.step}),
        }
        if self.config.ema_decay > 0:  # the averaged weights: what inference loads from a checkpoint
            ck["generator_ema"] = self.ema.state_dict()
        return ck


def build_session(plan: RunPlan) -> Session:
    """The networks and optimisers: from the checkpoint, the initial weights, or random."""
    import torch

    from .losses import make_vgg_loss
    from .networks import PRESETS, GlobalGenerator, MultiscaleDiscriminator, freeze_norms

    config, device = plan.config, plan.device
    torch.manual_seed(config.seed)
    gen = GlobalGenerator(replace(PRESETS[config.preset], norm=_generator_norm(plan))).to(device)
    disc = MultiscaleDiscriminator(2, config.ndf, config.n_layers_d, config.num_d,
                                   use_sigmoid=not config.lsgan).to(device)
    if plan.init is not None:
        gen.load_state_dict(plan.init[0])
    if plan.state is None and config.norm == "frozen" and gen.config.norm == "instance":
        gen = freeze_norms(gen, _calibration_inputs(plan))
    betas = (config.beta1, 0.999)
    opt_g = torch.optim.Adam(gen.parameters(), lr=config.lr, betas=betas)
    opt_d = torch.optim.Adam(disc.parameters(), lr=config.lr, betas=betas)
    ema = GlobalGenerator(gen.config).to(device).eval()
    ema.load_state_dict(gen.state_dict())
    ema.requires_grad_(False)
    vgg = make_vgg_loss(config.vgg_weights, config.vgg_weight)
    use_amp = config.amp and device.startswith("cuda")
    s = Session(config, device, gen, ema, disc, opt_g, opt_d,
                torch.amp.GradScaler("cuda", enabled=use_amp),
                vgg.to(device) if vgg is not None else None, use_amp)
    if plan.state is not None:
        try:
            _load_state(s, plan.state)
        except (RuntimeError, KeyError, ValueError) as exc:  # shapes or keys of another run
            raise FileFormatError(f"{plan.folder.target / 'checkpoint.pt'} does not fit this "
                                  f"run's networks ({str(exc)[:160]}); start a new run") from exc
    return s


def _load_state(s: Session, state: dict[str, Any]) -> None:
    s.gen.load_state_dict(state["generator"])
    s.disc.load_state_dict(state["discriminator"])
    s.opt_g.load_state_dict(state["opt_g"])
    s.opt_d.load_state_dict(state["opt_d"])
    s.step = int(state["step"])
    # a checkpoint from before weight averaging starts its average at the current weights
    s.ema.load_state_dict(state.get("generator_ema", state["generator"]))
    for opt in (s.opt_g, s.opt_d):  # the saved Adam state carries the old rate
        for group in opt.param_groups:
            group["lr"] = s.config.lr
