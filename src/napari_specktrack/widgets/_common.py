"""State shared by the dock widgets of one viewer, and helpers for result layers.

The Acquisition widget validates a role assignment (reference, sample, optional in-line, dark
and flat layers + the geometry) and stores it as an :class:`Assignment` in the viewer's
:class:`Session`; the Generator and Retrieval widgets read it from there. Layers are held by
reference, not by name, so renaming a layer changes nothing; removing one drops the
assignment with a notification.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from psygnal import Signal

from .. import __version__
from ..errors import InputError
from ..geometry import Geometry

#: default layer names the Acquisition widget pre-selects (the sample data use them)
ROLE_DEFAULT_NAMES = {
    "reference": ("reference",),
    "sample": ("sample",),
    "inline": ("in-line", "inline"),
}
GENERATED_INLINE_NAME = "in-line (generated)"

#: above this many elements a stack is checked for NaN/inf on three frames only
_FULL_CHECK_MAX_ELEMENTS = 64 * 1024 * 1024


# --- checks ------------------------------------------------------------------------------
def check_image(data: Any, role: str, layer_name: str, *, allow_stack: bool = True) -> tuple[int, ...]:
    """Check that ``data`` is a real numeric (y, x) image or (n, y, x) stack with finite values.

    Returns the shape; raises :class:`InputError` naming the layer and the fix.
    """
    shape = tuple(int(s) for s in data.shape)
    ndim = len(shape)
    if ndim not in ((2, 3) if allow_stack else (2,)):
        want = "a (y, x) image or an (n, y, x) stack" if allow_stack else "a (y, x) image"
        raise InputError(
            f"the {role} layer {layer_name!r} has shape {shape}; the {role} must be {want}. "
            f"Split colour channels or extra axes into separate layers first."
        )
    dtype = np.dtype(data.dtype)
    if dtype.kind not in "uif":
        raise InputError(
            f"the {role} layer {layer_name!r} has dtype {dtype}; detector images must be integer "
            f"or floating-point counts, not {dtype.kind!r} data. Load the raw frames instead."
        )
    if min(shape[-2:]) < 16:
        raise InputError(
            f"the {role} layer {layer_name!r} is only {shape[-2]}×{shape[-1]} px; speckle tracking "
            f"needs at least 16×16 px (a few speckle grains per window)."
        )
    if dtype.kind == "f":
        size = int(np.prod(shape))
        if ndim == 3 and size > _FULL_CHECK_MAX_ELEMENTS:
            probes = [np.asarray(data[i]) for i in sorted({0, shape[0] // 2, shape[0] - 1})]
        else:
            probes = [np.asarray(data)]
        bad = sum(int(np.count_nonzero(~np.isfinite(p))) for p in probes)
        if bad:
            raise InputError(
                f"the {role} layer {layer_name!r} contains {bad} NaN or infinite pixels; replace "
                f"them (e.g. by interpolation, or crop them away) before tracking."
            )
    return shape


def mean_frame(data: Any) -> np.ndarray:
    """A (y, x) float32 image: the image itself, or the mean of an (n, y, x) stack."""
    arr = np.asarray(data, dtype=np.float32) if np.ndim(data) == 2 else None
    if arr is not None:
        return arr
    acc = np.zeros(data.shape[-2:], dtype=np.float64)
    for i in range(data.shape[0]):
        acc += np.asarray(data[i], dtype=np.float64)
    return (acc / data.shape[0]).astype(np.float32)


# --- the role assignment -------------------------------------------------------------------
@dataclass(frozen=True)
class FrameSource:
    """Arrays of an assignment, corrected frame by frame on demand (safe to use in a worker).

    Correction: ``(I − dark) / (flat − dark)`` with a flat (≈ 1 in the open beam),
    ``I − dark`` with a dark only, unchanged otherwise; float32.
    """

    sample: Any  #: (y, x) or (n, y, x) array (numpy, memmap or dask)
    inline: Any  #: like ``sample``, or None
    reference: np.ndarray | None  #: corrected (y, x) reference
    dark: np.ndarray | float
    flat_minus_dark: np.ndarray | None

    @property
    def n_frames(self) -> int:
        return int(self.sample.shape[0]) if self.sample.ndim == 3 else 1

    def _correct(self, image: Any) -> np.ndarray:
        image = np.asarray(image, dtype=np.float32)
        if self.flat_minus_dark is not None:
            return ((image - self.dark) / self.flat_minus_dark).astype(np.float32)
        if isinstance(self.dark, np.ndarray):
            return (image - self.dark).astype(np.float32)
        return image

    def sample_frame(self, index: int = 0) -> np.ndarray:
        return self._correct(self.sample[index] if self.sample.ndim == 3 else self.sample)

    def inline_frame(self, index: int = 0) -> np.ndarray | None:
        if self.inline is None:
            return None
        return self._correct(self.inline[index] if self.inline.ndim == 3 else self.inline)


@dataclass
class Assignment:
    """Validated roles and geometry. Frames come out dark/flat corrected as float32 (see
    :class:`FrameSource`); reference, dark and flat given as stacks are averaged."""

    reference: Any  #: napari Image layer
    sample: Any
    geometry: Geometry
    inline: Any = None
    dark: Any = None
    flat: Any = None
    _cache: dict = field(default_factory=dict, repr=False)

    @property
    def n_frames(self) -> int:
        """Frames in the sample (1 for a single image)."""
        return int(self.sample.data.shape[0]) if self.sample.data.ndim == 3 else 1

    @property
    def is_stack(self) -> bool:
        return self.sample.data.ndim == 3

    @property
    def layers(self) -> list[Any]:
        return [x for x in (self.reference, self.sample, self.inline, self.dark, self.flat) if x is not None]

    def describe(self) -> str:
        """One line for status labels."""
        frames = f"{self.n_frames} frames" if self.is_stack else "1 frame"
        extra = "".join(
            f", {role}: {layer.name!r}"
            for role, layer in (("in-line", self.inline), ("dark", self.dark), ("flat", self.flat))
            if layer is not None
        )
        g = self.geometry
        return (
            f"sample {self.sample.name!r} ({frames}), reference {self.reference.name!r}{extra}; "
            f"{g.energy_keV:g} keV, {g.pixel_size_m * 1e6:g} µm px, z = {g.distance_m:g} m"
        )

    def _dark(self) -> np.ndarray | float:
        if self.dark is None:
            return 0.0
        if "dark" not in self._cache:
            self._cache["dark"] = mean_frame(self.dark.data)
        return self._cache["dark"]

    def _flat_minus_dark(self) -> np.ndarray | None:
        if self.flat is None:
            return None
        if "flat" not in self._cache:
            self._cache["flat"] = mean_frame(self.flat.data) - self._dark()
        return self._cache["flat"]

    def frames(self) -> FrameSource:
        """A thread-safe snapshot (arrays only, no layers) to hand to a worker.

        Averages the reference, dark and flat here, on the calling (main) thread.
        """
        if "reference" not in self._cache:
            raw = FrameSource(self.reference.data, None, None, self._dark(), self._flat_minus_dark())
            self._cache["reference"] = raw._correct(mean_frame(self.reference.data))
        return FrameSource(
            self.sample.data,
            None if self.inline is None else self.inline.data,
            self._cache["reference"],
            self._dark(),
            self._flat_minus_dark(),
        )

    def reference_image(self) -> np.ndarray:
        """The corrected reference (y, x) (a reference stack is averaged)."""
        return self.frames().reference

    def sample_frame(self, index: int = 0) -> np.ndarray:
        """The corrected sample frame ``index`` (ignored for a single image)."""
        return self.frames().sample_frame(index)

    def inline_frame(self, index: int = 0) -> np.ndarray | None:
        """The corrected measured in-line frame ``index``, or None without an in-line layer."""
        return self.frames().inline_frame(index)

    def current_frame(self, viewer: Any) -> int:
        """The sample frame under napari's slider (0 for a single image)."""
        if not self.is_stack:
            return 0
        try:
            index = self.sample.world_to_data(viewer.dims.point)[0]
        except (AttributeError, IndexError, ValueError):
            index = viewer.dims.current_step[0] if viewer.dims.ndim >= 3 else 0
        return int(np.clip(round(float(index)), 0, self.n_frames - 1))


