"""The typed parameters of a run: one object each front end fills and the core checks once.

:class:`RetrievalParams` holds everything a retrieval run needs besides the images and the
geometry: the method, the tracking window and search range (detector pixels; ``None`` =
suggested from the speckle at the start of the run and recorded), the phase integration, the
device, and the in-line source — ``None`` (conventional), ``"measured"`` (the in-line images
of the :class:`~.frames.Frames`) or a :class:`GeneratorSpec` (generate them with the network).
The command line, the widgets and ``batch`` build the same objects; their defaults live here
and nowhere else.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Union

from ..errors import InputError

METHODS = ("conventional", "double-exposure")
#: the compute core's integrators (retrieval.integrate.INTEGRATION_METHODS, without torch)
INTEGRATIONS = ("frankot-chellappa", "kottler", "weighted-least-squares")
#: tracking window limits (px): odd, a few speckle grains up to a coarse map
WINDOW_RANGE_PX = (3, 201)
#: the generator's arithmetic (learn.inference.resolve_precision)
PRECISIONS = ("auto", "float32", "bfloat16", "float16")
#: search range limits (px); wider searches mostly find false peaks
SEARCH_RANGE_PX = (1, 50)
#: the tracking search's implementations (retrieval.zncc.ENGINES, without importing torch)
TRACKING_ENGINES = ("auto", "compiled", "torch")


def _int_in(name: str, value: Any, lo: int, hi: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value:
        raise InputError(f"{name} must be a whole number, got {value!r}")
    if value < lo or (hi is not None and value > hi):
        bound = f"between {lo} and {hi}" if hi is not None else f"at least {lo}"
        raise InputError(f"{name} must be {bound}, got {value!r}")
    return int(value)


@dataclass(frozen=True)
class GeneratorSpec:
    """How to generate the in-line image with the network.

    Attributes
    ----------
    weights
        A shipped model (``"pretrained"``, the default: ``lite.safetensors``; ``"lite-instance"``,
        the earlier default) or a weights file (``.safetensors``,
        a training checkpoint ``.pt``, or NVIDIA pix2pixHD's ``latest_net_G.pth``).
    device
        ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"``.
    tile_px
        Run each frame layer by layer in tiles of this side (pixels, ≥ 16) — the full-frame
        result with bounded device memory; ``None`` for whole frames.
    batch_size
        Frames per network pass (whole frames only).
    average_orientations
        Average the outputs over all 8 flips and quarter turns (8× the time, more accurate).
    precision
        ``"auto"`` (float16 on CUDA, bfloat16 on a CPU that computes it in hardware — ≈ 4×
        faster, SSIM ≥ 0.9999 against float32 — else float32), ``"float32"``, ``"bfloat16"``
        or ``"float16"`` (CUDA only). The run records what it used.
    """

    weights: str = "pretrained"
    device: str = "auto"
    tile_px: int | None = None
    batch_size: int = 1
    average_orientations: bool = False
    precision: str = "auto"

    def validate(self) -> GeneratorSpec:
        """Check every field (files exist, numbers in range); returns self."""
        from ..learn.inference import shipped_weights

        w = str(self.weights)
        shipped = shipped_weights()
        if w not in shipped and not Path(w).expanduser().is_file():
            names = ", ".join(repr(n) for n in shipped)
            raise InputError(f"generator weights {w!r} not found; pass a shipped model ({names}) or "
                             f"an existing .safetensors / checkpoint file")
        if self.tile_px is not None:
            _int_in("tile_px", self.tile_px, 16)
        _int_in("batch_size", self.batch_size, 1, 1024)
        if self.precision not in PRECISIONS:
            raise InputError(f"unknown precision {self.precision!r}; choose one of {PRECISIONS}")
        return self

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


InlineSource = Union[None, str, GeneratorSpec]  # None | "measured" | GeneratorSpec


def parse_region_materials(specs: str | list[str] | None) -> dict[int, str] | None:
    """``{label: material}`` of ``LABEL=MATERIAL`` items (``--region-material 1=PE``, or the
    Retrieval dock's ``1=PE, 2=PMMA``); None when there are none."""
    if isinstance(specs, str):
        specs = [s for s in specs.replace(";", ",").split(",") if s.strip()]
    if not specs:
        return None
    out: dict[int, str] = {}
    for spec in specs:
        label, sep, material = spec.partition("=")
        if not sep or not label.strip().isdigit() or not material.strip():
            raise InputError(f"region materials are LABEL=MATERIAL, e.g. 1=PE; got {spec.strip()!r}")
        if int(label) in out:
            raise InputError(f"label {int(label)} is given two materials")
        out[int(label)] = material.strip()
    return out


@dataclass(frozen=True)
class RetrievalParams:
    """Everything a retrieval run needs besides the images and the geometry.

    Attributes
    ----------
    method
        ``"conventional"`` or ``"double-exposure"``.
    inline
        The in-line source of double exposure: ``"measured"`` or a :class:`GeneratorSpec`;
        ``None`` for the conventional method.
    window_px
        Side of the square correlation window in detector pixels (odd); ``None``: suggested
        from the speckle size at the start of the run (recorded in the provenance).
    search_px
        Largest speckle displacement searched, ± detector pixels; ``None``: suggested.
    integration
        Phase-gradient integration, one of :data:`INTEGRATIONS`.
    device
        Torch device of the tracking (``"cpu"``, ``"cuda:0"``, ``"auto"``, …).
    hot_pixel_threshold
        Isolated pixels further than this many robust σ from their neighbours are replaced by
        their 3 × 3 median before tracking; ``None`` disables it.
    fuse_inline
        Double exposure only: fuse the tracked phase with the in-line image's own phase in
        Fourier space (:mod:`napari_specktrack.retrieval.fusion`, beyond the paper; the
        default, measured better in the edge ring and interior on held-out spheres and foam,
        docs/fusion.md). False gives the paper's plain method.
    fusion_material
        Material of a one-material sample (a preset name such as ``"POM"``) for the fusion's
        absorption model (Paganin δ/β from xraydb); None: a pure phase object. With
        ``fusion_region_materials``, the main material (label 0).
    fusion_region_materials
        A sample of several materials: the material of each non-zero label of the run's
        ``regions`` image (``{1: "PE"}``: the tube walls around POM spheres), painted where
        that material's edges lie (:func:`napari_specktrack.retrieval.fusion.fuse_inline`);
        None: one material everywhere.
    detector_psf_sigma_px
        Gaussian σ of the detector PSF in detector pixels, for the fusion's blur model (the
        simulator's default detector is 2.0).
    tracking_engine
        The correlation search's implementation: ``"auto"`` (compiled on the CPU, torch on a
        GPU), ``"compiled"`` or ``"torch"`` — the same values to float32 round-off
        (:func:`napari_specktrack.retrieval.zncc.correlate`).
    """

    method: str = "conventional"
    inline: InlineSource = None
    window_px: int | None = None
    search_px: int | None = None
    integration: str = "frankot-chellappa"
    device: str = "cpu"
    hot_pixel_threshold: float | None = 10.0
    fuse_inline: bool = True
    fusion_material: str | None = None
    fusion_region_materials: dict[int, str] | None = None
    detector_psf_sigma_px: float = 2.0
    tracking_engine: str = "auto"

    @classmethod
    def for_inline(cls, inline: InlineSource, **kwargs: Any) -> RetrievalParams:
        """Parameters with the method implied by the in-line source (double exposure if any)."""
        method = "conventional" if inline is None else "double-exposure"
        return cls(method=method, inline=inline, **kwargs)

    def validate(self) -> RetrievalParams:
        """Check every field; returns self. Raises :class:`InputError` naming the fix."""
        if self.method not in METHODS:
            raise InputError(f"unknown method {self.method!r}; choose one of {METHODS}")
        if self.method == "double-exposure" and self.inline is None:
            raise InputError("double-exposure needs --inline (a measured in-line image) or "
                             "--generator pretrained (one generated by the network)")
        if self.method == "conventional" and self.inline is not None:
            raise InputError("an in-line image is only used by the double-exposure method; choose "
                             "--method double-exposure or drop --inline/--generator")
        if isinstance(self.inline, GeneratorSpec):
            self.inline.validate()
        elif self.inline not in (None, "measured"):
            raise InputError(f"inline must be None, 'measured' or a GeneratorSpec, got {self.inline!r}")
        if self.window_px is not None:
            w = _int_in("window_px", self.window_px, *WINDOW_RANGE_PX)
            if w % 2 == 0:
                raise InputError(f"window_px must be odd so the window has a centre pixel, got {w} "
                                 f"(use {w - 1} or {w + 1})")
        if self.search_px is not None:
            _int_in("search_px", self.search_px, *SEARCH_RANGE_PX)
        if self.tracking_engine not in TRACKING_ENGINES:
            raise InputError(f"unknown tracking engine {self.tracking_engine!r}; choose one of "
                             f"{TRACKING_ENGINES}")
        if self.integration not in INTEGRATIONS:
            raise InputError(f"unknown integration {self.integration!r}; choose one of {INTEGRATIONS}")
        t = self.hot_pixel_threshold
        if t is not None and (isinstance(t, bool) or not isinstance(t, (int, float))
                              or not math.isfinite(t) or t <= 0):
            raise InputError(f"hot_pixel_threshold must be a positive number of σ or None, got {t!r}")
        psf = self.detector_psf_sigma_px
        if isinstance(psf, bool) or not isinstance(psf, (int, float)) or not 0 <= psf <= 50:
            raise InputError(f"detector_psf_sigma_px must be between 0 and 50 px, got {psf!r}")
        if self.uses_fusion:
            self._validate_materials()
        return self

    def _validate_materials(self) -> None:
        """The fusion's material names (an unknown one: MaterialError) and region labels."""
        from ..physics.materials import optical_constants

        regions = self.fusion_region_materials or {}
        if regions and self.fusion_material is None:
            raise InputError("material regions need the main material: give --fusion-material "
                             "(e.g. POM) for label 0 as well")
        for label in regions:
            if isinstance(label, bool) or not isinstance(label, int) or label < 1:
                raise InputError(f"region labels must be integers ≥ 1 (0 is the main material), "
                                 f"got {label!r}")
        for name in (self.fusion_material, *regions.values()):
            if name is not None:
                optical_constants(name, 15.0)

    @property
    def uses_fusion(self) -> bool:
        """Whether this run fuses the in-line image's phase (double exposure with fuse_inline)."""
        return self.method == "double-exposure" and bool(self.fuse_inline)

    def with_window(self, window_px: int, search_px: int) -> RetrievalParams:
        """A copy with the window and search range filled in (after a suggestion)."""
        return replace(self, window_px=int(window_px), search_px=int(search_px))

    @property
    def inline_kind(self) -> str:
        """``"none"``, ``"measured"`` or ``"generated"``."""
        if self.inline is None:
            return "none"
        return "generated" if isinstance(self.inline, GeneratorSpec) else "measured"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the generator spec (if any) as a nested dict under ``generator``."""
        d = asdict(self)
        d["inline"] = self.inline_kind
        d["fuse_inline"] = self.uses_fusion
        d["generator"] = self.inline.to_dict() if isinstance(self.inline, GeneratorSpec) else None
        return d
