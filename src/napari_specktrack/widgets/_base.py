"""The one widget base of every dock: parameters, scope, device, Run / Cancel / status.

A dock subclasses :class:`DockBase`, adds its parameter widgets with :meth:`add_param`
(persisted between sessions, reset by *Restore defaults*), and implements :meth:`run`, which
reads every value on the main thread, builds the core's parameter object and calls
:meth:`start` with a job ``job(progress, cancel)`` — the job calls the compute core (in a
worker thread, :class:`~._workers.JobRunner`) and its result reaches ``on_result`` on the main
thread, where layers are touched. The base provides:

* scope: the frame under the slider, a frame range, or all frames (:meth:`frame_indices`);
* devices: ``auto`` plus what is present (cpu, each cuda:N, mps), :func:`device_choices`;
* the Run / Cancel buttons and a status line; errors a user caused become notifications;
* persisted values in ``widgets.json`` in the user config folder (:mod:`napari_specktrack.config`).
"""

from __future__ import annotations

import json
import os
from typing import Any

from magicgui.widgets import ComboBox, Container, Label, PushButton, SpinBox

from ..config import config_dir
from ..errors import InputError
from ._workers import Job, JobRunner, notify_error

SCOPES = ("frame under slider", "frame range", "all frames")


def _load_settings() -> dict[str, dict[str, Any]]:
    path = config_dir() / "widgets.json"
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _save_settings(dock: str, values: dict[str, Any]) -> None:
    from ..safety import write_text_atomic

    data = _load_settings()
    data[dock] = values
    try:
        write_text_atomic(config_dir() / "widgets.json", json.dumps(data, indent=1) + "\n")
    except OSError:  # a read-only home must not break the widget
        pass


def status_label(lines: int = 4) -> Label:
    """A full-width, word-wrapped status line tall enough for ``lines`` lines of text."""
    label = Label(value="")
    label.native.setWordWrap(True)
    label.native.setMinimumHeight(label.native.fontMetrics().lineSpacing() * lines + 4)
    return label


def device_choices(*, auto: bool = True) -> list[str]:
    """``auto`` and the devices present on this machine (cpu, cuda:N, mps)."""
    from ..devices import available_devices

    return (["auto"] if auto else []) + available_devices()


