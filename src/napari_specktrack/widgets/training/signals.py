"""The one event the Training dock sends the Generator dock: the list of known models changed.

A psygnal signal (no Qt), so importing it costs nothing: the Training dock emits
``MODELS.changed`` after every run (finished, cancelled or failed after an export), and every
Generator dock refreshes its list of weights from :func:`~napari_specktrack.learn.models.
list_models`.
"""

from __future__ import annotations

from psygnal import Signal


class _ModelList:
    changed = Signal()


#: ``MODELS.changed.connect(callback)``; emitted on the main thread
MODELS = _ModelList()
