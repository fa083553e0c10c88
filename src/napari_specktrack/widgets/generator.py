"""Generator dock: the network's in-line image G(sample − reference), as a layer.

The in-line image (the sample without the membrane's speckle) is what double-exposure
retrieval divides out; here the pix2pixHD generator makes it from the speckle images alone.
The dock builds a :class:`~napari_specktrack.pipeline.GeneratorSpec` (weights, device,
tiles, orientation averaging) and runs :func:`napari_specktrack.pipeline.generate` — the
same call as ``specktrack generate`` — in a worker; the result is the
``in-line (generated)`` layer, updated in place. The spec is also the session's, so the
Retrieval dock's *generated in-line* method uses exactly these settings.

The weights are chosen from the known models (:func:`~napari_specktrack.learn.models.
list_models`: the shipped ``pretrained`` and every run trained here or with ``specktrack
train``, by name, preset and step) or a file. The list is read again whenever the dock is
shown and when the Training dock finishes a run (:data:`.training.signals.MODELS`); *Model
card* shows the selected model's card.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from magicgui.widgets import CheckBox, ComboBox, FileEdit, PushButton, SpinBox
from qtpy.QtCore import QEvent, QObject

from ..errors import InputError, SpecktrackError
from ..pipeline import INLINE_FIELD, GeneratorSpec, generate
from ._base import DockBase
from ._layers import layer_scale, put_image_layer
from ._session import current_assignment, session
from .profile.panels import narrow, row

GENERATED_INLINE_NAME = INLINE_FIELD.layer
#: the weights choice that shows the file field
FILE_CHOICE = "file"


def model_label(entry: Any) -> str:
    """``name (preset, step N)`` of a :class:`~napari_specktrack.learn.models.ModelEntry`."""
    step = f", step {entry.step}" if entry.step is not None else ""
    return f"{entry.name} ({entry.preset}{step})"


def model_choices() -> list[tuple[str, str]]:
    """(label, weights) of the known models, then ("file…", "file"); the shipped one alone
    when the list cannot be read (a notification says why)."""
    from ..learn.models import list_models

    try:
        entries = list_models()
    except SpecktrackError as exc:
        from ._workers import notify_warning

        notify_warning(f"known models: {exc}")
        entries = []
    choices = [(model_label(e), e.path) for e in entries] or [("pretrained", "pretrained")]
    return [*choices, ("file…", FILE_CHOICE)]


class _OnShow(QObject):
    """Calls ``callback()`` whenever the watched widget is shown."""

    def __init__(self, widget: Any, callback: Any) -> None:
        super().__init__(widget)
        self._callback = callback
        widget.installEventFilter(self)

    def eventFilter(self, obj: Any, event: Any) -> bool:
        if event.type() == QEvent.Type.Show:
            self._callback()
        return False


class GeneratorWidget(DockBase):
    """Run the generator on the assigned sample → ``in-line (generated)`` layer."""

    def __init__(self, napari_viewer: Any) -> None:
        super().__init__(napari_viewer, "in-line generation", run_text="Generate in-line image")
        weights_row = row("weights")
        self._model_choices = model_choices()
        # a callable: napari's reset_choices (at every layer change) asks it again
        self.weights = self.add_param("weights", narrow(ComboBox(
            choices=lambda _w: self._model_choices, value="pretrained",
            tooltip="the shipped pretrained generator, a model trained here (name, preset, "
                    "step), or weights from a file")), into=weights_row)
        self.card_button = PushButton(text="Model card",
                                      tooltip="what the selected model was trained on, and how well")
        weights_row.append(self.card_button)
        self.append(weights_row)
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
        self.card_button.changed.connect(self.show_card)
        self._on_show = _OnShow(self.native, self.refresh_models)
        from .training.signals import MODELS

        MODELS.changed.connect(self.refresh_models)
        self.native.destroyed.connect(lambda *_: MODELS.changed.disconnect(self.refresh_models))
        self._publish_spec()

    def _on_weights(self, value: str) -> None:
        self.weights_file.visible = value == FILE_CHOICE
        self.weights.tooltip = (self.card_text().strip().splitlines() or ["weights from a file"])[0]

    def refresh_models(self) -> None:
        """Read the list of known models again; the selection is kept while it exists."""
        choices = model_choices()
        if choices == self._model_choices:
            return
        self._model_choices = choices
        try:
            value = self.weights.value
            self.weights.reset_choices()
            self.weights.value = value if value in self.weights.choices else "pretrained"
        except RuntimeError:  # the dock's Qt widgets were deleted (viewer closed)
            pass

    def card_text(self) -> str:
        """The selected model's card (markdown), or a line saying there is none."""
        from ..learn.models import list_models

        value = self.weights.value
        if value == FILE_CHOICE:
            return "a weights file: its model card, if any, lies beside it (MODEL_CARD.md)"
        try:
            entry = next((e for e in list_models() if e.path == value), None)
        except SpecktrackError as exc:
            return str(exc)
        card = entry.card if entry is not None else ""
        return card or f"no model card for {Path(str(value)).name}"

    def show_card(self, _value: Any = None) -> None:
        """Show the selected model's card in a dialog."""
        from qtpy.QtWidgets import QMessageBox

        box = QMessageBox(self.native)
        box.setWindowTitle("Model card")
        box.setText(self.weights.current_choice)
        box.setDetailedText(self.card_text())
        box.open()

    def spec(self) -> GeneratorSpec:
        """The :class:`GeneratorSpec` of the fields (raises InputError for a missing file)."""
        weights = str(self.weights.value)
        if weights == FILE_CHOICE:
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
        used = (Path(spec.weights).name if self.weights.value == FILE_CHOICE
                else self.weights.current_choice)
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
            self.status.value = (f"generated {what} with {used} "
                                 f"({result.meta.get('preset', '?')} preset on {result.device})")

        from ..pipeline import UNITS_PER_FRAME

        return self.start(job, show, total=len(indices) * UNITS_PER_FRAME)
