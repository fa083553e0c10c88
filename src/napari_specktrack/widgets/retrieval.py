"""Retrieval dock: phase, transmission, dark-field, displacement and quality layers.

Methods: conventional speckle tracking, or double exposure (the sample divided by an in-line
image before tracking) with the measured in-line image or one generated with the Generator
dock's settings. The dock builds a :class:`~napari_specktrack.pipeline.RetrievalParams` and
runs :func:`napari_specktrack.pipeline.retrieve` — the same call as ``specktrack retrieve`` —
in a worker, for the frame under the slider (a preview that can follow the slider), a range
or all frames. Window and search range are in detector pixels; with *suggest … at each run*
the run suggests them from the speckle (recorded), *Suggest … now* fills them in. Double
exposure fuses the in-line image's own phase by default (beyond the paper, docs/fusion.md);
untick it for the paper's plain method. A sample of several materials: paint a Labels layer
where another material's edges lie (a tube's walls), choose it as *material regions* and name
each label's material (``1=PE``); the sample material is label 0's.
"""

from __future__ import annotations

from typing import Any

from magicgui.widgets import CheckBox, ComboBox, FileEdit, LineEdit, PushButton, SpinBox
from qtpy.QtCore import QTimer

from ..errors import InputError, SpecktrackError
from ..pipeline import INTEGRATIONS, UNITS_PER_FRAME, RetrievalParams, retrieve
from ..pipeline.params import parse_region_materials
from ._base import SCOPES, DockBase
from ._layers import show_fields
from ._session import current_assignment, session
from ._workers import JobRunner, notify_info, notify_warning

METHODS = (
    "conventional",
    "double-exposure (measured in-line)",
    "double-exposure (generated in-line)",
)
#: name of the Labels layer the dock adds for painting material regions
REGIONS_LAYER_NAME = "material regions"
#: the sample materials the fusion's absorption model offers (physics.materials presets)
FUSION_MATERIALS = ("POM", "PE", "PMMA", "PU", "water", "cellulose")


