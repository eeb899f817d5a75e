"""Every estimator in the registry checked exactly, by enumerating all K-tuples of samples:
the unbiased ones against autograd's gradient of the exact L^K, the biased one (RWS) against
an independently enumerated exact value of what it does estimate."""
import numpy as np
import pytest
from autograd import grad, jacobian
from autograd.misc import flatten

from vimco_edu import diagnostics, exact, sbn, tiny
from vimco_edu.estimators import ESTIMATORS, objective_per_example, surrogate
from vimco_edu.sampling import Fixed

# (with scale s != 1 NVIL's proposal gradient has mean grad_phi L^K / s: tested below)
NVIL_OPTIONS = [{"baseline": -2.7}, {"baseline": 1.3, "centre": 0.4}]
UNBIASED = [(name, options) for name, e in ESTIMATORS.items()
            if e.unbiased and not e.needs_model
            for options in (NVIL_OPTIONS if name == "nvil" else [{}])]


def random_sbn(seed, sizes=(4, 2, 1)):
    params = sbn.init_sbn(list(sizes), np.random.default_rng(seed), scale=1.0)
    params["prior"] = np.random.default_rng(seed + 100).normal(size=sizes[-1])
    return params


X = np.array([1.0, 0.0, 1.0, 1.0])
# two models of different shapes: a random SBN with two latent layers (4-2-1) and the
# course's running example (6-3, explaining away), with a proposal fitted away from the prior
MODELS = {"4-2-1": lambda k: (random_sbn(k), X),
          "tiny 6-3": lambda k: (tiny.fitted_proposal(*tiny.tiny_model(), steps=20), tiny.X)}


def parts(result, flat):
    """(model part, proposal part) of a flat gradient-sized array."""
    tree = result["unflatten"](flat)
    return (np.concatenate([flatten(tree["gen"])[0], tree["prior"]]),
            flatten(tree["rec"])[0])


def test_the_registry_lists_what_the_course_compares():
    assert {"naive", "nvil", "vimco", "vimco-arith", "rws"} <= set(ESTIMATORS)
    assert {name for name, _ in UNBIASED} >= {"naive", "nvil", "vimco", "vimco-arith"}
    assert not ESTIMATORS["rws"].unbiased
    looks = [(e.colour, e.marker) for e in ESTIMATORS.values()]
    assert len(set(looks)) == len(looks), "each estimator needs its own colour and marker"


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("method, options", UNBIASED)
@pytest.mark.parametrize("k", [2, 3, 4])
def test_expected_gradient_equals_gradient_of_exact_bound(model, method, options, k):
    params, x = MODELS[model](k)
    result = exact.exact_gradient_moments(sbn.enumerate_log_pq, params, x, k, method, **options)
    model_exact, proposal_exact = parts(result, result["exact"])
    assert np.abs(model_exact).max() > 1e-3 and np.abs(proposal_exact).max() > 1e-3
    model_error, proposal_error = parts(result, result["mean"] - result["exact"])
    assert np.abs(model_error).max() < 1e-10
    assert np.abs(proposal_error).max() < 1e-10


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("scale", [1.0, 9.0])
@pytest.mark.parametrize("k", [1, 2, 8])
def test_nvils_normalisation_divides_the_mean_proposal_gradient_by_the_scale(model, scale, k):
    """NVIL's variance normalisation (signal scale s = max(1, sqrt(v)), as training uses it):
    the mean model gradient is grad_theta L^K and the mean proposal gradient exactly
    grad_phi L^K / s, for K = 1, 2 and 8, so the update points up the bound at every K.
    (Dividing only the score term by s leaves -sum_j w~_j grad log q_j undivided: at K > 1
    the mean then turns towards minus the wake update, and this test fails.)"""
    params, x = MODELS[model](k)
    result = exact.exact_gradient_moments(sbn.enumerate_log_pq, params, x, k, "nvil",
                                          multisets=k > 4, baseline=-2.7, centre=0.4,
                                          scale=scale)
    model_mean, proposal_mean = parts(result, result["mean"])
    model_exact, proposal_exact = parts(result, result["exact"])
    assert np.abs(proposal_exact).max() > 1e-3
    np.testing.assert_allclose(model_mean, model_exact, rtol=0, atol=1e-10)
    np.testing.assert_allclose(proposal_mean, proposal_exact / scale, rtol=0, atol=1e-10)
    cosine = proposal_mean @ proposal_exact / np.linalg.norm(proposal_mean) \
        / np.linalg.norm(proposal_exact)
    assert cosine > 1 - 1e-10


