"""Run a long computation off the GUI thread, with a progress bar and a Cancel button.

Every dock widget hands its computation to a :class:`JobRunner`. The rules it enforces
(napari-conventions.md):

* the widget reads all its values on the main thread *before* :meth:`JobRunner.start`, and
  passes them to the job as plain Python values (never widgets or layers);
* the job is a function ``job(progress, cancel) -> result`` that touches no Qt or napari
  object: ``progress(done, total)`` may be called from the worker thread (it is relayed to the
  main thread through a queued Qt signal), and ``cancel()`` returns True once the user pressed
  Cancel (compute functions then raise :class:`~napari_specktrack.errors.CancelledError`);
* the result is delivered to ``on_result`` on the main thread, which is the only place
  layers are added or updated;
* errors a user caused (:class:`~napari_specktrack.errors.SpecktrackError`) become a napari
  error notification naming the fix; a cancel becomes an info notification; anything else is
  a bug and reaches napari's notification manager with its traceback.

Set the environment variable ``SPECKTRACK_NOTHREADS=1`` to run jobs synchronously in the
calling thread (deterministic tests, debugging with pdb).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from qtpy.QtCore import QObject, Signal

from ..errors import CancelledError, SpecktrackError

#: environment variable: "1" runs every job synchronously (no thread)
NOTHREADS_ENV = "SPECKTRACK_NOTHREADS"

ProgressFn = Callable[[int, int], None]
CancelFn = Callable[[], bool]
Job = Callable[[ProgressFn, CancelFn], Any]


def threads_enabled() -> bool:
    """False when ``SPECKTRACK_NOTHREADS`` is set to a true value (1, true, yes)."""
    return os.environ.get(NOTHREADS_ENV, "").strip().lower() not in {"1", "true", "yes", "on"}


class CancelToken:
    """A thread-safe flag: call it to ask "was cancel requested?"."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def __call__(self) -> bool:
        return self._event.is_set()

    def cancel(self) -> None:
        """Request cancellation (idempotent)."""
        self._event.set()


@dataclass
class Outcome:
    """How a job ended: ``value`` on success, else ``error`` (a user error) or ``cancelled``."""

    value: Any = None
    error: SpecktrackError | None = None
    cancelled: bool = False
    crashed: bool = False  #: an unexpected exception (a bug), shown by napari with its traceback

    @property
    def ok(self) -> bool:
        return self.error is None and not self.cancelled and not self.crashed


class _Relay(QObject):
    """Carries progress from the worker thread to the main thread (queued connection)."""

    progressed = Signal(int, int)


def notify_error(message: str) -> None:
    """Show ``message`` as a napari error notification (falls back to logging without napari)."""
    from napari.utils.notifications import show_error

    show_error(message)


def notify_warning(message: str) -> None:
    """Show ``message`` as a napari warning notification."""
    from napari.utils.notifications import show_warning

    show_warning(message)


def notify_info(message: str) -> None:
    """Show ``message`` as a napari info notification."""
    from napari.utils.notifications import show_info

    show_info(message)


