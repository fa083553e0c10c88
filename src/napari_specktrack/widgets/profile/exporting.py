"""Exports of the Profile dock: CSV of the profiles, the plot as PNG / SVG / PDF.

Files are written in a worker (:func:`~.export.write_csv`, :func:`~.export.write_plot`, through
:mod:`napari_specktrack.safety`), by a runner of their own so a live update may run meanwhile.
An existing file is never replaced silently: the save dialog asks first (a Qt confirmation),
and the methods refuse it unless ``overwrite`` is given.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ...errors import SpecktrackError
from .export import check_export, write_csv, write_plot
from .layers import source_paths

#: kind → (dialog caption, default file name, file filter)
KINDS = {
    "csv": ("Export profiles", "profile.csv", "CSV (*.csv)"),
    "plot": ("Save plot", "profile.png", "Images (*.png *.svg *.pdf)"),
}


def ask_save_path(parent: Any, kind: str, folder: str | Path = "") -> tuple[str, bool] | None:
    """Ask where to save (``kind`` of :data:`KINDS`): (path, overwrite) or None if cancelled.
    An existing file is replaced only after the user confirms it (``overwrite`` True)."""
    from qtpy.QtWidgets import QFileDialog, QMessageBox

    caption, name, filters = KINDS[kind]
    path, _ = QFileDialog.getSaveFileName(parent, caption, str(Path(folder) / name), filters,
                                          options=QFileDialog.Option.DontConfirmOverwrite)
    if not path:
        return None
    if not Path(path).exists():
        return path, False
    buttons = QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No
    answer = QMessageBox.question(parent, "Replace the file?",
                                  f"{path} exists. Replace it with the current profiles?",
                                  buttons, QMessageBox.StandardButton.No)
    if answer != QMessageBox.StandardButton.Yes:
        return None
    return path, True


class ExportMixin:
    """The Profile dock's export methods (needs ``view``, ``lines``, ``export_runner``,
    ``status``, ``fail`` and ``_chosen`` of the dock)."""

    def export_csv(self, path: str | Path, *, overwrite: bool = False) -> bool:
        """Write the drawn profiles (and theory, fit) as CSV; an existing file is refused
        unless ``overwrite``. False (and a notification) when nothing started."""
        return self._export("csv", path, overwrite)

    def save_plot(self, path: str | Path, *, overwrite: bool = False) -> bool:
        """Save the plot (.png, .svg or .pdf; light background) as :meth:`export_csv` does."""
        return self._export("plot", path, overwrite)

    def _export(self, kind: str, path: str | Path, overwrite: bool) -> bool:
        view, x_unit = self.view, self.lines.x_axis
        inputs = source_paths(self._chosen())
        try:
            check_export(view, path, overwrite)  # refused here, before anything starts
        except SpecktrackError as exc:
            return self.fail(exc)

        def job(progress: Any, cancel: Any) -> Path:
            if kind == "csv":
                return write_csv(view, path, overwrite=overwrite, inputs=inputs)
            return write_plot(view, path, x_unit=x_unit, overwrite=overwrite, inputs=inputs)

        def done(written: Path) -> None:
            self._export_folder = str(Path(written).parent)
            self.status.value = f"wrote {written}"

        return self.export_runner.start(job, done)

    def _export_clicked(self, kind: str) -> None:
        chosen = ask_save_path(self.native, kind, getattr(self, "_export_folder", ""))
        if chosen is not None:
            self._export(kind, *chosen)
