"""The Pair curation dock: training pairs cut from measured stacks by hand, for the generator.

* :mod:`.dock` — :class:`CurationWidget` on :class:`~napari_specktrack.widgets._base.DockBase`:
  sources, crops, the keyboard review, registration, export and reopen;
* :mod:`.panels` — its rows (persisted parameters, buttons, labels);
* :mod:`.layers` — input and target side by side, the size-locked crop box, the crops;
* :mod:`.keys` — the review shortcuts as napari key bindings while the dock is active;
* :mod:`.jobs` — auto review, registration, export and reopen as worker jobs (no Qt).

The compute is :mod:`napari_specktrack.learn.curation`, :mod:`~napari_specktrack.learn.review`
and :mod:`~napari_specktrack.learn.curation_io` (also behind ``specktrack pairs``).
``napari_specktrack.widgets.curation:CurationWidget`` is the plugin's command (napari.yaml).
"""

from .dock import CurationWidget

__all__ = ["CurationWidget"]
