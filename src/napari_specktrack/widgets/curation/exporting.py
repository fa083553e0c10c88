"""The curation dock's pair folder: export the accepted crops (asking before a set is
replaced), reopen a set to keep editing it.

A mixin of :class:`~.dock.CurationWidget` (it uses the dock's sources, review, rows and
runner); the writing and reading run in the worker (:mod:`.jobs`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ...errors import InputError, SpecktrackError
from ...learn.review import Review
from . import jobs


def confirm(parent: Any, title: str, text: str) -> bool:
    """Ask a yes / no question in a dialog (tests replace :meth:`CurationWidget.confirm`)."""
    from qtpy.QtWidgets import QMessageBox

    answer = QMessageBox.question(parent, title, text, QMessageBox.StandardButton.Yes
                                  | QMessageBox.StandardButton.No, QMessageBox.StandardButton.No)
    return answer == QMessageBox.StandardButton.Yes


class ExportMixin:
    """Export and reopen (see the module docstring)."""

    def _folder(self) -> Path:
        text = str(self.rows.folder.value or "").strip()
        if text in ("", "."):
            raise InputError("choose a pair folder first (the 'pair folder' field)")
        return Path(text).expanduser()

    def _export_mode(self, out: Path) -> str | None:
        if not out.exists() or (out.is_dir() and not any(out.iterdir())):
            return "new"
        if not (out / "pairs.json").is_file():
            raise InputError(f"{out} holds files but no pair set; choose a new or empty folder")
        n = len(self.review.accepted())
        source = self.review.folder
        if source is not None and Path(source.path).resolve() == out.resolve():
            ok = self.confirm("Update the pair set?", f"Replace the pair set in {out} by the "
                              f"edited set of {n} accepted pair(s)?")
            return "update" if ok else None
        ok = self.confirm("Overwrite?", f"{out} already exists. Replace it whole with these {n} "
                          f"accepted pair(s)?")
        return "overwrite" if ok else None

    def export(self, mode: str | None = None) -> bool:
        """Export the accepted crops to the pair folder. An existing folder is replaced only
        after a confirmation (``mode`` "overwrite" / "update" passes it)."""
        if self._busy():
            return False
        r = self.rows
        try:
            out = self._folder()
            mode = mode or self._export_mode(out)
            if mode is None:
                self.status.value = "export cancelled: nothing was written"
                return False
            if not self.review.accepted():
                raise InputError("no accepted crops to export; accept at least one")
        except SpecktrackError as exc:
            return self.fail(exc)
        params = {"crop_yx_px": list(self.cs.crop_yx_px) if self.cs else None,
                  "multiple": self.cs.multiple if self.cs else None, "from": "curation dock"}
        job = jobs.export_job(self.cs, self.review, out, mode=mode, seed=int(r.seed.value),
                              validation_fraction=float(r.validation.value), params=params)

        def show(result: Any) -> None:
            self.status.value = (f"wrote {len(result.names)} pairs to {result.path} "
                                 f"({result.n_validation} for validation, {result.kept} kept, "
                                 f"{result.cut} cut)")

        return self.start(job, show, total=len(self.review.accepted()), status="exporting…")

    def reopen(self, folder: Any = None) -> bool:
        """Reopen a pair folder to keep editing (its pairs accepted); with sources, the crops
        can be re-cropped and new ones added."""
        if self._busy():
            return False
        try:
            path = Path(folder) if folder is not None else self._folder()
        except SpecktrackError as exc:
            return self.fail(exc)
        if folder is not None:
            self.rows.folder.value = path

        def show(review: Review) -> None:
            self._set_review(review)
            self.status.value = (f"reopened {path}: {len(review)} pairs" +
                                 ("" if self.cs else "; use the sources to re-crop or add"))

        return self.start(jobs.reopen_job(path, self.cs), show, status="reading the pair set…")
