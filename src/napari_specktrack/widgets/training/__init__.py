"""The Training dock: the generator trained on a pair set from napari, live.

* :mod:`.dock` — :class:`TrainingWidget` on :class:`~napari_specktrack.widgets._base.DockBase`:
  the settings, Train / Cancel / Resume, the validation layers;
* :mod:`.live` — the loop's hooks queue values in the worker; a timer drains them on the
  main thread;
* :mod:`.plot` — the loss curves and the validation SSIM / phase ratio per epoch;
* :mod:`.history` — what a run folder already holds (resume, losses, validation history);
* :mod:`.signals` — ``MODELS.changed``, which refreshes the Generator docks' model lists.

The compute is :func:`napari_specktrack.learn.train.train` (also ``specktrack train``).
``napari_specktrack.widgets.training:TrainingWidget`` is the plugin's command (napari.yaml);
it is imported on first use, so importing :mod:`.signals` (the Generator dock does) stays
cheap.
"""

from typing import Any

__all__ = ["TrainingWidget"]


def __getattr__(name: str) -> Any:
    if name == "TrainingWidget":
        from .dock import TrainingWidget

        return TrainingWidget
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
