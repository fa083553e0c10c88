"""Open napari with the simulated spheres phantom loaded and the plugin's docks tabbed.

The whole pipeline in one command: the sample data (reference, sample, in-line and truth
layers, in µm) are loaded and assigned to their roles, and the plugin's docks (Acquisition,
Generator, Retrieval, Profile, CT, Curation, Training) are tabbed on the right, the Retrieval
tab in front. Press *Retrieve* to compute phase, transmission and dark-field, and compare with
``truth phase``.

Without a display (no ``$DISPLAY`` / ``$WAYLAND_DISPLAY`` on Linux) or without the system
libraries Qt needs, the command says so in one line and exits with status 2, instead of Qt
aborting the process.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from .errors import SpecktrackError

PLUGIN = "napari-specktrack"
#: dock widgets (npe2 display names), in tab order
DOCK_WIDGETS = ("Acquisition", "Generator", "Retrieval", "Profile", "CT", "Curation", "Training")
#: the tab shown first
RAISED = "Retrieval"
#: the window's share of the screen's available area
SCREEN_FRACTION = 0.95
#: width of the dock area, pixels (the canvas takes the rest)
DOCK_WIDTH_PX = 430


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--phantom", choices=("spheres", "foam"), default="spheres",
                        help="sample data to open")
    parser.add_argument("--no-run", action="store_true",
                        help="build the viewer and return without entering the Qt event loop "
                             "(for checks)")


def check_display() -> None:
    """Raise a one-line :class:`SpecktrackError` when Qt cannot open a window here."""
    platform = os.environ.get("QT_QPA_PLATFORM", "")
    if sys.platform.startswith("linux") and platform.split(":")[0] in ("", "xcb", "wayland"):
        if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            raise SpecktrackError(
                "no display: napari needs a desktop session; run it there, over `ssh -X`, or "
                "under a virtual screen (`xvfb-run -a specktrack demo`)")
        if platform.split(":")[0] in ("", "xcb") and not os.environ.get("WAYLAND_DISPLAY"):
            _check_xcb_plugin()


def _check_xcb_plugin() -> None:
    """Load Qt's xcb platform plugin as Qt would; a missing system library is named."""
    import ctypes
    from pathlib import Path

    try:
        from qtpy.QtCore import QLibraryInfo
    except Exception as exc:  # no Qt binding at all
        raise SpecktrackError(f"no Qt binding ({exc}); install the GUI: pip install -e '.[all]'") from exc
    try:
        plugins = QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath)
    except AttributeError:  # Qt 5
        plugins = QLibraryInfo.location(QLibraryInfo.PluginsPath)
    candidates = sorted(Path(plugins, "platforms").glob("libqxcb*.so*"))
    if not candidates:
        return
    try:
        ctypes.CDLL(str(candidates[0]))
    except OSError as exc:
        missing = str(exc).split(":")[0]
        raise SpecktrackError(
            f"Qt cannot load its xcb platform plugin: {missing} is missing; install the system "
            f"libraries of the README's apt-get line") from exc


def _fit_to_screen(viewer: Any, docks: dict[str, Any]) -> None:
    """Size the window to the screen, the docks in one readable column, the canvas the rest."""
    from qtpy.QtCore import Qt

    window = viewer.window._qt_window
    screen = window.screen() or window.windowHandle().screen()
    area = screen.availableGeometry()
    width, height = int(area.width() * SCREEN_FRACTION), int(area.height() * SCREEN_FRACTION)
    window.resize(width, height)
    window.move(area.x() + (area.width() - width) // 2, area.y() + (area.height() - height) // 2)
    if docks:
        from qtpy.QtWidgets import QTabBar

        need = max(d.widget().minimumSizeHint().width() for d in docks.values()) + 12
        for bar in window.findChildren(QTabBar):  # every tab title readable, none elided
            if bar.count() == len(docks):
                need = max(need, bar.sizeHint().width() + 8)
        window.resizeDocks(list(docks.values()), [max(DOCK_WIDTH_PX, need)] * len(docks),
                           Qt.Orientation.Horizontal)


def make_demo_viewer(viewer: Any = None, phantom: str = "spheres", *, show: bool = False) -> Any:
    """Load the ``phantom`` sample data into ``viewer`` (a new one if None) and tab the docks.

    With ``show`` the window is shown and fitted to the screen (napari sizes a first window
    to its contents, taller than a 1080-px screen with these docks). Returns the viewer;
    ``session(viewer).widgets`` maps each dock name to its widget. A widget that cannot be
    built (e.g. a missing optional dependency) is skipped with a notification.
    """
    import napari
    from napari.utils.notifications import show_warning

    from .widgets._session import auto_assignment, session

    if viewer is None:
        viewer = napari.Viewer(title="napari-specktrack demo", show=False)
    viewer.open_sample(PLUGIN, phantom)
    docked = session(viewer).widgets
    docks: dict[str, Any] = {}
    for name in DOCK_WIDGETS:
        try:
            dock, docked[name] = viewer.window.add_plugin_dock_widget(PLUGIN, name, tabify=bool(docks))
        except Exception as exc:  # keep the demo usable if one widget fails
            show_warning(f"demo: the {name} widget could not be docked ({exc})")
            continue
        dock.setWindowTitle(name)  # a short tab title instead of "Name (napari-specktrack)"
        docks[name] = dock
    assignment = auto_assignment(viewer)
    if assignment is not None:
        session(viewer).set_assignment(assignment)
    if "sample" in viewer.layers:
        viewer.layers.selection.active = viewer.layers["sample"]
    if RAISED in docks:
        docks[RAISED].raise_()
    if show:
        viewer.window.show()
        _fit_to_screen(viewer, docks)
    return viewer


def run(args: argparse.Namespace) -> int:
    check_display()
    viewer = make_demo_viewer(phantom=args.phantom, show=True)
    if getattr(args, "no_run", False):
        viewer.close()
        return 0
    import napari

    napari.run()
    return 0
