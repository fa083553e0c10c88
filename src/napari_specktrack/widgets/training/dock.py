"""The Training dock: train the generator on a pair set, live, and make it a known model.

The dock reads a :class:`~napari_specktrack.learn.train.TrainConfig` from its fields (pair
set, preset, from scratch or fine-tuned from a known model or a file, epochs, an optional
step limit, crop, device, run folder) and runs :func:`~napari_specktrack.learn.train.train`
— the loop of ``specktrack train`` — in its worker. The loop's hooks only queue values
(:mod:`.live`); the main thread draws them a few times a second: the loss curves and, after
each epoch, the validation SSIM and phase ratio (:mod:`.plot`), and the generated image of
the validation pair beside its target as layers (updated in place). Cancel saves a checkpoint
at the current step; *Resume* (enabled when the run folder holds one) continues at exactly
that step. A run folder that holds a run is replaced only after a confirmation. Each run
ends by telling the Generator docks that the list of models changed (:data:`.signals.MODELS`).
There is no batch-size field: the loop trains at batch 1, as the paper.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from magicgui.widgets import ComboBox, Container, FileEdit, ProgressBar, PushButton, SpinBox

from ...errors import InputError, SpecktrackError
from ...learn.train import TrainConfig, train
from .._base import DockBase
from .._layers import put_image_layer
from .._workers import notify_info
from ..curation.exporting import confirm
from ..profile.panels import narrow, row
from . import history
from .live import Batch, LiveFeed
from .plot import TrainingPlot
from .signals import MODELS

GENERATED_NAME = "validation generated"
TARGET_NAME = "validation target"
SCRATCH, FILE = "scratch", "file"
#: pixels between the generated validation image and its target
GAP_PX = 8


def start_choices() -> list[tuple[str, str]]:
    """From scratch, fine-tuning from each known model, or from a file."""
    from ...learn.models import list_models
    from ..generator import model_label

    try:
        entries = list_models()
    except SpecktrackError:
        entries = []
    return [("from scratch", SCRATCH), *((f"fine-tune {model_label(e)}", e.path) for e in entries),
            ("fine-tune from a file…", FILE)]


class TrainingWidget(DockBase):
    """Train, watch, cancel and resume a generator run (see the module docstring)."""

    def __init__(self, napari_viewer: Any) -> None:
        super().__init__(napari_viewer, "training", run_text="Train", scope=False,
                         status_lines=2)
        p = self.add_param
        self.pairs = p("pairs", FileEdit(label="pair set", mode="d",
                                         tooltip="a pair folder (curation dock, specktrack pairs "
                                                 "or specktrack simulate --pairs)"))
        recipe = row("preset / start")
        self.preset = p("preset", ComboBox(choices=["lite", "paper"], value="lite",
                                           tooltip="generator size: lite (CPU) or the paper's"),
                        into=recipe)
        self._start_choices = start_choices()
        self.start_from = p("start", narrow(ComboBox(
            choices=lambda _w: self._start_choices, value=SCRATCH,
            tooltip="random weights, or fine-tune from a known model (its preset) or a file")),
            into=recipe)
        self.append(recipe)
        self.init_file = p("init_file", FileEdit(label="initial weights", mode="r",
                                                 filter="*.safetensors *.pt", visible=False))
        length = row("epochs / step limit")
        self.epochs = p("epochs", narrow(SpinBox(value=10, min=1, max=100000,
                                                 tooltip="passes over the training pairs")),
                        into=length)
        self.max_steps = p("max_steps", narrow(SpinBox(
            value=0, min=0, max=10**9, tooltip="stop at this step (0: when the epochs are done)")),
            into=length)
        self.append(length)
        crop = row("crop h × w (px)")
        self.crop_h = p("crop_h", narrow(SpinBox(value=1024, min=8, max=16384, step=8)), into=crop)
        self.crop_w = p("crop_w", narrow(SpinBox(value=512, min=8, max=16384, step=8)), into=crop)
        self.append(crop)
        self.run_dir = p("run_dir", FileEdit(label="run folder", mode="d",
                                             tooltip="where checkpoint, losses, generator and "
                                                     "model card are written"))
        self.finish_layout()
        self.resume_button = PushButton(text="Resume", tooltip="continue the run in the run "
                                                               "folder at its saved step")
        next(w for w in self if isinstance(w, Container) and self.run_button in w).append(
            self.resume_button)
        self.progress = ProgressBar(label="progress", value=0, min=0, max=1)
        self.insert(self.index(self.status), self.progress)
        self.progress_text = ""
        self.plot = TrainingPlot(napari_viewer)
        anchor = self.progress.native
        while anchor.parent() is not self.native:
            anchor = anchor.parent()
        layout = self.native.layout()
        layout.insertWidget(layout.indexOf(anchor), self.plot, 1)
        self.feed = LiveFeed(self.native, self._deliver)
        self._layers: dict[str, Any] = {}
        self._first: tuple[int, float] | None = None
        self._scale, self._per_epoch = (1.0, 1.0), 0  # µm per pixel, steps per epoch
        self.summary: dict[str, Any] | None = None
        self._connect()

    def _connect(self) -> None:
        self.start_from.changed.connect(self._on_start)
        self._on_start(self.start_from.value)
        self.run_dir.changed.connect(self._sync_resume)
        self.resume_button.changed.connect(lambda _v=None: self.run(resume=True))
        self.runner.done.connect(self._after_run)
        MODELS.changed.connect(self.refresh_models)
        self.native.destroyed.connect(lambda *_: MODELS.changed.disconnect(self.refresh_models))
        self._sync_resume()

    def confirm(self, title: str, text: str) -> bool:
        return confirm(self.native, title, text)

    def _on_start(self, value: str) -> None:
        self.init_file.visible = value == FILE

    def _folder(self) -> Path | None:
        text = str(self.run_dir.value or "").strip()
        return None if text in ("", ".") else Path(text).expanduser()

    def _sync_resume(self, _value: Any = None) -> None:
        self.resume_button.enabled = (not self.runner.running
                                      and history.has_checkpoint(self._folder()))

    def refresh_models(self) -> None:
        """Offer the known models again (after a run registered one)."""
        self._start_choices = start_choices()
        try:
            value = self.start_from.value
            self.start_from.reset_choices()
            self.start_from.value = value if value in self.start_from.choices else SCRATCH
        except RuntimeError:  # the dock's Qt widgets were deleted
            pass

    # --- reading the fields -----------------------------------------------------------------------
    def config(self) -> TrainConfig:
        """The :class:`TrainConfig` of the fields (main thread; checked)."""
        start = self.start_from.value
        init = None if start == SCRATCH else str(self.init_file.value) if start == FILE else start
        if start == FILE and not Path(init).is_file():
            raise InputError(f"initial weights {init!r} not found; choose a .safetensors file "
                             f"or start from scratch")
        steps = int(self.max_steps.value) or None
        return TrainConfig(preset=self.preset.value, epochs=int(self.epochs.value),
                           crop_yx_px=(int(self.crop_h.value), int(self.crop_w.value)),
                           device=self.device.value, max_steps=steps, init_weights=init).check()

    def _paths(self) -> tuple[Path, Path]:
        text = str(self.pairs.value or "").strip()
        pairs = Path(text).expanduser()
        if text in ("", ".") or not (pairs / "pairs.json").is_file():
            raise InputError(f"the pair set {text!r} holds no pairs.json; choose a pair folder")
        run = self._folder()
        if run is None:
            raise InputError("choose a run folder (a new or empty folder, or a run to resume)")
        return pairs, run

    # --- running ------------------------------------------------------------------------------------
    def run(self, *, resume: bool = False, overwrite: bool | None = None) -> bool:
        """Start (or with ``resume`` continue) the run in the worker. A run folder that holds
        files is replaced only when confirmed (``overwrite=True`` confirms)."""
        if self.runner.running:
            notify_info("training is running; wait, or press Cancel (Resume continues it)")
            return False
        try:
            pairs, run = self._paths()
            config = self.config()
        except SpecktrackError as exc:
            return self.fail(exc)
        if not resume and overwrite is None and history.holds_files(run):
            what = "a training run" if history.has_checkpoint(run) else "files"
            if not self.confirm("Replace the run?", f"{run} holds {what}. Replace it whole with "
                                f"a new run? (Resume continues a run instead.)"):
                self.status.value = "not started: the run folder was kept"
                return False
            overwrite = True
        self._prepare_plot(run, resume)
        feed, steps = self.feed, config.max_steps

        def job(progress: Any, cancel: Any) -> dict[str, Any]:
            def both(step: int, total: int) -> None:
                progress(step, total)
                feed.progress(step, total)

            return train(pairs, run, config, resume=resume, overwrite=bool(overwrite),
                         epochs=config.epochs if resume else None,
                         max_steps=steps if resume else None, progress=both, cancel=cancel,
                         log=feed.log, on_step=feed.on_step, on_epoch=feed.on_epoch)

        self._scale = history.pair_scale_um(pairs)
        self._per_epoch = history.training_count(pairs)
        self.feed.start()
        started = self.start(job, self._show_summary, status="resuming…" if resume else "training…",
                             cancelled_text="a checkpoint was saved; Resume continues it")
        self._sync_resume()
        return started

    def _prepare_plot(self, run: Path, resume: bool) -> None:
        self.plot.clear()
        self.summary, self._first = None, None
        if resume:  # continue the curves where the run stopped
            self.plot.add_steps(history.logged_losses(run))
            for h in history.validation_history(run):
                self.plot.add_epoch(h)
            self.plot.redraw()

    def _deliver(self, batch: Batch) -> None:
        """Main thread: draw what the worker queued."""
        self.plot.add_steps(batch.steps)
        for report in batch.epochs:
            self.plot.add_epoch(report)
        if batch.epochs:
            self._show_validation(batch.epochs[-1])
        self.plot.redraw()
        if batch.progress:
            step, total, now = batch.progress[-1]
            if self._first is None:
                self._first = batch.progress[0][0], batch.progress[0][2]
            self.progress.max = max(total, 1)
            self.progress.value = min(step, total)
            self.progress_text = history.eta_text(step, total, self._first, now,
                                                  per_epoch=self._per_epoch)
            if hasattr(self.progress.native, "setFormat"):
                self.progress.native.setFormat(self.progress_text)
        if batch.logs:
            self.status.value = batch.logs[-1]

    def _show_validation(self, report: dict[str, Any]) -> None:
        gen, target = report.get("generated"), report.get("target")
        if gen is None:
            return
        meta = {"pair": report.get("pair"), "step": report.get("step"),
                "ssim": report.get("ssim"), "phase_error_ratio": report.get("phase_error_ratio"),
                "held_out": report.get("held_out"), "unit": "flat-field"}
        scale = self._scale
        self._layers["generated"] = put_image_layer(
            self.viewer, gen, GENERATED_NAME, existing=self._layers.get("generated"),
            scale=scale, metadata=meta)
        if target is not None:
            shift = ((gen.shape[1] + GAP_PX) * scale[1])
            self._layers["target"] = put_image_layer(
                self.viewer, target, TARGET_NAME, existing=self._layers.get("target"),
                scale=scale, translate=(0.0, shift), metadata=meta)

    def _show_summary(self, summary: dict[str, Any]) -> None:
        self.summary = summary
        val = summary.get("validation") or {}
        figures = f"; validation SSIM {val['ssim']:.3f}" if val.get("ssim") is not None else ""
        self.status.value = (f"trained to step {summary['steps']} in {summary['seconds']:.0f} s"
                             f"{figures}; the model is in the Generator dock's list")

    def _after_run(self, outcome: Any) -> None:
        self.feed.stop()
        self._first = None
        if outcome.cancelled:
            steps = self.plot.drawn_steps()
            at = f" at step {steps[-1]}" if steps else ""
            self.status.value = f"cancelled{at}: a checkpoint was saved; Resume continues it"
        self._sync_resume()
        MODELS.changed.emit()

    def wait_until_done(self, timeout_s: float = 60.0) -> bool:
        """Process events until the run ends (scripts, tests); False on timeout."""
        from qtpy.QtWidgets import QApplication

        end = time.monotonic() + timeout_s
        while self.runner.running and time.monotonic() < end:
            QApplication.processEvents()
            time.sleep(0.01)
        return not self.runner.running
