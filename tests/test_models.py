"""Models: autograd gradients against finite differences, shapes, sampling, bad input."""
import numpy as np
import pytest
from autograd import grad
from autograd.misc import flatten

from vimco_edu import (conditional_sbn, diagnostics, exact, learning_signals, log_mean_exp,
                       nvil, sbn, surrogate)


def directional_check(f, params, seed, eps=1e-6):
    """Compare autograd's directional derivative with a central finite difference."""
    flat, unflatten = flatten(params)
    direction = np.random.default_rng(seed).normal(size=flat.shape)
    analytic = grad(lambda v: f(unflatten(v)))(flat) @ direction
    numeric = (f(unflatten(flat + eps * direction))
               - f(unflatten(flat - eps * direction))) / (2 * eps)
    assert abs(analytic) > 1e-4
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-8)


def data(rng, n, d):
    return (rng.random((n, d)) < 0.3).astype(float)


def test_sbn_log_joint_and_posterior_match_finite_differences():
    rng = np.random.default_rng(0)
    params = sbn.init_sbn([12, 5, 3], rng, scale=0.5)
    x = data(rng, 4, 12)
    latents, _ = sbn.recognise(params, x, 3, rng)
    directional_check(lambda p: np.sum(sbn.log_joint(p, x, latents, 3)), params, 1)
    directional_check(lambda p: np.sum(sbn.recognise(p, x, 3, latents=latents)[1]), params, 2)


def test_conditional_sbn_matches_finite_differences():
    rng = np.random.default_rng(1)
    for proposal in ["prior", "learned"]:
        params = conditional_sbn.init_conditional_sbn([6, 4, 3, 5], rng, proposal, scale=0.5)
        x = data(rng, 3, 11)
        top, bottom = conditional_sbn.split_halves(x, params)
        latents, _ = conditional_sbn.propose(params, top, bottom, 2, rng)
        directional_check(
            lambda p: np.sum(conditional_sbn.log_joint(p, top, bottom, latents, 2)), params, 3)
        directional_check(
            lambda p: np.sum(conditional_sbn.propose(p, top, bottom, 2, latents=latents)[1]),
            params, 4)


def test_baseline_and_exact_bound_match_finite_differences():
    rng = np.random.default_rng(2)
    x = data(rng, 5, 7)
    directional_check(lambda p: np.sum(nvil.baseline_value(p, x) ** 2),
                      {**nvil.init_baseline(7, rng, n_hidden=4, scale=1.0),
                       "w2": np.ones(4)}, 5)
    params = sbn.init_sbn([4, 2, 1], rng, scale=1.0)
    directional_check(lambda p: exact.exact_bound(*sbn.enumerate_log_pq(p, x[0, :4]), 3), params, 6)


def test_surrogate_gradient_matches_finite_differences_of_its_parts():
    """For fixed samples, the gradient of the model parameters is that of L-hat itself."""
    rng = np.random.default_rng(3)
    params = sbn.init_sbn([8, 4], rng, scale=0.5)
    x = data(rng, 3, 8)
    latents, _ = sbn.recognise(params, x, 5, rng)

    def lhat(p):
        log_q = sbn.recognise(p, x, 5, latents=latents)[1].reshape(3, 5)
        log_p = sbn.log_joint(p, x, latents, 5).reshape(3, 5)
        return surrogate(log_p, log_q, "vimco")
    directional_check(lambda p: lhat({**params, "gen": p["gen"], "prior": p["prior"]}), params, 7)


def test_log_weights_shapes_and_reproducibility():
    params = sbn.init_sbn([10, 6, 4], np.random.default_rng(4))
    x = data(np.random.default_rng(5), 3, 10)
    log_p, log_q = sbn.log_weights(params, x, 7, np.random.default_rng(9))
    again = sbn.log_weights(params, x, 7, np.random.default_rng(9))
    assert log_p.shape == log_q.shape == (3, 7)
    np.testing.assert_array_equal(log_p, again[0])


def test_enumeration_normalises():
    params = sbn.init_sbn([5, 3, 2], np.random.default_rng(6), scale=1.0)
    log_p, log_q = sbn.enumerate_log_pq(params, np.ones(5))
    assert len(log_p) == 32
    np.testing.assert_allclose(np.exp(log_q).sum(), 1.0, atol=1e-12)
    # p(x, h) summed over x and h is one: enumerate x too
    total = 0.0
    for code in range(32):
        x = np.array([(code >> i) & 1 for i in range(5)], float)
        total += np.exp(exact.exact_log_marginal(sbn.enumerate_log_pq(params, x)[0]))
    assert abs(total - 1.0) < 1e-12


def test_sampling_and_completion_shapes():
    rng = np.random.default_rng(7)
    params = sbn.init_sbn([9, 4, 2], rng)
    probs, latents = sbn.sample(params, 6, rng)
    assert probs.shape == (6, 9) and [h.shape for h in latents] == [(6, 4), (6, 2)]
    cond = conditional_sbn.init_conditional_sbn([5, 3, 4], rng)
    assert conditional_sbn.complete(cond, np.ones((2, 5)), 3, rng).shape == (2, 3, 4)


