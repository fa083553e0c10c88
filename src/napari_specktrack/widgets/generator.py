"""Generator dock: the network's in-line image G(sample − reference), as a layer.

The in-line image (the sample without the membrane's speckle) is what double-exposure
retrieval divides out; here the pix2pixHD generator makes it from the speckle images alone.
The dock builds a :class:`~napari_specktrack.pipeline.GeneratorSpec` (weights, device,
tiles, orientation averaging) and runs :func:`napari_specktrack.pipeline.generate` — the
same call as ``specktrack generate`` — in a worker; the result is the
``in-line (generated)`` layer, updated in place. The spec is also the session's, so the
Retrieval dock's *generated in-line* method uses exactly these settings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from magicgui.widgets import CheckBox, ComboBox, FileEdit, SpinBox

from ..errors import InputError, SpecktrackError
from ..pipeline import INLINE_FIELD, GeneratorSpec, generate
from ._base import DockBase
from ._layers import layer_scale, put_image_layer
from ._session import current_assignment, session

GENERATED_INLINE_NAME = INLINE_FIELD.layer


class GeneratorWidget(DockBase):
    """Run the generator on the assigned sample → ``in-line (generated)`` layer."""

    def __init__(self, napari_viewer: Any) -> None:
        super().__init__(napari_viewer, "in-line generation", run_text="Generate in-line image")
        self.weights = self.add_param("weights", ComboBox(
            label="weights", choices=["pretrained", "file"], value="pretrained",
            tooltip="the shipped pretrained generator, or weights from a file"))
        self.weights_file = self.add_param("weights_file", FileEdit(
            label="weights file", mode="r", filter="*.safetensors *.pt *.pth *.ckpt",
            visible=False))
        self.tile_px = self.add_param("tile_px", SpinBox(
            label="tile (px)", value=0, min=0, max=16384, step=64,
            tooltip="0: whole frames. > 0: tiles of this side, layer by layer (same result, "
                    "bounded GPU memory)"))
        self.orientations = self.add_param("average_orientations", CheckBox(
            text="average 8 orientations", value=False,
            tooltip="run every flip and quarter turn and average them: more accurate, 8x slower"))
        self.finish_layout()
        self.weights.changed.connect(self._on_weights)
        self._on_weights(self.weights.value)
        for w in (self.weights, self.weights_file, self.tile_px, self.orientations, self.device):
            w.changed.connect(self._publish_spec)
        self._result_layer: Any = None
        self._publish_spec()

    def _on_weights(self, value: str) -> None:
        self.weights_file.visible = value == "file"

    def spec(self) -> GeneratorSpec:
        """The :class:`GeneratorSpec` of the fields (raises InputError for a missing file)."""
        weights = "pretrained"
        if self.weights.value == "file":
            path = Path(self.weights_file.value)
            if not path.is_file():
                raise InputError(f"the weights file {str(path)!r} does not exist; choose a "
                                 f".safetensors file or a training checkpoint, or 'pretrained'.")
            weights = str(path)
        tile = int(self.tile_px.value) or None
        return GeneratorSpec(weights=weights, device=self.device.value, tile_px=tile,
                             average_orientations=bool(self.orientations.value)).validate()

    def _publish_spec(self, _value: Any = None) -> None:
        try:
            session(self.viewer).generator_spec = self.spec()
        except SpecktrackError:
            pass  # an unfinished choice (no file yet): keep the last good spec

    def run(self) -> bool:
        """Read the settings (main thread) and start the generation in a worker."""
        viewer = self.viewer
        try:
            a = current_assignment(viewer)
            spec = self.spec()
            indices = self.frame_indices(a.n_frames, a.current_frame(viewer))
        except SpecktrackError as exc:
            return self.fail(exc)
        session(viewer).generator_spec = spec
        frames, inputs = a.frames(inline=False), a.inputs(inline=False)
        geometry, translate = a.geometry, tuple(a.sample.translate)

        def job(progress: Any, cancel: Any) -> Any:
            return generate(frames, spec, geometry=geometry, indices=indices, inputs=inputs,
                            progress=progress, cancel=cancel)

        def show(result: Any) -> None:
            data = result.inline  # one frame of a stack is shown as a 2-D image
            data = data[0] if data.ndim == 3 and len(result.frames) == 1 else data
            meta = {"geometry": geometry.to_dict(), "provenance": result.provenance,
                    "frames": result.frames, "unit": INLINE_FIELD.unit}
            self._result_layer = put_image_layer(
                viewer, data, GENERATED_INLINE_NAME, existing=self._result_layer,
                scale=layer_scale(geometry, data.ndim), translate=translate[-data.ndim:],
                metadata=meta)
            session(viewer).generated = self._result_layer
            what = f"{len(indices)} frames" if len(indices) > 1 else f"frame {indices[0]}"
            self.status.value = (f"generated {what} with {Path(spec.weights).name} "
                                 f"({result.meta.get('preset', '?')} preset on {result.device})")

        from ..pipeline import UNITS_PER_FRAME

        return self.start(job, show, total=len(indices) * UNITS_PER_FRAME)
