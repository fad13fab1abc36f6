"""Tests of convlib.plots: lazy import, what each picture draws, and bad input."""

from __future__ import annotations

import logging
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("matplotlib")
import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from convlib import plots  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_import_does_not_load_matplotlib():
    code = "import sys, convlib.plots; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_notebook_setup_quiets_matplotlib_and_fixes_resolution():
    assert plots.notebook_setup(dpi=72) is plt
    assert logging.getLogger("matplotlib").level == logging.ERROR
    assert plt.rcParams["figure.dpi"] == 72 and plt.rcParams["savefig.dpi"] == 72


def _texts(ax):
    return [t.get_text() for t in ax.texts]


def test_heatmap_writes_every_value_and_outlines_highlights():
    a = np.array([[1.0, -2.5], [0.0, 4.0]])
    fig, ax = plt.subplots()
    plots.heatmap(ax, a, highlight=np.array([[True, False], [False, True]]))
    assert _texts(ax) == ["1", "-2.5", "0", "4"]
    outlined = [p for p in ax.patches if isinstance(p, Rectangle)]
    assert sorted(p.get_xy() for p in outlined) == [(-0.5, -0.5), (0.5, 0.5)]


def test_heatmap_limits_fix_the_colour_scale():
    fig, ax = plt.subplots()
    plots.heatmap(ax, np.array([[1.0, 2.0]]), limits=(0.0, 4.0))
    assert ax.images[0].get_clim() == (0.0, 4.0)


def test_heatmap_marks_undefined_entries():
    fig, ax = plt.subplots()
    plots.heatmap(ax, np.array([[1.0, np.nan]]))
    assert _texts(ax) == ["1", "?"]


def test_heatmap_rejects_bad_shapes():
    fig, ax = plt.subplots()
    with pytest.raises(ValueError, match="2-D"):
        plots.heatmap(ax, np.zeros(3))
    with pytest.raises(ValueError, match="highlight"):
        plots.heatmap(ax, np.zeros((2, 2)), highlight=np.zeros((3, 3), bool))


def test_grids_one_panel_per_array():
    fig = plots.grids([np.eye(2), np.ones((3, 3))], ["a", "b"])
    assert [ax.get_title() for ax in fig.axes] == ["a", "b"]
    with pytest.raises(ValueError, match="titles"):
        plots.grids([np.eye(2)], ["a", "b"])


def test_outputs_feeding_inputs_labels_the_taps():
    feeds = np.zeros((2, 2, 1, 1))
    feeds[0, 0, 0, 0] = 1  # tap 0
    feeds[1, 1, 0, 0] = 4  # tap 3
    fig = plots.outputs_feeding_inputs(feeds)
    assert len(fig.axes) == 4
    assert _texts(fig.axes[0]) == ["w0"] and _texts(fig.axes[1]) == [] and _texts(fig.axes[3]) == ["w3"]
    with pytest.raises(ValueError):
        plots.outputs_feeding_inputs(np.zeros((2, 2)))


def test_difference_map_outlines_exactly_the_differing_cells():
    true = np.array([[1.0, 2.0], [3.0, 4.0]])
    note = np.array([[1.0, 0.0], [3.0, 4.0]])
    fig = plots.difference_map(true, note)
    assert len(fig.axes) == 3
    outlined = [p for p in fig.axes[2].patches if isinstance(p, Rectangle)]
    assert [p.get_xy() for p in outlined] == [(0.5, -0.5)]
    with pytest.raises(ValueError):
        plots.difference_map(true, note[:1])


def test_ratio_plot_draws_zero_at_the_floor_and_checks_lengths():
    fig = plots.ratio_plot({"jax": [0.0, 0.5]}, ["a", "b"], floor=1e-6)
    offsets = fig.axes[0].collections[0].get_offsets()
    assert np.array_equal(np.asarray(offsets)[:, 0], [1e-6, 0.5])
    with pytest.raises(ValueError, match="labels"):
        plots.ratio_plot({"jax": [0.1]}, ["a", "b"])


def test_error_vs_bound_plots_points_and_diagonal():
    fig = plots.error_vs_bound({"dx": (np.array([0.0, 1e-16]), np.array([1e-15, 1e-15]))}, floor=1e-20)
    offsets = np.asarray(fig.axes[0].collections[0].get_offsets())
    assert np.array_equal(offsets, [[1e-15, 1e-20], [1e-15, 1e-16]])
    with pytest.raises(ValueError, match="bounds"):
        plots.error_vs_bound({"dx": (np.zeros(2), np.zeros(3))})


def test_training_curves_kernels_timings():
    fig = plots.training_curves([2.0, 1.0], [0.1, 0.9], [0.1, 0.95])
    assert "95.0%" in fig.axes[1].get_title()
    fig = plots.kernels(np.zeros((3, 3, 2, 5)))
    assert len(fig.axes) == 5
    fig = plots.kernels(np.zeros((3, 3, 1, 10)), columns=4)  # 3 rows of 4, the last two panels empty
    assert len(fig.axes) == 12 and sum(ax.axison for ax in fig.axes) == 10
    with pytest.raises(ValueError):
        plots.kernels(np.zeros((3, 3, 2)))
    fig = plots.timings({"a": 1e-3, "b": 2e-2})
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["a", "b"]
