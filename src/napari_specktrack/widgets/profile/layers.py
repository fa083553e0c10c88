"""The Profile dock's view of the napari layers (main thread): lines, images, geometry, phantom.

Everything the worker needs is read from the layers here, as plain values: the line's end
points in each image's pixels (through world coordinates, so scale and translation are
honoured), the frame under the slider, the geometry a layer carries, and the phantom of a
simulation. Nothing here computes a profile.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from ...geometry import Geometry
from .._session import geometry_of

LINE_LAYER_NAME = "profile lines"


def shapes_layers(viewer: Any) -> list[Any]:
    """The viewer's Shapes layers, top first (as napari's layer list shows them)."""
    from napari.layers import Shapes

    return [layer for layer in reversed(viewer.layers) if isinstance(layer, Shapes)]


def profile_images(viewer: Any) -> list[Any]:
    """Image layers a profile can be taken of (not RGB, at least 2-D), top first."""
    from napari.layers import Image

    return [layer for layer in reversed(viewer.layers)
            if isinstance(layer, Image) and not layer.rgb and layer.ndim >= 2]


def _unit(layer: Any) -> str:
    meta = getattr(layer, "metadata", None) or {}
    return str(meta.get("unit", "")) if isinstance(meta, dict) else ""


def default_image(viewer: Any) -> Any:
    """The layer to profile when none is chosen: the selected one if it is a phase (unit rad),
    else the top phase layer, else the selected, else the top image; None without images."""
    images = profile_images(viewer)
    selected = [layer for layer in images if layer in viewer.layers.selection]
    phases = [layer for layer in images if _unit(layer) == "rad"]
    for candidates in ([x for x in selected if x in phases], phases, selected, images):
        if candidates:
            return candidates[0]
    return None


def is_retrieved_phase(layer: Any) -> bool:
    """True for a phase made by retrieval (provenance step ``retrieve``): it underestimates
    the rims, so its fit should free the contrast."""
    meta = getattr(layer, "metadata", None) or {}
    prov = meta.get("provenance") if isinstance(meta, dict) else None
    return isinstance(prov, dict) and prov.get("step") == "retrieve"


def layer_geometry(layer: Any) -> tuple[Geometry, str | None]:
    """The geometry in the layer's metadata; else one whose object-plane pixel is the layer's
    scale (µm); else the default. The note says which fallback was taken (None: none)."""
    found = geometry_of(layer)
    if found is not None:
        return found, None
    default = Geometry()
    scale_um = float(np.asarray(layer.scale)[-1])
    if not np.isclose(scale_um, 1.0):
        pixel_m = scale_um * 1e-6 * default.magnification
        return (dataclasses.replace(default, pixel_size_m=pixel_m),
                f"{layer.name!r} has no geometry: pixel {scale_um:g} µm from its scale, "
                f"{default.energy_keV:g} keV assumed")
    return default, (f"{layer.name!r} has no geometry: the default one "
                     f"({default.energy_keV:g} keV, {default.object_pixel_size_m * 1e6:.3g} µm)")


def phantom_of(layer: Any) -> dict[str, Any] | None:
    """The ``phantom.json`` mapping a layer carries in ``metadata["phantom"]``, or None."""
    meta = getattr(layer, "metadata", None) or {}
    phantom = meta.get("phantom") if isinstance(meta, dict) else None
    return phantom if isinstance(phantom, dict) and "objects" in phantom else None


def find_phantom(viewer: Any, first: Any,
                 prefer: Sequence[Any] = ()) -> tuple[dict[str, Any], str] | None:
    """The phantom of ``first``, else of another layer on its pixel grid — of ``prefer`` (the
    other chosen layers) first — as a retrieved phase carries none and the simulation's layers
    do: (phantom, name of the layer it came from)."""
    if phantom_of(first) is not None:
        return phantom_of(first), first.name
    shape = first.data.shape[-2:]
    for layer in [*prefer, *profile_images(viewer)]:
        if (phantom_of(layer) is not None and layer.data.shape[-2:] == shape
                and np.allclose(layer.scale[-2:], first.scale[-2:])):
            return phantom_of(layer), layer.name
    return None


def line_index(shapes: Any) -> int | None:
    """The selected line (or path) of a Shapes layer, else its last one; None without lines."""
    if shapes is None or len(shapes.data) == 0:
        return None
    lines = [i for i, t in enumerate(shapes.shape_type) if t in ("line", "path")]
    if not lines:
        return None
    selected = [i for i in sorted(shapes.selected_data) if i in lines]
    return selected[0] if selected else lines[-1]


def line_in_layer(shapes: Any, index: int, image: Any) -> tuple[tuple[float, float], ...]:
    """End points (y, x) in ``image``'s pixel coordinates of line ``index`` of a Shapes layer.
    Rounded to 1e-6 px: the round trip through world coordinates adds ~1e-14 px, which would
    change the number of samples ⌈L + 1⌉ of a line of integer length."""
    verts = np.asarray(shapes.data[index], dtype=float)
    ends = []
    for v in (verts[0], verts[-1]):
        data = np.asarray(image.world_to_data(shapes.data_to_world(v)), dtype=float)[-2:]
        ends.append(tuple(float(x) for x in np.round(data, 6)))
    return tuple(ends)


def frame_of(viewer: Any, image: Any) -> int | None:
    """The frame of a stack under the slider (its third-last axis); None for a 2-D image."""
    if image.ndim < 3:
        return None
    index = np.asarray(image.world_to_data(viewer.dims.point), dtype=float)
    return int(np.clip(round(index[-3]), 0, image.data.shape[-3] - 1))


def stack_of(image: Any) -> Any:
    """The layer's data as (y, x) or (n, y, x): further leading axes at their first index."""
    data = image.data
    return data[(0,) * (data.ndim - 3)] if data.ndim > 3 else data


def source_paths(layers: list[Any]) -> list[str]:
    """The files the layers were read from (an export never writes over them)."""
    paths = [getattr(getattr(layer, "source", None), "path", None) for layer in layers]
    return [str(p) for p in paths if p]


def add_line_layer(viewer: Any, like: Any = None) -> Any:
    """The "profile lines" Shapes layer (added on ``like``'s grid if missing), active and in
    line-drawing mode."""
    if LINE_LAYER_NAME in viewer.layers:
        layer = viewer.layers[LINE_LAYER_NAME]
    else:
        kwargs = {}
        if like is not None:
            kwargs = {"scale": like.scale[-2:], "translate": like.translate[-2:]}
            units = getattr(like, "units", None)  # the same units: no "inconsistent units"
            if units is not None:
                kwargs["units"] = tuple(str(u) for u in units[-2:])
        layer = viewer.add_shapes(name=LINE_LAYER_NAME, ndim=2, edge_color="yellow",
                                  edge_width=1.5, **kwargs)
    viewer.layers.selection.active = layer
    layer.mode = "add_line"
    return layer
