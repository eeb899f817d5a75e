"""NVIL's parts checked exactly (its signal, its baseline's regression gradient, its running
statistics, and that training really moves them), the samplers (the model draws from the
distribution it defines; the sampling hook hands the uniforms through), and the registry as
the one place an estimator is added."""
import autograd.numpy as anp
import numpy as np
import pytest
from autograd import grad, jacobian
from autograd.misc import flatten

from vimco_edu import data, estimators, exact, learning_signals, nvil, sbn, train
from vimco_edu.bounds import bound_estimate
from vimco_edu.layers import sigmoid
from vimco_edu.sampling import Antithetic

RNG = np.random.default_rng(0)
LOG_P = RNG.normal(-5.0, 3.0, size=(6, 4))
LOG_Q = RNG.normal(-2.0, 1.0, size=(6, 4))
X = (RNG.random((6, 5)) < 0.5).astype(float)


def fixed_log_weights(params, x, k, rng):
    """A stand-in model whose samples always have the log-weights above."""
    return LOG_P, LOG_Q


def test_nvil_signal_is_centred_and_scaled_lhat_minus_baseline():
    baseline = RNG.normal(size=6)
    signals = learning_signals(LOG_P - LOG_Q, "nvil", baseline=baseline, centre=0.7, scale=3.0)
    by_hand = (bound_estimate(LOG_P - LOG_Q) - baseline - 0.7) / 3.0
    np.testing.assert_allclose(signals, np.repeat(by_hand[:, None], 4, axis=1), rtol=1e-14)


def test_nvil_baseline_ascends_its_regression_exactly():
    """With the samples fixed, the gradient of NVIL's objective with respect to the baseline
    network's parameters psi is mean_b (L-hat_b - c - C_psi(x_b)) dC_psi(x_b)/dpsi: the
    regression that fits C(x) to L-hat - c (a missing regression or a flipped sign fails)."""
    state = nvil.NVIL(5, np.random.default_rng(1))
    state.params = {**state.params, "w2": np.random.default_rng(2).normal(size=100)}
    state.restore({"centre": 0.7, "variance": 4.0})
    flat, unflatten = flatten(state.params)

    def objective(f):
        return anp.mean(state.objective(fixed_log_weights, None, X, 4, 0, unflatten(f)))
    got = grad(objective)(flat)
    baseline = nvil.baseline_value(state.params, X)
    residual = bound_estimate(LOG_P - LOG_Q) - 0.7 - baseline
    d_baseline = jacobian(lambda f: nvil.baseline_value(unflatten(f), X))(flat)   # (6, n)
    np.testing.assert_allclose(got, residual @ d_baseline / 6, rtol=1e-12, atol=1e-14)
    assert np.abs(got).max() > 1e-3


def test_nvil_objective_value_is_lhat_and_it_divides_the_whole_proposal_gradient():
    """d objective / d log q_j = (l - w~_j) / s, with l = L-hat - C(x) - c and s = sqrt(v): the
    normalisation divides the score term *and* the weights term's -w~_j (dividing only the
    signal, l / s - w~_j, fails). Where the proposal is the model's own prior (params without
    "rec"), the weights term's parts cancel in the parameters' gradient, and only the signals
    are divided: l / s - w~_j."""
    state = nvil.NVIL(5, np.random.default_rng(1))
    state.restore({"centre": 0.7, "variance": 9.0})
    value = state.objective(fixed_log_weights, None, X, 4, 0, state.params)
    np.testing.assert_allclose(value, bound_estimate(LOG_P - LOG_Q), rtol=1e-14)
    weights = np.exp(LOG_P - LOG_Q - np.logaddexp.reduce(LOG_P - LOG_Q, axis=1)[:, None])
    signal = (bound_estimate(LOG_P - LOG_Q) - nvil.baseline_value(state.params, X) - 0.7)
    for params, expected in [({"rec": []}, (signal[:, None] - weights) / 3.0),
                             ({"gen": []}, signal[:, None] / 3.0 - weights)]:
        d_log_q = grad(lambda lq: anp.sum(state.objective(lambda *_: (LOG_P, lq), params, X,
                                                          4, 0, state.params)))(LOG_Q)
        np.testing.assert_allclose(d_log_q, expected, rtol=1e-12)


def test_running_statistics_update_by_hand():
    state = nvil.NVIL(5, np.random.default_rng(1))
    state.objective(fixed_log_weights, None, X, 4, 0, state.params)
    residuals = bound_estimate(LOG_P - LOG_Q) - nvil.baseline_value(state.params, X)
    state.update()
    assert state.state() == pytest.approx({"centre": 0.2 * residuals.mean(),
                                           "variance": 0.8 + 0.2 * residuals.var()}, rel=1e-14)
    with pytest.raises(RuntimeError, match="follows objective"):
        state.update()


