"""Checkpoints and exported weights of a training run, written atomically.

``checkpoint.pt`` holds the full state (generator, its moving average, discriminator, both
Adams, step, configuration, normalisation) as tensors and plain containers, read back with
``torch.load(weights_only=True)``. ``generator.safetensors`` holds the exported generator with
its metadata (the format :func:`~napari_specktrack.learn.inference.load_generator` reads).
Both go through :func:`napari_specktrack.safety.atomic_write`: a temporary ``.NAME.PID.….part``
beside the file, renamed into place — a SIGKILL mid-write leaves the old file intact and a
``.part`` file that :func:`~napari_specktrack.safety.clean_stale` removes at the next start.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import FileFormatError
from ..safety import atomic_write

#: what every checkpoint holds
CHECKPOINT_KEYS = ("generator", "discriminator", "opt_g", "opt_d", "step", "config",
                   "normalisation")


def save_checkpoint(state: dict[str, Any], path: Path) -> Path:
    """Write a checkpoint dict atomically."""
    import torch

    return atomic_write(path, lambda tmp: torch.save(state, tmp))


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Read a checkpoint (tensors and plain containers only) and check it is complete."""
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated, corrupt, or holding objects other than tensors
        raise FileFormatError(f"{path} is not a readable training checkpoint ({str(exc)[:160]}); "
                              f"start a new run or restore the file") from exc
    missing = [k for k in CHECKPOINT_KEYS if not isinstance(state, dict) or k not in state]
    if missing:
        raise FileFormatError(f"{path} is not a training checkpoint (missing {missing}); start a "
                              f"new run or restore the file")
    try:
        json.loads(state["config"])
        json.loads(state["normalisation"])
    except (TypeError, ValueError) as exc:
        raise FileFormatError(f"{path} has a corrupt configuration ({exc}); start a new run") from exc
    return state


def export_generator(model: Any, path: Path, meta: dict[str, Any]) -> Path:
    """Write generator weights + metadata (config, normalisation, provenance) as safetensors."""
    from safetensors.torch import save_file

    from .inference import METADATA_KEY

    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    return atomic_write(path, lambda tmp: save_file(state, str(tmp),
                                                    metadata={METADATA_KEY: json.dumps(meta)}))
