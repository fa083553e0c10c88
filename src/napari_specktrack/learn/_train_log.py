"""The training log: ``losses.csv`` (one row per step) and the say-what-happens messages.

Rows are kept in memory and appended to the file at every checkpoint, at each epoch end and
at least every :data:`FLUSH_SECONDS`, so the file never runs far ahead of ``checkpoint.pt``.
A run killed between checkpoints may still have logged steps that the resumed run redoes:
:func:`truncate_losses` drops them at resume, so every step is listed once.
"""

from __future__ import annotations

import csv
import time
from pathlib import Path

from ..safety import atomic_write

#: the columns of losses.csv (losses are the weighted terms as they enter the total)
LOSS_COLUMNS = ("step", "epoch", "g_gan", "g_feat", "g_vgg", "g_l1", "d_real", "d_fake", "seconds")
LOSS_KEYS = LOSS_COLUMNS[2:-1]
#: longest time (seconds) logged rows stay in memory only
FLUSH_SECONDS = 10.0


def truncate_losses(csv_path: Path, step: int) -> None:
    """Drop the rows a killed run logged after its last checkpoint (``step``), atomically.

    A step already listed twice (a log from an earlier version) keeps its last row, the one
    the checkpointed state went through.
    """
    with open(csv_path, newline="") as fh:
        rows = list(csv.reader(fh))
    if not rows:
        return
    by_step = {int(r[0]): r for r in rows[1:] if r and r[0].isdigit() and int(r[0]) <= step}
    kept = [rows[0], *(by_step[k] for k in sorted(by_step))]
    if kept != rows:
        def write(tmp: Path) -> None:
            with open(tmp, "w", newline="") as fh:
                csv.writer(fh).writerows(kept)

        atomic_write(csv_path, write)


class LossLog:
    """losses.csv of a run: ``add`` a step, ``flush`` to append the pending rows.

    ``path`` is a callable giving the file's current location (the run folder may move from
    its staging place to its final one during the run).
    """

    def __init__(self, path, *, resume_at: int | None) -> None:
        self._path = path
        self._pending: list[list[str]] = []
        self._last_flush = time.monotonic()
        self.t0 = time.perf_counter()
        csv_path = path()
        if resume_at is not None and csv_path.is_file():
            truncate_losses(csv_path, resume_at)
        else:  # a new log: the header, written over any older file of that name
            with open(csv_path, "w", newline="") as fh:
                csv.writer(fh).writerow(LOSS_COLUMNS)

    def add(self, step: int, epoch: int, losses: dict[str, float]) -> None:
        row = [str(step), str(epoch), *(f"{losses[k]:.6g}" for k in LOSS_KEYS),
               f"{time.perf_counter() - self.t0:.2f}"]
        self._pending.append(row)
        if time.monotonic() - self._last_flush > FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        """Append the pending rows to the file."""
        if self._pending:
            with open(self._path(), "a", newline="") as fh:
                csv.writer(fh).writerows(self._pending)
            self._pending.clear()
        self._last_flush = time.monotonic()


def format_losses(losses: dict[str, float]) -> str:
    """``g_gan 0.71, g_feat 1.2, …`` for messages."""
    return ", ".join(f"{k} {v:.4g}" for k, v in losses.items())
