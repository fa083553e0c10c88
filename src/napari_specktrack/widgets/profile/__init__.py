"""The Profile dock: line profiles of phase layers against sphere theory (Yu et al., Fig. 6
and 8), live as the line moves, computed in the dock's worker.

* :mod:`.dock` — :class:`ProfileWidget` on :class:`~napari_specktrack.widgets._base.DockBase`;
* :mod:`.panels` — the line / image chooser, the theory panel and the time-node panel;
* :mod:`.plot` — the matplotlib canvas and the fit table;
* :mod:`.compute` — the worker's job: a request of plain arrays → one
  :class:`~napari_specktrack.physics.profiles.ProfileSet` per pixel grid → a view to draw;
* :mod:`.summary` — the numbers under the plot (fit table with 1σ and what was held);
* :mod:`.export`, :mod:`.exporting` — the CSV / PNG / SVG files (through
  :mod:`napari_specktrack.safety`, in a worker) and the save dialogs;
* :mod:`.layers` — what is read from the napari layers (lines, images, geometry, phantom).

``napari_specktrack.widgets.profile:ProfileWidget`` is the plugin's command (napari.yaml).
"""

from .dock import ProfileWidget
from .layers import LINE_LAYER_NAME, layer_geometry, line_in_layer

__all__ = ["LINE_LAYER_NAME", "ProfileWidget", "layer_geometry", "line_in_layer"]
