"""vimco_signals against brute force and a 60-digit reference, in hard regimes."""
import tracemalloc

import mpmath
import numpy as np
import pytest

from vimco_edu import vimco_signals
from vimco_edu.estimators import learning_signals
from vimco_edu.leave_one_out import log_sum_exp_others, vimco_signals_brute_force

mpmath.mp.dps = 60


def high_precision(log_w, mean, indices=None):
    """60-digit reference for one row: each leave-one-out sum is summed afresh from the
    other weights (no subtraction anywhere, so no cancellation however far apart)."""
    values = [mpmath.mpf(float(v)) for v in log_w]
    k = len(values)
    weights = [mpmath.exp(v) for v in values]
    total, total_log = mpmath.fsum(weights), mpmath.fsum(values)
    lhat = mpmath.log(total / k)
    out = {}
    for j in (range(k) if indices is None else indices):
        rest = mpmath.fsum(weights[:j]) + mpmath.fsum(weights[j + 1:])
        if mean == "geometric":
            fill = mpmath.exp((total_log - values[j]) / (k - 1))
        else:
            fill = rest / (k - 1)
        out[j] = float(lhat - mpmath.log((rest + fill) / k))
    return out


@pytest.mark.parametrize("mean", ["geometric", "arithmetic"])
@pytest.mark.parametrize("k", [2, 3, 10, 100])
def test_matches_brute_force(mean, k):
    log_w = np.random.default_rng(k).normal(scale=5.0, size=(4, k))
    np.testing.assert_allclose(vimco_signals(log_w, mean), vimco_signals_brute_force(log_w, mean),
                               atol=1e-10)


@pytest.mark.parametrize("mean", ["geometric", "arithmetic"])
@pytest.mark.parametrize("lead", [10.0, 25.0, 37.0, 50.0])
def test_one_dominant_weight_matches_60_digit_reference(mean, lead):
    rng = np.random.default_rng(int(lead))
    log_w = rng.normal(size=20)
    log_w[7] = log_w.max() + lead
    reference = high_precision(log_w, mean)
    ours = vimco_signals(log_w, mean)
    np.testing.assert_allclose(ours, [reference[j] for j in range(20)], atol=1e-10, rtol=0)


def test_expm1_trick_is_what_we_avoid():
    """The subtract-from-the-total formula loses accuracy here; ours does not (a guard
    that the test above is a real test of the hard regime)."""
    log_w = np.zeros(20)
    log_w[7] = 30.0
    total = np.logaddexp.reduce(log_w)
    via_expm1 = log_w[7] + np.log(np.expm1(total - log_w[7]))
    reference = float(mpmath.log(19))
    assert np.isfinite(via_expm1) and abs(via_expm1 - reference) > 1e-3
    assert abs(log_sum_exp_others(log_w)[7] - reference) < 1e-13


@pytest.mark.parametrize("mean", ["geometric", "arithmetic"])
def test_log_weights_thousands_of_nats_apart(mean):
    rng = np.random.default_rng(1)
    log_w = rng.uniform(-5000.0, 0.0, size=50)
    log_w[3] = 2000.0
    reference = high_precision(log_w, mean)
    ours = vimco_signals(log_w, mean)
    assert np.all(np.isfinite(ours))
    np.testing.assert_allclose(ours, [reference[j] for j in range(50)], atol=1e-10, rtol=0)


@pytest.mark.parametrize("mean", ["geometric", "arithmetic"])
def test_float32_input(mean):
    rng = np.random.default_rng(2)
    log_w = (rng.normal(size=(3, 200)) * 30).astype(np.float32)
    log_w[1, 5] += 40
    ours = vimco_signals(log_w, mean)
    assert ours.dtype == np.float32
    for row in range(3):
        reference = high_precision(log_w[row].astype(np.float64), mean)
        expected = np.array([reference[j] for j in range(200)])
        tolerance = 1e-5 * max(1.0, np.abs(expected).max())
        np.testing.assert_allclose(ours[row], expected, atol=tolerance)


@pytest.mark.parametrize("mean", ["geometric", "arithmetic"])
def test_k_of_one_hundred_thousand(mean):
    rng = np.random.default_rng(3)
    k = 100_000
    log_w = rng.normal(scale=20.0, size=k)
    log_w[123] += 60.0
    ours = vimco_signals(log_w, mean)
    assert np.all(np.isfinite(ours))
    picks = [0, 123, int(np.argmin(log_w)), k - 1] + list(rng.integers(0, k, 6))
    reference = high_precision(log_w, mean, picks)
    for j in picks:
        assert abs(ours[j] - reference[j]) < 1e-10, (j, ours[j], reference[j])


def test_memory_is_linear_in_k():
    """O(K) memory: peak allocation for K = 10^5 is a small multiple of the input's size
    (an O(K^2) method would need 80 GB)."""
    log_w = np.random.default_rng(4).normal(size=100_000)
    tracemalloc.start()
    vimco_signals(log_w)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 20 * log_w.nbytes


def test_batch_axes_are_independent():
    log_w = np.random.default_rng(5).normal(size=(2, 3, 6))
    whole = vimco_signals(log_w)
    for i in range(2):
        for j in range(3):
            np.testing.assert_allclose(whole[i, j], vimco_signals(log_w[i, j]), atol=1e-14)


def test_k_equal_two_is_log_ratio_of_pair():
    """With K = 2 and the geometric mean the fill-in is the other sample itself, so
    s_1 = log((f_1 + f_2) / 2) - log f_2."""
    log_w = np.array([0.3, -1.2])
    expected = np.logaddexp(*log_w) - np.log(2) - log_w[::-1]
    np.testing.assert_allclose(vimco_signals(log_w), expected, atol=1e-15)


@pytest.mark.parametrize("bad, error, words", [
    (np.zeros(1), ValueError, "K >= 2"),
    (np.array([0.0, np.nan]), ValueError, "NaN"),
    (np.array([0.0, np.inf]), ValueError, "infinite"),
    (np.array(["a", "b"]), TypeError, "numeric"),
    (np.float64(1.0), ValueError, "scalar"),
])
def test_bad_log_weights_raise(bad, error, words):
    with pytest.raises(error, match=words):
        vimco_signals(bad)


def test_bad_mean_raises():
    with pytest.raises(ValueError, match="mean must be one of"):
        vimco_signals(np.zeros(3), mean="harmonic")


@pytest.mark.parametrize("method, mean", [("vimco", "geometric"), ("vimco-arith", "arithmetic")])
def test_registry_entries_use_their_own_fill_in(method, mean):
    """Both fill-ins are unbiased, so the exact tests cannot tell them apart: check each
    registered VIMCO's signals against the plain definition of its own mean."""
    log_w = np.random.default_rng(7).normal(scale=3.0, size=(3, 5))
    np.testing.assert_allclose(learning_signals(log_w, method),
                               vimco_signals_brute_force(log_w, mean), atol=1e-12)
    other = "arithmetic" if mean == "geometric" else "geometric"
    gap = learning_signals(log_w, method) - vimco_signals_brute_force(log_w, other)
    assert np.abs(gap).max() > 1e-3
