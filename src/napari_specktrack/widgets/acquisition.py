"""Acquisition dock widget: which layer is which, and the imaging geometry.

A user picks the reference (speckle without sample), the sample (one frame or a stack),
optionally a measured in-line image (sample without membrane) and dark / flat frames, enters
the geometry (or loads ``geometry.json``), and presses **Use these layers**. The widget checks
shapes, dtypes and values; on a problem it shows a notification and keeps the previous
assignment. Files (TIFF, HDF5 with a chosen dataset) can be opened straight into a role.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from magicgui.widgets import ComboBox, Container, FileEdit, FloatSpinBox, Label, PushButton

from ..errors import SpecktrackError
from ..geometry import Geometry
from ._layers import set_um_units
from ._session import (
    ROLE_DEFAULT_NAMES,
    ROLES,
    find_layer,
    geometry_of,
    image_layers,
    session,
    validate_assignment,
)
from ._workers import notify_error, notify_info

ROLE_LABELS = {
    "reference": "reference",
    "sample": "sample (frame or stack)",
    "inline": "in-line (optional)",
    "dark": "dark (optional)",
    "flat": "flat (optional)",
}


class AcquisitionWidget(Container):
    """Assign layers to roles and set the geometry (energy keV, pixel µm, distances m)."""

    def __init__(self, napari_viewer: Any) -> None:
        super().__init__(labels=True)
        self._viewer = napari_viewer
        self._session = session(napari_viewer)

        self.role_combos: dict[str, ComboBox] = {}
        for role in ROLES:
            combo = ComboBox(
                label=ROLE_LABELS[role],
                choices=self._layer_choices,
                nullable=True,
                tooltip=_ROLE_TIPS[role],
            )
            self.role_combos[role] = combo
            self.append(combo)
        self.role_combos["reference"].changed.connect(self._geometry_from_layer)
        self.role_combos["sample"].changed.connect(self._geometry_from_layer)

        # --- open a file into a role ---
        self.file = FileEdit(label="open file", mode="r", filter="*.tif *.tiff *.h5 *.hdf5 *.hdf *.nxs")
        self.dataset = ComboBox(label="HDF5 dataset", choices=(), nullable=True,
                                tooltip="dataset inside an HDF5/NeXus file (largest first)")
        self.file_role = ComboBox(label="as role", choices=list(ROLES), value="sample")
        self.open_button = PushButton(text="Open file as layer")
        self.file.changed.connect(self._list_datasets)
        self.open_button.changed.connect(self._open_file_clicked)
        self.extend([self.file, self.dataset, self.file_role, self.open_button])

        # --- geometry ---
        g = Geometry()
        self.energy_keV = FloatSpinBox(label="energy (keV)", value=g.energy_keV, min=1, max=1000, step=0.1,
                                       tooltip="photon energy in keV")
        self.pixel_size_um = FloatSpinBox(label="pixel size (µm)", value=g.pixel_size_m * 1e6, min=0.01,
                                          max=1000, step=0.01,
                                          tooltip="effective detector pixel: camera pixel / objective "
                                                  "magnification, in µm")
        self.distance_m = FloatSpinBox(label="sample→detector (m)", value=g.distance_m, min=0.001,
                                       max=100, step=0.01, tooltip="propagation distance z in metres")
        self.source_distance_m = FloatSpinBox(label="source→sample (m)", value=g.source_distance_m,
                                              min=0.01, max=10000, step=0.1,
                                              tooltip="source distance R1 in metres (magnification "
                                                      "(R1 + z) / R1)")
        self.source_size_um = FloatSpinBox(label="source size (µm)", value=g.source_size_m * 1e6, min=0.01,
                                           max=100000, step=1, tooltip="source size (FWHM) in µm")
        for spin in (self.energy_keV, self.pixel_size_um, self.distance_m, self.source_distance_m,
                     self.source_size_um):
            spin.native.setDecimals(4)
        self.geometry_file = FileEdit(label="geometry JSON", mode="w", filter="*.json")
        self.load_geometry_button = PushButton(text="Load geometry")
        self.save_geometry_button = PushButton(text="Save geometry")
        self.load_geometry_button.changed.connect(lambda: self.load_geometry(self.geometry_file.value))
        self.save_geometry_button.changed.connect(lambda: self.save_geometry(self.geometry_file.value))
        self.extend([
            self.energy_keV, self.pixel_size_um, self.distance_m, self.source_distance_m,
            self.source_size_um, self.geometry_file,
            Container(widgets=[self.load_geometry_button, self.save_geometry_button],
                      layout="horizontal", labels=False, label=""),
        ])

        # --- apply ---
        self.assign_button = PushButton(text="Use these layers")
        self.assign_button.changed.connect(self.assign)
        self.status = Label(label="status", value="no roles assigned yet")
        self.status.native.setWordWrap(True)
        self.extend([self.assign_button, self.status])

        layers = napari_viewer.layers
        layers.events.inserted.connect(self._on_layers_changed)
        layers.events.removed.connect(self._on_layers_changed)
        layers.events.reordered.connect(self._on_layers_changed)
        for layer in layers:
            layer.events.name.connect(self._refresh_choices)
        self._session.changed.connect(self._show_status)
        self._refresh_choices()
        self._preselect()

    # --- layer choices -----------------------------------------------------------------------
    def _layer_choices(self, _widget: Any = None) -> list[tuple[str, Any]]:
        return [(layer.name, layer) for layer in image_layers(self._viewer)]

    def _on_layers_changed(self, event: Any = None) -> None:
        layer = getattr(event, "value", None)
        if getattr(event, "type", "") == "inserted" and layer is not None:
            layer.events.name.connect(self._refresh_choices)
        self._refresh_choices()
        if getattr(event, "type", "") == "inserted":
            self._preselect()

    def _refresh_choices(self, _event: Any = None) -> None:
        self.reset_choices()

    def reset_choices(self, *_args: Any) -> None:
        """Re-list the layers, keeping each role's layer (by identity) across renames.

        napari also calls this on layer-list events when the widget is docked.
        """
        kept = {role: combo.value for role, combo in self.role_combos.items()}
        super().reset_choices()
        present = image_layers(self._viewer)
        for role, layer in kept.items():
            combo = self.role_combos[role]
            if layer is not None and any(layer is x for x in present) and combo.value is not layer:
                combo.value = layer

    def _preselect(self) -> None:
        """Pre-select layers named as the sample data name them, for roles still empty."""
        for role, names in ROLE_DEFAULT_NAMES.items():
            combo = self.role_combos[role]
            if combo.value is None:
                layer = find_layer(self._viewer, names)
                if layer is not None:
                    combo.value = layer

    def _geometry_from_layer(self, layer: Any) -> None:
        g = geometry_of(layer) if layer is not None else None
        if g is not None:
            self.set_geometry(g)

    # --- geometry --------------------------------------------------------------------------
    def geometry(self) -> Geometry:
        """The geometry in the fields (raises GeometryError for impossible values)."""
        return Geometry(
            energy_keV=self.energy_keV.value,
            pixel_size_m=_um_to_m(self.pixel_size_um.value),
            distance_m=self.distance_m.value,
            source_distance_m=self.source_distance_m.value,
            source_size_m=_um_to_m(self.source_size_um.value),
        )

    def set_geometry(self, g: Geometry) -> None:
        """Show ``g`` in the fields."""
        self.energy_keV.value = g.energy_keV
        self.pixel_size_um.value = g.pixel_size_m * 1e6
        self.distance_m.value = g.distance_m
        self.source_distance_m.value = g.source_distance_m
        self.source_size_um.value = g.source_size_m * 1e6

    def load_geometry(self, path: str | Path) -> Geometry | None:
        """Fill the fields from a ``geometry.json``; a notification on a bad file."""
        try:
            if not path or not Path(path).is_file():
                raise _user_error(f"choose an existing geometry JSON file first (got {str(path)!r})")
            g = Geometry.from_json(path)
        except SpecktrackError as exc:
            notify_error(f"load geometry: {exc}")
            return None
        self.set_geometry(g)
        notify_info(f"geometry loaded from {path}")
        return g

    def save_geometry(self, path: str | Path) -> Path | None:
        """Write the fields as ``geometry.json`` (atomic)."""
        from ..io import write_json

        try:
            if not path or Path(path).is_dir() or str(path) in ("", "."):
                raise _user_error("choose a file name for the geometry JSON first")
            out = write_json(path, self.geometry().to_dict())
        except SpecktrackError as exc:
            notify_error(f"save geometry: {exc}")
            return None
        notify_info(f"geometry saved to {out}")
        return out

    # --- files ---------------------------------------------------------------------------------
    def _list_datasets(self, path: Any = None) -> None:
        from .._reader import HDF5_SUFFIXES, hdf5_datasets

        path = Path(self.file.value)
        choices: list[tuple[str, str]] = []
        if path.is_file() and path.suffix.lower() in HDF5_SUFFIXES:
            try:
                choices = [(f"{n}  {s} {d}", n) for n, s, d in hdf5_datasets(path)]
            except SpecktrackError as exc:
                notify_error(str(exc))
        self.dataset.choices = choices
        self.dataset.value = choices[0][1] if choices else None

    def _open_file_clicked(self, _value: Any = None) -> None:
        self.open_file(self.file.value, role=self.file_role.value, dataset=self.dataset.value)

    def open_file(self, path: str | Path, role: str = "sample", dataset: str | None = None) -> Any:
        """Open a TIFF/HDF5 file as an Image layer and select it for ``role``; an NXtomo file
        (with no dataset chosen) opens as its projections, flats and darks in their roles."""
        from .._reader import read_file
        from ..nexus import is_nxtomo

        try:
            if not path or not Path(path).is_file():
                raise _user_error(f"choose an existing TIFF or HDF5 file first (got {str(path)!r})")
            if dataset is None and is_nxtomo(path):
                return self.open_nxtomo(path)
            data, kwargs, _ = read_file(path, dataset=dataset)
        except SpecktrackError as exc:
            notify_error(f"open file: {exc}")
            return None
        layer = self._viewer.add_image(data, **kwargs)
        self.role_combos[role].value = layer
        return layer

    def open_nxtomo(self, path: str | Path) -> Any:
        """An NXtomo file split by image_key: projections → sample (with their rotation angles
        in ``metadata["angles_deg"]``, which the CT dock reads), flats → reference (the
        membrane-only frames of a speckle scan), darks → dark. Returns the projections layer."""
        from ..nexus import read_nxtomo

        scan = read_nxtomo(path)
        stem = Path(path).stem
        meta = {"source_path": str(path), "dataset": scan.source["dataset"], "nxtomo": True}
        if scan.angles_deg is not None:
            meta["angles_deg"] = [float(a) for a in scan.angles_deg]
        parts = (("sample", scan.projections, "projections"), ("reference", scan.flats, "flats"),
                 ("dark", scan.darks, "darks"))
        layers = {}
        for role, data, what in parts:
            if data is not None:
                layers[role] = self._viewer.add_image(data, name=f"{stem}:{what}",
                                                      metadata={**meta, "image_key": what})
                self.role_combos[role].value = layers[role]
        return layers["sample"]

    # --- assignment ------------------------------------------------------------------------
    def assign(self, _value: Any = None) -> bool:
        """Validate the roles and geometry and make them current (notification on a problem)."""
        layers = {role: combo.value for role, combo in self.role_combos.items()}
        try:
            geometry = self.geometry()
            assignment = validate_assignment(
                layers["reference"], layers["sample"], geometry,
                inline=layers["inline"], dark=layers["dark"], flat=layers["flat"],
            )
        except SpecktrackError as exc:
            notify_error(f"acquisition: {exc}")
            return False
        scale = tuple(geometry.layer_scale_um)
        for layer in assignment.layers:  # physical units for images loaded without a geometry
            if tuple(layer.scale[-2:]) == (1.0, 1.0):
                layer.scale = (*tuple(layer.scale[:-2]), *scale)
            set_um_units(layer)
        self._session.set_assignment(assignment)
        notify_info(f"acquisition: using {assignment.describe()}")
        return True

    def _show_status(self) -> None:
        a = self._session.assignment
        self.status.value = a.describe() if a is not None else "no roles assigned"


def _um_to_m(value_um: float) -> float:
    """µm → m without binary noise (25 µm → 2.5e-05 m, not 2.4999999999999998e-05)."""
    return float(f"{value_um * 1e-6:.12g}")


def _user_error(message: str) -> SpecktrackError:
    from ..errors import InputError

    return InputError(message)


_ROLE_TIPS = {
    "reference": "speckle pattern without the sample (a stack is averaged)",
    "sample": "speckle pattern with the sample: one frame or an (n, y, x) time/angle series",
    "inline": "measured in-line image (sample without membrane), optional; enables double exposure",
    "dark": "detector dark frame(s), optional (a stack is averaged)",
    "flat": "open-beam flat frame(s) without membrane, optional; frames become (I − dark)/(flat − dark)",
}
