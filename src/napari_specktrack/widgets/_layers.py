"""Result layers: added or updated in place, in µm, with the provenance in their metadata.

Every dock shows results through :func:`put_image_layer`; :func:`show_fields` shows the
fields of a retrieval (:data:`~napari_specktrack.pipeline.OUTPUT_FIELDS`): the phase becomes
the selected, visible layer, the other fields are added hidden (a re-run keeps the user's
visibility choices). Every layer's (y, x) axes are labelled in µm so napari's units stay
consistent across layers (no "inconsistent units" warning).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..geometry import Geometry


def robust_limits(data: Any, *, symmetric: bool = False) -> tuple[float, float]:
    """Contrast limits from the 0.5 and 99.5 percentiles (symmetric about 0 if asked)."""
    arr = np.asarray(data)
    finite = arr[np.isfinite(arr)]
    if finite.size == 0:
        return (0.0, 1.0)
    lo, hi = (float(v) for v in np.percentile(finite, [0.5, 99.5]))
    if symmetric:
        m = max(abs(lo), abs(hi), 1e-6)
        return (-m, m)
    return (lo, hi if hi > lo else lo + 1e-6)


def um_units(ndim: int) -> tuple[str, ...]:
    """Layer units: µm on (y, x), pixels (frames, angles) on any leading axis."""
    return ("pixel",) * (ndim - 2) + ("um", "um")


def set_um_units(layer: Any) -> None:
    """Label a layer's (y, x) axes in µm (its ``scale`` is in µm), so the scale bar reads µm."""
    try:
        layer.units = um_units(layer.ndim)
    except (AttributeError, ValueError, TypeError):  # napari without per-layer units
        pass


def layer_scale(geometry: Geometry, ndim: int) -> tuple[float, ...]:
    """napari ``scale`` in µm (object-plane pixel) for a (y, x) image or an (n, y, x) stack."""
    return (1.0,) * (ndim - 2) + tuple(geometry.layer_scale_um)


def put_image_layer(viewer: Any, data: np.ndarray, name: str, *, existing: Any = None,
                    scale: tuple[float, ...], translate: tuple[float, ...] | None = None,
                    metadata: dict[str, Any], colormap: str = "gray", symmetric: bool = False,
                    visible: bool = True) -> Any:
    """Update ``existing`` (or the layer called ``name``) in place, else add a new Image layer.

    A layer is reused only while it is in the viewer with the same number of dimensions; the
    contrast is reset to the new data's robust range. ``visible`` applies to a new layer only.
    """
    from napari.layers import Image

    layer = existing if existing is not None and existing in viewer.layers else None
    if layer is None and name in viewer.layers:
        layer = viewer.layers[name]
    lazy = not isinstance(data, np.ndarray)  # dask over zarr: judge the contrast by frame 0
    limits = robust_limits(data[0] if lazy and data.ndim == 3 else data, symmetric=symmetric)
    translate = translate if translate is not None else (0.0,) * data.ndim
    if isinstance(layer, Image) and layer.data.ndim == data.ndim:
        layer.data = data
        layer.scale = scale
        layer.translate = translate
        layer.metadata = metadata
        layer.contrast_limits_range = limits
        layer.contrast_limits = limits
        set_um_units(layer)
        return layer
    if layer is not None:
        viewer.layers.remove(layer)
    return viewer.add_image(data, name=name, scale=scale, translate=translate, metadata=metadata,
                            colormap=colormap, contrast_limits=limits, visible=visible,
                            units=um_units(data.ndim))


def show_fields(viewer: Any, arrays: dict[str, np.ndarray], geometry: Geometry,
                provenance: dict[str, Any], frames: list[int], *, translate: tuple[float, ...],
                existing: dict[str, Any]) -> dict[str, Any]:
    """Show a retrieval's output fields as layers; returns field key → layer.

    ``existing`` maps field keys to the layers a previous run made (updated in place, even
    renamed). The phase is selected and visible.
    """
    from ..pipeline import OUTPUT_FIELDS

    layers = {}
    for f in OUTPUT_FIELDS:
        data = arrays[f.key]
        meta = {"geometry": geometry.to_dict(), "provenance": provenance, "unit": f.unit,
                "frames": frames, "description": f.description}
        layers[f.key] = put_image_layer(
            viewer, data, f.layer, existing=existing.get(f.key),
            scale=layer_scale(geometry, data.ndim), translate=translate[-data.ndim:],
            metadata=meta, colormap=f.colormap, symmetric=f.symmetric,
            visible=f.key == "phase")
    phase = layers["phase"]
    phase.visible = True
    viewer.layers.selection.active = phase
    return layers
