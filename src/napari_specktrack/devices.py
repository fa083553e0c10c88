"""Compute devices: which are present, and one check of a user's choice for every front end.

Names are torch device strings: ``"cpu"``, ``"cuda"`` / ``"cuda:N"`` (NVIDIA GPUs), ``"mps"``
(Apple GPUs); ``"auto"`` picks the first GPU when there is one, else the CPU. The widgets
offer :func:`available_devices`; the CLI and the API pass the user's string through
:func:`resolve_device`, which refuses a device that is not present before anything runs.
"""

from __future__ import annotations

from .errors import DeviceError


def available_devices() -> list[str]:
    """The devices present on this machine: ``cpu``, each ``cuda:N``, and ``mps``."""
    import torch

    found = ["cpu"]
    if torch.cuda.is_available():
        found += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        found.append("mps")
    return found


def resolve_device(device: str | None = "auto") -> str:
    """Check a device name and return the torch device string to use.

    ``"auto"`` (or None) → the first GPU (``cuda:0``, else ``mps``), else ``"cpu"``;
    ``"cuda"`` → ``"cuda:0"``. Raises :class:`DeviceError` naming what is present when the
    device is unknown or absent.
    """
    present = available_devices()
    name = "auto" if device is None else str(device).strip().lower()
    if name == "auto":
        return next((d for d in present if d != "cpu"), "cpu")
    if name == "cuda":
        name = "cuda:0"
    if name in present:
        return name
    known = name == "cpu" or name == "mps" or (name.startswith("cuda:") and name[5:].isdigit())
    if not known:
        raise DeviceError(f"unknown device {device!r}; use one of auto, {', '.join(present)}")
    raise DeviceError(f"device {device!r} is not present on this machine (found: "
                      f"{', '.join(present)}); use 'auto' or 'cpu'")