def validate_assignment(
    reference: Any,
    sample: Any,
    geometry: Geometry,
    *,
    inline: Any = None,
    dark: Any = None,
    flat: Any = None,
) -> Assignment:
    """Check shapes, dtypes and values of the chosen layers; return the :class:`Assignment`.

    Raises :class:`InputError` (and changes nothing) on any mismatch.
    """
    if reference is None or sample is None:
        raise InputError(
            "choose both a reference layer (speckle without sample) and a sample layer (speckle "
            "with sample); open or load them first if the lists are empty."
        )
    if reference is sample:
        raise InputError(
            f"the reference and the sample are the same layer ({sample.name!r}); choose the "
            f"frames taken without the sample as reference."
        )
    ref_shape = check_image(reference.data, "reference", reference.name)
    smp_shape = check_image(sample.data, "sample", sample.name)
    yx = smp_shape[-2:]
    if ref_shape[-2:] != yx:
        raise InputError(
            f"the reference {reference.name!r} is {ref_shape[-2]}×{ref_shape[-1]} px but the sample "
            f"{sample.name!r} is {yx[0]}×{yx[1]} px; use frames from the same detector region "
            f"(crop both to the same region of interest)."
        )
    for role, layer in (("dark", dark), ("flat", flat)):
        if layer is None:
            continue
        shape = check_image(layer.data, role, layer.name)
        if shape[-2:] != yx:
            raise InputError(
                f"the {role} layer {layer.name!r} is {shape[-2]}×{shape[-1]} px but the sample is "
                f"{yx[0]}×{yx[1]} px; use {role} frames of the same detector region."
            )
    if inline is not None:
        shape = check_image(inline.data, "in-line", inline.name)
        if shape != smp_shape and not (len(shape) == 2 and shape == yx and len(smp_shape) == 2):
            raise InputError(
                f"the in-line layer {inline.name!r} has shape {shape} but the sample has shape "
                f"{smp_shape}; the in-line image must match the sample frame for frame, or leave "
                f"it empty and generate it with the Generator widget."
            )
    assignment = Assignment(reference, sample, geometry, inline=inline, dark=dark, flat=flat)
    if flat is not None:
        den = assignment._flat_minus_dark()
        bad = int(np.count_nonzero(den <= 0))
        if bad:
            raise InputError(
                f"the flat {flat.name!r} is not brighter than the dark at {bad} pixels; check that "
                f"dark and flat are not swapped and that the flat was taken with the beam on."
            )
    return assignment


