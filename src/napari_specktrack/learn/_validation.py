"""The validation figures of a run, after each epoch: what the Training dock plots.

On one validation pair (the first record with ``"split": "validation"``; without a split, the
first training pair — then nothing is held out and the report says so):

- the generated in-line image of the whole pair (flat-field units), by the exported
  generator (the moving average), with the training normalisation;
- its SSIM against the target (``skimage.metrics.structural_similarity``, data range of the
  target, dimensionless);
- when the pair folder holds the pair's reference crop (``references/<name>.tif``), the
  double-exposure phase figures: the sample is input + reference, and
  :func:`napari_specktrack.pipeline.retrieve` runs the paper's plain double-exposure method
  (``fuse_inline=False``) with the true in-line image (the target) and with the generated one,
  and the conventional method, all with one window and search range. ``phase_rms_rad`` is the RMS
  difference (radians, offset removed) of the generated-in-line phase from the true-in-line
  phase, ``phase_rms_conventional_rad`` that of the conventional phase, and
  ``phase_error_ratio`` their quotient: 0 = as good as the measured in-line image, 1 = no
  better than the conventional method. The true-in-line and conventional phases do not
  change during training and are computed once.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import numpy as np

from ..errors import SpecktrackError
from .pairs import PairFolder


def _rms_difference(a: np.ndarray, b: np.ndarray) -> float:
    d = np.asarray(a, np.float64) - np.asarray(b, np.float64)
    d -= d.mean()  # the phase offset is arbitrary
    return float(np.sqrt(np.mean(d * d)))


class Validator:
    """Computes the epoch report's validation figures (see the module docstring)."""

    def __init__(self, folder: PairFolder, *, held_out: bool, norm: dict[str, float],
                 generator_config: dict[str, int], device: str) -> None:
        self.name = folder.names[0]
        self.held_out = held_out
        self.input, self.target = folder.load(0)
        self.reference = folder.load_reference(0)
        self.geometry = folder.geometry
        self.meta = {"config": generator_config, "normalisation": norm}
        self.device = device
        self._fixed: tuple[Any, np.ndarray, float] | str | None = None

    def generate(self, model: Any) -> np.ndarray:
        from .inference import generate_inline

        return generate_inline(self.input, np.zeros_like(self.input), device=self.device,
                               _model=(model, self.meta))

    def _fixed_phases(self) -> tuple[Any, np.ndarray, float] | str:
        """(params, true-in-line phase, conventional RMS) once; a message when not possible."""
        if self._fixed is None:
            from ..pipeline import Frames, RetrievalParams, retrieve

            sample, ref = self.input + self.reference, self.reference
            try:
                true = retrieve(Frames(sample, ref, inline=self.target), self.geometry,
                                RetrievalParams.for_inline("measured", fuse_inline=False))
                conv = retrieve(Frames(sample, ref), self.geometry,
                                replace(true.params, method="conventional", inline=None))
                phase = true.retrieval.phase_rad
                self._fixed = (true.params, phase, _rms_difference(conv.retrieval.phase_rad, phase))
            except SpecktrackError as exc:
                self._fixed = f"phase not measured on pair {self.name!r}: {exc}"
        return self._fixed

    def phase_figures(self, generated: np.ndarray) -> dict[str, Any]:
        out: dict[str, Any] = {"phase_rms_rad": None, "phase_rms_conventional_rad": None,
                               "phase_error_ratio": None, "phase_note": None}
        if self.reference is None:
            out["phase_note"] = (f"no references/{self.name}.tif in the pair folder: the phase "
                                 f"figures need the pair's reference crop")
            return out
        fixed = self._fixed_phases()
        if isinstance(fixed, str):
            out["phase_note"] = fixed
            return out
        from ..pipeline import Frames, retrieve

        params, true_phase, conv_rms = fixed
        try:
            gen = retrieve(Frames(self.input + self.reference, self.reference, inline=generated),
                           self.geometry, params)
        except SpecktrackError as exc:
            out["phase_note"] = f"phase with the generated image failed on {self.name!r}: {exc}"
            return out
        rms = _rms_difference(gen.retrieval.phase_rad, true_phase)
        out.update(phase_rms_rad=rms, phase_rms_conventional_rad=conv_rms,
                   phase_error_ratio=rms / conv_rms if conv_rms > 0 else None)
        return out

    def report(self, model: Any) -> dict[str, Any]:
        """The validation part of the epoch report (arrays and figures)."""
        from skimage.metrics import structural_similarity

        t0 = time.perf_counter()
        generated = self.generate(model)
        rng = float(np.ptp(self.target)) or 1.0
        ssim = float(structural_similarity(self.target, generated, data_range=rng))
        return {"pair": self.name, "held_out": self.held_out, "generated": generated,
                "target": self.target, "ssim": ssim, **self.phase_figures(generated),
                "validation_seconds": time.perf_counter() - t0}


def figures(report: dict[str, Any]) -> dict[str, Any]:
    """The report without its arrays (for JSON: run history, model card)."""
    return {k: v for k, v in report.items() if not isinstance(v, np.ndarray)}
