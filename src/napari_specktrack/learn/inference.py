"""Generating the in-line image with a trained generator: weights, devices, full frames and tiles.

``generate_inline(sample, reference)`` feeds the network (sample − reference) mapped by the
training set's fixed affine normalisation and maps its tanh output back to flat-field units.
The generator is fully convolutional: a frame is padded (reflect) to a multiple of
2^n_downsampling and cropped back. When a frame does not fit in device memory, ``tile_px`` runs
the same network layer by layer in tiles with frame-wide instance-norm statistics
(:mod:`.tiling`): the full-frame result to float rounding, with no seams, while the device
holds one tile at a time. (Independent overlapping tiles blended together — the usual recipe —
were tried first and rejected: instance norm over a tile gives every tile its own contrast, off
by ~1e-2 from the full frame.) A generator with frozen norms (``GeneratorConfig(norm="frozen")``,
detected from its weights) is a local operator and tiles without frame-wide statistics.

Precision (``precision="auto"``, :func:`resolve_precision`): float16 autocast on CUDA as
before; on a CPU that computes bfloat16 in hardware (AVX512-BF16 / AMX) the bfloat16 oneDNN
pass of :mod:`._fast` — ≈ 4× faster than float32 at 1024², SSIM 0.9999 against it and the
held-out figures of ``benchmarks/eval_generator.py`` unchanged — and float32 on other CPUs.

Weights: a shipped model by name (:func:`shipped_weights`: ``"pretrained"`` is
``pretrained/lite.safetensors``; every other ``pretrained/NAME.safetensors`` is ``"NAME"``), a
``.safetensors`` file written by ``specktrack train``, a training checkpoint ``.pt``, or a
generator state dict from NVIDIA's pix2pixHD (``latest_net_G.pth``, usually 3-channel: the
input is repeated to 3 channels and the output averaged). ``.pt``/``.pth`` files are read with
``torch.load(weights_only=True)``: tensors and plain containers only, never arbitrary objects.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..devices import resolve_device
from ..errors import CancelledError, FileFormatError, InputError, SpecktrackError

PRETRAINED_DIR = Path(__file__).parent / "pretrained"
PRETRAINED = PRETRAINED_DIR / "lite.safetensors"
METADATA_KEY = "specktrack"


def shipped_weights() -> dict[str, Path]:
    """The shipped generators by name: ``"pretrained"`` (the default, ``lite.safetensors``)
    first, then every other ``pretrained/NAME.safetensors`` as ``"NAME"`` (with its card
    ``NAME.MODEL_CARD.md``)."""
    names = {"pretrained": PRETRAINED}
    for path in sorted(PRETRAINED_DIR.glob("*.safetensors")):
        if path != PRETRAINED:
            names[path.stem] = path
    return names


def weights_path(generator: str | Path) -> Path:
    """The file behind a generator argument: a shipped model's name, else the path itself."""
    return shipped_weights().get(str(generator), Path(generator))


def _metadata(raw: Any, path: Path) -> dict:
    """The weights' metadata: a JSON object (string or dict), else a FileFormatError."""
    if raw is None:
        return {}
    try:
        meta = json.loads(raw) if isinstance(raw, str) else raw
    except (ValueError, RecursionError) as exc:
        raise FileFormatError(f"{path} has corrupt metadata ({exc}); export the weights again "
                              f"with `specktrack train`") from exc
    if not isinstance(meta, dict):
        raise FileFormatError(f"{path} has metadata of type {type(meta).__name__}, not an object; "
                              f"export the weights again with `specktrack train`")
    return meta


