"""Open napari with the simulated spheres phantom loaded and the plugin's widgets docked.

The whole pipeline in one command: the sample data (reference, sample, in-line and truth
layers, in µm) are loaded and assigned to their roles, and the Acquisition, Generator,
Retrieval and Profile widgets are docked on the right. Press *Retrieve* to compute phase,
transmission and dark-field, and compare with the ``truth phase`` layer.
"""

from __future__ import annotations

import argparse
from typing import Any

PLUGIN = "napari-specktrack"
#: dock widgets (npe2 display names), top to bottom
DOCK_WIDGETS = ("Acquisition", "Generator", "Retrieval", "Profile")
#: docked as tabs beside the previous one (below Acquisition; the profile plot needs height)
TABBED = ("Retrieval", "Profile")
#: the tab shown first
RAISED = "Retrieval"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--phantom", choices=("spheres", "foam"), default="spheres", help="sample data to open"
    )
    parser.add_argument(
        "--no-run",
        action="store_true",
        help="build the viewer and return without entering the Qt event loop (for checks)",
    )


def make_demo_viewer(viewer: Any = None, phantom: str = "spheres") -> Any:
    """Load the ``phantom`` sample data into ``viewer`` (a new one if None) and dock the widgets.

    Returns the viewer; ``session(viewer).widgets`` maps each dock name to its widget. A
    widget that cannot be built (e.g. a missing optional dependency) is skipped with a
    notification.
    """
    import napari
    from napari.utils.notifications import show_warning

    if viewer is None:
        viewer = napari.Viewer(title="napari-specktrack demo")
    viewer.open_sample(PLUGIN, phantom)
    from .widgets._common import auto_assignment, session

    docked = session(viewer).widgets
    docks: dict[str, Any] = {}
    for name in DOCK_WIDGETS:
        try:
            dock, docked[name] = viewer.window.add_plugin_dock_widget(PLUGIN, name, tabify=name in TABBED)
            docks[name] = dock
        except Exception as exc:  # keep the demo usable if one widget fails
            show_warning(f"demo: the {name} widget could not be docked ({exc})")

    if RAISED in docks:
        docks[RAISED].raise_()
    assignment = auto_assignment(viewer)
    if assignment is not None:
        session(viewer).set_assignment(assignment)
    viewer.layers.selection.active = viewer.layers["sample"] if "sample" in viewer.layers else None
    return viewer


def run(args: argparse.Namespace) -> int:
    viewer = make_demo_viewer(phantom=args.phantom)
    if getattr(args, "no_run", False):
        viewer.close()
        return 0
    import napari

    napari.run()
    return 0