class DockBase(Container):
    """Base class of the dock widgets (see the module docstring).

    Parameters
    ----------
    viewer
        The napari viewer.
    title
        Short name, used for the progress bar, notifications and the settings key.
    run_text
        Text of the Run button.
    scope, device
        Whether the dock offers a frame scope and a device choice.
    status_lines
        Height of the status line in lines of text.
    """

    def __init__(self, viewer: Any, title: str, *, run_text: str = "Run", scope: bool = True,
                 device: bool = True, device_default: str = "auto", status_lines: int = 4) -> None:
        super().__init__(labels=True)
        self.viewer = viewer
        self.title = title
        self._params: dict[str, Any] = {}
        self._defaults: dict[str, Any] = {}
        self._stored = _load_settings().get(title, {})
        self.scope = ComboBox(label="run on", choices=list(SCOPES), value=SCOPES[0],
                              visible=scope, tooltip="the frame under the slider, a range, or all")
        self.first_frame = SpinBox(label="first frame", value=0, min=0, max=10**7, visible=False)
        self.last_frame = SpinBox(label="last frame", value=0, min=0, max=10**7, visible=False,
                                  tooltip="included")
        self.scope.changed.connect(self._on_scope)
        choices = device_choices() if device else ["auto"]  # (finding GPUs imports torch)
        self.device = ComboBox(label="device", choices=choices, visible=device,
                               value=device_default if device_default in choices else "auto",
                               tooltip="auto: a GPU when one is present, else the CPU")
        self.run_button = PushButton(text=run_text)
        self.cancel_button = PushButton(text="Cancel")
        self.restore_button = PushButton(text="Restore defaults")
        self.status = status_label(status_lines)
        self.runner = JobRunner(title, self.run_button, self.cancel_button)
        self.run_button.changed.connect(self._run_clicked)
        self.cancel_button.changed.connect(self.cancel)
        self.restore_button.changed.connect(self.restore_defaults)
        self.runner.done.connect(self._after_job)

    def _after_job(self, outcome: Any) -> None:
        if outcome.cancelled:
            self.status.value = "cancelled; nothing was changed"
        elif outcome.error is not None:
            self.status.value = f"error: {outcome.error}"
        elif outcome.crashed:
            self.status.value = "failed: see the notification"

    # --- layout ----------------------------------------------------------------------------------
    def add_param(self, key: str, widget: Any, *, persist: bool = True, into: Any = None) -> Any:
        """Add a parameter widget (to the dock, or to the row/container ``into``); persisted
        values are restored and saved on change."""
        (self if into is None else into).append(widget)
        if persist:
            self._params[key] = widget
            self._defaults[key] = widget.value
            if key in self._stored:
                try:
                    widget.value = self._stored[key]
                except (ValueError, TypeError):  # a stale or foreign stored value
                    pass
            widget.changed.connect(self._save)
        return widget

    def finish_layout(self) -> None:
        """Append the scope, device and Run / Cancel / status rows (call last in __init__)."""
        for key, w in (("scope", self.scope), ("device", self.device)):
            self.add_param(key, w)
        self.extend([self.first_frame, self.last_frame,
                     Container(widgets=[self.run_button, self.cancel_button], layout="horizontal",
                               labels=False, label=""),
                     self.status, self.restore_button])

    # --- persisted parameters ----------------------------------------------------------------------
    def _save(self, _value: Any = None) -> None:
        values = {}
        for key, w in self._params.items():
            v = w.value
            values[key] = str(v) if isinstance(v, os.PathLike) else v
        _save_settings(self.title, values)

    def restore_defaults(self, _value: Any = None) -> None:
        """Reset every persisted parameter to its default."""
        for key, w in self._params.items():
            w.value = self._defaults[key]
        self._save()

    # --- scope -------------------------------------------------------------------------------------
    def _on_scope(self, value: str) -> None:
        ranged = value == SCOPES[1]
        self.first_frame.visible = self.last_frame.visible = ranged

    def frame_indices(self, n_frames: int, current: int) -> list[int]:
        """The frames the scope selects, for a sample of ``n_frames`` (0-based, checked)."""
        if n_frames <= 1 or self.scope.value == SCOPES[0]:
            return [min(current, max(n_frames - 1, 0))]
        if self.scope.value == SCOPES[2]:
            return list(range(n_frames))
        a, b = int(self.first_frame.value), int(self.last_frame.value)
        if not 0 <= a <= b < n_frames:
            raise InputError(f"the frame range {a}…{b} is not inside the sample's frames 0…"
                             f"{n_frames - 1}; set first ≤ last within it")
        return list(range(a, b + 1))

    # --- running ------------------------------------------------------------------------------------
    def _run_clicked(self, _value: Any = None) -> None:
        self.run()

    def run(self) -> bool:
        """Read the settings and start the job; False when nothing started. Subclasses."""
        raise NotImplementedError

    def start(self, job: Job, on_result: Any, *, total: int = 0, status: str = "running…",
              progress_bar: bool = True, cancelled_text: str | None = None) -> bool:
        """Start ``job`` in the runner; the status line says what happens. ``progress_bar=False``
        for short, frequent jobs (a live preview) that would only flash a bar;
        ``cancelled_text`` for a job whose cancel keeps something (a training checkpoint)."""
        self.status.value = status
        started = self.runner.start(job, on_result, total=total, progress_bar=progress_bar,
                                    cancelled_text=cancelled_text)
        if not started:
            self.status.value = ""
        return started

    def fail(self, exc: Exception) -> bool:
        """Show a user error (before a job started) as a notification; returns False."""
        notify_error(f"{self.title}: {exc}")
        self.status.value = f"error: {exc}"
        return False

    def cancel(self, _value: Any = None) -> None:
        self.runner.cancel()
