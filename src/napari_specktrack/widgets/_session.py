"""What the docks of one viewer share: the role assignment and the generator settings.

The Acquisition dock checks a role assignment (reference, sample, optional in-line, dark and
flat layers + the geometry) with the core's one image check (:meth:`pipeline.Frames.validate`)
and stores it as an :class:`Assignment` in the viewer's :class:`Session`; the other docks read
it from there and hand :meth:`Assignment.frames` — plain arrays, safe in a worker — to the
pipeline. Layers are held by reference, not by name, so renaming a layer changes nothing;
removing one drops the assignment with a notification. The Generator dock keeps the session's
:class:`~napari_specktrack.pipeline.GeneratorSpec` current, so the Retrieval dock's generated
in-line image uses exactly the Generator dock's weights, device, tiles and orientations.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any

import numpy as np
from psygnal import Signal

from ..errors import InputError
from ..geometry import Geometry
from ..pipeline import Frames, GeneratorSpec
from ..provenance import layer_input

#: default layer names the Acquisition widget pre-selects (the sample data use them)
ROLE_DEFAULT_NAMES = {
    "reference": ("reference",),
    "sample": ("sample",),
    "inline": ("in-line", "inline"),
}
ROLES = ("reference", "sample", "inline", "dark", "flat")


@dataclass
class Assignment:
    """Validated roles (napari Image layers) and the geometry."""

    reference: Any
    sample: Any
    geometry: Geometry
    inline: Any = None
    dark: Any = None
    flat: Any = None

    @property
    def n_frames(self) -> int:
        """Frames in the sample (1 for a single image)."""
        return int(self.sample.data.shape[0]) if self.sample.data.ndim == 3 else 1

    @property
    def is_stack(self) -> bool:
        return self.sample.data.ndim == 3

    def roles(self) -> dict[str, Any]:
        """Role → layer, for the roles that are set."""
        found = {r: getattr(self, r) for r in ROLES}
        return {r: layer for r, layer in found.items() if layer is not None}

    @property
    def layers(self) -> list[Any]:
        return list(self.roles().values())

    def frames(self, *, inline: bool = True) -> Frames:
        """The images as a :class:`~napari_specktrack.pipeline.Frames` (arrays, no layers)."""
        def data(layer: Any) -> Any:
            return None if layer is None else layer.data

        return Frames(self.sample.data, self.reference.data,
                      inline=data(self.inline) if inline else None,
                      dark=data(self.dark), flat=data(self.flat))

    def inputs(self, *, inline: bool = True) -> dict[str, Any]:
        """Provenance inputs: each role's layer, by name."""
        return {r: layer_input(layer.name) for r, layer in self.roles().items()
                if inline or r != "inline"}

    def describe(self) -> str:
        """One line for status labels."""
        frames = f"{self.n_frames} frames" if self.is_stack else "1 frame"
        extra = "".join(f", {role}: {layer.name!r}" for role, layer in self.roles().items()
                        if role in ("inline", "dark", "flat"))
        g = self.geometry
        return (f"sample {self.sample.name!r} ({frames}), reference {self.reference.name!r}{extra}; "
                f"{g.energy_keV:g} keV, {g.pixel_size_m * 1e6:g} µm px, z = {g.distance_m:g} m")

    def current_frame(self, viewer: Any) -> int:
        """The sample frame under napari's slider (0 for a single image)."""
        if not self.is_stack:
            return 0
        try:
            index = self.sample.world_to_data(viewer.dims.point)[0]
        except (AttributeError, IndexError, ValueError):
            index = viewer.dims.current_step[0] if viewer.dims.ndim >= 3 else 0
        return int(np.clip(round(float(index)), 0, self.n_frames - 1))


def validate_assignment(reference: Any, sample: Any, geometry: Geometry, *, inline: Any = None,
                        dark: Any = None, flat: Any = None) -> Assignment:
    """Check the chosen layers with the core's image check; the :class:`Assignment` or an
    :class:`InputError` (nothing changes)."""
    if reference is None or sample is None:
        raise InputError("choose both a reference layer (speckle without sample) and a sample layer "
                         "(speckle with sample); open or load them first if the lists are empty.")
    if reference is sample:
        raise InputError(f"the reference and the sample are the same layer ({sample.name!r}); "
                         f"choose the frames taken without the sample as reference.")
    a = Assignment(reference, sample, geometry, inline=inline, dark=dark, flat=flat)
    try:
        a.frames().validate()
    except InputError as exc:
        names = ", ".join(f"{r} = {layer.name!r}" for r, layer in a.roles().items())
        raise InputError(f"{exc} [{names}]") from exc
    return a


