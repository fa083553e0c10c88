"""The curation dock's layers: input and target side by side, the crop box and the crops.

* ``curation input`` (sample − reference) and ``curation target`` (the in-line image, shift-
  corrected when set) of the current frame, as two Image layers on one pixel grid (µm): the
  target is translated right by the frame's width plus :data:`GAP_PX`, so the two are linked
  (one camera, one box) and compared side by side;
* ``crop box``: a Shapes layer with two rectangles of the crop size, one on each image, that
  always cut the same box. Dragging either moves both; a rectangle resized, deleted or added
  snaps back to the locked size (the dock calls :meth:`PairLayers.set_box`);
* ``curation crops``: the candidates of the current frame, coloured by status (pending
  yellow, accepted green, rejected red), numbered, with their flags when known.

Rectangles lie on pixel edges: a box (y0, x0, h, w) covers pixel centres y0 … y0 + h − 1, so
its rectangle spans y0 − ½ … y0 + h − ½ in the layers' data coordinates (pixels).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ...learn.curation import Box
from .._layers import put_image_layer

INPUT_NAME = "curation input"
TARGET_NAME = "curation target"
BOX_NAME = "crop box"
CROPS_NAME = "curation crops"
#: pixels between the input and the target image
GAP_PX = 8
STATUS_COLORS = {"pending": "yellow", "accepted": "lime", "rejected": "red"}
#: data-event actions after which the box is read (the end of a drag, an add, a delete)
_FINAL_ACTIONS = ("changed", "added", "removed")


def rect_of(box: Box, x_offset_px: float = 0.0) -> np.ndarray:
    """The rectangle (4 corners, (y, x) pixels) on the pixel edges of ``box``."""
    y0, x0 = box.y0 - 0.5, box.x0 - 0.5 + x_offset_px
    y1, x1 = y0 + box.h, x0 + box.w
    return np.array([[y0, x0], [y0, x1], [y1, x1], [y1, x0]], float)


def corner_of(rect: np.ndarray, crop_yx_px: Sequence[int], x_offset_px: float = 0.0
              ) -> tuple[float, float]:
    """Top-left pixel (y0, x0) of a box of ``crop_yx_px`` centred where ``rect`` is centred
    (a resized rectangle keeps its centre), unrounded."""
    cy, cx = np.asarray(rect, float).mean(axis=0)
    h, w = crop_yx_px
    return cy - (h - 1) / 2, cx - x_offset_px - (w - 1) / 2


class PairLayers:
    """The four layers of the curation dock (see the module docstring).

    ``on_moved(y0, x0)`` is called with the unrounded top-left pixel of the crop box after
    the user moved (or resized) a rectangle; the dock clamps it and calls :meth:`set_box`.
    """

    def __init__(self, viewer: Any, on_moved: Callable[[float, float], None]) -> None:
        self.viewer = viewer
        self.on_moved = on_moved
        self.input: Any = None
        self.target: Any = None
        self.box_layer: Any = None
        self.crops: Any = None
        self.box: Box | None = None
        self.width_px = 0
        self._syncing = False
        self._drawn_crops: list | None = None

    @property
    def offset_px(self) -> float:
        """x offset of the target image from the input image (pixels)."""
        return float(self.width_px + GAP_PX)

    def layers(self) -> list[Any]:
        """The layers that exist and are in the viewer."""
        return [la for la in (self.input, self.target, self.box_layer, self.crops)
                if la is not None and la in self.viewer.layers]

    # --- images ----------------------------------------------------------------------------------
    def show_images(self, inp: np.ndarray, target: np.ndarray, *, scale: tuple[float, float],
                    metadata: dict[str, Any]) -> None:
        """Show (or update in place) the input and, beside it, the target of one frame."""
        self.width_px = int(inp.shape[1])
        self.scale = tuple(float(s) for s in scale)
        self.input = put_image_layer(self.viewer, inp, INPUT_NAME, existing=self.input,
                                     scale=self.scale, metadata={**metadata, "role": "input"},
                                     symmetric=True)
        self.target = put_image_layer(self.viewer, target, TARGET_NAME, existing=self.target,
                                      scale=self.scale, translate=(0.0, self.offset_px * self.scale[1]),
                                      metadata={**metadata, "role": "target"})
        self._ensure_shapes()

    def update_target(self, target: np.ndarray) -> None:
        if self.target is not None and self.target in self.viewer.layers:
            self.target.data = target

    def _ensure_shapes(self) -> None:
        viewer = self.viewer
        if self.crops is None or self.crops not in viewer.layers:
            self.crops = viewer.add_shapes(name=CROPS_NAME, scale=self.scale, edge_width=1,
                                           face_color="transparent", edge_color="yellow",
                                           opacity=0.8, units=("um", "um"))
            self._drawn_crops = None
        if self.box_layer is None or self.box_layer not in viewer.layers:
            self.box_layer = viewer.add_shapes(name=BOX_NAME, scale=self.scale, edge_width=2,
                                               face_color="transparent", edge_color="cyan",
                                               units=("um", "um"))
            self.box_layer.events.data.connect(self._on_data)
        for la in (self.crops, self.box_layer):
            la.scale = self.scale
        if self.box is not None:
            self.set_box(self.box)
        viewer.layers.selection.active = self.box_layer
        self.box_layer.mode = "select"

    # --- the crop box ------------------------------------------------------------------------------
    def set_box(self, box: Box) -> None:
        """Draw the crop box on both images (both rectangles of the locked size)."""
        self.box = box
        layer = self.box_layer
        if layer is None or layer not in self.viewer.layers:
            return
        rects = [rect_of(box), rect_of(box, self.offset_px)]
        if len(layer.data) == 2 and all(np.allclose(a, b) for a, b in zip(layer.data, rects,
                                                                          strict=True)):
            return
        self._syncing = True
        try:
            layer.data = [(r, "rectangle") for r in rects]
        finally:
            self._syncing = False

    def _on_data(self, event: Any) -> None:
        if self._syncing or self.box is None:
            return
        action = str(getattr(event, "action", "changed")).split(".")[-1].lower()
        if action not in _FINAL_ACTIONS:
            return
        crop = (self.box.h, self.box.w)
        here = (float(self.box.y0), float(self.box.x0))
        moved = here
        for rect in self.box_layer.data:
            on_target = float(np.mean(rect[:, 1])) > self.width_px + GAP_PX / 2
            corner = corner_of(rect, crop, self.offset_px if on_target else 0.0)
            if max(abs(corner[0] - here[0]), abs(corner[1] - here[1])) >= 0.5:
                moved = corner
                break
        self.on_moved(*moved)

    # --- the candidates of this frame ------------------------------------------------------------------
    def show_crops(self, crops: Sequence[tuple[int, Box, str, str]]) -> None:
        """Draw (number, box, status, text) of the candidates on this frame."""
        layer = self.crops
        crops = list(crops)
        if layer is None or layer not in self.viewer.layers or crops == self._drawn_crops:
            return
        self._drawn_crops = crops
        layer.data = [(rect_of(box), "rectangle") for _, box, _, _ in crops]
        if crops:
            layer.edge_color = [STATUS_COLORS[status] for _, _, status, _ in crops]
            layer.features = {"label": [f"#{k + 1} {text}".strip() for k, _, _, text in crops]}
            layer.text = {"string": "{label}", "color": "white", "size": 8, "anchor": "upper_left"}
