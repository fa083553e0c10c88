"""Reconstruction dock: CT slices from a stack of phase projections, with a live centre preview.

Choose the projection stack (angles × rows × columns — e.g. the phase stack a Retrieval run
over a rotation series made), the angle range (START included, STOP excluded, degrees), the
filter and the centre of rotation (a detector column; *Find centre* registers the 0° projection
with the mirrored 180° one in a worker). The preview shows the slice of the row under *preview
row* and is redrawn as the centre moves (the row is filtered once; each redraw only
back-projects a binned detector). *Reconstruct* runs :func:`napari_specktrack.tomo.run.
plan_reconstruction` and :func:`~napari_specktrack.tomo.run.run_slabs` — the calls of
``specktrack reconstruct`` — on all rows or a range, in a worker with progress and Cancel, into
a 3-D layer in µm (napari's 3-D view and its orthogonal slices give longitudinal sections).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from magicgui.widgets import CheckBox, ComboBox, FloatSpinBox, PushButton, SpinBox
from qtpy.QtCore import QTimer

from ..errors import InputError, SpecktrackError
from ..tomo.filters import DEFAULT_FILTER, FILTERS
from ._base import DockBase
from ._layers import put_image_layer
from ._session import geometry_of
from ._workers import JobRunner

PREVIEW_NAME = "CT preview"
SLICES_NAME = "CT slices"
QUANTITY_LABELS = {"phase": "phase (rad per pixel)", "delta": "δ (refractive-index decrement)"}


class ReconstructionWidget(DockBase):
    """Filtered back-projection of a projection stack layer → a 3-D slices layer."""

    def __init__(self, napari_viewer: Any) -> None:
        super().__init__(napari_viewer, "CT reconstruction", run_text="Reconstruct", scope=False,
                         device_default="cpu")
        self.projections = ComboBox(label="projections", choices=self._stacks, nullable=True,
                                    tooltip="an (angles, rows, columns) stack, e.g. a phase stack")
        self.append(self.projections)
        self.start_deg = self.add_param("start_deg", FloatSpinBox(
            label="first angle (°)", value=0.0, min=-360, max=360, step=0.5))
        self.stop_deg = self.add_param("stop_deg", FloatSpinBox(
            label="stop angle (°, excluded)", value=180.0, min=-360, max=720, step=0.5,
            tooltip="360 projections over 0–180° are 0, 0.5, …, 179.5°"))
        self.filter = self.add_param("filter", ComboBox(label="filter", choices=list(FILTERS),
                                                        value=DEFAULT_FILTER))
        self.center_px = FloatSpinBox(label="centre (px)", value=0.0, min=0, max=10**6, step=0.25,
                                      tooltip="rotation axis as a detector column, 0-based")
        self.center_px.native.setDecimals(2)
        self.find_button = PushButton(text="Find centre")
        self.preview_row = SpinBox(label="preview row", value=0, min=0, max=10**6)
        self.live = self.add_param("live", CheckBox(text="live preview", value=True))
        self.quantity = self.add_param("quantity", ComboBox(
            label="quantity", choices=[(v, k) for k, v in QUANTITY_LABELS.items()], value="phase"))
        self.all_rows = self.add_param("all_rows", CheckBox(text="all rows", value=True))
        self.first_row = SpinBox(label="first row", value=0, min=0, max=10**6, visible=False)
        self.last_row = SpinBox(label="last row", value=0, min=0, max=10**6, visible=False,
                                tooltip="included")
        self.extend([self.center_px, self.find_button, self.preview_row, self.first_row,
                     self.last_row])
        self.finish_layout()
        self.find_runner = JobRunner("centre of rotation", self.find_button)
        self.preview_runner = JobRunner("CT preview")
        self._preview: tuple[Any, Any] | None = None  # (key of the filtered row, RowPreview)
        self._pending = False
        self._timer = QTimer(self.native)
        self._timer.setSingleShot(True)
        self._timer.setInterval(120)
        self._timer.timeout.connect(self.update_preview)
        self._layers: dict[str, Any] = {}
        self.projections.changed.connect(self._on_stack)
        self.find_button.changed.connect(self.find_center)
        self.all_rows.changed.connect(self._on_rows)
        for w in (self.center_px, self.preview_row, self.start_deg, self.stop_deg, self.filter):
            w.changed.connect(self._schedule)
        self.preview_runner.done.connect(self._after_preview)
        napari_viewer.layers.events.inserted.connect(lambda _e: self.projections.reset_choices())
        napari_viewer.layers.events.removed.connect(lambda _e: self.projections.reset_choices())
        self._on_rows(self.all_rows.value)
        self._choose_default()

    # --- choices -------------------------------------------------------------------------------
    def _stacks(self, _widget: Any = None) -> list[tuple[str, Any]]:
        from napari.layers import Image

        return [(layer.name, layer) for layer in self.viewer.layers
                if isinstance(layer, Image) and layer.ndim == 3 and layer.name != SLICES_NAME]

    def _choose_default(self) -> None:
        choices = self._stacks()
        named = [layer for name, layer in choices if name == "phase"]
        if named or choices:
            self.projections.value = (named or [choices[-1][1]])[0]

    def _on_stack(self, layer: Any) -> None:
        self._preview = None
        if layer is None:
            return
        n_angles, rows, cols = layer.data.shape
        self.center_px.value = (cols - 1) / 2.0
        recorded = (layer.metadata or {}).get("angles_deg")  # NXtomo rotation angles, carried on
        if recorded is not None and len(recorded) == n_angles and n_angles > 1:
            step = (recorded[-1] - recorded[0]) / (n_angles - 1)
            self.start_deg.value = float(recorded[0])
            self.stop_deg.value = float(recorded[0] + step * n_angles)
        self.preview_row.max = self.first_row.max = self.last_row.max = rows - 1
        self.preview_row.value = rows // 2
        self.last_row.value = rows - 1
        self._schedule()

    def _on_rows(self, all_rows: bool) -> None:
        self.first_row.visible = self.last_row.visible = not all_rows

    def _stack(self) -> Any:
        layer = self.projections.value
        if layer is None:
            raise InputError("choose a projection stack layer (angles, rows, columns) first, e.g. "
                             "the phase stack of a Retrieval run over all angles")
        return layer

    def angles(self) -> tuple[float, float]:
        return (float(self.start_deg.value), float(self.stop_deg.value))

    # --- preview -------------------------------------------------------------------------------
    def _schedule(self, _value: Any = None) -> None:
        if self.live.value and self.projections.value is not None:
            self._timer.start()

    def update_preview(self) -> bool:
        """Re-render the preview row at the current centre (a worker; quiet)."""
        if self.preview_runner.running:
            self._pending = True
            return False
        try:
            layer = self._stack()
        except SpecktrackError:
            return False
        row, center = int(self.preview_row.value), float(self.center_px.value)
        key = (id(layer), row, self.angles(), self.filter.value, self.device.value)
        cached = self._preview[1] if self._preview and self._preview[0] == key else None
        data, angles, filt, device = layer.data, self.angles(), self.filter.value, self.device.value

        def job(progress: Any, cancel: Any) -> tuple[Any, np.ndarray]:
            from ..tomo import RowPreview

            preview = cached or RowPreview(np.asarray(data[:, row, :]), angles, filter_name=filt,
                                           device=device)
            return preview, preview.render(center)

        def show(result: tuple[Any, np.ndarray]) -> None:
            self._preview = (key, result[0])
            scale = tuple(s * result[0].bin_px for s in layer.scale[-2:])
            self._layers["preview"] = put_image_layer(
                self.viewer, result[1], PREVIEW_NAME, existing=self._layers.get("preview"),
                scale=scale, metadata={"center_px": center, "row": row}, colormap="gray")

        return self.preview_runner.start(job, show, progress_bar=False)

    def _after_preview(self, outcome: Any) -> None:
        if outcome.error is not None:
            self.status.value = f"preview: {outcome.error}"
        if self._pending:
            self._pending = False
            self._timer.start()

    def find_center(self, _value: Any = None) -> bool:
        """Find the centre of rotation (worker) and put it in the field."""
        try:
            layer = self._stack()
        except SpecktrackError as exc:
            return self.fail(exc)
        data, angles, device = layer.data, self.angles(), self.device.value

        def job(progress: Any, cancel: Any) -> Any:
            from ..tomo import find_center

            return find_center(data, angles, device=device, cancel=cancel)

        def show(fit: Any) -> None:
            self.center_px.value = round(float(fit.center_px), 2)
            self.status.value = f"centre {fit.center_px:.2f} px (registration {fit.registration_px:.2f})"

        return self.find_runner.start(job, show)

    # --- the volume ----------------------------------------------------------------------------
    def run(self) -> bool:
        """Reconstruct the chosen rows in a worker → the 3-D ``CT slices`` layer."""
        try:
            layer = self._stack()
            rows = None if self.all_rows.value else (int(self.first_row.value),
                                                    int(self.last_row.value) + 1)
            quantity = self.quantity.value
            geometry = geometry_of(layer)
            if quantity == "delta" and geometry is None:
                raise InputError(f"δ needs the geometry; the layer {layer.name!r} carries none — "
                                 f"choose the phase quantity, or assign a geometry in Acquisition")
        except SpecktrackError as exc:
            return self.fail(exc)
        data, angles, filt, device = layer.data, self.angles(), self.filter.value, self.device.value
        center = float(self.center_px.value)
        inputs = {"projections": {"layer": layer.name}}

        def job(progress: Any, cancel: Any) -> tuple[Any, np.ndarray]:
            from ..tomo.run import plan_reconstruction, run_slabs

            plan = plan_reconstruction(data, angles, center_px=center, filter_name=filt, rows=rows,
                                       quantity=quantity, geometry=geometry, device=device,
                                       inputs=inputs, cancel=cancel)
            n = plan.setup.n_columns
            out = np.empty((plan.n_slices, n, n), np.float32)
            for i, slab in run_slabs(plan, data, progress=progress, cancel=cancel):
                out[i:i + slab.shape[0]] = slab
            return plan, out

        def show(result: tuple[Any, np.ndarray]) -> None:
            plan, volume = result
            p = layer.scale[-1]  # the object-plane pixel, µm: voxels are cubes
            r0 = plan.setup.rows[0]
            meta = {"provenance": plan.provenance, "geometry": None if geometry is None
                    else geometry.to_dict(), "unit": "rad/px" if quantity == "phase" else "1"}
            self._layers["slices"] = put_image_layer(
                self.viewer, volume, SLICES_NAME, existing=self._layers.get("slices"),
                scale=(p, p, p), translate=(r0 * p, 0.0, 0.0), metadata=meta, colormap="gray")
            self.viewer.layers.selection.active = self._layers["slices"]
            self.status.value = (f"{plan.n_slices} slices, centre {plan.center_px:.2f} px, "
                                 f"{plan.setup.n_angles} angles ({QUANTITY_LABELS[quantity]})")

        rows_total = (rows[1] - rows[0]) if rows else int(data.shape[1])
        return self.start(job, show, total=rows_total)
