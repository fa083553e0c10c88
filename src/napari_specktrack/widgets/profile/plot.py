"""The Profile dock's matplotlib canvas and its results panel (Qt, main thread only).

:class:`ProfilePlot` is the figure in the napari theme's colours with matplotlib's toolbar;
it shrinks to :data:`MIN_PLOT_HEIGHT_PX` so the dock fits a 1080-px screen and grows with
the dock. :class:`ResultsPanel` shows the fit table (:func:`~.summary.component_rows`) and
the metrics text (:func:`~.summary.metrics_text`), selectable for copying.
"""

from __future__ import annotations

from typing import Any

from qtpy.QtCore import QSize, Qt
from qtpy.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QPlainTextEdit,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from .compute import ProfileView
from .export import draw_view
from .summary import TABLE_COLUMNS, component_rows, metrics_text

#: the smallest the canvas gets (pixels): the dock must fit a 1920 × 1080 screen
MIN_PLOT_HEIGHT_PX = 150
#: what an empty plot says
EMPTY_HINT = "no profile yet: draw a line on an image"
#: fit-table rows shown without scrolling
TABLE_ROWS_SHOWN = 4
#: the metrics text shows this many lines at least and at most (more scroll)
TEXT_LINES = (2, 7)


def _theme_colors(viewer: Any) -> tuple[str, str]:
    """(background, text) colours of the napari theme; white/black if unknown."""
    try:
        from napari.utils.theme import get_theme

        theme = get_theme(viewer.theme)
        return theme.background.as_hex(), theme.text.as_hex()
    except Exception:  # a custom theme without these fields: matplotlib's colours
        return "#ffffff", "#000000"


def _vbox(widget: QWidget) -> QVBoxLayout:
    layout = QVBoxLayout(widget)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.setSpacing(2)
    return layout


class ProfilePlot(QWidget):
    """Toolbar and canvas; :meth:`show_view` draws a :class:`ProfileView`."""

    def __init__(self, viewer: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg, NavigationToolbar2QT
        from matplotlib.figure import Figure

        self.viewer = viewer
        self.figure = Figure(figsize=(4, 3), layout="constrained")
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.canvas.setMinimumSize(200, MIN_PLOT_HEIGHT_PX)
        self.canvas.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.toolbar = NavigationToolbar2QT(self.canvas, self, coordinates=False)
        self.toolbar.setIconSize(QSize(18, 18))
        self.ax = self.figure.add_subplot()
        layout = _vbox(self)
        layout.addWidget(self.toolbar)
        layout.addWidget(self.canvas, 1)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        viewer.events.theme.connect(self.apply_theme)
        self.apply_theme()

    def show_view(self, view: ProfileView | None, *, x_unit: str = "um") -> None:
        """Redraw: every curve, theory and fit; an empty plot for None or an error. The axes
        are kept (``ax.clear()`` would rebuild them: most of a redraw's time)."""
        ax = self.ax
        for artist in [*ax.lines, *ax.texts, *([ax.get_legend()] if ax.get_legend() else [])]:
            artist.remove()
        drawn = view is not None and bool(view.results)
        if drawn:
            draw_view(ax, view, x_unit=x_unit, theory_color=_theme_colors(self.viewer)[1])
        else:
            ax.text(0.5, 0.5, EMPTY_HINT, transform=ax.transAxes, ha="center", va="center",
                    color=_theme_colors(self.viewer)[1])
        ax.tick_params(labelbottom=drawn, labelleft=drawn)
        ax.relim()
        ax.autoscale_view()
        self.apply_theme()

    def apply_theme(self, *_: Any) -> None:
        """Colour the figure like the napari theme (as napari-matplotlib does)."""
        bg, fg = _theme_colors(self.viewer)
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


class ResultsPanel(QWidget):
    """The fit table (hidden without a fit) and the metrics and notes text."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.table = QTableWidget(0, len(TABLE_COLUMNS))
        self.table.setHorizontalHeaderLabels(list(TABLE_COLUMNS))
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)  # long names elide
        self.table.setVisible(False)
        self.text = QPlainTextEdit()
        self.text.setReadOnly(True)
        self.text.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        layout = _vbox(self)
        layout.addWidget(self.table)
        layout.addWidget(self.text)
        self.show_view(None)

    def show_view(self, view: ProfileView | None) -> None:
        rows = component_rows(view)
        self.table.setRowCount(len(rows))
        for r, (cells, tip) in enumerate(rows):
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(tip)
                item.setTextAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(r, c, item)
        shown = min(len(rows), TABLE_ROWS_SHOWN)  # more rows scroll
        self.table.setFixedHeight(self.table.horizontalHeader().sizeHint().height()
                                  + sum(self.table.rowHeight(r) for r in range(shown))
                                  + 2 * self.table.frameWidth())
        self.table.setVisible(bool(rows))
        text = metrics_text(view)
        self.text.setPlainText(text)
        lines = min(max(text.count("\n") + 2, TEXT_LINES[0]), TEXT_LINES[1])  # + 1 for wrapping
        self.text.setFixedHeight(lines * self.text.fontMetrics().lineSpacing()
                                 + 2 * int(self.text.document().documentMargin()) + 4)

    def cells(self) -> list[list[str]]:
        """The table's text, row by row (for tests and copying)."""
        return [[self.table.item(r, c).text() for c in range(self.table.columnCount())]
                for r in range(self.table.rowCount())]
