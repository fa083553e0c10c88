"""The Training dock's live plot: losses per step, validation figures per epoch (Qt, main
thread only).

Two axes in the napari theme's colours (as :mod:`..profile.plot`): the losses against the
step — G (adversarial), D (real + fake), feature matching, L1 and perceptual (VGG), the
weighted terms as they enter the total — and, per epoch, the validation SSIM and the
double-exposure phase error ratio (generated / conventional; 0 = as good as the measured
in-line image, 1 = no better than conventional). Points are appended by :meth:`add_steps`
and :meth:`add_epoch`; :meth:`redraw` (called throttled by the dock) draws them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
from qtpy.QtWidgets import QSizePolicy, QVBoxLayout, QWidget

from ..profile.plot import _theme_colors

#: curve → how it is made from the losses of a step
CURVES = {
    "G": ("g_gan",),
    "D": ("d_real", "d_fake"),
    "feature matching": ("g_feat",),
    "L1": ("g_l1",),
    "perceptual": ("g_vgg",),
}
#: the smallest the canvas gets (pixels): the dock must fit a 1920 × 1080 screen
MIN_PLOT_HEIGHT_PX = 220
#: at most this many points per curve are drawn (means of consecutive steps beyond)
MAX_POINTS = 2000


def binned(x: np.ndarray, y: np.ndarray, n: int = MAX_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """At most ``n`` points: means of consecutive runs of (x, y)."""
    if len(x) <= n:
        return x, y
    k = int(np.ceil(len(x) / n))
    m = len(x) // k * k
    return x[:m].reshape(-1, k).mean(1), y[:m].reshape(-1, k).mean(1)


class TrainingPlot(QWidget):
    """Losses (top) and validation figures (bottom) of one run."""

    def __init__(self, viewer: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
        from matplotlib.figure import Figure

        self.viewer = viewer
        self.figure = Figure(figsize=(4, 3.6), layout="constrained")
        self.loss_ax, self.val_ax = self.figure.subplots(2, 1, height_ratios=(3, 2))
        self.ratio_ax = self.val_ax.twinx()  # the phase ratio on its own scale, at the right
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.canvas.setMinimumSize(200, MIN_PLOT_HEIGHT_PX)
        self.canvas.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.canvas, 1)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.clear()
        viewer.events.theme.connect(self.apply_theme)

    def clear(self) -> None:
        """Forget every point (a new run)."""
        self.steps: list[int] = []
        self.losses: dict[str, list[float]] = {name: [] for name in CURVES}
        self.epochs: list[float] = []
        self.ssim: list[float] = []
        self.ratio: list[float] = []
        self.redraw()

    def add_steps(self, rows: Iterable[tuple[int, dict[str, float]]]) -> None:
        """Append ``(step, losses)`` rows (a resumed run's old rows first)."""
        for step, losses in rows:
            if self.steps and step <= self.steps[-1]:  # a resumed run redoes no step twice
                keep = int(np.searchsorted(self.steps, step))
                self.steps = self.steps[:keep]
                for v in self.losses.values():
                    del v[keep:]
            self.steps.append(int(step))
            for name, keys in CURVES.items():
                self.losses[name].append(float(sum(losses.get(k, np.nan) for k in keys)))

    def add_epoch(self, report: dict[str, Any]) -> None:
        """Append the validation figures of an epoch report."""
        self.epochs.append(float(report.get("epochs_done", report.get("epoch", 0))))
        self.ssim.append(float(report["ssim"]) if report.get("ssim") is not None else np.nan)
        ratio = report.get("phase_error_ratio")
        self.ratio.append(float(ratio) if ratio is not None else np.nan)

    def redraw(self) -> None:
        """Draw every point now (call throttled)."""
        ax = self.loss_ax
        ax.clear()
        x = np.asarray(self.steps, float)
        for name, ys in self.losses.items():
            if len(ys):
                ax.plot(*binned(x, np.asarray(ys, float)), lw=1, label=name)
        ax.set_xlabel("step")
        ax.set_ylabel("loss")
        if self.steps:
            ax.legend(fontsize="x-small", ncols=3, loc="upper right")
        else:
            ax.text(0.5, 0.5, "no training yet", transform=ax.transAxes, ha="center", va="center")
        for a in (self.val_ax, self.ratio_ax):
            a.clear()
        if self.epochs:
            self.val_ax.plot(self.epochs, self.ssim, "o-", color="tab:blue", label="SSIM")
            self.ratio_ax.plot(self.epochs, self.ratio, "s--", color="tab:orange",
                               label="phase ratio")
        self.ratio_ax.yaxis.tick_right()  # clearing a twin axes moves it to the left
        self.ratio_ax.yaxis.set_label_position("right")
        self.val_ax.set_xlabel("epoch")
        self.val_ax.set_ylabel("val. SSIM", color="tab:blue")
        self.ratio_ax.set_ylabel("phase ratio", color="tab:orange")
        self.apply_theme()

    def apply_theme(self, *_: Any) -> None:
        bg, fg = _theme_colors(self.viewer)
        self.figure.set_facecolor(bg)
        for ax in (self.loss_ax, self.val_ax, self.ratio_ax):
            ax.set_facecolor(bg)
            ax.tick_params(colors=fg)
            for spine in ax.spines.values():
                spine.set_color(fg)
            ax.xaxis.label.set_color(fg)
            for text in ax.texts:
                text.set_color(fg)
        self.loss_ax.yaxis.label.set_color(fg)
        self.canvas.draw_idle()

    def drawn_steps(self) -> list[int]:
        """The steps the loss curves hold (for tests and the status)."""
        return list(self.steps)
