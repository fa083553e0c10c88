"""The Profile dock's parameter panels (magicgui), each row a line of the dock.

* :class:`LinePanel` — which Shapes layer holds the line, which images to profile, the
  width, the x axis unit and whether the profile follows the line live;
* :class:`TheoryPanel` — spheres of a known material and radius (optionally in a tube), or
  the simulated phantom a layer carries, and what the fit frees;
* :class:`TimePanel` — one curve of a stack every N ms (the paper's Fig. 8).

The theory and time panels are collapsible: a switch turns them on, a toggle hides their
rows (the dock must fit a 1080-px screen); rows that do not apply are hidden too. Every
parameter goes through the dock's ``add_param`` (persisted, *Restore defaults*).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from magicgui.widgets import (
    CheckBox,
    ComboBox,
    Container,
    FloatSpinBox,
    Label,
    LineEdit,
    PushButton,
    Select,
    SpinBox,
)

from ...errors import InputError
from ...physics.materials import PRESETS
from ...physics.profiles import SphereTheory
from .compute import TimeNodes

CUSTOM_MATERIAL = "formula…"
SOURCES = ("sphere model", "phantom (layer metadata)")
X_UNITS = {"µm": "um", "px": "px"}
#: the tube-centre box at this value means "the image centre" (SphereTheory.tube_center_px None)
TUBE_AT_CENTRE = -1.0
#: the narrowest a field in a row gets (pixels)
MIN_FIELD_PX = 56


def row(label: str, *widgets: Any) -> Container:
    """A horizontal row of widgets with one label in the dock's label column."""
    box = Container(widgets=list(widgets), layout="horizontal", labels=False, label=label)
    box.margins = (0, 0, 0, 0)
    return box


def narrow(widget: Any) -> Any:
    """Let a field shrink below its contents' width (a long material name, a large maximum),
    so that a row of them fits the dock's width."""
    if not isinstance(widget, CheckBox):
        widget.native.setMinimumWidth(MIN_FIELD_PX)
    return widget


def spin(value: float, lo: float, hi: float, *, step: float = 1.0, tooltip: str = "",
         decimals: int | None = None) -> FloatSpinBox:
    """A float box that reports a value when editing ends (not at every keystroke)."""
    box = FloatSpinBox(value=value, min=lo, max=hi, step=step, tooltip=tooltip)
    box.native.setKeyboardTracking(False)
    if decimals is not None:
        box.native.setDecimals(decimals)
    return box


class Collapsible:
    """A panel: a header (an on switch and a show / hide toggle) and its rows, shown while
    the switch is on and the panel expanded; a row may add its own condition."""

    def __init__(self, dock: Any, key: str, label: str, text: str, *, value: bool = False,
                 tooltip: str = "") -> None:
        self.dock = dock
        self.on = CheckBox(text=text, value=value, tooltip=tooltip)
        self.toggle = PushButton(text="▾ hide", tooltip="hide or show this panel's settings")
        self.header = row(label)
        dock.add_param(key, self.on, into=self.header)
        self.header.append(self.toggle)
        dock.append(self.header)
        self.expanded = True
        self.rows: list[tuple[Any, Callable[[], bool]]] = []
        self.on.changed.connect(self._switched)
        self.toggle.changed.connect(self._flip)

    def add(self, widget: Any, when: Callable[[], bool] = lambda: True) -> Any:
        """Append a row to the dock, shown with the panel while ``when()`` holds."""
        self.dock.append(widget)
        self.rows.append((widget, when))
        return widget

    def _row(self, label: str, *items: Any) -> Container:
        """A row of parameters (``(key, widget)``) and words between them."""
        box = row(label)
        for item in items:
            if isinstance(item, str):
                box.append(Label(value=item))
            else:
                self.dock.add_param(item[0], narrow(item[1]) if len(items) > 1 else item[1], into=box)
        return box

    def _switched(self, on: bool) -> None:
        self.expanded = self.expanded or bool(on)
        self.sync()

    def _flip(self, _value: Any = None) -> None:
        self.expanded = not self.expanded
        self.sync()

    def set_expanded(self, expanded: bool) -> None:
        self.expanded = bool(expanded)
        self.sync()

    def sync(self, _value: Any = None) -> None:
        """Show the rows that apply now."""
        shown = bool(self.on.value) and self.expanded
        self.toggle.visible = bool(self.on.value)
        self.toggle.text = "▾ hide" if self.expanded else "▸ show"
        for widget, when in self.rows:
            widget.visible = shown and when()


