"""From the training worker to the main thread: queued values, drained by a timer.

The training loop calls ``on_step``, ``on_epoch`` and ``log`` in the worker thread, where no
Qt object may be touched. :class:`LiveFeed` only puts the values in a thread-safe queue;
a :class:`~qtpy.QtCore.QTimer` on the main thread drains it every :data:`DRAIN_MS` and
hands the batch to the dock (plot, layers, progress text) — so a run of thousands of steps
costs a few redraws per second, however fast its steps are. The dock drains once more when
the job ends (with ``SPECKTRACK_NOTHREADS`` that is the only drain).
"""

from __future__ import annotations

import queue
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from qtpy.QtCore import QTimer

#: how often the main thread takes what the worker queued (milliseconds)
DRAIN_MS = 250


@dataclass
class Batch:
    """What arrived since the last drain."""

    steps: list[tuple[int, dict[str, float]]] = field(default_factory=list)
    epochs: list[dict[str, Any]] = field(default_factory=list)
    logs: list[str] = field(default_factory=list)
    progress: list[tuple[int, int, float]] = field(default_factory=list)  #: (step, total, s)

    def __bool__(self) -> bool:
        return bool(self.steps or self.epochs or self.logs or self.progress)


class LiveFeed:
    """Thread-safe hooks for :func:`~napari_specktrack.learn.train.train`; ``deliver(batch)``
    runs on the main thread."""

    def __init__(self, parent: Any, deliver: Callable[[Batch], None]) -> None:
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._deliver = deliver
        self._timer = QTimer(parent)  # dies with the dock: no tick after the viewer closed
        self._timer.setInterval(DRAIN_MS)
        self._timer.timeout.connect(self.drain)

    # --- worker side (no Qt) ------------------------------------------------------------------
    def on_step(self, step: int, losses: dict[str, float]) -> None:
        self._queue.put(("step", (int(step), dict(losses))))

    def on_epoch(self, epoch: int, report: dict[str, Any]) -> None:
        self._queue.put(("epoch", report))

    def log(self, message: str) -> None:
        self._queue.put(("log", str(message)))

    def progress(self, step: int, total: int) -> None:
        self._queue.put(("progress", (int(step), int(total), time.perf_counter())))

    # --- main thread ------------------------------------------------------------------------------
    def start(self) -> None:
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()
        self.drain()

    def drain(self) -> None:
        batch = Batch()
        while True:
            try:
                kind, value = self._queue.get_nowait()
            except queue.Empty:
                break
            {"step": batch.steps, "epoch": batch.epochs, "log": batch.logs,
             "progress": batch.progress}[kind].append(value)
        if batch:
            self._deliver(batch)
