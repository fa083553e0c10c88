"""The Profile dock: live line profiles of phase layers against sphere theory, on DockBase.

Draw a line with a Shapes layer (*New line layer* makes one, in line mode): the dock plots
the profile of every chosen Image layer along the selected (else the last) line and follows
the line as it moves. Every update reads the layers on the main thread into a
:class:`~.compute.ProfileRequest`, runs :func:`~.compute.compute_profiles` — one
:class:`~napari_specktrack.physics.profiles.ProfileSet`, the core ``specktrack profile``
runs — in the dock's worker (:class:`~.._workers.JobRunner`), and draws the result on the main
thread. Updates are throttled: events arriving while one runs are folded into one more run.
Results are not layers here: the plot, the fit table and the exports are the result.
"""

from __future__ import annotations

from typing import Any

from magicgui.widgets import PushButton
from psygnal import Signal
from qtpy.QtCore import Qt, QTimer

from ...errors import InputError, SpecktrackError
from .._base import DockBase
from .._workers import JobRunner
from .compute import ImageInput, ProfileRequest, ProfileView, compute_profiles, try_compute
from .exporting import ExportMixin
from .layers import (
    add_line_layer,
    default_image,
    find_phantom,
    frame_of,
    is_retrieved_phase,
    layer_geometry,
    line_in_layer,
    line_index,
    phantom_of,
    profile_images,
    shapes_layers,
    stack_of,
)
from .panels import LinePanel, TheoryPanel, TimePanel, row
from .plot import ProfilePlot, ResultsPanel

#: wait this long after the first event of a burst before updating (ms)
THROTTLE_MS = 60


