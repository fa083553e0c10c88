"""Training the generator on a pair folder: pix2pixHD losses, checkpoints, resume, cancel.

``train(pairs_dir, run_dir, TrainConfig(...))`` is the loop the CLI (``specktrack train``) and
the Training dock drive. Each step draws one aligned random crop pair (batch 1, as the paper)
and updates the discriminator and the generator (:mod:`._train_step`).

Run folder::

    run_dir/run.json               the configuration, the pair folder, the normalisation, the
                                   initial weights and a provenance record (step "train")
    run_dir/checkpoint.pt          latest full state (G, its moving average, D, both Adams,
                                   step, configuration, normalisation), written atomically every
                                   ``checkpoint_every_steps`` steps, at each epoch end and on
                                   cancel; tensors and plain containers only
    run_dir/losses.csv             one row per step
    run_dir/generator.safetensors  the exported generator + metadata, at each epoch end, on
                                   cancel and at the end (the moving average of its weights)
    run_dir/model_card.json        the model card (:mod:`.model_card`), rewritten at each export,
    run_dir/MODEL_CARD.md          with the validation figures of every epoch

**Safety** (:mod:`napari_specktrack.safety`). Everything is checked before anything is made
(:func:`~._train_setup.prepare_run`): the settings (:meth:`TrainConfig.check`), the device,
the run folder, the initial weights and every pair. A run folder that is not empty is refused
unless ``resume`` (continue it) or ``overwrite`` (replace it: the new run is written beside the
old one and swapped in when it writes its first checkpoint; a crash before that leaves the old
run untouched). Stale ``.part`` files of a killed run are removed at the next start.

**Resume** continues from checkpoint.pt at the exact step: the data order is a pure function of
(seed, epoch), so the remaining crops of the interrupted epoch are those an uninterrupted run
would have drawn.

**Validation** (:mod:`._validation`): pairs whose record has ``"split": "validation"`` are held
out of training; after each epoch the exported generator is run on the first of them and the
figures go to ``on_epoch``, the model card and the log. Without a split nothing is held out and
the figures are measured on the first training pair (the report's ``held_out`` is False).

**Fine-tuning**: ``TrainConfig.init_weights`` ("pretrained" or a weights file) starts the
generator (and its average) from those weights, with their normalisation; the discriminator
starts fresh. Recorded in run.json and the model card.

Weight averaging: besides the generator being trained, the loop keeps an exponential moving
average of its weights (``ema_decay``, default 0.999: a memory of about 1000 steps, with the
usual warm-up min(decay, (1 + step)/(10 + step))), and that average is what it exports. A GAN
generator at batch 1 wanders from step to step; averaging its recent weights gives a steadier,
more accurate model (held-out SSIM measured +0.01–0.02 here) at no training cost. Set
``ema_decay`` to 0 to export the raw weights. Not in pix2pixHD; common in later GAN work.

Departure from the paper: ``l1_weight`` (default 10) adds an L1 term between generated and
target images. pix2pixHD has none; on a CPU budget of a few thousand steps it makes the small
``lite`` generator converge far sooner. Set it to 0 for the paper's losses.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from ._train_config import TrainConfig
from ._train_log import LOSS_COLUMNS

__all__ = ["LOSS_COLUMNS", "TrainConfig", "train"]


def train(
    pairs_dir: str | Path,
    run_dir: str | Path,
    config: TrainConfig | None = None,
    *,
    resume: bool = False,
    overwrite: bool = False,
    epochs: int | None = None,
    lr: float | None = None,
    l1_weight: float | None = None,
    grad_weight: float | None = None,
    max_steps: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    cancel: Callable[[], bool] | None = None,
    log: Callable[[str], None] | None = None,
    on_step: Callable[[int, dict[str, float]], None] | None = None,
    on_epoch: Callable[[int, dict[str, Any]], None] | None = None,
    register: bool = True,
) -> dict[str, Any]:
    """Train (or resume training) a generator; returns a summary of the run.

    Parameters
    ----------
    pairs_dir, run_dir
        The pair folder (:mod:`.pairs`) and the run folder (see the module docstring).
    config
        The settings of a new run (default :class:`TrainConfig`); ignored with ``resume``,
        which continues with the run's own.
    resume, overwrite
        Continue the run in ``run_dir`` at its saved step, or replace the run there whole.
        Without either, a non-empty ``run_dir`` is refused.
    epochs, lr, l1_weight, grad_weight, max_steps
        Replace these settings (of ``config``, or of the resumed run): ``epochs`` — the total
        number of passes, with ``resume`` at least the run's; ``lr`` — Adam's rate per step
        for the steps still to run; ``l1_weight``, ``grad_weight`` — the weights of the L1
        terms on values and on finite differences; ``max_steps``
        — the step limit (the run stops and exports there; one at or below the saved step
        only exports). All are recorded in run.json and the checkpoint.
    progress
        ``progress(step, total_steps)`` after every step.
    cancel
        Checked before every step; on True the state is checkpointed and exported and
        :class:`~napari_specktrack.errors.CancelledError` raised — ``resume=True`` then
        continues at exactly that step.
    log
        ``log(message)`` for a line per epoch and other news.
    on_step
        ``on_step(step, losses)`` after every step; ``losses`` maps ``g_gan``, ``g_feat``,
        ``g_vgg``, ``g_l1``, ``d_real``, ``d_fake`` to floats (the weighted terms).
    on_epoch
        ``on_epoch(epoch, report)`` after each epoch (``epoch`` 1-based) and once more at the
        end of a run that stops mid-epoch; ``report`` holds ``step``, ``epoch``,
        ``epoch_complete`` (False for that last call), ``epochs_done`` (float), ``losses``
        (the last step's), ``pair`` (the validation pair's name), ``held_out`` (False when the
        pair folder has no validation split and the first training pair is used),
        ``generated`` (float32 (y, x) in-line image of the whole pair, flat-field units),
        ``target`` (its true in-line image), ``ssim``, ``phase_rms_rad``,
        ``phase_rms_conventional_rad``, ``phase_error_ratio`` (None, with ``phase_note``
        saying why, without ``references/<pair>.tif``), ``validation_seconds``.
    register
        Add the run to the user's list of known models (:mod:`.models`) at each export.

    Returns ``{"steps", "seconds", "last_losses", "run", "generator", "validation"}``.
    """
    from ._train_run import TrainingRun
    from ._train_setup import build_session, prepare_run

    overrides = {"epochs": epochs, "lr": lr, "l1_weight": l1_weight, "grad_weight": grad_weight,
                 "max_steps": max_steps}
    if not resume:
        from dataclasses import replace

        config = replace(config or TrainConfig(),
                         **{k: v for k, v in overrides.items() if v is not None})
    plan = prepare_run(pairs_dir, run_dir, config, resume=resume, overwrite=overwrite,
                       overrides=overrides)
    session = build_session(plan)
    hooks = {"progress": progress, "cancel": cancel, "log": log, "on_step": on_step,
             "on_epoch": on_epoch}
    return TrainingRun(plan, session, hooks, register=register).run()