class JobRunner(QObject):
    """Runs one job at a time for a widget; owns its progress bar and Run/Cancel buttons.

    Parameters
    ----------
    description
        Text of the progress bar in napari's activity dock (e.g. "phase retrieval").
    run_button, cancel_button
        magicgui or Qt buttons (anything with an ``enabled`` attribute or ``setEnabled``);
        Run is disabled and Cancel enabled while a job runs.

    Signals
    -------
    done(Outcome)
        Emitted on the main thread after every job, however it ended (after ``on_result``).
    """

    done = Signal(object)

    def __init__(
        self,
        description: str,
        run_button: Any = None,
        cancel_button: Any = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.description = description
        self._run_button = run_button
        self._cancel_button = cancel_button
        self._token: CancelToken | None = None
        self._pbar: Any = None
        self._on_result: Callable[[Any], None] | None = None
        self._relay = _Relay()
        self._relay.progressed.connect(self._on_progress)
        self.worker: Any = None  #: the running napari worker (None when idle or synchronous)
        self.last_outcome: Outcome | None = None
        self._cancelled_text = "nothing was changed"
        self._set_buttons(running=False)

    # --- public API -----------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._token is not None

    def start(self, job: Job, on_result: Callable[[Any], None], *, total: int = 0,
              progress_bar: bool = True, cancelled_text: str | None = None) -> bool:
        """Start ``job`` in a worker thread; ``on_result(value)`` runs on the main thread.

        Returns False (and starts nothing) if a job is already running. ``progress_bar=False``
        shows no bar in napari's activity dock (short, frequent jobs); ``cancelled_text`` is
        what a cancel notification says (default: nothing was changed).
        """
        if self.running:
            notify_info(f"{self.description} is already running; wait or press Cancel first.")
            return False
        from napari.utils import progress

        self._cancelled_text = cancelled_text or "nothing was changed"
        token = CancelToken()
        self._token = token
        self._on_result = on_result
        self._pbar = progress(total=max(int(total), 0), desc=self.description) if progress_bar else None
        self._set_buttons(running=True)
        relay = self._relay

        def body() -> Outcome:
            try:
                return Outcome(value=job(relay.progressed.emit, token))
            except CancelledError:
                return Outcome(cancelled=True)
            except SpecktrackError as exc:
                return Outcome(error=exc)

        if not threads_enabled():
            try:
                outcome = body()
            except BaseException:
                self._finish(None)
                raise
            self._finish(outcome)
            return True

        from napari.qt.threading import create_worker

        worker = create_worker(body, _start_thread=False)
        worker.returned.connect(self._finish)
        worker.errored.connect(lambda _exc: self._finish(None))
        self.worker = worker
        worker.start()
        return True

    def cancel(self) -> None:
        """Ask the running job to stop at its next check (between tiles or frames)."""
        if self._token is not None:
            self._token.cancel()
            if self._pbar is not None:
                self._pbar.set_description(f"{self.description}: cancelling…")
            if self._cancel_button is not None:
                _set_enabled(self._cancel_button, False)

    # --- slots (main thread) -------------------------------------------------------------
    def _on_progress(self, done: int, total: int) -> None:
        pbar = self._pbar
        if pbar is None:
            return
        if total and pbar.total != total:
            pbar.total = int(total)
        pbar.n = int(done)
        pbar.refresh()

    def _finish(self, outcome: Outcome | None) -> None:
        if self._token is None:  # already finished (errored after returned cannot happen)
            return
        self._token = None
        self.worker = None
        if self._pbar is not None:
            self._pbar.close()
            self._pbar = None
        self._set_buttons(running=False)
        on_result, self._on_result = self._on_result, None
        if outcome is None:  # an unexpected exception: napari already shows it with traceback
            outcome = Outcome(crashed=True)
            self.last_outcome = outcome
            self.done.emit(outcome)
            return
        self.last_outcome = outcome
        if outcome.cancelled:
            notify_info(f"{self.description} cancelled; {self._cancelled_text}.")
        elif outcome.error is not None:
            notify_error(f"{self.description}: {outcome.error}")
        elif on_result is not None:
            try:
                on_result(outcome.value)
            except SpecktrackError as exc:
                outcome.error = exc
                notify_error(f"{self.description}: {exc}")
        self.done.emit(outcome)

    def _set_buttons(self, *, running: bool) -> None:
        if self._run_button is not None:
            _set_enabled(self._run_button, not running)
        if self._cancel_button is not None:
            _set_enabled(self._cancel_button, running)


def _set_enabled(button: Any, enabled: bool) -> None:
    try:
        if hasattr(button, "setEnabled"):
            button.setEnabled(enabled)
        else:
            button.enabled = enabled
    except RuntimeError:  # the widget was deleted (the viewer closed while a job ran)
        pass