def exact_wake_update(params, x, k):
    """E[sum_j w~_j grad_phi log q(h_j | x)] over all K-tuples, enumerated directly (no
    surrogate): what RWS's proposal update estimates, as a flat gradient-sized array."""
    flat, unflatten = flatten(params)
    log_p, log_q = sbn.enumerate_log_pq(params, x)
    score = jacobian(lambda f: sbn.enumerate_log_pq(unflatten(f), x)[1])(flat)  # (C, n)
    total = np.zeros_like(flat)
    for tuple_ in exact.sample_tuples(len(log_p), k):
        log_w = log_p[tuple_] - log_q[tuple_]
        weights = np.exp(log_w - np.logaddexp.reduce(log_w))
        total += np.exp(log_q[tuple_].sum()) * (weights @ score[tuple_])
    return total


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("k", [2, 3])
def test_rws_model_gradient_is_unbiased_and_its_proposal_follows_the_wake_update(model, k,
                                                                                 capsys):
    params, x = MODELS[model](k)
    result = exact.exact_gradient_moments(sbn.enumerate_log_pq, params, x, k, "rws")
    model_error, _ = parts(result, result["mean"] - result["exact"])
    assert np.abs(model_error).max() < 1e-10
    _, proposal_mean = parts(result, result["mean"])
    _, wake = parts(result, exact_wake_update(params, x, k))
    np.testing.assert_allclose(proposal_mean, wake, atol=1e-10, rtol=0)
    _, bias = parts(result, result["mean"] - result["exact"])
    with capsys.disabled():
        print(f"\nRWS proposal bias against grad L^{k} ({model}): max |bias| = "
              f"{np.abs(bias).max():.3f}")
    assert np.abs(bias).max() > 1e-2, "the wake update is not the gradient of L^K"


def test_k_of_one_naive_is_reinforce_on_the_elbo():
    params = random_sbn(0)
    result = exact.exact_gradient_moments(sbn.enumerate_log_pq, params, X, 1, "naive")
    flat, unflatten = flatten(params)

    def elbo(f):
        log_p, log_q = sbn.enumerate_log_pq(unflatten(f), X)
        return np.sum(np.exp(log_q) * (log_p - log_q))
    np.testing.assert_allclose(result["mean"], grad(elbo)(flat), atol=1e-12)


def test_model_parameters_get_the_same_term_from_every_method():
    """Model parameters receive only the importance-weighted term: per tuple, every
    method gives them the same gradient."""
    params = random_sbn(1)
    rng = np.random.default_rng(0)
    flat, unflatten = flatten(params)
    latents, _ = sbn.recognise(params, X[None], 3, rng)
    gradients = {}
    for method in (name for name, e in ESTIMATORS.items()
                   if not e.needs_model and e.objective == "L^K"):
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
    params = random_sbn(2)
    log_p, log_q = sbn.enumerate_log_pq(params, X)
    bounds = [exact.exact_bound(log_p, log_q, k) for k in range(1, 6)]
    log_px = exact.exact_log_marginal(log_p)
    assert all(a < b for a, b in zip(bounds, bounds[1:]))
    assert bounds[-1] < log_px
    assert np.isclose(np.sum(np.exp(log_q)), 1.0)


def test_vimco_has_lower_proposal_variance_than_naive():
    params = random_sbn(3)
    for k in [2, 3, 4]:
        naive = exact.exact_gradient_moments(sbn.enumerate_log_pq, params, X, k, "naive")
        vimco = exact.exact_gradient_moments(sbn.enumerate_log_pq, params, X, k, "vimco")
        rec_naive = flatten(naive["unflatten"](naive["variance"])["rec"])[0]
        rec_vimco = flatten(vimco["unflatten"](vimco["variance"])["rec"])[0]
        assert rec_vimco.sum() < rec_naive.sum()


@pytest.mark.parametrize("method", ["naive", "vimco", "rws"])
def test_exact_moments_match_monte_carlo(method):
    """Monte Carlo mean and variance agree with the enumerated ones within sampling error
    (five standard errors, using the exact fourth moment for the variance's error)."""
    params = random_sbn(4)
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
    params = random_sbn(5)
    result = exact.exact_gradient_moments(sbn.enumerate_log_pq, params, X, 3, "vimco")
    n = 20_000
    draws = diagnostics.enumerable_gradient_draws(sbn.enumerate_log_pq, params, X, 3, "vimco", n,
                                                  np.random.default_rng(8))
    se = np.sqrt(result["variance"] / n)
    assert np.all(np.abs(draws.mean(0) - result["mean"]) <= 5 * se + 1e-12)