class LinePanel:
    """Line layer, images, width, x axis unit, live updates."""

    def __init__(self, dock: Any, shapes_choices: Callable, image_choices: Callable) -> None:
        self.shapes = ComboBox(choices=shapes_choices, nullable=True,
                               tooltip="the Shapes layer whose selected (else last) line is profiled")
        self.new_line = PushButton(text="New line layer",
                                   tooltip="add a Shapes layer in line mode: drag on the image")
        dock.append(row("line layer", self.shapes, self.new_line))
        self.images = dock.add_param("images", Select(
            label="images", choices=image_choices,
            tooltip="phase layers to profile (Ctrl-click for several); the first is compared "
                    "with the theory"), persist=False)
        self.images.native.setMaximumHeight(72)
        self.width_px = SpinBox(value=1, min=1, max=101,
                                tooltip="average this many parallel lines 1 px apart")
        self.x_unit = ComboBox(choices=list(X_UNITS), value="µm", tooltip="x axis of the plot")
        self.live = CheckBox(text="live", value=True,
                             tooltip="recompute as the line moves (in the background)")
        self.width_row = width_row = row("width (px)")
        dock.add_param("width_px", self.width_px, into=width_row)
        width_row.append(Label(value="x axis"))
        dock.add_param("x_unit", self.x_unit, into=width_row)
        dock.add_param("live", self.live, into=width_row)
        dock.append(width_row)

    @property
    def x_axis(self) -> str:
        """"um" or "px"."""
        return X_UNITS[self.x_unit.value]