def test_training_moves_nvils_running_statistics():
    x = data.load_mnist("train")[:100]
    _, history = train(sbn.log_weights, sbn.init_sbn([784, 5], 0), x, method="nvil", k=2,
                       steps=3, rng=1, progress=False)
    stats = history["estimator_state"]
    # c starts at 0 and v at 1; L-hat is about -540 nats at the start, with little spread
    assert stats["centre"] < -100 and abs(stats["variance"] - 0.8 ** 3) < 0.1


def test_sbn_sample_draws_from_the_model():
    """Frequencies of the latent configurations, and the mean pixel probabilities, from
    200,000 draws of a 3-2-2 SBN, within 5 standard errors of the exact values."""
    params = sbn.init_sbn([3, 2, 2], np.random.default_rng(3), scale=1.5)
    params["prior"] = np.array([-1.5, 0.8])
    n = 200_000
    probs, latents = sbn.sample(params, n, np.random.default_rng(4))
    configurations = sbn.all_latent_configurations(params)
    # exact p(h) = p(h_2) p(h_1 | h_2) for all 16 configurations
    h1, h2 = configurations
    log_p_h = (np.sum(h2 * params["prior"] - np.logaddexp(0, params["prior"]), -1)
               + np.sum(h1 * (h2 @ params["gen"][0]["W"] + params["gen"][0]["b"])
                        - np.logaddexp(0, h2 @ params["gen"][0]["W"] + params["gen"][0]["b"]),
                        -1))
    p_h = np.exp(log_p_h)
    assert abs(p_h.sum() - 1) < 1e-12
    codes = np.concatenate(latents, axis=1) @ (2 ** np.arange(3, -1, -1))
    frequencies = np.bincount(codes.astype(int), minlength=16) / n
    np.testing.assert_array_less(np.abs(frequencies - p_h), 5 * np.sqrt(p_h * (1 - p_h) / n))
    pixel = p_h @ sigmoid(h1 @ params["gen"][1]["W"] + params["gen"][1]["b"])
    se = probs.std(axis=0) / np.sqrt(n)
    np.testing.assert_array_less(np.abs(probs.mean(axis=0) - pixel), 5 * se)


class Recording:
    """A sampler that hands out its generator's uniforms and remembers them."""

    def __init__(self, seed):
        self.rng, self.handed = np.random.default_rng(seed), []

    def random(self, shape, dtype=float):
        self.handed.append(self.rng.random(shape, dtype=dtype))
        return self.handed[-1].copy()


def test_models_take_their_uniforms_from_the_sampler_they_are_given():
    params = sbn.init_sbn([5, 3], np.random.default_rng(5), scale=2.0)
    sampler = Recording(6)
    latents, _ = sbn.recognise(params, X, 4, sampler)
    (u,) = sampler.handed
    logits = X @ params["rec"][0]["W"] + params["rec"][0]["b"]
    expected = (u < sigmoid(logits)[:, None, :]).reshape(-1, 3)
    np.testing.assert_array_equal(latents[0], expected)


def test_antithetic_pairs_share_one_uniform():
    u = Antithetic(np.random.default_rng(7)).random((3, 4, 5))
    np.testing.assert_array_equal(u[:, 2:], 1 - u[:, :2])
    with pytest.raises(ValueError, match="even number"):
        Antithetic(0).random((3, 5, 2))
    params = sbn.init_sbn([5, 3], np.random.default_rng(5), scale=2.0)
    latents, _ = sbn.recognise(params, X, 4, Antithetic(8))
    h = latents[0].reshape(6, 4, 3)
    p = sigmoid(X @ params["rec"][0]["W"] + params["rec"][0]["b"])[:, None, :]
    # u < p and 1 - u < p cannot both fail when p > 1/2, nor both hold when p < 1/2
    assert np.all(np.where(p > 0.5, np.maximum(h[:, :2], h[:, 2:]), 1) == 1)
    assert np.all(np.where(p < 0.5, np.minimum(h[:, :2], h[:, 2:]), 0) == 0)


