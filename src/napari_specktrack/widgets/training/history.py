"""What a run folder already holds, for the Training dock (no Qt): whether it can be resumed,
its logged losses and its validation history (to continue the plot where it stopped), the
pair set's geometry and the ETA text."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from ...learn.train import LOSS_COLUMNS

LOSS_KEYS = LOSS_COLUMNS[2:-1]


def has_checkpoint(run_dir: Path | None) -> bool:
    return run_dir is not None and (run_dir / "checkpoint.pt").is_file()


def holds_files(run_dir: Path) -> bool:
    return run_dir.is_dir() and any(run_dir.iterdir())


def logged_losses(run_dir: Path) -> list[tuple[int, dict[str, float]]]:
    """(step, losses) rows of ``losses.csv`` (empty when there is none or it is unreadable)."""
    path = run_dir / "losses.csv"
    rows = []
    try:
        with open(path, newline="") as fh:
            for r in csv.DictReader(fh):
                rows.append((int(r["step"]), {k: float(r[k]) for k in LOSS_KEYS}))
    except (OSError, KeyError, ValueError, TypeError):
        return rows
    return rows


def validation_history(run_dir: Path) -> list[dict[str, Any]]:
    """The validation figures of every epoch so far (from ``model_card.json``)."""
    from ...learn.model_card import JSON_NAME

    try:
        card = json.loads((run_dir / JSON_NAME).read_text())
        history = card.get("validation", {}).get("history", [])
    except (OSError, ValueError, AttributeError):
        return []
    return [h for h in history if isinstance(h, dict) and "ssim" in h]


def pair_scale_um(pairs_dir: Path) -> tuple[float, float]:
    """napari scale (µm per pixel) of the pairs' geometry; (1, 1) when unreadable."""
    from ...geometry import Geometry
    from ...learn.pairs import read_index

    try:
        return tuple(Geometry.from_dict(read_index(pairs_dir)["geometry"]).layer_scale_um)
    except Exception:  # shown scale only: a broken folder is refused by the run itself
        return (1.0, 1.0)


def training_count(pairs_dir: Path) -> int:
    """Pairs the loop trains on (the "validation" split held out); 0 when unreadable."""
    from ...learn.pairs import read_index

    try:
        return sum(r.get("split") != "validation" for r in read_index(pairs_dir)["pairs"])
    except Exception:  # shown text only: the run itself checks the folder
        return 0


def eta_text(step: int, total: int, first: tuple[int, float] | None, now_s: float, *,
             per_epoch: int = 0) -> str:
    """``epoch e/E · step s/t · ETA m:ss`` from the rate since ``first`` = (step, time in s);
    the epochs when ``per_epoch`` (steps per epoch) is known."""
    text = f"step {step}/{total}"
    if per_epoch > 0:
        text = f"epoch {step / per_epoch:.3g}/{total / per_epoch:.3g} · {text}"
    if first is None or step <= first[0] or now_s <= first[1]:
        return text
    rate = (step - first[0]) / (now_s - first[1])  # steps per second
    left = max(total - step, 0) / rate
    h, rest = divmod(round(left), 3600)
    m, s = divmod(rest, 60)
    return f"{text} · ETA {h}:{m:02d}:{s:02d}" if h else f"{text} · ETA {m}:{s:02d}"