def _short(exc: BaseException) -> str:
    """The first line of an error from a library, at most 160 characters (messages are one line)."""
    text = next((line.strip() for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
    return text if len(text) <= 160 else text[:157] + "…"


def _file_kind(path: Path) -> str:
    """"safetensors" or "torch", by the file's first bytes (its name is not enough)."""
    with open(path, "rb") as fh:
        head = fh.read(9)
        size = os.fstat(fh.fileno()).st_size
    if not head:
        raise FileFormatError(f"generator weights {path} is empty (0 bytes); the copy or download "
                              f"is incomplete, copy it again")
    # safetensors: an 8-byte little-endian header length that fits the file, then the JSON header
    # (checked first: the length's first byte may be anything, 0x80 included)
    if head[8:9] == b"{" and 0 < int.from_bytes(head[:8], "little") <= size - 8:
        return "safetensors"
    if head.startswith((b"PK\x03\x04", b"\x80")):  # torch.save: zip archive, or legacy pickle
        return "torch"
    return "safetensors" if path.suffix == ".safetensors" else "torch"


def _load_state(path: Path) -> tuple[dict, dict]:
    """(generator state dict, metadata) from a weights file (safetensors or torch, by content)."""
    import torch

    if not path.is_file():
        raise FileFormatError(f"generator weights {path} not found; pass a shipped model "
                              f"({', '.join(repr(n) for n in shipped_weights())}) or a weights file")
    if _file_kind(path) == "safetensors":
        from safetensors import safe_open
        from safetensors.torch import load_file

        try:
            state = load_file(str(path))
            with safe_open(str(path), framework="pt") as fh:
                meta_raw = (fh.metadata() or {}).get(METADATA_KEY)
        except Exception as exc:  # safetensors raises its own error types
            raise FileFormatError(f"{path} is not a readable safetensors file ({_short(exc)}); "
                                  f"export the weights again") from exc
        return state, _metadata(meta_raw, path)
    try:
        with open(path, "rb") as fh:  # a file object: torch would pick its reader by the name
            obj = torch.load(fh, map_location="cpu", weights_only=True)
    except Exception as exc:
        # torch's refusal of a pickled object is a page of advice: say what it means instead
        detail = ("it holds pickled Python objects" if "weights only load failed"
                  in str(exc).lower() else _short(exc))
        raise FileFormatError(
            f"{path} could not be read as a weights-only torch file ({detail}); only "
            f"tensors and plain containers are accepted, never pickled objects"
        ) from exc
    if isinstance(obj, dict) and "generator" in obj:  # our training checkpoint
        # its averaged weights when it has them (what training exports)
        state = obj.get("generator_ema", obj["generator"])
        if not isinstance(state, dict):
            raise FileFormatError(f"{path} is a checkpoint without generator weights; pass the "
                                  f"checkpoint.pt or generator.safetensors of a training run")
        return state, _metadata(obj.get("meta"), path)
    if isinstance(obj, dict) and all(isinstance(v, torch.Tensor) for v in obj.values()):
        return obj, {"origin": "pix2pixHD state dict"}  # NVIDIA pix2pixHD latest_net_G.pth
    raise FileFormatError(f"{path} holds no generator weights (expected a state dict); pass the "
                          f"generator.safetensors of a `specktrack train` run")


def load_generator(generator: str | Path = "pretrained", device: str = "cpu", *,
                   preset: str | None = None) -> tuple[Any, dict]:
    """Build the generator for a weights file; returns (module in eval mode, metadata).

    ``preset`` ("paper"/"lite"), when given, must agree with the weights' sizes.
    """
    from .networks import PRESETS, GlobalGenerator, config_from_state_dict

    path = weights_path(generator)
    if str(generator) == "pretrained" and not path.is_file():
        raise SpecktrackError(
            f"no pretrained generator is shipped in {PRETRAINED_DIR} yet; train one with "
            f"`specktrack train` and pass its generator.safetensors, or use a measured in-line image"
        )
    state, meta = _load_state(path)
    try:
        config = config_from_state_dict(state)
    except Exception as exc:  # a state dict of something else: wrong keys, ranks or sizes
        raise FileFormatError(f"{path} is not a pix2pixHD global generator ({_short(exc)}); pass "
                              f"the generator.safetensors of a `specktrack train` run") from exc
    _check_finite_weights(state, path)
    if preset is not None:
        want = PRESETS.get(preset)
        if want is None:
            raise InputError(f"unknown preset {preset!r}; choose one of {sorted(PRESETS)}")
        if (want.ngf, want.n_downsampling, want.n_blocks) != (config.ngf, config.n_downsampling,
                                                              config.n_blocks):
            raise InputError(
                f"weights in {path.name} are ngf={config.ngf}, n_downsampling="
                f"{config.n_downsampling}, n_blocks={config.n_blocks}, but preset {preset!r} is "
                f"ngf={want.ngf}, n_downsampling={want.n_downsampling}, n_blocks={want.n_blocks}; "
                f"drop --preset (it is detected from the weights) or pick the matching one"
            )
    model = GlobalGenerator(config)
    _check_dtypes(state, model, path)
    try:
        model.load_state_dict(state, strict=True)
    except Exception as exc:  # missing or unexpected keys, size mismatches
        detail = " ".join(str(exc).split())  # torch lists every mismatch over several lines
        detail = detail if len(detail) <= 200 else detail[:197] + "…"
        raise FileFormatError(f"{path} does not fit a pix2pixHD generator ({detail}); pass "
                              f"the generator.safetensors of a `specktrack train` run") from exc
    _check_normalisation(meta, path)
    _check_stored_config(meta, config, path)
    model.eval().to(device)
    meta = {**meta, "config": config.to_dict(), "path": str(path)}
    meta["preset"] = next((k for k, v in PRESETS.items()
                           if (v.ngf, v.n_downsampling, v.n_blocks)
                           == (config.ngf, config.n_downsampling, config.n_blocks)), "custom")
    return model, meta


def _check_finite_weights(state: dict, path: Path) -> None:
    import torch

    for key, value in state.items():
        if not isinstance(value, torch.Tensor):
            raise FileFormatError(f"{path}: entry {key!r} is not a tensor; not a generator file")
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise FileFormatError(f"{path}: the weights {key!r} contain NaN/inf (a diverged "
                                  f"training run?); use an earlier checkpoint or retrain")


def _check_dtypes(state: dict, model: Any, path: Path) -> None:
    """Weights the network holds as floats must be floats in the file (an int tensor would be
    cast silently into nonsense)."""
    want = model.state_dict()
    for key, value in state.items():
        if key in want and want[key].is_floating_point() and not value.is_floating_point():
            raise FileFormatError(f"{path}: the weights {key!r} are {str(value.dtype)[6:]}, not "
                                  f"floating point; not a generator file, export it again")


def _check_stored_config(meta: dict, config: Any, path: Path) -> None:
    """The generator config stored in the metadata (``"generator_config"``, written by
    training since frozen norms exist), when there is one, must name the norm the weights have.

    The sizes and the norm are read from the state dict itself
    (:func:`~.networks.config_from_state_dict`: frozen norms store statistics, instance norms
    nothing), so files without a stored config — every file written before, the shipped one
    included — load as before, with instance norm; a stored config without ``"norm"`` also
    means instance norm.
    """
    from .networks import GeneratorConfig

    stored = meta.get("generator_config")
    if stored is None:
        return
    try:
        want = GeneratorConfig.from_dict(stored).norm
    except (InputError, TypeError, AttributeError) as exc:
        raise FileFormatError(f"{path}: its stored generator config {stored!r} is not valid "
                              f"({_short(exc)}); export the weights again") from exc
    if want != config.norm:
        raise FileFormatError(f"{path}: its metadata says norm {want!r} but the weights hold a "
                              f"{config.norm!r}-norm generator; export the weights again")


def _check_normalisation(meta: dict, path: Path) -> None:
    from .pairs import normalisation_ok

    norm = meta.get("normalisation")
    if norm is not None and not normalisation_ok(norm):
        raise FileFormatError(f"{path}: its normalisation {norm!r} is not {{input_scale > 0, "
                              f"target_min < target_max}}; export the weights again")


def _orientations(x: np.ndarray, average: bool):
    """Yield (transformed batch, inverse) for the identity, or all 8 flips and quarter turns."""
    for k in range(4 if average else 1):
        for flip in ((False, True) if average else (False,)):
            t = np.rot90(x, k, axes=(1, 2))
            if flip:
                t = t[:, :, ::-1]

            def inverse(y: np.ndarray, k: int = k, flip: bool = flip) -> np.ndarray:
                return np.rot90(y[:, :, ::-1] if flip else y, -k, axes=(1, 2))

            yield np.ascontiguousarray(t), inverse


PRECISIONS = ("auto", "float32", "bfloat16", "float16")


def resolve_precision(device: str, precision: str = "auto", half: bool | None = None) -> str:
    """The arithmetic a generator pass on ``device`` uses: "float32", "bfloat16" or "float16".

    ``"auto"``: float16 on CUDA (autocast, as always), bfloat16 on a CPU that computes it in
    hardware (AVX512-BF16 or AMX) where oneDNN's packed kernels pass their one-time check
    (:mod:`._fast`: ≈ 4× faster, SSIM ≥ 0.9999 against float32), float32 elsewhere (other
    CPUs, MPS). ``half`` (the older switch) decides when given with ``"auto"``: True → float16
    on CUDA (float32 elsewhere, as before), False → float32. An explicit ``"bfloat16"`` runs on
    any CPU whose oneDNN supports it (slowly without hardware support) and on CUDA; an explicit
    ``"float16"`` needs CUDA. Put the result in the provenance: it is what the run used.
    """
    dev = str(device)
    cuda = dev.startswith("cuda")
    if precision not in PRECISIONS:
        raise InputError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    if precision == "auto":
        if half is not None:
            return "float16" if (half and cuda) else "float32"
        if cuda:
            return "float16"
        if dev == "cpu":
            from ._fast import cpu_has_native_bf16, onednn_bf16_works

            if cpu_has_native_bf16() and onednn_bf16_works():
                return "bfloat16"
        return "float32"
    if precision == "float16" and not cuda:
        raise InputError(f"precision 'float16' needs a CUDA device, not {dev!r}; use 'auto', "
                         f"'float32' or (on a CPU) 'bfloat16'")
    if precision == "bfloat16" and not cuda:
        from ._fast import onednn_bf16_works

        if dev != "cpu" or not onednn_bf16_works():
            raise InputError(f"precision 'bfloat16' is not available on {dev!r} here (oneDNN "
                             f"bfloat16 convolutions missing); use 'auto' or 'float32'")
    return precision


def _run_model(model, x: np.ndarray, multiple: int, device: str, channels_in: int,
               channels_out: int, precision: str, tile_px: int | None = None,
               cancel: Callable[[], bool] | None = None) -> np.ndarray:
    """One pass on a batch of normalised inputs (b, y, x), padded to ``multiple``, cropped back.

    Frames in a batch are independent (instance norm is per image). With ``tile_px`` each frame
    runs layer by layer in tiles (:mod:`.tiling`): the same result as a full-frame pass while
    the device holds one tile at a time. ``precision`` (from :func:`resolve_precision`):
    bfloat16 on the CPU runs the oneDNN pass of :mod:`._fast`; float16 / bfloat16 on CUDA
    run under autocast; float32 is the module's own pass.
    """
    import torch

    _b, h, w = x.shape
    ph, pw = (-h) % multiple, (-w) % multiple
    xp = np.pad(x, ((0, 0), (0, ph), (0, pw)), mode="reflect") if (ph or pw) else x
    t = torch.from_numpy(np.ascontiguousarray(xp, np.float32))[:, None]
    if channels_in > 1:
        t = t.repeat(1, channels_in, 1, 1)
    if tile_px is not None:
        from .tiling import forward_tiled

        y = torch.cat([forward_tiled(model, ti[None], tile_px, device=device, precision=precision,
                                     cancel=cancel) for ti in t])
    elif precision == "bfloat16" and device == "cpu":
        from ._fast import bf16_generator

        y = bf16_generator(model)(t, cancel=cancel)
    else:
        dtype = torch.bfloat16 if precision == "bfloat16" else torch.float16
        with torch.inference_mode():
            with torch.autocast("cuda", dtype=dtype, enabled=precision != "float32"):
                y = model(t.to(device))
    y = y.float().mean(dim=1) if channels_out > 1 else y[:, 0]
    return y[:, :h, :w].cpu().numpy()


def generate_inline(
    sample: np.ndarray,
    reference: np.ndarray,
    generator: str | Path = "pretrained",
    *,
    device: str = "auto",
    tile_px: int | None = None,
    batch_size: int = 1,
    average_orientations: bool = False,
    half: bool | None = None,
    precision: str = "auto",
    progress: Callable[[int, int], None] | None = None,
    cancel: Callable[[], bool] | None = None,
    _model: tuple[Any, dict] | None = None,
) -> np.ndarray:
    """Generate the in-line image(s) from speckle images with a trained generator.

    Parameters
    ----------
    sample
        Sample speckle image (y, x) or stack (n, y, x), flat-field normalised.
    reference
        Speckle-only reference (y, x).
    generator
        "pretrained" or a weights file (see module docstring).
    device
        "auto", "cpu" or "cuda".
    precision
        "auto" (default), "float32", "bfloat16" or "float16": see :func:`resolve_precision`
        (auto: float16 on CUDA, bfloat16 on a CPU with AVX512-BF16/AMX, else float32); call
        it with the same arguments to record what a run used. ``half`` (older switch): True
        → float16 on CUDA, False → float32, when ``precision`` is "auto".
    tile_px
        Process each frame layer by layer in tiles of this side (pixels, ≥ 16) when it is
        larger: the full-frame result (within float rounding, no seams) while the device holds
        one tile at a time (see :mod:`.tiling`). ``None`` processes full frames.
    average_orientations
        Run each frame in all 8 flips and quarter turns and average the 8 outputs (turned
        back): the network was trained on all eight, and their mean drops the part of its
        error that is not shared between orientations — measured on held-out foam, SSIM
        +0.02 and a lower phase error (docs/accuracy.md). Costs 8 passes per frame.
    batch_size
        Frames per full-frame pass (more keeps a GPU busier; memory grows with it). Tiled
        passes take one frame at a time.
    progress, cancel
        ``progress(done, total)`` after each frame (with ``average_orientations``, after each
        of its 8 passes: total = 8 × frames); ``cancel()`` returning True stops with
        :class:`CancelledError` (checked between frames, passes and tiles).

    Returns float32 in-line image(s) with ``sample``'s shape, in flat-field units.
    """
    from .pairs import denormalise_target, normalise_input

    s = np.asarray(sample, np.float32)
    r = np.asarray(reference, np.float32)
    if r.ndim != 2 or s.ndim not in (2, 3) or s.shape[-2:] != r.shape:
        raise InputError(
            f"sample {s.shape} must be (y, x) or (n, y, x) with the reference's shape {r.shape}"
        )
    if not (np.isfinite(s).all() and np.isfinite(r).all()):
        raise InputError("sample or reference contains NaN/inf; fix the images before generating")
    dev = resolve_device(device)
    prec = resolve_precision(dev, precision, half)
    model, meta = _model if _model is not None else load_generator(generator, dev)
    cfg = meta["config"]
    multiple = 2 ** int(cfg["n_downsampling"])
    norm = meta.get("normalisation")
    frames = s[None] if s.ndim == 2 else s
    if norm is None:  # a foreign checkpoint: map this data's own spread, output tanh → [0, 2]
        norm = {"input_scale": float(4 * (frames - r).std() + 1e-6), "target_min": 0.0,
                "target_max": 2.0}
    if tile_px is not None and tile_px < 16:
        raise InputError(f"tile_px must be at least 16 pixels, got {tile_px}")
    if int(batch_size) < 1:
        raise InputError(f"batch_size must be at least 1, got {batch_size}")
    fits = tile_px is None or (r.shape[0] <= tile_px and r.shape[1] <= tile_px)
    step = int(batch_size) if fits else 1
    args = (multiple, dev, int(cfg["input_nc"]), int(cfg["output_nc"]), prec)
    n_views = 8 if average_orientations else 1
    out = np.empty(frames.shape, np.float32)
    for i in range(0, len(frames), step):
        x = normalise_input(frames[i:i + step] - r, norm)
        y = np.zeros(x.shape, np.float32)
        for v, (xt, inverse) in enumerate(_orientations(x, average_orientations)):
            if cancel is not None and cancel():
                raise CancelledError(f"generation cancelled after {i} of {len(frames)} frame(s)")
            y += inverse(_run_model(model, xt, *args, tile_px=None if fits else tile_px,
                                    cancel=cancel)) / n_views
            if progress is not None and n_views > 1:
                progress(i * n_views + (v + 1) * len(x), len(frames) * n_views)
        out[i:i + step] = denormalise_target(y, norm)
        if progress is not None and n_views == 1:
            progress(min(i + step, len(frames)), len(frames))
    return out if s.ndim == 3 else out[0]


def export_safetensors(model, path: str | Path, meta: dict) -> Path:
    """Write generator weights + metadata (config, normalisation, provenance) as safetensors."""
    from safetensors.torch import save_file

    from ..safety import atomic_write

    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    return atomic_write(path, lambda tmp: save_file(state, str(tmp),
                                                    metadata={METADATA_KEY: json.dumps(meta)}))