# -- Estimators that build their own samples (a factorised proposal) ---------------------------
ONE_LAYER = {"tiny 6-3": lambda: (tiny.fitted_proposal(*tiny.tiny_model(), steps=20), tiny.X),
             "random 5-2": lambda: (random_sbn(7, (5, 2)), np.array([1.0, 0, 0, 1, 1]))}
ANTITHETIC = [name for name, e in ESTIMATORS.items() if e.sampling == "antithetic"]


@pytest.mark.parametrize("model", ONE_LAYER)
@pytest.mark.parametrize("method", ANTITHETIC)
@pytest.mark.parametrize("k", [2, 4])
def test_antithetic_estimators_are_exactly_unbiased_for_their_objective(model, method, k):
    params, x = ONE_LAYER[model]()
    result = exact.exact_antithetic_moments(sbn, params, x, k, method)
    assert abs(result["probability"].sum() - 1) < 1e-12
    model_exact, proposal_exact = parts(result, result["exact"])
    assert np.abs(proposal_exact).max() > 1e-3
    np.testing.assert_allclose(result["mean"], result["exact"], atol=1e-10, rtol=0)


def test_the_registry_knows_what_each_estimator_follows():
    assert {"rloo", "vargrad", "disarm", "disarm-iw", "concrete", "straight-through"} <= set(
        ESTIMATORS)
    assert ESTIMATORS["rloo"].objective_k(6) == 1 and ESTIMATORS["disarm-iw"].objective_k(6) == 3
    assert ESTIMATORS["vimco"].objective_k(6) == 6
    assert not ESTIMATORS["concrete"].unbiased and not ESTIMATORS["straight-through"].unbiased


def test_vargrad_is_the_leave_one_out_score_function_estimator():
    """Per tuple (exactly, for every K-tuple): VarGrad's proposal part, -1/2 the gradient of
    the log-variance loss, is (1/(K-1)) sum_j (l_j - mean l) grad log q(h_j | x), which is
    RLOO's proposal part without its mean-zero term -(1/K) sum_j grad log q(h_j | x)."""
    params, x, k = random_sbn(3), X, 3
    flat, unflatten = flatten(params)
    log_p, log_q = sbn.enumerate_log_pq(params, x)
    score = jacobian(lambda f: sbn.enumerate_log_pq(unflatten(f), x)[1])(flat)
    tuples = exact.sample_tuples(len(log_p), k)
    vargrad = exact.per_tuple_gradients(sbn.enumerate_log_pq, params, x, tuples, "vargrad")
    rloo = exact.per_tuple_gradients(sbn.enumerate_log_pq, params, x, tuples, "rloo")
    log_w = (log_p - log_q)[tuples]
    centred = log_w - log_w.mean(axis=1, keepdims=True)
    by_hand = np.einsum("tk,tkn->tn", centred, score[tuples]) / (k - 1)
    is_proposal = diagnostics.proposal_mask(params)
    np.testing.assert_allclose(vargrad[:, is_proposal], by_hand[:, is_proposal], atol=1e-12)
    rloo_score_part = rloo + score[tuples].mean(axis=1)
    np.testing.assert_allclose(vargrad[:, is_proposal], rloo_score_part[:, is_proposal],
                               atol=1e-12)
    np.testing.assert_allclose(vargrad[:, ~is_proposal], rloo[:, ~is_proposal], atol=1e-12)


# A model with one latent unit: relaxed estimators' means are then one-dimensional integrals
# over u, computed here on a fine grid, and checked against quantities derived by hand.
ONE_UNIT = {"prior": np.array([-0.4]), "gen": [{"W": np.array([[2.0, -1.5]]),
                                                "b": np.array([-0.5, 0.3])}],
            "rec": [{"W": np.array([[0.8], [-0.6]]), "b": np.array([0.2])}]}
X_ONE = np.array([1.0, 0.0])
U_GRID = (np.arange(40_000) + 0.5) / 40_000          # midpoint rule on (0, 1)


def softplus(a):
    return np.logaddexp(0.0, a)


