"""Every unbiased estimator checked exactly by enumerating all K-tuples of samples."""
import numpy as np
import pytest
from autograd import grad
from autograd.misc import flatten

from vimco_edu import diagnostics, exact, sbn
from vimco_edu.estimators import surrogate

UNBIASED = [("naive", {}), ("vimco", {}), ("vimco-arith", {}), ("nvil", {"baseline": -2.7}),
            ("nvil", {"baseline": 1.3, "centre": 0.4})]


def tiny_model(seed, sizes=(4, 2, 1)):
    params = sbn.init_sbn(list(sizes), np.random.default_rng(seed), scale=1.0)
    params["prior"] = np.random.default_rng(seed + 100).normal(size=sizes[-1])
    return params


X = np.array([1.0, 0.0, 1.0, 1.0])


@pytest.mark.parametrize("method, options", UNBIASED)
@pytest.mark.parametrize("k", [2, 3, 4])
def test_expected_gradient_equals_gradient_of_exact_bound(method, options, k):
    params = tiny_model(k)
    result = exact.exact_gradient_moments(sbn.enumerate_log_pq, params, X, k, method, **options)
    assert np.abs(result["exact"]).max() > 1e-3  # a real, non-zero gradient
    np.testing.assert_allclose(result["mean"], result["exact"], atol=1e-10, rtol=0)
    # both the model part and the proposal part are checked, and both are non-trivial
    parts = result["unflatten"](result["mean"] - result["exact"])
    assert max(np.abs(flatten(parts["gen"])[0]).max(), np.abs(parts["prior"]).max()) < 1e-10
    assert np.abs(flatten(parts["rec"])[0]).max() < 1e-10
    exact_parts = result["unflatten"](result["exact"])
    assert np.abs(flatten(exact_parts["rec"])[0]).max() > 1e-3
    assert np.abs(flatten(exact_parts["gen"])[0]).max() > 1e-3


def test_k_of_one_naive_is_reinforce_on_the_elbo():
    params = tiny_model(0)
    result = exact.exact_gradient_moments(sbn.enumerate_log_pq, params, X, 1, "naive")
    flat, unflatten = flatten(params)

    def elbo(f):
        log_p, log_q = sbn.enumerate_log_pq(unflatten(f), X)
        return np.sum(np.exp(log_q) * (log_p - log_q))
    np.testing.assert_allclose(result["mean"], grad(elbo)(flat), atol=1e-12)


def test_model_parameters_get_the_same_term_from_every_method():
    """Model parameters receive only the importance-weighted term: per tuple, every
    method gives them the same gradient."""
    params = tiny_model(1)
    rng = np.random.default_rng(0)
    flat, unflatten = flatten(params)
    latents, _ = sbn.recognise(params, X[None], 3, rng)
    gradients = {}
    for method in ["naive", "vimco", "vimco-arith", "nvil"]:
        def objective(f):
            p = unflatten(f)
            log_q = sbn.recognise(p, X[None], 3, latents=latents)[1][None]
            log_p = sbn.log_joint(p, X[None], latents, 3)[None]
            return surrogate(log_p, log_q, method)
        gradients[method] = unflatten(grad(objective)(flat))
    for method in gradients:
        np.testing.assert_allclose(flatten(gradients[method]["gen"])[0],
                                   flatten(gradients["naive"]["gen"])[0], atol=1e-14)


def test_exact_bound_is_monotone_in_k_and_below_log_marginal():
    params = tiny_model(2)
    log_p, log_q = sbn.enumerate_log_pq(params, X)
    bounds = [exact.exact_bound(log_p, log_q, k) for k in range(1, 6)]
    log_px = exact.exact_log_marginal(log_p)
    assert all(a < b for a, b in zip(bounds, bounds[1:]))
    assert bounds[-1] < log_px
    assert np.isclose(np.sum(np.exp(log_q)), 1.0)


def test_vimco_has_lower_proposal_variance_than_naive():
    params = tiny_model(3)
    for k in [2, 3, 4]:
        naive = exact.exact_gradient_moments(sbn.enumerate_log_pq, params, X, k, "naive")
        vimco = exact.exact_gradient_moments(sbn.enumerate_log_pq, params, X, k, "vimco")
        rec_naive = flatten(naive["unflatten"](naive["variance"])["rec"])[0]
        rec_vimco = flatten(vimco["unflatten"](vimco["variance"])["rec"])[0]
        assert rec_vimco.sum() < rec_naive.sum()


@pytest.mark.parametrize("method", ["naive", "vimco"])
def test_exact_moments_match_monte_carlo(method):
    """Monte Carlo mean and variance agree with the enumerated ones within sampling error
    (five standard errors, using the exact fourth moment for the variance's error)."""
    params = tiny_model(4)
    k, n = 3, 1000
    result = exact.exact_gradient_moments(sbn.enumerate_log_pq, params, X, k, method)
    draws = diagnostics.gradient_draws(sbn.log_weights, params, X[None], k, method, n,
                                       np.random.default_rng(7))
    mc = diagnostics.moments(draws)
    tuples_centred = result["per_tuple"] - result["mean"]
    fourth = result["probability"] @ tuples_centred ** 4
    se_mean = np.sqrt(result["variance"] / n)
    se_var = np.sqrt((fourth - result["variance"] ** 2) / n)
    assert np.all(np.abs(mc["mean"] - result["mean"]) <= 5 * se_mean + 1e-12)
    assert np.all(np.abs(mc["variance"] - result["variance"]) <= 5 * se_var + 1e-12)


def test_too_many_tuples_is_refused():
    with pytest.raises(ValueError, match="too many"):
        exact.sample_tuples(16, 6)


def test_vectorised_draws_for_enumerable_models_agree_with_exact():
    params = tiny_model(5)
    result = exact.exact_gradient_moments(sbn.enumerate_log_pq, params, X, 3, "vimco")
    n = 20_000
    draws = diagnostics.enumerable_gradient_draws(sbn.enumerate_log_pq, params, X, 3, "vimco", n,
                                                  np.random.default_rng(8))
    se = np.sqrt(result["variance"] / n)
    assert np.all(np.abs(draws.mean(0) - result["mean"]) <= 5 * se + 1e-12)