class Session:
    """What the widgets of one viewer share."""

    changed = Signal()

    def __init__(self, viewer: Any) -> None:
        self._viewer = weakref.ref(viewer)
        self.assignment: Assignment | None = None
        #: the Generator dock's settings (the Retrieval dock generates with these)
        self.generator_spec: GeneratorSpec = GeneratorSpec()
        #: the last "in-line (generated)" layer (its metadata["frames"] lists the sample frames)
        self.generated: Any = None
        #: dock widgets by display name, where the demo docked them
        self.widgets: dict[str, Any] = {}
        viewer.layers.events.removed.connect(self._on_removed)

    def set_assignment(self, assignment: Assignment | None) -> None:
        self.assignment = assignment
        self.changed.emit()

    def generated_cache(self, spec: GeneratorSpec, indices: list[int]) -> dict[int, np.ndarray]:
        """Generated in-line images already in the viewer for ``spec``, by sample frame."""
        layer = self.generated
        viewer = self._viewer()
        if layer is None or viewer is None or layer not in viewer.layers:
            return {}
        prov = layer.metadata.get("provenance") or {}
        made = {k: v for k, v in (prov.get("params") or {}).items() if k != "device"}
        if made != {k: v for k, v in spec.to_dict().items() if k != "device"}:
            return {}
        frames = list(layer.metadata.get("frames") or [])
        stack = layer.data if layer.data.ndim == 3 else layer.data[None]
        if len(frames) != stack.shape[0]:
            return {}
        wanted = set(indices)
        return {f: np.asarray(stack[k], np.float32) for k, f in enumerate(frames) if f in wanted}

    def _on_removed(self, event: Any) -> None:
        layer = getattr(event, "value", None)
        if self.assignment is not None and any(layer is x for x in self.assignment.layers):
            from qtpy.QtCore import QTimer

            self.assignment = None
            self.changed.emit()
            name = layer.name
            QTimer.singleShot(0, lambda: self._tell_removed(name))

    def _tell_removed(self, name: str) -> None:
        """Say why the roles were cleared — unless the viewer is closing (no layers left)."""
        viewer = self._viewer()
        if viewer is None or len(viewer.layers) == 0:
            return
        from ._workers import notify_info

        notify_info(f"layer {name!r} was removed, so the role assignment was cleared; assign the "
                    f"roles again in the Acquisition widget.")


_SESSIONS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def session(viewer: Any) -> Session:
    """The :class:`Session` of ``viewer`` (created on first use)."""
    s = _SESSIONS.get(viewer)
    if s is None:
        s = Session(viewer)
        _SESSIONS[viewer] = s
    return s


def image_layers(viewer: Any) -> list[Any]:
    """The viewer's Image layers, in layer-list order."""
    from napari.layers import Image

    return [layer for layer in viewer.layers if isinstance(layer, Image)]


def find_layer(viewer: Any, names: tuple[str, ...]) -> Any:
    """The first Image layer whose name is one of ``names`` (case-insensitive), or None."""
    wanted = {n.lower() for n in names}
    return next((layer for layer in image_layers(viewer) if layer.name.lower() in wanted), None)


def geometry_of(layer: Any) -> Geometry | None:
    """The Geometry stored in a layer's metadata (sample data, reader, results), or None."""
    meta = getattr(layer, "metadata", None) or {}
    g = meta.get("geometry") if isinstance(meta, dict) else None
    if not isinstance(g, dict):
        return None
    try:
        return Geometry.from_dict(g)
    except Exception:  # a foreign or partial geometry in the metadata: ignore it
        return None


def auto_assignment(viewer: Any) -> Assignment | None:
    """Assign roles by the default layer names (as the sample data name them), or None."""
    reference = find_layer(viewer, ROLE_DEFAULT_NAMES["reference"])
    sample = find_layer(viewer, ROLE_DEFAULT_NAMES["sample"])
    if reference is None or sample is None:
        return None
    inline = find_layer(viewer, ROLE_DEFAULT_NAMES["inline"])
    geometry = geometry_of(sample) or geometry_of(reference) or Geometry()
    for candidate in (inline, None):
        try:
            return validate_assignment(reference, sample, geometry, inline=candidate)
        except InputError:
            continue
    return None


def current_assignment(viewer: Any) -> Assignment:
    """The viewer's assignment; falls back to the default layer names, else raises InputError."""
    s = session(viewer)
    if s.assignment is None:
        auto = auto_assignment(viewer)
        if auto is None:
            raise InputError("no reference and sample assigned; choose them in the Acquisition "
                             "widget and press 'Use these layers'.")
        s.set_assignment(auto)
    return s.assignment