class RetrievalWidget(DockBase):
    """Phase / transmission / dark-field retrieval of the assigned acquisition."""

    def __init__(self, napari_viewer: Any) -> None:
        super().__init__(napari_viewer, "phase retrieval", run_text="Retrieve", device_default="cpu")
        self.method = self.add_param("method", ComboBox(
            label="method", choices=list(METHODS), value=METHODS[0],
            tooltip="double exposure divides the sample by an in-line image (measured, or "
                    "generated with the Generator dock's settings) before tracking"))
        self.auto_window = self.add_param("auto_window", CheckBox(
            text="suggest window and range at each run", value=True,
            tooltip="estimate them from the speckle size and a quick tracking (recorded in the "
                    "provenance); untick to set them yourself"))
        self.window_px = self.add_param("window_px", SpinBox(
            label="window (px)", value=11, min=3, max=201, step=2,
            tooltip="side of the square tracking window in detector pixels (odd)"))
        self.search_px = self.add_param("search_px", SpinBox(
            label="search range (px)", value=5, min=1, max=50,
            tooltip="largest speckle displacement searched, ± detector pixels"))
        self.suggest_button = PushButton(text="Suggest window and range now")
        self.append(self.suggest_button)
        self.auto_window.changed.connect(self._on_auto)
        self._on_auto(self.auto_window.value)
        self.integration = self.add_param("integration", ComboBox(
            label="integration", choices=list(INTEGRATIONS), value=INTEGRATIONS[0],
            tooltip="phase-gradient integration method"))
        self.fuse = self.add_param("fuse_inline", CheckBox(
            text="fuse the in-line image's phase (double exposure)", value=True,
            tooltip="beyond the paper: the tracked phase below a crossover, the in-line image's "
                    "own phase above it (docs/fusion.md); untick for the paper's plain method"))
        self.fusion_material = self.add_param("fusion_material", ComboBox(
            label="sample material", choices=["pure phase", *FUSION_MATERIALS], value="pure phase",
            tooltip="one-material sample: the fusion's absorption model (δ/β from xraydb); "
                    "with material regions, the material of label 0"))
        self.fusion_regions = self.add_param("fusion_regions", ComboBox(
            label="material regions", choices=self._labels_layers, nullable=True, value=None,
            tooltip="several materials: a Labels layer painted where another material's edges "
                    "lie (e.g. a tube's walls around the spheres); label 0 is the sample "
                    "material above (docs/fusion.md)"), persist=False)
        self.region_materials = self.add_param("region_materials", LineEdit(
            label="region materials", value="1=PE",
            tooltip="the material of each painted label, e.g. 1=PE, 2=PMMA"))
        self.paint_button = PushButton(text="New material-regions layer to paint")
        self.paint_button.tooltip = ("adds an empty Labels layer over the frames, chosen as the "
                                     "material regions, with the brush on label 1")
        self.append(self.paint_button)
        self.paint_button.changed.connect(self.new_regions_layer)
        self.to_zarr = self.add_param("to_zarr", CheckBox(
            text="write all frames to a zarr store (resumable)", value=False,
            tooltip="the batch path of `specktrack batch`: frames are read from the layers' files "
                    "and written as they finish; the same settings resume a stopped run"))
        self.store = self.add_param("store", FileEdit(label="zarr store", mode="w", filter="*.zarr"))
        self.follow = self.add_param("follow", CheckBox(
            text="follow slider (preview)", value=False,
            tooltip="re-run on the frame under the slider whenever it moves"), persist=False)
        self.finish_layout()
        self.suggest_runner = JobRunner("parameter suggestion", self.suggest_button)
        self.suggest_button.changed.connect(self.suggest)
        self.runner.done.connect(self._after_run)
        self._layers: dict[str, Any] = {}
        self._pending = False
        self._timer = QTimer(self.native)  # dies with the widget: no tick after the viewer closed
        self._timer.setSingleShot(True)
        self._timer.setInterval(200)
        self._timer.timeout.connect(self._preview_tick)
        napari_viewer.dims.events.current_step.connect(self._on_slider)
        napari_viewer.layers.events.inserted.connect(lambda _e: self.fusion_regions.reset_choices())
        napari_viewer.layers.events.removed.connect(lambda _e: self.fusion_regions.reset_choices())

    # --- parameters ----------------------------------------------------------------------------
    def _labels_layers(self, _widget: Any = None) -> list[tuple[str, Any]]:
        from napari.layers import Labels

        return [(layer.name, layer) for layer in self.viewer.layers if isinstance(layer, Labels)]

    def _on_auto(self, auto: bool) -> None:
        self.window_px.enabled = self.search_px.enabled = not auto

    def params(self) -> RetrievalParams:
        """The :class:`RetrievalParams` of the fields (main thread; raises InputError)."""
        kind = METHODS.index(self.method.value)
        inline: Any = (None, "measured", session(self.viewer).generator_spec)[kind]
        auto = bool(self.auto_window.value)
        window = None if auto else int(self.window_px.value)
        search = None if auto else int(self.search_px.value)
        material = None if self.fusion_material.value == "pure phase" else self.fusion_material.value
        regions = (parse_region_materials(self.region_materials.value)
                   if self.fusion_regions.value is not None else None)
        return RetrievalParams.for_inline(inline, window_px=window, search_px=search,
                                          integration=self.integration.value,
                                          device=self.device.value, fuse_inline=bool(self.fuse.value),
                                          fusion_material=material,
                                          fusion_region_materials=regions).validate()

    def _regions(self, params: RetrievalParams) -> tuple[Any, dict[str, Any]]:
        """(the material-regions label image, its provenance input) when the run uses them."""
        from ..provenance import layer_input

        layer = self.fusion_regions.value
        if layer is None or not params.fusion_region_materials:
            return None, {}
        import numpy as np

        return np.asarray(layer.data), {"fusion_regions": layer_input(layer.name)}

    def new_regions_layer(self, _value: Any = None) -> Any:
        """An empty Labels layer on the assigned frames' grid, chosen as the material regions,
        in paint mode on label 1 (main thread; None with a notification without frames)."""
        import numpy as np

        try:
            a = current_assignment(self.viewer)
        except SpecktrackError as exc:
            self.fail(exc)
            return None
        ref = a.reference
        ny, nx = ref.data.shape[-2:]
        layer = self.viewer.add_labels(np.zeros((ny, nx), np.uint8), name=REGIONS_LAYER_NAME,
                                       scale=tuple(ref.scale[-2:]),
                                       translate=tuple(ref.translate[-2:]))
        self.fusion_regions.reset_choices()
        self.fusion_regions.value = layer
        layer.selected_label = 1
        layer.brush_size = 5
        layer.mode = "paint"
        self.status.value = ("paint label 1 where the second material's edges lie (e.g. a tube's "
                             "walls), name its material above, then Retrieve")
        return layer

    def suggest(self, _value: Any = None) -> bool:
        """Estimate window and search range from the speckle (worker), then fill the fields."""
        try:
            a = current_assignment(self.viewer)
        except SpecktrackError as exc:
            return self.fail(exc)
        frames, index = a.frames(inline=False), a.current_frame(self.viewer)

        def job(progress: Any, cancel: Any) -> dict:
            from ..retrieval.tracking import suggest_parameters

            return suggest_parameters(frames.reference_image(), frames.sample_frame(index))

        def show(result: dict) -> None:
            self.auto_window.value = False
            self.window_px.value = int(result["window_px"])
            self.search_px.value = int(result["search_px"])
            notify_info(f"suggested window {result['window_px']} px, search range "
                        f"{result['search_px']} px")

        return self.suggest_runner.start(job, show)

    # --- running -------------------------------------------------------------------------------
    def run(self) -> bool:
        """Read settings and data (main thread) and start the retrieval in a worker."""
        viewer = self.viewer
        try:
            a = current_assignment(viewer)
            params = self.params()
            if params.inline_kind == "measured" and a.inline is None:
                raise InputError("double exposure with the measured in-line image needs an in-line "
                                 "layer; assign one in the Acquisition widget, or choose the "
                                 "generated in-line image.")
            indices = self.frame_indices(a.n_frames, a.current_frame(viewer))
            regions, regions_input = self._regions(params)
            if self.to_zarr.value:
                if regions is not None:
                    raise InputError("material regions are not passed to the zarr store path yet; "
                                     "save the Labels layer as a TIFF and run `specktrack batch "
                                     "--fusion-regions labels.tif --region-material 1=PE`")
                return self._run_to_store(a, params)
        except SpecktrackError as exc:
            return self.fail(exc)
        measured = params.inline_kind == "measured"
        frames, inputs = a.frames(inline=measured), {**a.inputs(inline=measured), **regions_input}
        cache = (session(viewer).generated_cache(params.inline, indices)
                 if params.inline_kind == "generated" else {})
        geometry, translate = a.geometry, tuple(a.sample.translate)

        def job(progress: Any, cancel: Any) -> Any:
            return retrieve(frames, geometry, params, indices=indices, inputs=inputs,
                            regions=regions, progress=progress, cancel=cancel, inline_cache=cache)

        def show(result: Any) -> None:
            from ..pipeline import OUTPUT_FIELDS

            one = len(indices) == 1 and a.is_stack  # one frame of a stack: a 2-D layer
            arrays = {f.key: result.field(f.key)[0] if one else result.field(f.key)
                      for f in OUTPUT_FIELDS}
            self._layers = show_fields(viewer, arrays, geometry, result.provenance, indices,
                                       translate=translate, existing=self._layers,
                                       extra=_angles_of(a.sample, indices))
            what = f"{len(indices)} frames" if len(indices) > 1 else f"frame {indices[0]}"
            p = result.params
            self.status.value = (f"{self.method.value}: {what} done (window {p.window_px} px, "
                                 f"search ±{p.search_px} px)")
            for message in result.warnings:
                notify_warning(f"{self.title}: {message}")

        return self.start(job, show, total=len(indices) * UNITS_PER_FRAME)

    def _run_to_store(self, a: Any, params: RetrievalParams) -> bool:
        """All frames through the batch path into the zarr store, then shown lazily."""
        from ._batch import batch_job, batch_sources, open_store_lazily

        if self.scope.value != SCOPES[2] or not a.is_stack:
            raise InputError("writing a zarr store is for all frames of a stack; set 'run on' to "
                             "'all frames', or untick the zarr option")
        store = str(self.store.value)
        if not store.endswith(".zarr"):
            raise InputError(f"choose a zarr store path ending in .zarr (got {store!r})")
        sources = batch_sources(a, measured=params.inline_kind == "measured")
        job = batch_job(sources, params, a.geometry, store)
        geometry, translate = a.geometry, tuple(a.sample.translate)

        def show(report: Any) -> None:
            arrays, attrs = open_store_lazily(report.out)
            frames = list(range(report.total))
            self._layers = show_fields(self.viewer, arrays, geometry, attrs["provenance"], frames,
                                       translate=translate, existing=self._layers)
            self.status.value = (f"{report.computed} frames written to {report.out} "
                                 f"({report.skipped} already there, {len(report.bad)} bad)")
            for i, message in report.bad:
                notify_warning(f"{self.title}: frame {i}: {message}")

        return self.start(job, show, total=a.n_frames, status=f"writing {store}…")

    def cancel(self, _value: Any = None) -> None:
        self._pending = False
        self.runner.cancel()

    # --- preview that follows the slider -------------------------------------------------------
    def _on_slider(self, _event: Any = None) -> None:
        if self.follow.value and self.scope.value == SCOPES[0]:
            self._timer.start()  # debounce: run once the slider rests for 200 ms

    def _preview_tick(self) -> None:
        if self.runner.running:
            self._pending = True
            self.runner.cancel()
            return
        self.run()

    def _after_run(self, _outcome: Any) -> None:
        if self._pending:
            self._pending = False
            self._timer.start()


def _angles_of(layer: Any, indices: list[int]) -> dict[str, Any]:
    """The rotation angles of these sample frames (an NXtomo scan's), for the CT dock."""
    angles = (getattr(layer, "metadata", None) or {}).get("angles_deg")
    if angles is None or len(indices) < 2 or max(indices) >= len(angles):
        return {}
    return {"angles_deg": [angles[i] for i in indices]}
