"""The first five minutes: the demo window on a 1920 × 1080 screen, Retrieve clicked.

pytest-xvfb gives a 1920 × 1080 virtual screen (pyproject: ``xvfb_width``/``xvfb_height``).
The window must fit the screen with the canvas taking most of it, every dock must fit its
area with readable tab titles, and after Retrieve the phase must be the selected, visible
layer with no units warning. The screenshot it takes is docs/screenshot.png
(``python docs/make_screenshot.py`` runs this test with ``SPECKTRACK_SCREENSHOT`` set).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest.importorskip("napari")
pytestmark = pytest.mark.gui

SCREENSHOT_ENV = "SPECKTRACK_SCREENSHOT"


def _docks(viewer):
    from qtpy.QtWidgets import QDockWidget

    found = {}
    for name, widget in viewer.window.dock_widgets.items():
        native = getattr(widget, "native", widget)
        while native is not None and not isinstance(native, QDockWidget):
            native = native.parent()
        found[name] = native
    return found


def _tab_titles_fit(window):
    from qtpy.QtWidgets import QTabBar

    bars = [b for b in window.findChildren(QTabBar) if b.isVisible() and b.count()]
    assert bars, "the docks are tabbed"
    for bar in bars:
        titles = [bar.tabText(i) for i in range(bar.count())]
        assert not [t for t in titles if "(" in t], f"tab titles {titles} should be short dock names"
        # a bar narrower than its tabs ask for squeezes them and elides their titles ("Gener…")
        assert bar.width() >= bar.sizeHint().width(), (titles, bar.width(), bar.sizeHint())


def test_demo_fits_the_screen_and_shows_the_phase(make_napari_viewer, monkeypatch, tmp_path):
    from napari.utils.notifications import notification_manager
    from qtpy.QtWidgets import QApplication

    from napari_specktrack._demo import DOCK_WIDGETS, make_demo_viewer
    from napari_specktrack.widgets._session import session
    from napari_specktrack.widgets._workers import NOTHREADS_ENV
    from napari_specktrack.widgets.retrieval import METHODS

    monkeypatch.setenv(NOTHREADS_ENV, "1")
    viewer = make_demo_viewer(make_napari_viewer(show=True), show=True)
    app = QApplication.instance()
    app.processEvents()
    window = viewer.window._qt_window
    screen = window.screen().availableGeometry()
    assert (screen.width(), screen.height()) == (1920, 1080), "run under pytest-xvfb's 1920x1080"
    assert screen.contains(window.frameGeometry()), (window.frameGeometry(), screen)
    canvas = viewer.window._qt_viewer.canvas.native
    assert canvas.width() > 0.5 * window.width() and canvas.height() > 0.6 * window.height()
    docks = _docks(viewer)
    assert set(DOCK_WIDGETS) <= {n.split(" (")[0] for n in docks}
    for name, dock in docks.items():  # each dock's contents fit its area: nothing hidden
        dock.raise_()
        app.processEvents()
        need = dock.widget().minimumSizeHint()
        assert need.width() <= dock.width() and need.height() <= dock.height(), (name, need, dock.size())
    _tab_titles_fit(window)
    next(d for n, d in docks.items() if n.startswith("Retrieval")).raise_()

    retrieval = session(viewer).widgets["Retrieval"]
    retrieval.method.value = METHODS[2]  # the paper's method: the generated in-line image
    n = len(notification_manager.records)
    retrieval.run_button.native.click()
    app.processEvents()
    assert retrieval.runner.last_outcome.ok
    phase = viewer.layers["phase"]
    assert viewer.layers.selection.active is phase and phase.visible
    assert [layer.name for layer in viewer.layers if layer.visible] == ["sample", "phase"]
    label = retrieval.status.native  # the status line shows its whole text
    assert label.text() and label.heightForWidth(label.width()) <= label.height()
    messages = [str(r.message) for r in notification_manager.records[n:]]
    assert not [m for m in messages if "units" in m.lower()], messages

    out = Path(os.environ.get(SCREENSHOT_ENV) or tmp_path / "screenshot.png")
    viewer.scale_bar.visible = True
    viewer.screenshot(str(out), canvas_only=False, flash=False)
    assert out.stat().st_size > 10_000