class ProfileWidget(ExportMixin, DockBase):
    """Line profiles of Image layers along a Shapes line, with sphere theory and fit.

    After every update :attr:`view` holds what is drawn (a :class:`~.compute.ProfileView`)
    and :attr:`updated` is emitted with it.
    """

    updated = Signal(object)

    def __init__(self, napari_viewer: Any) -> None:
        super().__init__(napari_viewer, "line profiles", run_text="Update", scope=False,
                         device=False, status_lines=2)
        self.view: ProfileView | None = None
        self._watched: Any = None  #: the Shapes layer whose line is profiled
        self._watched_images: list[Any] = []  #: the chosen layers, whose data changes update
        self._last_key: tuple | None = None  #: the inputs of what is drawn
        self._first: str | None = None
        self._pending = False
        self.lines = LinePanel(self, self._shapes_choices, self._image_choices)
        self.plot = ProfilePlot(napari_viewer)
        self.results = ResultsPanel()
        self.theory = TheoryPanel(self)
        self.time = TimePanel(self)
        self.csv_button = PushButton(text="Export CSV…", tooltip="profiles, theory and fit as CSV")
        self.plot_button = PushButton(text="Save plot…", tooltip="the plot as PNG, SVG or PDF")
        self.append(row("export", self.csv_button, self.plot_button))
        self.finish_layout()
        self._insert_native()
        self.export_runner = JobRunner("profile export")  # exports run beside live updates
        self._timer = QTimer(self.native)  # dies with the widget: no tick after the viewer closed
        self._timer.setSingleShot(True)
        self._timer.setInterval(THROTTLE_MS)
        self._timer.timeout.connect(self._tick)
        self._connect()
        self._choose_defaults()
        self.request_update()

    # --- construction ----------------------------------------------------------------------------
    def _insert_native(self) -> None:
        """Put the plot and the results (Qt widgets) under the line panel."""
        layout = self.native.layout()
        anchor = self.lines.width_row.native
        while anchor.parent() is not self.native:
            anchor = anchor.parent()
        index = layout.indexOf(anchor) + 1
        layout.insertWidget(index, self.plot, 1)
        layout.insertWidget(index + 1, self.results)

    def _connect(self) -> None:
        events = self.viewer.layers.events
        for ev in (events.inserted, events.removed, events.reordered):
            ev.connect(self._on_layers)
        self.viewer.dims.events.current_step.connect(self._on_slider)
        self.lines.shapes.changed.connect(self._watch_shapes)
        self.lines.images.changed.connect(self._on_images)
        self.lines.new_line.changed.connect(self.add_line_layer)
        self.lines.x_unit.changed.connect(self._redraw)
        for key, widget in self._params.items():
            if key != "x_unit":
                widget.changed.connect(self.request_update)
        self.csv_button.changed.connect(lambda: self._export_clicked("csv"))
        self.plot_button.changed.connect(lambda: self._export_clicked("plot"))
        self.runner.done.connect(self._after_update)
        self.native.destroyed.connect(self._disconnect)

    def _disconnect(self, *_: Any) -> None:
        """The dock is gone: napari's events must not reach it any more."""
        events = self.viewer.layers.events
        for ev in (events.inserted, events.removed, events.reordered):
            ev.disconnect(self._on_layers)
        self.viewer.dims.events.current_step.disconnect(self._on_slider)
        self._watch_shapes(None)
        self._watch_images([])

    def _choose_defaults(self) -> None:
        self.reset_choices()
        self._watch_shapes(self.lines.shapes.value)
        self._on_images(self.lines.images.value)
        chosen = self._chosen()
        if chosen and phantom_of(chosen[0]) is not None:
            self.theory.source.value = self.theory.source.choices[1]  # the exact theory is known

    # --- layers ------------------------------------------------------------------------------------
    def _shapes_choices(self, _widget: Any = None) -> list[str]:
        return [layer.name for layer in shapes_layers(self.viewer)]

    def _image_choices(self, _widget: Any = None) -> list[str]:
        return [layer.name for layer in profile_images(self.viewer)]

    def _chosen(self) -> list[Any]:
        """The chosen Image layers, top first."""
        names = set(self.lines.images.value or ())
        return [layer for layer in profile_images(self.viewer) if layer.name in names]

    def _on_layers(self, _event: Any = None) -> None:
        self.reset_choices()
        if not self.lines.images.value:
            self._on_images(())
        self._watch_shapes(self.lines.shapes.value)
        self.request_update()

    def _on_images(self, value: Any) -> None:
        if not value:
            first = default_image(self.viewer)
            if first is not None:
                self.lines.images.value = [first.name]  # emits changed: back here with a value
            return
        chosen = self._chosen()
        self._watch_images(chosen)
        first = chosen[0].name if chosen else None
        _scroll_to(self.lines.images, first)
        if first != self._first:  # a retrieved phase underestimates the rims: free the contrast
            self._first = first
            self.theory.fit_contrast.value = bool(chosen) and is_retrieved_phase(chosen[0])
        self.request_update()

    def _watch_shapes(self, name: Any) -> None:
        layer = self.viewer.layers[name] if name and name in self.viewer.layers else None
        if layer is self._watched:
            return
        if self._watched is not None:
            for ev in (self._watched.events.data, self._watched.events.highlight):
                ev.disconnect(self.request_update)
        self._watched = layer
        if layer is not None:
            layer.events.data.connect(self.request_update)
            layer.events.highlight.connect(self.request_update)
        self.request_update()

    def _watch_images(self, layers: list[Any]) -> None:
        """Update when a chosen layer's data change (a re-run retrieval updates it in place)."""
        for layer in self._watched_images:
            if layer not in layers:
                layer.events.data.disconnect(self.request_update)
        for layer in layers:
            if layer not in self._watched_images:
                layer.events.data.connect(self.request_update)
        self._watched_images = list(layers)

    def add_line_layer(self, _value: Any = None) -> Any:
        """Add (or select) the "profile lines" Shapes layer in line-drawing mode."""
        chosen = self._chosen()
        layer = add_line_layer(self.viewer, chosen[0] if chosen else None)
        self.reset_choices()
        self.lines.shapes.value = layer.name
        return layer

    def set_images(self, names: list[str]) -> None:
        """Profile exactly these Image layers (by name)."""
        self.lines.images.value = [n for n in self._image_choices() if n in set(names)]

    def _on_slider(self, _event: Any = None) -> None:
        if not self.time.on.value and any(layer.ndim >= 3 for layer in self._chosen()):
            self.request_update()

    # --- what to compute (main thread) ---------------------------------------------------------
    def _theory(self, layers: list[Any], notes: list[str]) -> Any:
        """The theory to compare with, or None (with a note saying why there is none)."""
        try:
            if not self.theory.uses_phantom:
                return self.theory.sphere_theory()
            first = layers[0]
            found = find_phantom(self.viewer, first, prefer=layers[1:])
            if found is None:
                raise InputError(f"no layer on {first.name!r}'s grid carries a phantom in its "
                                 "metadata; choose 'sphere model' and enter material and radius")
            if found[1] != first.name:
                notes.append(f"the phantom of {found[1]!r}")
            return found[0]
        except SpecktrackError as exc:
            notes.append(f"⚠ theory: {exc}")
            return None

    def profile_request(self) -> ProfileRequest:
        """Everything the next update computes, read from the layers and fields (InputError
        when there is no line or no image)."""
        shapes = self._watched
        index = line_index(shapes)
        if index is None:
            raise InputError("draw a line on an image: press New line layer, then drag on the image")
        layers = self._chosen()
        if not layers:
            raise InputError("choose an image layer to profile")
        notes: list[str] = []
        items = []
        for layer in layers:
            geometry, note = layer_geometry(layer)
            if note:
                notes.append(note)
            items.append(ImageInput(layer.name, stack_of(layer), line_in_layer(shapes, index, layer),
                                    geometry, frame_of(self.viewer, layer)))
        th = self.theory
        theory = self._theory(layers, notes) if th.on.value else None
        return ProfileRequest(tuple(items), theory, width_px=int(self.lines.width_px.value),
                              fit=bool(th.fit.value), fit_slope=bool(th.fit_slope.value),
                              fit_contrast=bool(th.fit_contrast.value), time_nodes=self.time.nodes(),
                              notes=tuple(notes))

    # --- updating ------------------------------------------------------------------------------------
    def request_update(self, *_: Any) -> None:
        """Update soon (live updates on): at most one update runs, one more follows it."""
        if self.lines.live.value and not self._timer.isActive():
            self._timer.start()  # a throttle: events within THROTTLE_MS make one update

    def _tick(self) -> None:
        if self.runner.running:
            self._pending = True
            return
        self.update_profiles(quiet=True)

    def _after_update(self, _outcome: Any) -> None:
        if self._pending:
            self._pending = False
            self._timer.start()

    def run(self) -> bool:
        """The Update button: compute now; errors become notifications."""
        return self.update_profiles(quiet=False)

    def update_profiles(self, *, quiet: bool = False) -> bool:
        """Read the layers and start the computation in the worker; False if nothing started.
        ``quiet`` (a live update): errors are shown in the dock, not as notifications, and
        inputs that did not change since the last drawn view (a hover) are not recomputed."""
        try:
            request = self.profile_request()
        except SpecktrackError as exc:
            if not quiet:
                return self.fail(exc)
            self._show(ProfileView([], [], [], error=str(exc)))
            return False
        key = request.key()
        if quiet and key == self._last_key:
            return False
        compute = try_compute if quiet else compute_profiles

        def job(progress: Any, cancel: Any) -> ProfileView:
            return compute(request, progress=progress, cancel=cancel)

        return self.start(job, lambda view: self._show(view, key), status="computing profiles…",
                          progress_bar=not quiet)  # a live update would only flash a bar

    def _show(self, view: ProfileView, key: tuple | None = None) -> None:
        from .summary import status_text

        self.view, self._last_key = view, key
        self._redraw()
        self.results.show_view(view)
        self.status.value = status_text(view)
        self.updated.emit(view)

    def _redraw(self, _value: Any = None) -> None:
        self.plot.show_view(self.view, x_unit=self.lines.x_axis)


def _scroll_to(select: Any, name: str | None) -> None:
    """Scroll a Select list so that the item ``name`` shows."""
    items = select.native.findItems(name, Qt.MatchFlag.MatchExactly) if name else []
    if items:
        select.native.scrollToItem(items[0])
