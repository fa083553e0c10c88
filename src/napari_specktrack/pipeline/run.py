"""The run every front end makes: validate once, calibrate, generate if asked, retrieve.

``retrieve(frames, geometry, params)`` is the single entry of the CLI ``retrieve``, the
Retrieval dock, ``batch`` and the array API (:func:`~napari_specktrack.retrieval.conventional`
and :func:`~napari_specktrack.retrieval.double_exposure`); ``generate(frames, spec)`` that of the
CLI ``generate`` and the Generator dock. Both

1. check the parameters, the device, the weights and the images before computing
   (:meth:`RetrievalParams.validate`, :meth:`Frames.validate`),
2. suggest the window and search range from the speckle when they are not given,
3. loop over the requested frames — the only frame loop — with ``progress(done, total)``
   (in :data:`UNITS_PER_FRAME` steps per frame) and ``cancel()`` checked between frames,
   network passes and bands of rows,
4. return the arrays with one provenance record (:mod:`napari_specktrack.provenance`).

:class:`Plan` is the prepared state (checked images, resolved parameters, cleaned reference,
loaded generator) and :meth:`Plan.process` the per-frame step, for ``batch`` workers that
each process a range of frames.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import CancelledError, InputError
from ..geometry import Geometry
from ..provenance import array_input, file_input, make_record
from .frames import Frames
from .params import GeneratorSpec, RetrievalParams
from .progress import Ticker, tracking_bands

#: progress steps per frame (generation and tracking share them)
UNITS_PER_FRAME = 100
#: in-painted fraction of a frame above which a warning names the likely causes
INPAINT_WARN = 0.10
#: ... and above which the frame is taken as not tracked at all
INPAINT_FAIL = 0.99
#: smallest frame side (px) the in-line fusion works on (retrieval.fusion.MIN_SIDE_PX)
FUSION_MIN_SIDE_PX = 32

Progress = Callable[[int, int], None] | None
Cancel = Callable[[], bool] | None


def _check_cancel(cancel: Cancel, done: int, total: int) -> None:
    if cancel is not None and cancel():
        raise CancelledError(f"cancelled after {done} of {total} frame(s)")


def _indices(frames: Frames, indices: Sequence[int] | None) -> list[int]:
    n = frames.n_frames
    out = list(range(n)) if indices is None else [int(i) for i in indices]
    bad = [i for i in out if not 0 <= i < n]
    if bad or not out:
        raise InputError(f"frame indices {bad or out} are outside the sample's {n} frame(s) (0…{n - 1})")
    return out


def _load_model(spec: GeneratorSpec, model: Any = None,
                shape_yx: tuple[int, int] | None = None) -> tuple[Any, dict, str]:
    """(module, metadata, device) for ``spec``; the weights are checked when loaded, and the
    frames (``shape_yx``, pixels) against what the network can take."""
    from ..devices import resolve_device

    device = resolve_device(spec.device)
    if model is None:
        from ..learn.inference import load_generator

        model = load_generator(spec.weights, device)
    if shape_yx is not None:
        n_down = int(model[1].get("config", {}).get("n_downsampling", 0))
        multiple = 2 ** n_down
        if min(shape_yx) <= multiple:
            raise InputError(f"the frames ({shape_yx[0]}×{shape_yx[1]} px) are too small for this "
                             f"generator: it halves them {n_down} times and needs more than "
                             f"{multiple} px a side; use larger frames or a measured in-line image")
    return model[0], model[1], device


@dataclass
class Plan:
    """A validated, prepared run (see :func:`prepare`)."""

    frames: Frames
    geometry: Geometry
    params: RetrievalParams  #: window and search filled in
    reference: np.ndarray  #: calibrated, hot pixels removed
    device: str
    background: np.ndarray | None = None
    model: tuple[Any, dict, str] | None = None  #: (module, metadata, device) when generating
    suggestion: dict | None = None
    hot_reference: int = 0
    regions: np.ndarray | None = None  #: material labels of the fusion (several materials)

    def generate(self, indices: Sequence[int], samples: Sequence[np.ndarray],
                 progress: Progress = None, cancel: Cancel = None) -> np.ndarray:
        """Generated in-line images (k, y, x) for these calibrated sample frames."""
        from ..learn.inference import generate_inline

        spec = self.params.inline
        module, meta, device = self.model
        return generate_inline(np.stack(samples), self.frames.reference_image(), spec.weights,
                               device=device, tile_px=spec.tile_px, batch_size=spec.batch_size,
                               average_orientations=spec.average_orientations,
                               precision=spec.precision, progress=progress, cancel=cancel,
                               _model=(module, meta))

    def process(self, sample: np.ndarray, inline: np.ndarray | None,
                cancel: Cancel = None) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """One calibrated frame → the Retrieval fields (+ ``valid``) and the frame's stats
        (``hot_pixels`` replaced; ``fusion``: how the in-line phase was fused, or None)."""
        from ..retrieval.methods import retrieve_frame

        p = self.params
        arrays, hot = retrieve_frame(sample, self.reference, inline, self.geometry,
                                     window_px=p.window_px, search_px=p.search_px,
                                     integration=p.integration, background=self.background,
                                     device=self.device, hot_pixel_threshold=p.hot_pixel_threshold,
                                     engine=p.tracking_engine, cancel=cancel)
        fusion = None
        if p.uses_fusion:
            from ..retrieval.fusion import fuse_inline
            from ..retrieval.methods import INLINE_FLOOR

            generated = p.inline_kind == "generated"
            fused = fuse_inline(arrays["phase_rad"], np.maximum(inline, INLINE_FLOOR), self.geometry,
                                window_px=p.window_px, detector_psf_sigma_px=p.detector_psf_sigma_px,
                                material=p.fusion_material, regions=self.regions,
                                region_materials=p.fusion_region_materials,
                                sample=sample if generated else None,
                                reference=self.reference if generated else None,
                                background=self.background, cancel=cancel)
            arrays["phase_rad"] = fused.phase_rad.astype(np.float32)
            fusion = fused.info.to_dict()
        return arrays, {"hot_pixels": hot, "fusion": fusion}


def _resolve_window(frames: Frames, params: RetrievalParams, first: int
                    ) -> tuple[RetrievalParams, dict | None]:
    suggestion = None
    if params.window_px is None or params.search_px is None:
        from ..retrieval.tracking import suggest_parameters

        ny, nx = frames.shape_yx
        try:
            suggestion = suggest_parameters(frames.reference_image(), frames.sample_frame(first))
        except InputError as exc:  # its message is about its own trial parameters, not the user's
            raise InputError(f"no tracking window could be suggested for the frames ({ny}×{nx} "
                             f"px): {exc}; give window_px and search_px (--window-px, "
                             f"--search-px) that fit, e.g. 9 and 3 (15 px)") from exc
        params = params.with_window(params.window_px or suggestion["window_px"],
                                    params.search_px or suggestion["search_px"])
    w, s = params.window_px, params.search_px
    ny, nx = frames.shape_yx
    if suggestion is not None and (s < 1 or w < 3 or min(ny, nx) < w + 2 * s):
        # the suggestion is the run's, not the user's: say so, and what would fit
        raise InputError(f"the frames ({ny}×{nx} px) are too small for the suggested tracking "
                         f"window ({w} px, search ±{s} px); give window_px and search_px "
                         f"(--window-px, --search-px) with window + 2 × search ≤ {min(ny, nx)} "
                         f"px, e.g. 9 and 3 (15 px), or use larger frames")
    if min(ny, nx) < w + 2 * s:
        raise InputError(f"the frames ({ny}×{nx} px) are smaller than window + 2 × search "
                         f"({w} + 2 × {s} px); use a smaller window_px/search_px or larger frames")
    if params.uses_fusion and min(ny, nx) < FUSION_MIN_SIDE_PX:
        raise InputError(f"fusing the in-line phase needs frames of at least {FUSION_MIN_SIDE_PX} px "
                         f"(these are {ny}×{nx}); pass --no-fuse-inline for the plain method")
    return params, suggestion


def prepare(frames: Frames, geometry: Geometry, params: RetrievalParams, *,
            background: np.ndarray | None = None, model: Any = None, first: int = 0,
            probe_samples: bool = True, regions: np.ndarray | None = None) -> Plan:
    """Check everything and prepare a run; nothing is computed on the frames yet.

    ``model`` is an already loaded ``(module, metadata)`` generator to reuse; ``first`` the
    frame the window suggestion looks at; ``probe_samples=False`` leaves the per-frame checks
    to the frame loop (``batch`` reports a bad frame by index and goes on); ``regions`` is the
    label image of ``params.fusion_region_materials`` (checked against it here).
    """
    from ..devices import resolve_device
    from ..retrieval.signals import remove_hot_pixels

    if not isinstance(geometry, Geometry):
        raise InputError("geometry is missing or not a Geometry; load one with "
                         "Geometry.from_json('geometry.json')")
    params = params.validate()
    device = resolve_device(params.device)
    frames.validate(need_inline=params.inline_kind == "measured", probe_samples=probe_samples)
    if background is not None:
        background = np.asarray(background, bool)
        if background.shape != frames.shape_yx:
            raise InputError(f"the background mask {background.shape} must match the frames "
                             f"{frames.shape_yx}")
        if not background.any():
            raise InputError("the background mask is empty; mark some pixels of empty beam")
    regions = _check_regions(regions, params, frames.shape_yx)
    params, suggestion = _resolve_window(frames, params, first)
    loaded = (_load_model(params.inline, model, frames.shape_yx)
              if params.inline_kind == "generated" else None)
    reference, hot = frames.reference_image(), 0
    if params.hot_pixel_threshold is not None:
        reference, hot = remove_hot_pixels(reference, params.hot_pixel_threshold)
    return Plan(frames, geometry, params, reference, device, background, loaded, suggestion, hot,
                regions)


def _check_regions(regions: Any, params: RetrievalParams, shape_yx: tuple[int, int]
                   ) -> np.ndarray | None:
    """The fusion's material labels, checked against the parameters before any computing
    (:func:`~napari_specktrack.retrieval.fusion.check_regions`, the fusion's own check)."""
    from ..retrieval.fusion import check_regions

    wanted = params.fusion_region_materials if params.uses_fusion else None
    checked = check_regions(regions, wanted, shape_yx)
    return None if checked is None else checked[0]


@dataclass
class RunResult:
    """What a retrieval run returns: arrays (n, y, x), or (y, x) for a single image."""

    retrieval: Any  #: :class:`~napari_specktrack.retrieval.Retrieval`
    params: RetrievalParams
    provenance: dict[str, Any]
    frames: list[int]
    inline_generated: np.ndarray | None = None
    warnings: list[str] = field(default_factory=list)

    def field(self, key: str) -> np.ndarray:
        """An output by its :data:`~.fields.OUTPUT_FIELDS` key (``phase``, ``dx``, …)."""
        from .fields import FIELD_BY_KEY

        if key == "inline_generated":
            return self.inline_generated
        return getattr(self.retrieval, FIELD_BY_KEY[key].attr)


def inpaint_warning(fraction: float, tag: str) -> str | None:
    """The warning (or None) for a frame with this in-painted fraction; raises above the limit."""
    causes = ("the search range is smaller than the displacements (raise search_px), the window "
              "holds too few speckle grains (raise window_px), or there is little speckle")
    if fraction >= INPAINT_FAIL:
        raise InputError(f"{tag}: {100 * fraction:.1f} % of the pixels could not be tracked; "
                         f"likely {causes}")
    if fraction > INPAINT_WARN:
        return f"{tag}: {100 * fraction:.1f} % of the pixels were in-painted; likely {causes}"
    return None


def _frame_loop(plan: Plan, idx: list[int], progress: Progress, cancel: Cancel,
                cache: Mapping[int, np.ndarray], band_progress: bool = False
                ) -> tuple[dict[str, list], list[np.ndarray], list[str], dict[str, Any]]:
    generating = plan.params.inline_kind == "generated"
    step = plan.params.inline.batch_size if generating else 1
    total = len(idx) * UNITS_PER_FRAME
    p = plan.params
    bands = tracking_bands(plan.frames.shape_yx, p.window_px, p.search_px) if band_progress else None
    ticker = Ticker(progress, total, bands)
    if band_progress:
        ticker.report(0)  # a bar from the start, not after the first frame
    out: dict[str, list] = {}
    generated: list[np.ndarray] = []
    warnings: list[str] = []
    stats: dict[str, Any] = {"hot": 0, "fusion": None}
    for c in range(0, len(idx), step):
        chunk = idx[c:c + step]
        _check_cancel(cancel, c, len(idx))
        checked = [plan.frames.checked_frame(i) for i in chunk]
        measured = plan.params.inline_kind == "measured"  # conventional ignores in-line images
        inlines = [m if measured else None for _, m in checked]
        if generating:
            base = c * UNITS_PER_FRAME

            def sub(done: int, n: int, base: int = base, k: int = len(chunk)) -> None:
                ticker.report(base + int(k * UNITS_PER_FRAME / 2 * done / max(n, 1)))

            todo = [k for k, i in enumerate(chunk) if i not in cache]
            made = iter(plan.generate([chunk[k] for k in todo], [checked[k][0] for k in todo],
                                      sub, cancel) if todo else [])
            inlines = [cache[i] if i in cache else next(made) for i in chunk]
            generated += inlines
        for k, (i, (sample, _)) in enumerate(zip(chunk, checked)):
            stop = (c + k + 1) * UNITS_PER_FRAME
            hook = ticker.band(max(ticker.done, stop - UNITS_PER_FRAME), stop, cancel)
            arrays, frame_stats = plan.process(sample, inlines[k], hook)
            stats["hot"] += frame_stats["hot_pixels"]
            stats["fusion"] = stats["fusion"] or frame_stats["fusion"]
            tag = f"frame {i}" if plan.frames.is_stack else "the frame"
            msg = inpaint_warning(1.0 - float(np.mean(arrays["valid"])), tag)
            if msg:
                warnings.append(msg)
            for key, value in arrays.items():
                out.setdefault(key, []).append(value)
            ticker.report(stop)
    return out, generated, warnings, stats


def retrieve(frames: Frames, geometry: Geometry, params: RetrievalParams, *,
             indices: Sequence[int] | None = None, background: np.ndarray | None = None,
             regions: np.ndarray | None = None, inputs: Mapping[str, Any] | None = None,
             progress: Progress = None, cancel: Cancel = None, model: Any = None,
             inline_cache: Mapping[int, np.ndarray] | None = None,
             band_progress: bool = False) -> RunResult:
    """Retrieve phase, transmission, dark-field, displacement and quality (see module docstring).

    ``indices`` picks frames of a stack (default all); ``background`` is the empty-beam mask,
    ``regions`` the fusion's material labels (``params.fusion_region_materials``); ``inputs``
    describes where the images came from for the provenance
    (:func:`~napari_specktrack.provenance.file_input` / ``layer_input`` by role; default: the
    array shapes). ``inline_cache`` holds in-line images
    the same generator spec already made, by frame index (the network is not run again for
    them). A single (y, x) sample gives (y, x) arrays, a stack (k, y, x) for the k frames asked.
    ``band_progress`` also reports progress from the start and between the bands of rows a
    frame is tracked in (estimated by :func:`tracking_bands`), so a large frame shows that it
    is working (the command line's bar); otherwise progress comes once per frame.
    """
    from ..retrieval.methods import Retrieval

    t0 = time.perf_counter()
    idx = _indices(frames, indices)
    plan = prepare(frames, geometry, params, background=background, model=model, first=idx[0],
                   regions=regions)
    out, generated, warnings, stats = _frame_loop(plan, idx, progress, cancel, inline_cache or {},
                                                  band_progress)
    stacked = frames.is_stack
    arrays = {k: (np.stack(v) if stacked else v[0]) for k, v in out.items()}
    fractions = [round(1.0 - float(np.mean(v)), 4) for v in out["valid"]]
    retrieval = Retrieval(**arrays, params=plan.params.to_dict())
    inline = None if not generated else (np.stack(generated) if stacked else generated[0])
    prov = make_record(
        "retrieve", plan.params.to_dict(), _inputs(frames, inputs, plan), geometry,
        frames=idx, suggestion=plan.suggestion, warnings=warnings,
        stats={"hot_pixels_replaced": stats["hot"] + plan.hot_reference,
               "inpainted_fraction": fractions, "fusion": stats["fusion"],
               "seconds": round(time.perf_counter() - t0, 3), "device": plan.device},
    )
    return RunResult(retrieval, plan.params, prov, idx, inline, warnings)


def _inputs(frames: Frames, inputs: Mapping[str, Any] | None, plan: Plan | None = None,
            model_meta: dict | None = None) -> dict[str, Any]:
    """The provenance inputs: as given, else the arrays' shapes; plus the generator weights."""
    if inputs is None:
        roles = {"sample": frames.sample, "reference": frames.reference, "inline": frames.inline,
                 "dark": frames.dark, "flat": frames.flat}
        inputs = {k: array_input(np.shape(v)) for k, v in roles.items() if v is not None}
    found = dict(inputs)
    meta = model_meta if model_meta is not None else (plan.model[1] if plan and plan.model else None)
    if meta is not None and "generator" not in found:
        found["generator"] = {**file_input(meta["path"]), "preset": meta.get("preset")}
        spec = plan.params.inline if plan is not None else None
        if isinstance(spec, GeneratorSpec):  # the arithmetic the run used, "auto" resolved
            from ..learn.inference import resolve_precision

            found["generator"]["precision_used"] = resolve_precision(plan.model[2], spec.precision)
    return found


@dataclass
class GenerateResult:
    """The generated in-line images ((n, y, x) or (y, x)) with their provenance."""

    inline: np.ndarray
    spec: GeneratorSpec
    provenance: dict[str, Any]
    frames: list[int]
    meta: dict[str, Any]  #: the weights' metadata (preset, config, path)
    device: str


def generate(frames: Frames, spec: GeneratorSpec, *, geometry: Geometry | None = None,
             indices: Sequence[int] | None = None, inputs: Mapping[str, Any] | None = None,
             progress: Progress = None, cancel: Cancel = None, model: Any = None) -> GenerateResult:
    """Generate the in-line image of each requested sample frame with the network.

    The images are checked first (:meth:`Frames.validate`); the weights are loaded once.
    ``progress(done, total)`` counts :data:`UNITS_PER_FRAME` per frame.
    """
    spec = spec.validate()
    idx = _indices(frames, indices)
    frames.validate()
    module, meta, device = _load_model(spec, model, frames.shape_yx)
    step = spec.batch_size
    total = len(idx) * UNITS_PER_FRAME
    plan = Plan(frames, geometry or Geometry(), RetrievalParams.for_inline(spec), np.empty(0),
                device, model=(module, meta, device))
    out: list[np.ndarray] = []
    for c in range(0, len(idx), step):
        chunk = idx[c:c + step]
        _check_cancel(cancel, c, len(idx))
        samples = [frames.checked_frame(i)[0] for i in chunk]

        def sub(done: int, n: int, base: int = c * UNITS_PER_FRAME, k: int = len(chunk)) -> None:
            if progress is not None:
                progress(base + int(k * UNITS_PER_FRAME * done / max(n, 1)), total)

        out += list(plan.generate(chunk, samples, sub, cancel))
    inline = np.stack(out) if frames.is_stack else out[0]
    prov = make_record("generate", {**spec.to_dict(), "device": device},
                       _inputs(frames, inputs, plan, model_meta=meta), geometry, frames=idx)
    return GenerateResult(inline, spec, prov, idx, meta, device)
