"""The notebooks' shared figure helpers (vimco_edu.plotting), drawn off screen. The package
does not depend on matplotlib (the notebooks do): without it these tests are skipped."""
import numpy as np
import pytest

from vimco_edu.plotting import label_ends, seed_band

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the off-screen backend)


def test_label_ends_keeps_labels_apart_and_inside_the_axes():
    fig, ax = plt.subplots()
    ends = [(8, y, f"line {i}", "black") for i, y in enumerate([1.0, 1.01, 1.02, 5.0, 9.99])]
    ax.set(xlim=(0, 12), ylim=(0, 10))
    label_ends(ax, ends, x_text=9, gap=0.06)
    heights = sorted(text.xyann[1] for text in ax.texts if text.get_text())
    assert len(heights) == len(ends)
    assert np.all(np.diff(heights) >= 0.06 - 1e-12)
    assert heights[-1] <= 0.98 and heights[0] >= 0.0
    plt.close(fig)


def test_label_ends_leaders_run_from_each_end_to_its_own_label_without_crossing():
    fig, ax = plt.subplots()
    ax.set(xlim=(0, 10), ylim=(0, 100))
    ends = [(8, y, f"line {i}", "black") for i, y in enumerate([50, 51, 52, 53])]
    label_ends(ax, ends, x_text=9, gap=0.1)          # labels pushed far from their ends
    labels = [t for t in ax.texts if t.get_text()]
    pieces = [t for t in ax.texts if not t.get_text()]
    assert len(labels) == len(ends) and len(pieces) == 3 * len(ends)
    for n, ((x, y, _, _), label) in enumerate(zip(ends, labels)):
        first, slant, last = pieces[3 * n: 3 * n + 3]
        assert first.xy == pytest.approx((8.1, y)) and first.xyann == slant.xy
        assert slant.xyann == last.xy == pytest.approx((8.75, label.xyann[1]))
        assert last.xyann == pytest.approx((8.95, label.xyann[1]))   # level, left of the label
    heights = [label.xyann[1] for label in labels]
    assert np.all(np.diff(heights) > 0)              # the labels keep the ends' order
    plt.close(fig)


def test_seed_band_draws_the_mean_and_checks_its_input():
    fig, ax = plt.subplots()
    runs = np.array([[0.0, 1.0, 2.0], [2.0, 3.0, 4.0]])
    line = seed_band(ax, [1, 2, 3], runs, color="C0", label="two seeds", marker="o")
    np.testing.assert_allclose(line.get_ydata(), [1.0, 2.0, 3.0])
    assert line.get_label() == "two seeds" and len(ax.collections) == 1
    with pytest.raises(ValueError, match="runs must have shape"):
        seed_band(ax, [1, 2], runs, color="C0")
    plt.close(fig)