# --- per-viewer session --------------------------------------------------------------------
class Session:
    """What the widgets of one viewer share: the current :class:`Assignment`."""

    changed = Signal()

    def __init__(self, viewer: Any) -> None:
        self._viewer = weakref.ref(viewer)
        self.assignment: Assignment | None = None
        #: the last "in-line (generated)" layer (its metadata["frames"] lists the sample frames)
        self.generated: Any = None
        #: dock widgets by display name, where the demo docked them
        self.widgets: dict[str, Any] = {}
        viewer.layers.events.removed.connect(self._on_removed)

    def set_assignment(self, assignment: Assignment | None) -> None:
        self.assignment = assignment
        self.changed.emit()

    def _on_removed(self, event: Any) -> None:
        layer = getattr(event, "value", None)
        if self.assignment is not None and any(layer is x for x in self.assignment.layers):
            from ._workers import notify_info

            self.assignment = None
            notify_info(
                f"layer {layer.name!r} was removed, so the role assignment was cleared; assign the "
                f"roles again in the Acquisition widget."
            )
            self.changed.emit()


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
    for layer in image_layers(viewer):
        if layer.name.lower() in wanted:
            return layer
    return None


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
    try:
        return validate_assignment(reference, sample, geometry, inline=inline)
    except InputError:
        try:
            return validate_assignment(reference, sample, geometry)
        except InputError:
            return None