@pytest.mark.parametrize("call, error, words", [
    (lambda p, x: sbn.log_weights(p, x * 0.5, 2, 0), ValueError, "binary"),
    (lambda p, x: sbn.log_weights(p, x[:, :5], 2, 0), ValueError, "6 entries"),
    (lambda p, x: sbn.log_weights(p, x, 0, np.random.default_rng(0)), ValueError, "k must be >= 1"),
    (lambda p, x: sbn.sample(p, 2, rng=None), TypeError, "Generator"),
    (lambda p, x: sbn.init_sbn([6], 0), ValueError, "sizes"),
    (lambda p, x: conditional_sbn.init_conditional_sbn([3, 2, 3], 0, proposal="posterior"),
     ValueError, "proposal"),
    (lambda p, x: surrogate(np.zeros((2, 3)), np.zeros((2, 4)), "vimco"), ValueError, "same shape"),
    (lambda p, x: surrogate(np.zeros((2, 1)), np.zeros((2, 1)), "vimco"), ValueError, "K >= 2"),
    (lambda p, x: surrogate(np.array([[0.0, np.nan]]), np.zeros((1, 2)), "naive"),
     ValueError, "NaN"),
    (lambda p, x: surrogate(np.array([[0.0, np.inf]]), np.zeros((1, 2)), "naive"),
     ValueError, "infinite"),
    (lambda p, x: surrogate(np.zeros((1, 2)), np.zeros((1, 2)), "reinforce"), ValueError, "method"),
    (lambda p, x: surrogate(np.zeros((2, 2)), np.zeros((2, 2)), "nvil", baseline=np.zeros(3)),
     ValueError, "baseline must have shape"),
    (lambda p, x: surrogate(np.zeros((2, 2)), np.zeros((2, 2)), "vimco", baseline=0.0),
     ValueError, "method 'vimco' takes no option baseline"),
    # found by fuzzing the public API: each was a silent wrong answer or an obscure error
    (lambda p, x: surrogate(np.array([[100, 120]], np.int8), np.array([[-99, -78]], np.int8),
                            "naive"), TypeError, "log_p must be a floating-point array"),
    (lambda p, x: surrogate(np.zeros((0, 3)), np.zeros((0, 3)), "naive"),
     ValueError, "log_p holds no examples"),
    (lambda p, x: surrogate(np.zeros((2, 2)), np.zeros((2, 2)), "nvil", centre=np.nan),
     ValueError, "centre must be finite"),
    (lambda p, x: surrogate(np.zeros((2, 2)), np.zeros((2, 2)), "nvil",
                            baseline=np.array([0.0, np.nan])),
     ValueError, "baseline must be finite"),
    (lambda p, x: surrogate(np.zeros((2, 2)), np.zeros((2, 2)), None), ValueError,
     "method must be one of"),
    (lambda p, x: log_mean_exp(np.zeros((2, 0))), ValueError, "at least one entry"),
    (lambda p, x: log_mean_exp(np.zeros(3, complex)), TypeError, "real"),
    (lambda p, x: diagnostics.moments(np.zeros((1, 4))), ValueError, "at least 2 gradient draws"),
    (lambda p, x: learning_signals(np.zeros((2, 3)), "rws"), ValueError, "no learning signals"),
])
def test_bad_input_is_refused_with_a_clear_error(call, error, words):
    params = sbn.init_sbn([6, 3], np.random.default_rng(0))
    x = data(np.random.default_rng(1), 2, 6)
    with pytest.raises(error, match=words):
        call(params, x)


def test_proposal_mask_marks_exactly_the_recognition_parameters():
    from autograd.misc import flatten

    from vimco_edu.diagnostics import proposal_mask
    params = sbn.init_sbn([6, 3, 2], np.random.default_rng(0))
    only_rec = flatten({**params, "rec": [{k: v + 1.0 for k, v in layer.items()}
                                          for layer in params["rec"]]})[0] - flatten(params)[0]
    np.testing.assert_array_equal(proposal_mask(params), only_rec != 0)
    assert proposal_mask(params).sum() == 6 * 3 + 3 + 3 * 2 + 2


def test_bootstrap_standard_error_of_a_mean_matches_the_formula():
    draws = np.random.default_rng(0).normal(2.0, 3.0, size=(400, 2))
    se = diagnostics.bootstrap_se(draws, lambda d: d.mean(axis=0), np.random.default_rng(1),
                                  n_boot=2000)
    np.testing.assert_allclose(se, draws.std(axis=0, ddof=1) / np.sqrt(400), rtol=0.1)
    with pytest.raises(ValueError, match="at least 2 rows"):
        diagnostics.bootstrap_se(draws[:1], np.mean, 0)


def test_stratified_bootstrap_resamples_within_strata():
    # stratified draws: 300 from N(0, 1) and 100 from N(10, 2^2), weighted to a 50/50 mixture;
    # the weighted mean's standard error is sqrt(sum_s w_s^2 var_s / n_s), and every resample
    # keeps each stratum's size (a plain bootstrap would move draws between strata)
    rng = np.random.default_rng(0)
    values = np.concatenate([rng.normal(0, 1, 300), rng.normal(10, 2, 100)])
    strata = np.repeat([0, 1], [300, 100])
    weights = np.where(strata == 0, 0.5 / 300, 0.5 / 100)

    def weighted_mean(d):
        assert np.sum(d[:, 2] == 1) == 100   # the stratum column: sizes kept
        return d[:, 1] @ d[:, 0]
    joint = np.column_stack([values, weights, strata])
    se = diagnostics.bootstrap_se(joint, weighted_mean, np.random.default_rng(1), n_boot=2000,
                                  strata=strata)
    variances = values[:300].var(ddof=1), values[300:].var(ddof=1)
    expected = np.sqrt(0.25 * variances[0] / 300 + 0.25 * variances[1] / 100)
    np.testing.assert_allclose(se, expected, rtol=0.1)
    with pytest.raises(ValueError, match="one label per row"):
        diagnostics.bootstrap_se(joint, weighted_mean, 0, strata=strata[:-1])