class TheoryPanel(Collapsible):
    """Sphere model (material, medium, radius, spheres crossed, optional tube) or phantom, and
    the fit options."""

    def __init__(self, dock: Any) -> None:
        super().__init__(dock, "theory", "theory", "compare with theory",
                         tooltip="draw the theoretical phase of spheres (or of the simulated "
                                 "phantom) along the line")
        self.source = ComboBox(choices=list(SOURCES), value=SOURCES[0], tooltip=(
            "spheres of a known material and radius, or the phantom a simulated layer carries in "
            "its metadata (exact)"))
        self.add(self._row("source", ("source", self.source)))
        model = self._is_model
        materials = sorted(set(PRESETS) - {"air"})
        self.material = ComboBox(choices=[*materials, CUSTOM_MATERIAL], value="POM")
        self.medium = ComboBox(choices=["air", "water"], value="air")
        self.add(self._row("material", ("material", self.material), "in", ("medium", self.medium)),
                 model)
        self.formula = LineEdit(value="CH2O", tooltip="chemical formula, e.g. CH2O")
        self.density = spin(1.41, 0.001, 30.0, step=0.01, decimals=3, tooltip="density, g/cm³")
        self.add(self._row("formula", ("formula", self.formula), "g/cm³", ("density_g_cm3", self.density)),
                 lambda: model() and self.material.value == CUSTOM_MATERIAL)
        self.radius_um = spin(130.0, 0.01, 1e6, tooltip="nominal sphere radius, µm (a simulation: "
                                                         "radius_px × the object-plane pixel)")
        self.n_spheres = SpinBox(value=1, min=1, max=50, tooltip="spheres the line crosses")
        self.add(self._row("radius (µm)", ("radius_um", self.radius_um), "spheres",
                           ("n_spheres", self.n_spheres)), model)
        self._tube_rows(model)
        self.fit = CheckBox(text="centres, radii", value=False, tooltip="fit centres, radii and offset "
                            "(what the line cannot see is held at its nominal value)")
        self.fit_slope = CheckBox(text="slope", value=False, tooltip="also a linear background")
        self.fit_contrast = CheckBox(text="δ contrast", value=False, tooltip=(
            "also a factor on the spheres' δ: on for a retrieved phase, which underestimates "
            "the rims"))
        self.add(self._row("fit", ("fit", self.fit), ("fit_slope", self.fit_slope),
                           ("fit_contrast", self.fit_contrast)))
        for w in (self.source, self.material, self.tube):
            w.changed.connect(self.sync)
        self.sync()

    def _tube_rows(self, model: Callable[[], bool]) -> None:
        tubes = sorted(set(PRESETS) - {"air"})
        self.tube = CheckBox(text="", value=False, tooltip="the spheres sit in a tube (hollow cylinder)")
        self.tube_material = ComboBox(choices=tubes, value="PE")
        self.tube_axis = ComboBox(choices=["y", "x"], value="y", tooltip="the tube's axis in the image")
        self.tube_center_px = spin(TUBE_AT_CENTRE, TUBE_AT_CENTRE, 1e6, decimals=1, tooltip=(
            "where the axis is, px: its column (axis y) or row (axis x); fitted from the walls "
            "the line crosses"))
        self.tube_center_px.native.setSpecialValueText("centre")
        self.tube_center_px.native.setButtonSymbols(self.tube_center_px.native.ButtonSymbols.NoButtons)
        self.add(self._row("tube", ("tube", self.tube), ("tube_material", self.tube_material),
                           ("tube_axis", self.tube_axis), "at", ("tube_center_px", self.tube_center_px)),
                 model)
        self.tube_outer_um = spin(376.0, 0.01, 1e7, tooltip="outer radius, µm")
        self.tube_inner_um = spin(343.0, 0.0, 1e7, tooltip="inner radius, µm")
        self.add(self._row("tube radii (µm)", ("tube_outer_um", self.tube_outer_um), "to",
                           ("tube_inner_um", self.tube_inner_um)),
                 lambda: model() and bool(self.tube.value))

    def _is_model(self) -> bool:
        return self.source.value == SOURCES[0]

    @property
    def uses_phantom(self) -> bool:
        return not self._is_model()

    def _material(self) -> Any:
        if self.material.value == CUSTOM_MATERIAL:
            formula = str(self.formula.value).strip()
            if not formula:
                raise InputError("the sphere formula is empty; type one (e.g. CH2O) or pick a material")
            return {"formula": formula, "density_g_cm3": float(self.density.value)}
        return self.material.value

    def sphere_theory(self) -> SphereTheory:
        """The sphere model of the fields (radii in metres); InputError for impossible values."""
        tube: dict[str, Any] = {}
        if self.tube.value:
            centre = float(self.tube_center_px.value)
            tube = {"tube_material": self.tube_material.value,
                    "tube_outer_radius_m": float(self.tube_outer_um.value) * 1e-6,
                    "tube_inner_radius_m": float(self.tube_inner_um.value) * 1e-6,
                    "tube_axis": self.tube_axis.value,
                    "tube_center_px": None if centre <= TUBE_AT_CENTRE else centre}
        return SphereTheory(material=self._material(), radius_m=float(self.radius_um.value) * 1e-6,
                            n_spheres=int(self.n_spheres.value), medium=self.medium.value, **tube)


class TimePanel(Collapsible):
    """Time nodes of a stack: one curve every N ms at the stack's frame rate."""

    def __init__(self, dock: Any) -> None:
        super().__init__(dock, "time_nodes", "time nodes", "one curve every …",
                         tooltip="overlay one profile of each stack every N ms (Fig. 8)")
        self.every_ms = spin(50.0, 0.1, 1e7, decimals=1, tooltip="time between curves, ms")
        self.rate_hz = spin(20.0, 0.001, 1e7, decimals=3, tooltip="frames per second of the stack")
        self.add(self._row("every (ms)", ("every_ms", self.every_ms), "at (Hz)",
                           ("frame_rate_hz", self.rate_hz)))
        self.start_ms = spin(0.0, 0.0, 1e9, decimals=1, tooltip="first time, ms")
        self.stop_ms = spin(0.0, 0.0, 1e9, decimals=1, tooltip="last time, ms (0: the last frame)")
        self.stop_ms.native.setSpecialValueText("last frame")
        self.add(self._row("from (ms)", ("start_ms", self.start_ms), "to", ("stop_ms", self.stop_ms)))
        self.sync()

    def nodes(self) -> TimeNodes | None:
        """The time nodes asked for, or None when the panel is off."""
        if not self.on.value:
            return None
        stop = float(self.stop_ms.value) or None
        return TimeNodes(float(self.rate_hz.value), float(self.every_ms.value),
                         start_ms=float(self.start_ms.value), stop_ms=stop)
