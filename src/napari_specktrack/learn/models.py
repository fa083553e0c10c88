"""The known generators, for the Generator dock: the shipped one and every run the user trained.

The list of trained runs is a JSON file, ``models.json``, in the user's configuration folder
(:func:`napari_specktrack.config.config_dir`: ``$SPECKTRACK_CONFIG_DIR`` when set, else
``platformdirs.user_config_dir("napari-specktrack")``). The training loop adds its run at
each export (:func:`register_model`); :func:`list_models` gives the shipped ``pretrained``
first, then the registered runs whose weights still exist, newest first, each with its model
card's text.

    [{"name": "lite-foam", "path": "/abs/run/generator.safetensors", "preset": "lite",
      "created": "2026-12-02T15:41:00Z", "step": 1200}, ...]
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
from dataclasses import dataclass
from pathlib import Path

from ..config import config_dir
from ..errors import FileFormatError

REGISTRY_NAME = "models.json"


@dataclass(frozen=True)
class ModelEntry:
    """A generator the Generator dock can offer (``path`` is what ``--generator`` takes)."""

    name: str
    path: str  #: a shipped model's name ("pretrained", …), else an absolute weights file
    preset: str
    created: str  #: UTC ISO time the run was first registered (shipped: the file's time)
    step: int | None = None
    card_path: str | None = None

    @property
    def card(self) -> str:
        """The model card's text (read now: the card is rewritten at each export)."""
        if self.card_path and Path(self.card_path).is_file():
            return Path(self.card_path).read_text(encoding="utf-8")
        return ""


def registry_path() -> Path:
    return config_dir() / REGISTRY_NAME


def _read() -> list[dict]:
    path = registry_path()
    if not path.is_file():
        return []
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise FileFormatError(f"{path} is not a valid model list ({exc}); delete it to start a "
                              f"new one") from exc
    if not isinstance(entries, list):
        raise FileFormatError(f"{path} is not a list of models; delete it to start a new one")
    return [e for e in entries if isinstance(e, dict) and isinstance(e.get("path"), str)]


@contextlib.contextmanager
def _locked():
    """Hold the registry's lock file (two runs registering at once keep both entries)."""
    path = registry_path().with_name(REGISTRY_NAME + ".lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        try:
            import fcntl
        except ImportError:  # not POSIX: no lock
            yield
            return
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _shipped() -> list[ModelEntry]:
    """The shipped generators (``pretrained`` first), each with its model card."""
    from .inference import PRETRAINED_DIR, shipped_weights

    entries = []
    for name, path in shipped_weights().items():
        made = _dt.datetime.fromtimestamp(path.stat().st_mtime, _dt.timezone.utc) \
            if path.is_file() else _dt.datetime.now(_dt.timezone.utc)
        card = "MODEL_CARD.md" if name == "pretrained" else f"{name}.MODEL_CARD.md"
        try:
            meta = _metadata(path)
        except FileFormatError:  # missing or unreadable: listed, and loading it will say why
            meta = {}
        step = meta.get("step")
        entries.append(ModelEntry(name, name, str(meta.get("preset") or "lite"),
                                  made.strftime("%Y-%m-%dT%H:%M:%SZ"),
                                  step if isinstance(step, int) else None,
                                  str(PRETRAINED_DIR / card)))
    return entries


def _metadata(weights: Path) -> dict:
    """The metadata of a safetensors generator file, read from its header only."""
    from safetensors import safe_open

    from .inference import METADATA_KEY

    try:
        with safe_open(str(weights), framework="pt") as fh:
            meta = json.loads((fh.metadata() or {}).get(METADATA_KEY) or "{}")
    except Exception as exc:  # missing, truncated, not safetensors, corrupt JSON
        raise FileFormatError(f"{weights} is not a readable generator file ({str(exc)[:120]}); "
                              f"train the run to its first export") from exc
    return meta if isinstance(meta, dict) else {}


def _entry(d: dict) -> ModelEntry:
    return ModelEntry(str(d.get("name") or Path(d["path"]).parent.name), d["path"],
                      str(d.get("preset", "custom")), str(d.get("created", "")), d.get("step"),
                      d.get("card"))


def list_models() -> list[ModelEntry]:
    """The shipped models (``pretrained`` first), then every registered run whose weights
    exist, newest first."""
    trained = [_entry(d) for d in _read() if Path(d["path"]).is_file()]
    trained.sort(key=lambda e: e.created, reverse=True)
    return [*_shipped(), *trained]


def register_model(run_dir: str | Path, *, name: str | None = None) -> ModelEntry:
    """Add (or update) a trained run's ``generator.safetensors`` in the list; returns it.

    ``name`` defaults to the run folder's name, made unique with its parent folder's name
    when another run of that name is listed.
    """
    from ..io import write_json

    run = Path(run_dir).expanduser().resolve()
    weights = run / "generator.safetensors"
    meta = _metadata(weights)  # the header only: cheap at every export, even for "paper"
    card = run / "MODEL_CARD.md"
    with _locked():
        entries = _read()
        old = next((e for e in entries if e["path"] == str(weights)), None)
        others = {e.get("name") for e in entries if e is not old}
        label = name or (old or {}).get("name") or run.name
        if label in others:
            label = f"{run.name} ({run.parent.name})"
        now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        entry = {"name": label, "path": str(weights), "preset": meta.get("preset", "custom"),
                 "created": (old or {}).get("created", now), "step": meta.get("step"),
                 "card": str(card) if card.is_file() else None}
        entries = [e for e in entries if e is not old] + [entry]
        write_json(registry_path(), entries)
    return _entry(entry)