def current_assignment(viewer: Any) -> Assignment:
    """The viewer's assignment; falls back to the default layer names, else raises InputError."""
    s = session(viewer)
    if s.assignment is None:
        auto = auto_assignment(viewer)
        if auto is None:
            raise InputError(
                "no reference and sample assigned; choose them in the Acquisition widget and press "
                "'Use these layers'."
            )
        s.set_assignment(auto)
    return s.assignment


# --- result layers ---------------------------------------------------------------------------
def provenance(step: str, params: dict[str, Any], inputs: list[str]) -> dict[str, Any]:
    """The provenance record of DESIGN.md: step, params, inputs, version."""
    return {"step": step, "params": params, "inputs": inputs, "version": __version__}


def robust_limits(data: np.ndarray, *, symmetric: bool = False) -> tuple[float, float]:
    """Contrast limits from the 0.5 and 99.5 percentiles (symmetric about 0 if asked)."""
    finite = np.asarray(data)[np.isfinite(data)]
    if finite.size == 0:
        return (0.0, 1.0)
    lo, hi = (float(v) for v in np.percentile(finite, [0.5, 99.5]))
    if symmetric:
        m = max(abs(lo), abs(hi), 1e-6)
        return (-m, m)
    if hi <= lo:
        hi = lo + 1e-6
    return (lo, hi)


def put_image_layer(
    viewer: Any,
    data: np.ndarray,
    name: str,
    *,
    existing: Any = None,
    scale: tuple[float, ...],
    translate: tuple[float, ...] | None = None,
    metadata: dict[str, Any],
    colormap: str = "gray",
    symmetric: bool = False,
) -> Any:
    """Update ``existing`` (or the layer called ``name``) in place, else add a new Image layer.

    A layer is reused only if it is still in the viewer and has the same number of
    dimensions; the contrast is reset to the new data's robust range.
    """
    layer = existing if existing is not None and existing in viewer.layers else None
    if layer is None and name in viewer.layers:
        layer = viewer.layers[name]
    from napari.layers import Image

    limits = robust_limits(data, symmetric=symmetric)
    translate = translate if translate is not None else (0.0,) * data.ndim
    if isinstance(layer, Image) and layer.data.ndim == data.ndim:
        layer.data = data
        layer.scale = scale
        layer.translate = translate
        layer.metadata = metadata
        layer.contrast_limits_range = limits
        layer.contrast_limits = limits
    else:
        if layer is not None:
            viewer.layers.remove(layer)
        layer = viewer.add_image(
            data,
            name=name,
            scale=scale,
            translate=translate,
            metadata=metadata,
            colormap=colormap,
            contrast_limits=limits,
        )
    set_um_units(layer)
    return layer


def set_um_units(layer: Any) -> None:
    """Label a layer's (y, x) axes in µm (its ``scale`` is in µm), so the scale bar reads µm."""
    try:
        layer.units = ("pixel",) * (layer.ndim - 2) + ("um", "um")
    except (AttributeError, ValueError, TypeError):  # napari without per-layer units
        pass


def layer_scale(geometry: Geometry, ndim: int) -> tuple[float, ...]:
    """napari ``scale`` in µm (object-plane pixel) for a (y, x) image or an (n, y, x) stack."""
    return (1.0,) * (ndim - 2) + tuple(geometry.layer_scale_um)