def test_adding_an_estimator_is_one_function_and_one_entry():
    """Register a new score-function estimator (a constant baseline of -3 nats): it is
    unbiased by the exact check, and trains, without touching any other module."""
    @estimators.register_signals("test-constant-baseline", label="constant baseline",
                                 colour="#999999", marker="x", linestyle=":")
    def constant_baseline(log_w):
        """s_j = L-hat + 3 for every j."""
        return np.broadcast_to(bound_estimate(log_w)[..., None] + 3.0, np.shape(log_w))
    try:
        params = sbn.init_sbn([4, 2], np.random.default_rng(9), scale=1.0)
        result = exact.exact_gradient_moments(sbn.enumerate_log_pq, params,
                                              np.array([1.0, 0, 1, 1]), 2,
                                              "test-constant-baseline")
        np.testing.assert_allclose(result["mean"], result["exact"], atol=1e-10)
        _, history = train(sbn.log_weights, params, (RNG.random((20, 4)) < 0.5), k=2, steps=2,
                           method="test-constant-baseline", rng=0, progress=False)
        assert len(history["train_bound"]) == 2
    finally:
        del estimators.ESTIMATORS["test-constant-baseline"]


@pytest.mark.parametrize("method", list(estimators.ESTIMATORS))
def test_every_estimator_trains_a_one_layer_sbn(method):
    """Every estimator in the registry (with its options' defaults) trains an SBN."""
    x = data.load_mnist("train")[:300]
    valid = data.load_mnist("valid")[:50]
    _, history = train(sbn, sbn.init_sbn([784, 10], 0), x, method=method, k=4, steps=150,
                       rng=1, valid_x=valid, eval_every=75, eval_k=10, progress=False)
    assert history["eval_bound"][-1] > history["eval_bound"][0] + 30   # nats, from ~ -400


def test_each_entry_states_its_k_rule_once():
    rules = {name: e.k_rule for name, e in estimators.ESTIMATORS.items()}
    assert rules["vimco"] == "K >= 2" and rules["disarm"] == "an even K >= 2 (pairs)"
    assert rules["nvil"] == "K >= 1"
    with pytest.raises(ValueError, match="method 'disarm' needs an even K >= 2 \\(pairs\\), "
                       "got k = 3"):
        estimators.get("disarm").check_k(3)
    with pytest.raises(TypeError, match="k must be an integer, got str"):
        estimators.get("vimco").check_k("5")


# -- issue 21.5: every entry point checks what the registry's rules say ---------------------------
@pytest.mark.parametrize("name", [name for name, e in estimators.ESTIMATORS.items()
                                  if not e.needs_model and e.min_k > 1])
def test_the_public_functions_refuse_a_k_below_their_rule(name):
    entry = estimators.ESTIMATORS[name]
    one = np.zeros((3, 1))
    calls = [lambda: entry.per_example(one, one - 1.0)]
    if entry.signals is not None:
        calls.append(lambda: entry.signals(one))
    for call in calls:
        with pytest.raises(ValueError, match=f"method '{name}' needs K >= 2, got K = 1"):
            call()
    with pytest.raises(ValueError, match="K >= 2"):
        estimators.log_variance_loss(one, one)


@pytest.mark.parametrize("name", [name for name, e in estimators.ESTIMATORS.items()
                                  if e.needs_model])
def test_the_model_based_estimators_refuse_non_finite_parameters(name):
    params = sbn.init_sbn([784, 5], 0)
    params["rec"][0]["b"][0] = np.nan
    x = data.load_mnist("train")[:3]
    with pytest.raises(ValueError, match="NaN"), np.errstate(invalid="ignore"):
        estimators.objective_per_example(sbn, params, x, 2, 0, name)
    with pytest.raises(TypeError, match="k must be an integer, got str"):
        estimators.objective_per_example(sbn, sbn.init_sbn([784, 5], 0), x, "2", 0, name)


def test_estimators_that_need_the_model_refuse_what_they_cannot_use():
    x = data.load_mnist("train")[:20]
    with pytest.raises(ValueError, match="even"):
        train(sbn, sbn.init_sbn([784, 5], 0), x, method="disarm", k=3, steps=1)
    with pytest.raises(ValueError, match="one latent layer"):
        train(sbn, sbn.init_sbn([784, 5, 3], 0), x, method="disarm", k=2, steps=1,
              progress=False)
    with pytest.raises(ValueError, match="factorised proposal"):
        train(sbn.log_weights, sbn.init_sbn([784, 5], 0), x, method="concrete", k=2, steps=1,
              options={"temperature": 0.5}, progress=False)
    with pytest.raises(ValueError, match="temperature must be a finite positive number"):
        train(sbn, sbn.init_sbn([784, 5], 0), x, method="concrete", k=2, steps=1,
              options={"temperature": 0.0}, progress=False)
    for method in ("vimco", "nvil"):       # issue 21.4: NVIL ignored unknown options
        with pytest.raises(ValueError, match="takes no option temperature"):
            train(sbn, sbn.init_sbn([784, 5], 0), x, method=method, k=2, steps=1,
                  options={"temperature": 0.5}, progress=False)