def relaxed_f(params, z):
    """f(z) = log p(x, z) - log q(z | x) at relaxed z, written out by hand (one unit, K = 1)."""
    alpha = X_ONE @ params["rec"][0]["W"][:, 0] + params["rec"][0]["b"][0]
    a0 = params["prior"][0]
    eta = z[:, None] * params["gen"][0]["W"][0] + params["gen"][0]["b"]
    log_px = np.sum(X_ONE * eta - softplus(eta), axis=1)
    return z * a0 - softplus(a0) + log_px - (z * alpha - softplus(alpha))


def concrete_z(params, temperature):
    alpha = X_ONE @ params["rec"][0]["W"][:, 0] + params["rec"][0]["b"][0]
    return 1 / (1 + np.exp(-(alpha + np.log(U_GRID) - np.log1p(-U_GRID)) / temperature))


def package_mean(method, temperature):
    """The package estimator's mean over the grid of u: one backward pass over all rows."""
    flat, unflatten = flatten(ONE_UNIT)
    xs = np.repeat(X_ONE[None], len(U_GRID), axis=0)
    uniforms = Fixed(U_GRID.reshape(-1, 1, 1))
    return grad(lambda f: np.mean(objective_per_example(
        sbn, unflatten(f), xs, 1, uniforms, method, temperature=temperature)))(flat)


@pytest.mark.parametrize("temperature", [0.3, 1.0])
def test_concretes_mean_is_the_gradient_of_the_relaxed_objective(temperature, capsys):
    """Mean of the Concrete estimator = d/dparams E_u[f(z(u))] (finite differences of the
    integral written by hand), which is not the gradient of the ELBO: its bias, printed."""
    flat, unflatten = flatten(ONE_UNIT)

    def relaxed_objective(f):
        params = unflatten(f)
        return np.mean(relaxed_f(params, concrete_z(params, temperature)))
    eps = 1e-6
    by_hand = np.array([(relaxed_objective(flat + eps * e) - relaxed_objective(flat - eps * e))
                        / (2 * eps) for e in np.eye(len(flat))])
    mean = package_mean("concrete", temperature)
    np.testing.assert_allclose(mean, by_hand, atol=1e-6)
    log_p, log_q = sbn.enumerate_log_pq(ONE_UNIT, X_ONE)
    elbo_gradient = grad(lambda f: exact.exact_bound(*sbn.enumerate_log_pq(unflatten(f), X_ONE),
                                                     1))(flat)
    bias = mean - elbo_gradient
    with capsys.disabled():
        print(f"\nConcrete at temperature {temperature}: max |bias| {np.abs(bias).max():.3f}")
    assert np.abs(bias).max() > 1e-2


def test_straight_through_mean_equals_its_formula_and_is_biased_for_the_proposal_only():
    """Straight-through's mean, against the formula derived by hand: the model part is
    grad_theta f(b) (unbiased), the proposal part df/dh at h = b times dz/dalpha, plus the
    direct -(b - sigmoid(alpha)) (biased)."""
    temperature = 0.5
    params = ONE_UNIT
    flat, unflatten = flatten(params)
    z = concrete_z(params, temperature)
    b = (z > 0.5).astype(float)
    alpha = X_ONE @ params["rec"][0]["W"][:, 0] + params["rec"][0]["b"][0]
    w, c = params["gen"][0]["W"][0], params["gen"][0]["b"]
    eta = b[:, None] * w + c
    df_dh = params["prior"][0] + (X_ONE - 1 / (1 + np.exp(-eta))) @ w - alpha
    d_alpha = np.mean(df_dh * z * (1 - z) / temperature - (b - 1 / (1 + np.exp(-alpha))))
    mean = unflatten(package_mean("straight-through", temperature))
    np.testing.assert_allclose(mean["rec"][0]["b"], [d_alpha], rtol=1e-9)
    np.testing.assert_allclose(mean["rec"][0]["W"][:, 0], X_ONE * d_alpha, rtol=1e-9, atol=1e-12)
    # the model part: the mean over b of grad_theta log p(x, b), i.e. the exact ELBO's
    elbo_gradient = unflatten(grad(lambda f: exact.exact_bound(
        *sbn.enumerate_log_pq(unflatten(f), X_ONE), 1))(flat))
    p1 = np.mean(b)          # the grid's share of u with b = 1, which is sigmoid(alpha)
    assert abs(p1 - 1 / (1 + np.exp(-alpha))) < 1e-4
    np.testing.assert_allclose(mean["prior"], elbo_gradient["prior"], atol=1e-4)
    assert abs(mean["rec"][0]["b"][0] - elbo_gradient["rec"][0]["b"][0]) > 1e-2
