"""The training loop of a prepared run: steps, checkpoints, exports, validation, callbacks.

:class:`TrainingRun` drives a :class:`~._train_setup.RunPlan` and its
:class:`~._train_setup.Session` (see :func:`napari_specktrack.learn.train.train` for the
run folder and the callbacks).
"""

from __future__ import annotations

import json
import time
from collections import deque
from typing import Any

import numpy as np

from .. import __version__
from ..errors import CancelledError, SpecktrackError
from ._checkpoint import export_generator, save_checkpoint
from ._train_log import LOSS_KEYS, LossLog, format_losses
from ._train_setup import RunPlan, Session
from ._train_step import check_finite, train_step
from ._validation import Validator, figures

#: steps over which the model card averages the losses
MEAN_OVER_STEPS = 100


class TrainingRun:
    """One run of the loop; :meth:`run` trains and returns the summary."""

    def __init__(self, plan: RunPlan, session: Session, hooks: dict[str, Any], *,
                 register: bool = True) -> None:
        self.plan, self.s, self.hooks, self.register = plan, session, hooks, register
        self.say = hooks.get("log") or (lambda msg: None)
        c = plan.config
        self.init_record = self._init_record()
        self.meta = {"preset": c.preset, "normalisation": plan.norm, "train_config": c.to_dict(),
                     "generator_config": session.gen.config.to_dict(),
                     "pairs": str(plan.pairs_dir), "init_weights": self.init_record,
                     "version": __version__}
        self.last: dict[str, float] = {}
        self.recent: deque[dict[str, float]] = deque(maxlen=MEAN_OVER_STEPS)
        self.history = self._old_history()
        self.latest: dict[str, Any] | None = self.history[-1] if self.history else None
        val = plan.validation or plan.training
        self.validator = Validator(val, held_out=plan.validation is not None, norm=plan.norm,
                                   generator_config=session.gen.config.to_dict(),
                                   device=plan.device)
        self.t0 = time.perf_counter()

    # --- set-up -----------------------------------------------------------------------------
    def _init_record(self) -> dict[str, Any] | None:
        plan = self.plan
        if plan.state is not None:  # resumed: the record the run started with
            return json.loads(plan.state.get("meta") or "{}").get("init_weights")
        if plan.init is None:
            return None
        from ..provenance import file_input
        from .inference import weights_path

        name = plan.config.init_weights
        path = weights_path(name)
        return {**file_input(path), "name": name, "step": plan.init[1].get("step")}

    def _old_history(self) -> list[dict[str, Any]]:
        from .model_card import JSON_NAME

        path = self.plan.folder.target / JSON_NAME
        if self.plan.state is None or not path.is_file():
            return []
        try:
            old = json.loads(path.read_text()).get("validation", {}).get("history", [])
        except (OSError, ValueError, AttributeError):
            return []
        return [h for h in old if isinstance(h, dict) and h.get("step", 0) <= self.s.step]

    def _start(self) -> None:
        from ..io import write_json
        from ..provenance import file_input, make_record

        plan, folder = self.plan, self.plan.folder
        inputs = {"pairs": file_input(plan.pairs_dir / "pairs.json")}
        if self.init_record:
            inputs["init_weights"] = {k: self.init_record[k] for k in ("path", "sha256", "bytes")}
        write_json(folder.path("run.json"), {
            "config": plan.config.to_dict(), "pairs": str(plan.pairs_dir),
            "normalisation": plan.norm, "init_weights": self.init_record,
            "validation_pairs": plan.validation.names if plan.validation else [],
            "version": __version__,
            "provenance": make_record("train", plan.config.to_dict(), inputs, plan.pairs.geometry),
        })
        self.log = LossLog(lambda: folder.path("losses.csv"),
                           resume_at=self.s.step if plan.state is not None else None)
        if not folder.replaces:  # nothing to protect: the run folder appears now
            folder.commit()
        if plan.state is not None:
            self.say(f"resuming {folder.target} at step {self.s.step}")

    # --- the loop ---------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        try:
            self._start()
            self._loop()
        except BaseException:
            self.plan.folder.abort()  # a replacing run that never checkpointed: the old one stays
            raise
        folder = self.plan.folder.target
        return {"steps": self.s.step, "seconds": time.perf_counter() - self.t0,
                "last_losses": self.last, "run": str(folder),
                "generator": str(folder / "generator.safetensors"), "validation": self.latest}

    def _loop(self) -> None:
        from .pairs import PairDataset

        s, c, plan = self.s, self.plan.config, self.plan
        n, total = len(plan.training), plan.total_steps
        dataset = PairDataset(plan.training, plan.norm, crop_yx_px=c.crop_yx_px, seed=c.seed)
        exported_at = -1
        s.gen.train()
        s.disc.train()
        while s.step < total:
            epoch, k = divmod(s.step, n)
            order = np.random.default_rng([c.seed, epoch]).permutation(n)
            dataset.epoch = epoch
            for idx in order[k:]:
                if s.step >= total:
                    break
                cancel = self.hooks.get("cancel")
                if cancel is not None and cancel():
                    self._export(validate=False)
                    raise CancelledError(f"training cancelled at step {s.step}; continue it with "
                                         f"--resume")
                a, b = dataset[int(idx)]
                losses = train_step(s, a, b)
                check_finite(losses, s.step)  # the last checkpoint stays the last good state
                self._after_step(epoch, losses, total)
            if s.step % n == 0 or s.step >= total:
                self._export(validate=True, complete=s.step % n == 0)
                exported_at = s.step
        if exported_at != s.step:  # nothing left to run: export (and validate) the saved state
            self._export(validate=True)

    def _after_step(self, epoch: int, losses: dict[str, float], total: int) -> None:
        self.last = losses
        self.recent.append(losses)
        self.log.add(self.s.step, epoch, losses)
        if self.s.step % self.plan.config.checkpoint_every_steps == 0:
            self._checkpoint()
        if self.hooks.get("progress") is not None:
            self.hooks["progress"](self.s.step, total)
        if self.hooks.get("on_step") is not None:
            self.hooks["on_step"](self.s.step, dict(losses))

    # --- writing ----------------------------------------------------------------------------
    def _checkpoint(self) -> None:
        folder = self.plan.folder
        self.log.flush()
        save_checkpoint(self.s.checkpoint(self.plan.norm, self.meta), folder.path("checkpoint.pt"))
        folder.commit()  # a run replacing an old one takes its place at its first checkpoint

    def _export(self, *, validate: bool, complete: bool = False) -> None:
        report = self._validate(complete) if validate else None
        self._checkpoint()
        folder = self.plan.folder
        export_generator(self.s.exported, folder.path("generator.safetensors"),
                         {**self.meta, "step": self.s.step})
        self._write_card()
        self._register()
        n = len(self.plan.training)
        line = f"step {self.s.step}/{self.plan.total_steps} (epoch {self.s.step / n:.3g})"
        if self.last:
            line += ": " + format_losses(self.last)
        if report is not None:
            line += f"; validation SSIM {report['ssim']:.4f}"
            if report["phase_error_ratio"] is not None:
                line += f", phase error ratio {report['phase_error_ratio']:.3f}"
        self.say(line)
        if report is not None and self.hooks.get("on_epoch") is not None:
            self.hooks["on_epoch"](report["epoch"], report)

    def _validate(self, complete: bool) -> dict[str, Any]:
        n, step = len(self.plan.training), self.s.step
        report = self.validator.report(self.s.exported)
        report.update(step=step, epoch=(step - 1) // n + 1 if step else 0, epoch_complete=complete,
                      epochs_done=step / n, losses=dict(self.last))
        self.latest = {k: v for k, v in figures(report).items() if k != "losses"}
        self.history = [h for h in self.history if h.get("step") != step] + [self.latest]
        return report

    def _write_card(self) -> None:
        from .model_card import build_card, write_card

        plan, n = self.plan, len(self.plan.training)
        mean = {k: float(np.mean([r[k] for r in self.recent])) for k in LOSS_KEYS} \
            if self.recent else {}
        card = build_card(
            name=plan.folder.target.name,
            data={"pairs": str(plan.pairs_dir.resolve()), "n_training": n,
                  "n_validation": len(plan.validation) if plan.validation else 0,
                  "crop_yx_px": list(plan.config.crop_yx_px),
                  "geometry": plan.pairs.geometry.to_dict(),
                  "records": plan.pairs.records, "shapes": plan.shapes},
            recipe={"train_config": plan.config.to_dict(), "init_weights": self.init_record,
                    "normalisation": plan.norm},
            training={"step": self.s.step, "epochs_done": self.s.step / n,
                      "seconds": time.perf_counter() - self.t0, "last_losses": self.last,
                      "mean_losses": mean, "mean_over_steps": len(self.recent)},
            validation={"latest": self.latest, "history": self.history})
        write_card(card, plan.folder.path)

    def _register(self) -> None:
        if not self.register:
            return
        from .models import register_model

        try:
            register_model(self.plan.folder.target)
        except (SpecktrackError, OSError) as exc:  # the list is a convenience: keep training
            self.say(f"could not add the run to the list of known models: {exc}")
