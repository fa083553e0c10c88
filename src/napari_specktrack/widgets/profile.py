"""The Profile dock widget: live line profiles of phase images against sphere theory.

Draw a line with a napari Shapes layer (the "New line layer" button makes one, in line mode);
the widget plots the profile of every ticked Image layer along the selected line (or the last
one) in an embedded matplotlib figure, and redraws as the line is moved or edited. The theory
panel draws the theoretical phase of spheres of a known material and radius (optionally in a
tube), or of the simulated phantom a layer carries in its metadata; "Fit" fits centres, radii
and offset to the first ticked layer and keeps the fit live. Metrics are shown under the plot.
Time-node mode overlays one line's profile at several frames of a stack (every N ms), with the
legend in ms. Export writes the profiles as CSV and the plot as PNG/SVG.

All computation is in :mod:`napari_specktrack.physics.profiles` (shared with the
``specktrack profile`` command); this module only wires napari events to it. Profiles, theory
and fits take milliseconds, so they run in the GUI thread, throttled to one redraw per 80 ms
while a line is dragged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from qtpy.QtCore import Qt, Signal
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ..errors import InputError, SpecktrackError
from ..geometry import Geometry
from ..physics import profiles as pr
from ..physics.materials import PRESETS

if TYPE_CHECKING:  # pragma: no cover
    import napari

LINE_LAYER_NAME = "profile lines"
CUSTOM_MATERIAL = "formula…"
_UNITS_M = {"µm": 1e-6, "mm": 1e-3}


def layer_geometry(layer: Any) -> Geometry | None:
    """The geometry an image layer carries in ``metadata["geometry"]``, or None."""
    meta = getattr(layer, "metadata", {}) or {}
    g = meta.get("geometry")
    if isinstance(g, Geometry):
        return g
    if isinstance(g, dict):
        try:
            return Geometry.from_dict(g)
        except SpecktrackError:
            return None
    return None


def line_in_layer(shapes: Any, index: int, image: Any) -> tuple[np.ndarray, np.ndarray]:
    """End points (y, x) in ``image``'s pixel coordinates of line ``index`` of a Shapes layer
    (through world coordinates, so layer scale/translate are honoured). Rounded to 1e-6 px:
    the round trip through world coordinates adds ~1e-14 px, which would change the number
    of samples ⌈L + 1⌉ of a line of integer length."""
    verts = np.asarray(shapes.data[index], dtype=float)
    ends = []
    for v in (verts[0], verts[-1]):
        world = shapes.data_to_world(v)
        ends.append(np.round(np.asarray(image.world_to_data(world), dtype=float)[-2:], 6))
    return ends[0], ends[1]


class ProfileWidget(QWidget):
    """Live line profiles of Image layers along a Shapes line, with sphere theory and fit.

    After every redraw :attr:`last` holds what is plotted — ``distance_px``, ``curves``
    (label → values, rad), ``theory``, ``fit`` (a :class:`~napari_specktrack.physics.profiles.FitResult`
    or None), ``analysis`` and ``pixel_size_m`` — and :attr:`updated` is emitted.
    """

    updated = Signal()

    def __init__(self, napari_viewer: napari.viewer.Viewer, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg, NavigationToolbar2QT
        from matplotlib.figure import Figure
        from superqt.utils import qthrottled

        self.viewer = napari_viewer
        self.last: dict[str, Any] = {}
        self._shapes: Any = None
        self._fit_error: str = ""
        self.request_update = qthrottled(self.refresh, timeout=80, leading=True)

        # --- layers --------------------------------------------------------------------
        self.shapes_combo = QComboBox()
        self.new_line_btn = QPushButton("New line layer")
        self.new_line_btn.setToolTip("Add a Shapes layer in line mode: drag on the image to draw")
        self.image_list = QListWidget()
        self.image_list.setMaximumHeight(90)
        self.image_list.setToolTip("Image layers to profile (e.g. conventional vs learned phase)")
        self.width_spin = QSpinBox()
        self.width_spin.setRange(1, 101)
        self.width_spin.setToolTip("Average this many parallel lines 1 px apart")
        self.unit_combo = QComboBox()
        self.unit_combo.addItems(["µm", "px"])

        # --- plot ----------------------------------------------------------------------
        self.figure = Figure(figsize=(4, 3), layout="constrained")
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.canvas.setMinimumHeight(240)
        self.toolbar = NavigationToolbar2QT(self.canvas, self)
        self.ax = self.figure.add_subplot()
        self.metrics_label = QLabel("Draw a line on an image (New line layer).")
        self.metrics_label.setWordWrap(True)
        self.metrics_label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.metrics_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        # --- theory --------------------------------------------------------------------
        self.theory_box = QGroupBox("Theory")
        self.theory_box.setCheckable(True)
        self.theory_box.setChecked(False)
        self.source_combo = QComboBox()
        self.source_combo.addItems(["sphere model", "phantom (layer metadata)"])
        self.material_combo = QComboBox()
        self.material_combo.addItems([*sorted(set(PRESETS) - {"air"}), CUSTOM_MATERIAL])
        self.material_combo.setCurrentText("POM")
        self.formula_edit = QLineEdit("CH2O")
        self.density_spin = _dspin(0.001, 30.0, 1.41, 3, " g/cm³")
        self.medium_combo = QComboBox()
        self.medium_combo.addItems(["air", "water"])
        self.radius_spin = _dspin(0.01, 1e5, 130.0, 2, "")
        self.radius_unit = QComboBox()
        self.radius_unit.addItems(list(_UNITS_M))
        self.n_spin = QSpinBox()
        self.n_spin.setRange(1, 50)
        self.tube_check = QCheckBox("tube")
        self.tube_material = QComboBox()
        self.tube_material.addItems(sorted(set(PRESETS) - {"air"}))
        self.tube_material.setCurrentText("PE")
        self.tube_outer = _dspin(0.01, 1e6, 376.0, 2, "")
        self.tube_inner = _dspin(0.0, 1e6, 343.0, 2, "")
        self.tube_axis = QComboBox()
        self.tube_axis.addItems(["y", "x"])
        self.fit_btn = QPushButton("Fit")
        self.fit_btn.setCheckable(True)
        self.fit_btn.setToolTip("Fit centres, radii and offset to the first ticked layer (stays live)")
        self.slope_check = QCheckBox("linear background")

        # --- time nodes ----------------------------------------------------------------
        self.time_box = QGroupBox("Time nodes (stacks)")
        self.time_box.setCheckable(True)
        self.time_box.setChecked(False)
        self.every_spin = _dspin(0.1, 1e7, 50.0, 1, " ms")
        self.rate_spin = _dspin(0.001, 1e7, 20.0, 3, " Hz")
        self.start_spin = _dspin(0.0, 1e9, 0.0, 1, " ms")
        self.stop_spin = _dspin(0.0, 1e9, 0.0, 1, " ms")
        self.stop_spin.setSpecialValueText("last frame")

        self.csv_btn = QPushButton("Export CSV…")
        self.plot_btn = QPushButton("Save plot…")
        self._layout()
        self._connect()
        self._apply_theme()
        self._refresh_layer_lists()
        images = self._images()
        if images and "objects" in ((images[0].metadata or {}).get("phantom") or {}):
            self.source_combo.setCurrentIndex(1)  # simulated data: the exact theory is known

    # --- construction -------------------------------------------------------------------
    def _layout(self) -> None:
        top = QFormLayout()
        row = QHBoxLayout()
        row.addWidget(self.shapes_combo, 1)
        row.addWidget(self.new_line_btn)
        top.addRow("Lines", row)
        top.addRow("Images", self.image_list)
        row = QHBoxLayout()
        row.addWidget(self.width_spin)
        row.addWidget(QLabel("x axis"))
        row.addWidget(self.unit_combo)
        top.addRow("Width (px)", row)

        th = QFormLayout(self.theory_box)
        th.addRow("Source", self.source_combo)
        row = QHBoxLayout()
        row.addWidget(self.material_combo, 1)
        row.addWidget(QLabel("in"))
        row.addWidget(self.medium_combo)
        th.addRow("Material", row)
        row = QHBoxLayout()
        row.addWidget(self.formula_edit, 1)
        row.addWidget(self.density_spin)
        th.addRow("Formula", row)
        row = QHBoxLayout()
        row.addWidget(self.radius_spin, 1)
        row.addWidget(self.radius_unit)
        row.addWidget(QLabel("×"))
        row.addWidget(self.n_spin)
        th.addRow("Radius", row)
        row = QHBoxLayout()
        row.addWidget(self.tube_check)
        row.addWidget(self.tube_material)
        row.addWidget(QLabel("axis"))
        row.addWidget(self.tube_axis)
        th.addRow(row)
        row = QHBoxLayout()
        row.addWidget(QLabel("outer"))
        row.addWidget(self.tube_outer)
        row.addWidget(QLabel("inner"))
        row.addWidget(self.tube_inner)
        th.addRow("Tube radii", row)
        row = QHBoxLayout()
        row.addWidget(self.fit_btn)
        row.addWidget(self.slope_check)
        th.addRow(row)

        tn = QFormLayout(self.time_box)
        tn.addRow("Every", self.every_spin)
        tn.addRow("Frame rate", self.rate_spin)
        row = QHBoxLayout()
        row.addWidget(self.start_spin)
        row.addWidget(QLabel("to"))
        row.addWidget(self.stop_spin)
        tn.addRow("From", row)

        exp = QHBoxLayout()
        exp.addWidget(self.csv_btn)
        exp.addWidget(self.plot_btn)

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.toolbar)
        layout.addWidget(self.canvas, 1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.metrics_label)
        scroll.setMinimumHeight(80)
        scroll.setMaximumHeight(140)
        layout.addWidget(scroll)
        layout.addWidget(self.theory_box)
        layout.addWidget(self.time_box)
        layout.addLayout(exp)
        self._update_enabled()

    def _connect(self) -> None:
        layers = self.viewer.layers
        layers.events.inserted.connect(self._on_layers_changed)
        layers.events.removed.connect(self._on_layers_changed)
        layers.events.reordered.connect(self._on_layers_changed)
        self.viewer.dims.events.current_step.connect(self._on_dims)
        self.viewer.events.theme.connect(self._apply_theme)
        self.new_line_btn.clicked.connect(self.add_line_layer)
        self.shapes_combo.currentTextChanged.connect(self._on_shapes_choice)
        self.image_list.itemChanged.connect(lambda *_: self.request_update())
        for w in (self.width_spin, self.n_spin):
            w.valueChanged.connect(lambda *_: self.request_update())
        for w in (self.radius_spin, self.density_spin, self.tube_outer, self.tube_inner,
                  self.every_spin, self.rate_spin, self.start_spin, self.stop_spin):
            w.valueChanged.connect(lambda *_: self.request_update())
        for c in (self.unit_combo, self.source_combo, self.material_combo, self.medium_combo,
                  self.radius_unit, self.tube_material, self.tube_axis):
            c.currentTextChanged.connect(self._on_option)
        self.formula_edit.editingFinished.connect(self.request_update)
        for b in (self.theory_box, self.time_box, self.tube_check, self.slope_check):
            b.toggled.connect(self._on_option)
        self.fit_btn.toggled.connect(self._on_option)
        self.csv_btn.clicked.connect(self._export_csv_dialog)
        self.plot_btn.clicked.connect(self._save_plot_dialog)

    def _update_enabled(self) -> None:
        model = self.source_combo.currentIndex() == 0
        custom = self.material_combo.currentText() == CUSTOM_MATERIAL
        for w in (self.material_combo, self.medium_combo, self.radius_spin, self.radius_unit,
                  self.n_spin, self.tube_check):
            w.setEnabled(model)
        self.formula_edit.setEnabled(model and custom)
        self.density_spin.setEnabled(model and custom)
        tube = model and self.tube_check.isChecked()
        for w in (self.tube_material, self.tube_outer, self.tube_inner, self.tube_axis):
            w.setEnabled(tube)

    # --- layers -------------------------------------------------------------------------
    def add_line_layer(self) -> Any:
        """Add (or select) the "profile lines" Shapes layer in line-drawing mode."""
        if LINE_LAYER_NAME in self.viewer.layers:
            layer = self.viewer.layers[LINE_LAYER_NAME]
        else:
            image = self._images()[:1]
            kwargs = {}
            if image:
                kwargs = {"scale": image[0].scale[-2:], "translate": image[0].translate[-2:]}
            layer = self.viewer.add_shapes(name=LINE_LAYER_NAME, ndim=2, edge_color="yellow",
                                           edge_width=1.5, **kwargs)
        self.viewer.layers.selection.active = layer
        layer.mode = "add_line"
        self.shapes_combo.setCurrentText(layer.name)
        return layer

    def _shapes_layers(self) -> list[Any]:
        from napari.layers import Shapes

        return [layer for layer in self.viewer.layers if isinstance(layer, Shapes)]

    def _image_layers(self) -> list[Any]:
        from napari.layers import Image

        return [layer for layer in self.viewer.layers
                if isinstance(layer, Image) and not layer.rgb and layer.ndim >= 2]

    def _images(self) -> list[Any]:
        """The ticked Image layers, in list order."""
        names = {self.image_list.item(i).text() for i in range(self.image_list.count())
                 if self.image_list.item(i).checkState() == Qt.CheckState.Checked}
        return [layer for layer in self._image_layers() if layer.name in names]

    def _on_layers_changed(self, *_: Any) -> None:
        self._refresh_layer_lists()
        self.request_update()

    def _refresh_layer_lists(self) -> None:
        shapes = [layer.name for layer in self._shapes_layers()]
        current = self.shapes_combo.currentText()
        self.shapes_combo.blockSignals(True)
        self.shapes_combo.clear()
        self.shapes_combo.addItems(shapes)
        if current in shapes:
            self.shapes_combo.setCurrentText(current)
        elif shapes:
            self.shapes_combo.setCurrentText(shapes[-1])
        self.shapes_combo.blockSignals(False)
        self._on_shapes_choice(self.shapes_combo.currentText(), update=False)

        checked = {layer.name for layer in self._images()}
        images = self._image_layers()
        if not checked and images:  # first time: tick the selected (else the top) image
            selected = [layer.name for layer in images if layer in self.viewer.layers.selection]
            checked = set(selected[:1] or [images[-1].name])
        self.image_list.blockSignals(True)
        self.image_list.clear()
        for layer in reversed(images):  # top layer first, as napari's layer list
            item = QListWidgetItem(layer.name)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            on = layer.name in checked
            item.setCheckState(Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)
            self.image_list.addItem(item)
        self.image_list.blockSignals(False)

    def set_images(self, names: list[str]) -> None:
        """Tick exactly these Image layers (by name) for profiling."""
        self.image_list.blockSignals(True)
        for i in range(self.image_list.count()):
            item = self.image_list.item(i)
            item.setCheckState(Qt.CheckState.Checked if item.text() in names else Qt.CheckState.Unchecked)
        self.image_list.blockSignals(False)
        self.request_update()

    def _on_shapes_choice(self, name: str, update: bool = True) -> None:
        layer = self.viewer.layers[name] if name and name in self.viewer.layers else None
        if layer is self._shapes:
            return
        if self._shapes is not None:
            for ev in (self._shapes.events.data, self._shapes.events.highlight):
                try:
                    ev.disconnect(self._on_shapes_event)
                except (TypeError, ValueError, RuntimeError):
                    pass
        self._shapes = layer
        if layer is not None:
            layer.events.data.connect(self._on_shapes_event)
            layer.events.highlight.connect(self._on_shapes_event)
        if update:
            self.request_update()

    def _on_shapes_event(self, event: Any = None) -> None:
        self.request_update()

    def _on_dims(self, *_: Any) -> None:
        if not self.time_box.isChecked():
            self.request_update()

    def _on_option(self, *_: Any) -> None:
        self._update_enabled()
        self.request_update()

    # --- the line -------------------------------------------------------------------------
    def _line_index(self) -> int | None:
        """The selected line of the Shapes layer, else its last line; None without lines."""
        layer = self._shapes
        if layer is None or len(layer.data) == 0:
            return None
        lines = [i for i, t in enumerate(layer.shape_type) if t in ("line", "path")]
        if not lines:
            return None
        selected = [i for i in sorted(layer.selected_data) if i in lines]
        return selected[0] if selected else lines[-1]

    # --- theory inputs ----------------------------------------------------------------------
    def _material(self) -> Any:
        name = self.material_combo.currentText()
        if name == CUSTOM_MATERIAL:
            return {"formula": self.formula_edit.text().strip(), "density_g_cm3": self.density_spin.value()}
        return name

    def sphere_theory(self) -> pr.SphereTheory:
        """The theory panel's sphere model as a :class:`~napari_specktrack.physics.profiles.SphereTheory`."""
        unit = _UNITS_M[self.radius_unit.currentText()]
        tube: dict[str, Any] = {}
        if self.tube_check.isChecked():
            tube = {"tube_material": self.tube_material.currentText(),
                    "tube_outer_radius_m": self.tube_outer.value() * unit,
                    "tube_inner_radius_m": self.tube_inner.value() * unit,
                    "tube_axis": self.tube_axis.currentText()}
        return pr.SphereTheory(material=self._material(), radius_m=self.radius_spin.value() * unit,
                               n_spheres=self.n_spin.value(), medium=self.medium_combo.currentText(),
                               **tube)

    # --- compute and draw -------------------------------------------------------------------
    def refresh(self) -> None:
        """Recompute and redraw the profiles now (the throttled :attr:`request_update` calls this)."""
        try:
            self._refresh()
        except SpecktrackError as exc:
            self.metrics_label.setText(f"⚠ {exc}")
            self.last["error"] = str(exc)
            self.updated.emit()

    def _frame_of(self, image: Any) -> int | None:
        if image.ndim < 3:
            return None
        idx = np.asarray(image.world_to_data(self.viewer.dims.point), dtype=float)
        return int(np.clip(round(idx[-3]), 0, image.data.shape[-3] - 1))

    def _refresh(self) -> None:
        index = self._line_index()
        images = self._images()
        if index is None or not images:
            self.metrics_label.setText(
                "Draw a line on an image (New line layer)." if index is None else "Tick an image layer.")
            return
        width = self.width_spin.value()
        first = images[0]
        geometry = layer_geometry(first)
        notes: list[str] = []
        if geometry is None:
            geometry = Geometry()
            notes.append("layer has no geometry metadata: default geometry (15 keV, 3.25 µm)")
        pixel_size_m = geometry.object_pixel_size_m
        if layer_geometry(first) is None and not np.allclose(first.scale[-1], 1.0):
            pixel_size_m = float(first.scale[-1]) * 1e-6  # layer scale in µm
        curves: dict[str, np.ndarray] = {}
        distance = None
        line0 = None
        time_mode = self.time_box.isChecked()
        for image in images:
            p0, p1 = line_in_layer(self._shapes, index, image)
            data = image.data
            if time_mode and image.ndim >= 3:
                stop = self.stop_spin.value() or None
                nodes = pr.time_nodes(data.shape[-3], self.rate_spin.value(), self.every_spin.value(),
                                      start_ms=self.start_spin.value(), stop_ms=stop)
                for i, t_ms in nodes:
                    frame = np.asarray(data[(0,) * (image.ndim - 3) + (i,)])
                    d, v = pr.sample_line(frame, p0, p1, width_px=width)
                    label = f"{t_ms:g} ms" if len(images) == 1 else f"{image.name} {t_ms:g} ms"
                    curves[label] = v
            else:
                if image.ndim >= 3:
                    i = self._frame_of(image)
                    frame = np.asarray(data[(0,) * (image.ndim - 3) + (i,)])
                else:
                    frame = np.asarray(data)
                d, v = pr.sample_line(frame, p0, p1, width_px=width)
                curves[image.name] = v
            if distance is None:
                distance, line0 = d, (tuple(p0), tuple(p1))
            elif d.shape != distance.shape:
                notes.append(f"{image.name}: different sampling; resampled onto the first layer's")
                for key in [k for k in curves if k == image.name or k.startswith(f"{image.name} ")]:
                    curves[key] = np.interp(distance, d, curves[key])
        assert distance is not None and line0 is not None

        analysis = None
        theory = None
        fit = None
        if self.theory_box.isChecked():
            try:
                analysis = self._analyse(first, geometry, distance, next(iter(curves.values())),
                                         line0, width)
                theory, fit = analysis.theory, analysis.fit
                notes.extend(analysis.notes)
            except SpecktrackError as exc:  # keep drawing the profiles; say why no theory
                notes.append(f"⚠ theory: {exc}")

        self.last = {"distance_px": distance, "curves": curves, "theory": theory, "fit": fit,
                     "analysis": analysis, "pixel_size_m": pixel_size_m, "line_yx_px": line0,
                     "notes": notes}
        self._draw()
        self.metrics_label.setText(self._metrics_text())
        self.updated.emit()

    def _analyse(self, first: Any, geometry: Geometry, distance: np.ndarray, values: np.ndarray,
                 line: tuple, width: int) -> pr.ProfileAnalysis:
        """Theory (and fit, when the Fit button is down) of the first ticked layer's profile."""
        kwargs = {"line": line, "width_px": width, "fit": self.fit_btn.isChecked(),
                  "fit_slope": self.slope_check.isChecked()}
        if self.source_combo.currentIndex() == 1:
            phantom = (first.metadata or {}).get("phantom")
            if not phantom or "objects" not in phantom:
                raise InputError(
                    f"layer {first.name!r} carries no phantom in its metadata; choose "
                    "'sphere model' and enter the material and radius"
                )
            return pr.analyse_profile(distance, values, geometry, phantom=phantom, **kwargs)
        return pr.analyse_profile(distance, values, geometry, theory=self.sphere_theory(), **kwargs)

    def _x_unit(self) -> str:
        return "um" if self.unit_combo.currentText() == "µm" else "px"

    def _draw(self) -> None:
        self.ax.clear()
        last = self.last
        fit = last.get("fit")
        pr.plot_profiles(self.ax, last["distance_px"], last["curves"], theory=last.get("theory"),
                         fit=None if fit is None else fit.fitted, pixel_size_m=last["pixel_size_m"],
                         x_unit=self._x_unit(), theory_color=self._theme_colors()[1])
        self._apply_theme()

    def _theme_colors(self) -> tuple[str, str]:
        """(background, text) colours of the napari theme; white/black if unknown."""
        try:
            from napari.utils.theme import get_theme

            theme = get_theme(self.viewer.theme)
            return theme.background.as_hex(), theme.text.as_hex()
        except Exception:  # a custom theme without these fields: matplotlib's colours
            return "#ffffff", "#000000"

    def _apply_theme(self, *_: Any) -> None:
        """Colour the figure like the napari theme (as napari-matplotlib does)."""
        bg, fg = self._theme_colors()
        self.figure.set_facecolor(bg)
        self.ax.set_facecolor(bg)
        self.ax.tick_params(colors=fg)
        for spine in self.ax.spines.values():
            spine.set_color(fg)
        self.ax.xaxis.label.set_color(fg)
        self.ax.yaxis.label.set_color(fg)
        legend = self.ax.get_legend()
        if legend is not None:
            legend.get_frame().set_facecolor(bg)
            for text in legend.get_texts():
                text.set_color(fg)
        self.canvas.draw_idle()

    def _metrics_text(self) -> str:
        last = self.last
        lines = []
        analysis = last.get("analysis")
        p_m = last["pixel_size_m"]
        if analysis is not None and analysis.theory_metrics:
            m = analysis.theory_metrics
            lines.append(f"theory: RMSE {m['rmse_rad']:.3g} rad, max {m['max_error_rad']:.3g} rad, "
                         f"r = {m['correlation']:.4f}")
        fit = last.get("fit")
        if fit is not None:
            lines.append(f"fit: RMSE {fit.rmse_rad:.3g} rad, max {fit.max_error_rad:.3g} rad, "
                         f"r = {fit.correlation:.4f}")
            for row in fit.summary(p_m)["components"]:
                text = f"  {row['label'] or row['kind']}: R = {row['radius_um']:.1f} µm"
                if row["nominal_radius_px"]:
                    text += (f" (nominal {row['nominal_radius_px'] * p_m * 1e6:.1f} µm, "
                             f"{100 * row['radius_error_rel']:+.1f} %)")
                text += f", centre {row['center_um']:.1f} µm"
                lines.append(text)
        lines.extend(f"note: {n}" for n in last.get("notes", []))
        return "\n".join(lines) or f"{len(last['curves'])} profile(s)"

    # --- export ------------------------------------------------------------------------------
    def export_csv(self, path: str) -> None:
        """Write the plotted profiles (and theory, fit) as CSV."""
        last = self.last
        if not last.get("curves"):
            raise InputError("no profile to export yet; draw a line on an image first")
        columns = {f"{k} (rad)": v for k, v in last["curves"].items()}
        if last.get("theory") is not None:
            columns["theory (rad)"] = last["theory"]
        if last.get("fit") is not None:
            columns["fit (rad)"] = last["fit"].fitted
        pr.write_profiles_csv(path, last["distance_px"], columns, pixel_size_m=last["pixel_size_m"])

    def save_plot(self, path: str) -> None:
        """Save the figure (format from the extension: .png, .svg, .pdf)."""
        self.figure.savefig(path, dpi=150)

    def _export_csv_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export profiles", "profile.csv", "CSV (*.csv)")
        if path:
            self._guarded(self.export_csv, path)

    def _save_plot_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save plot", "profile.png", "Images (*.png *.svg *.pdf)")
        if path:
            self._guarded(self.save_plot, path)

    def _guarded(self, func: Any, *args: Any) -> None:
        from napari.utils.notifications import show_error

        try:
            func(*args)
        except (SpecktrackError, OSError) as exc:
            show_error(str(exc))


def _dspin(lo: float, hi: float, value: float, decimals: int, suffix: str) -> QDoubleSpinBox:
    spin = QDoubleSpinBox()
    spin.setRange(lo, hi)
    spin.setDecimals(decimals)
    spin.setValue(value)
    spin.setSuffix(suffix)
    spin.setKeyboardTracking(False)
    return spin


__all__ = ["ProfileWidget", "layer_geometry", "line_in_layer"]
