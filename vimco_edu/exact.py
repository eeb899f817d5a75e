"""Exact answers by enumeration, for models with a few binary latents.

With C latent configurations, per-configuration log p(x, h) and log q(h | x) (shape
(C,)) determine everything: log p(x) = log sum_h p(x, h), and since K samples form
one of C^K equally enumerable tuples,

    L^K = sum_{tuples t} prod_k q(h_{t_k} | x) * L-hat(h_{t_1}, ..., h_{t_K}),

a differentiable function of the parameters. Any estimator's mean and variance
follow the same way: its value on each tuple weighted by the tuple's probability.
Every estimator here is symmetric in its K samples, so the C^K tuples can be grouped into
the multisets they form (C(C+K-1, K) of them: 6,435 instead of 16.8 million for C = K = 8),
each weighted by the number of tuples it stands for (sample_multisets)."""
import itertools
import math
from types import SimpleNamespace

import autograd.numpy as np
import numpy as onp
from autograd import elementwise_grad, grad, jacobian
from autograd.misc import flatten

from .bounds import bound_estimate, log_mean_exp
from .checks import positive_int
from .estimators import get, objective_per_example, surrogate_per_example
from .sampling import Fixed

MAX_TUPLES = 2 ** 20


def sample_tuples(n_configs, k):
    """All C^K ordered K-tuples of configuration indices, shape (C^K, K)."""
    k = positive_int(k, "k")
    if n_configs ** k > MAX_TUPLES:
        raise ValueError(f"{n_configs}^{k} tuples is too many to enumerate (limit {MAX_TUPLES}); "
                         "use fewer latents or a smaller k")
    return onp.array(list(itertools.product(range(n_configs), repeat=k)), dtype=int)


def sample_multisets(n_configs, k):
    """Every multiset of K configuration indices, as sorted rows (M, K), and the log of the
    number of ordered K-tuples each stands for, log(K! / prod_c n_c!) with n_c the number of
    times configuration c occurs: weighting each row by it gives the same sums as all C^K
    tuples for any function symmetric in the K samples."""
    k = positive_int(k, "k")
    if math.comb(n_configs + k - 1, k) > MAX_TUPLES:
        raise ValueError(f"{math.comb(n_configs + k - 1, k)} multisets of {k} of {n_configs} "
                         f"configurations is too many to enumerate (limit {MAX_TUPLES})")
    rows = onp.array(list(itertools.combinations_with_replacement(range(n_configs), k)),
                     dtype=int)
    counts = onp.zeros((len(rows), n_configs), dtype=int)
    onp.add.at(counts, (onp.repeat(onp.arange(len(rows)), k), rows.ravel()), 1)
    log_factorial = onp.concatenate([[0.0], onp.cumsum(onp.log(onp.arange(1, k + 1)))])
    return rows, log_factorial[k] - log_factorial[counts].sum(axis=1)


def exact_log_marginal(log_p):
    """log p(x) = log sum_h p(x, h) from per-configuration log joints (..., C)."""
    return log_mean_exp(log_p) + np.log(np.shape(log_p)[-1])


def exact_bound(log_p, log_q, k):
    """L^K exactly: the q-probability-weighted mean of L-hat over all K-tuples (summed over
    the multisets they form, each weighted by its number of orderings)."""
    rows, log_orderings = sample_multisets(np.shape(log_p)[-1], k)
    log_prob = log_orderings + np.sum(log_q[..., rows], axis=-1)
    return np.sum(np.exp(log_prob) * bound_estimate(log_p[..., rows] - log_q[..., rows]), -1)


def per_tuple_gradients(enumerate_log_pq, params, x, tuples, method, **options):
    """The estimator's gradient (flattened) on each given K-tuple of configurations,
    shape (T, n_parameters), for one input x.

    enumerate_log_pq(params, x) must return per-configuration (log p(x,h), log q(h|x)).
    A tuple's surrogate depends on the parameters only through the 2C numbers log p,
    log q, so its gradient is (d surrogate / d log p, d log q) times their Jacobian:
    one backward pass for all tuples together, plus 2C for the Jacobian."""
    flat, unflatten = flatten(params)
    log_p, log_q = (onp.asarray(a) for a in enumerate_log_pq(params, x))
    n_tuples, k = tuples.shape

    def summed(lp, lq):
        return np.sum(surrogate_per_example(lp, lq, method, **options))
    d_lp, d_lq = elementwise_grad(summed, (0, 1))(log_p[tuples], log_q[tuples])
    rows = onp.repeat(onp.arange(n_tuples), k)
    coeff_p = onp.zeros((n_tuples, len(log_p)))
    coeff_q = onp.zeros_like(coeff_p)
    onp.add.at(coeff_p, (rows, tuples.ravel()), d_lp.ravel())
    onp.add.at(coeff_q, (rows, tuples.ravel()), d_lq.ravel())
    jac_p = jacobian(lambda f: enumerate_log_pq(unflatten(f), x)[0])(flat)
    jac_q = jacobian(lambda f: enumerate_log_pq(unflatten(f), x)[1])(flat)
    return coeff_p @ jac_p + coeff_q @ jac_q


def exact_gradient_moments(enumerate_log_pq, params, x, k, method, multisets=False, **options):
    """Exact mean and variance, per parameter, of an estimator's gradient for one input x,
    by enumerating all C^K tuples (or, with `multisets`, the multisets they form), and
    autograd's gradient of the exact objective the estimator follows (L^K for most, the ELBO
    L^1 for RLOO and VarGrad) to compare the mean with. Returns a dict of flat arrays "mean",
    "variance", "exact" (the gradient of the objective), "per_tuple" (the estimate on every
    tuple or multiset: "tuples" holds them as rows of configuration indices), "probability"
    (of every tuple, or of every multiset: all the tuples it stands for), "objective_k" (the
    K' of the objective L^K') and "unflatten" (a flat array back into the parameters' dict)."""
    flat, unflatten = flatten(params)
    log_p, log_q = (onp.asarray(a) for a in enumerate_log_pq(params, x))
    if multisets:
        tuples, log_orderings = sample_multisets(len(log_p), k)
    else:
        tuples, log_orderings = sample_tuples(len(log_p), k), 0.0
    prob = onp.exp(log_orderings + onp.sum(log_q[tuples], axis=-1))
    per_tuple = per_tuple_gradients(enumerate_log_pq, params, x, tuples, method, **options)
    mean = prob @ per_tuple
    variance = onp.maximum(prob @ per_tuple ** 2 - mean ** 2, 0.0)
    objective_k = get(method).objective_k(k)

    def bound(f):
        return exact_bound(*enumerate_log_pq(unflatten(f), x), objective_k)
    return {"mean": mean, "variance": variance, "exact": grad(bound)(flat),
            "per_tuple": per_tuple, "probability": prob, "tuples": tuples,
            "objective_k": objective_k, "unflatten": unflatten}


def antithetic_outcomes(probs):
    """For one antithetic pair of a Bernoulli unit with P(1) = p, b = [u < p] and
    b~ = [1 - u < p] with one u ~ U(0, 1): the outcomes (b, b~) of positive probability, as
    a list per unit of (probability, a uniform u that produces the outcome). (1, 0) and
    (0, 1) have probability min(p, 1 - p) each; (1, 1) has 2p - 1 if p > 1/2, (0, 0)
    1 - 2p if p < 1/2."""
    out = []
    for p in onp.ravel(probs):
        low, high = min(p, 1 - p), max(p, 1 - p)
        unit = [(low, low / 2), (low, (1 + high) / 2)]     # (1, 0) and (0, 1)
        if high > low:
            unit.append((high - low, 0.5))                 # (1, 1) or (0, 0)
        out.append(unit)
    return out


def _binary_configurations(n_units):
    """All 2^H binary vectors of H units, (2^H, H), the first unit the most significant bit."""
    return (onp.arange(2 ** n_units)[:, None] >> onp.arange(n_units - 1, -1, -1) & 1).astype(float)


def _stand_in_model(configurations):
    """A model whose parameters hold, per row r of the input, the proposal's logits p["a"][r]
    (H,) and log p(x, h) of every configuration h, p["lp"][r] (2^H,): at binary latents it
    gives the same log p and log q as the real model does for one input x."""
    index_of = 2 ** onp.arange(configurations.shape[1])[::-1]    # configuration -> its row

    def relaxed_log_weights(p, xs, latents):
        a = p["a"][:, None, :]
        log_q = np.sum(latents * a - np.logaddexp(0.0, a), axis=-1)     # Bernoulli(sigmoid(a))
        rows = onp.arange(len(latents))[:, None]
        return p["lp"][rows, (latents @ index_of).astype(int)], log_q
    return SimpleNamespace(proposal_logits=lambda p, xs: p["a"],
                           relaxed_log_weights=relaxed_log_weights)


def _pair_outcomes(logits, k):
    """The multisets of the outcomes of K/2 antithetic pairs of units with these logits: the
    uniforms producing each, (M, K/2, H), and each multiset's probability (M,)."""
    pair = list(itertools.product(*antithetic_outcomes(1 / (1 + onp.exp(-logits)))))
    pair_prob = onp.array([math.prod(p for p, _ in outcome) for outcome in pair])
    pair_u = onp.array([[u for _, u in outcome] for outcome in pair])
    rows, log_orderings = sample_multisets(len(pair), k // 2)
    return pair_u[rows], onp.exp(log_orderings) * onp.prod(pair_prob[rows], axis=1)


def exact_antithetic_moments(model, params, x, k, method, **options):
    """Exact mean and variance of an antithetic-pair estimator's gradient (DisARM) for one
    input x of a model with a factorised proposal, from every multiset of outcomes of its K/2
    pairs (_pair_outcomes), and the gradient of the exact objective it follows; a dict as
    exact_gradient_moments returns ("per_tuple": one row per multiset of outcomes).

    One backward pass for all outcomes: an outcome's estimate depends on the parameters only
    through the H logits a and the 2^H numbers log p(x, h), so the estimator runs once on a
    stand-in model whose parameters are those numbers, one copy per outcome, and the chain
    rule (times their Jacobians) gives each outcome's gradient. Its reference, calling the
    estimator on each outcome in turn, is in tests/test_estimators_exact.py."""
    flat, unflatten = flatten(params)
    x = onp.asarray(x, dtype=float)[None]
    logits = onp.asarray(model.proposal_logits(params, x))[0]
    configurations = _binary_configurations(len(logits))

    def log_joints(f):                           # log p(x, h) of every configuration h
        return model.relaxed_log_weights(unflatten(f), x, configurations[None])[0][0]
    n = math.comb(3 ** len(logits) + k // 2 - 1, k // 2)      # at most: 3^H outcomes a pair
    if n * (len(flat) + len(configurations)) > 16 * MAX_TUPLES:
        raise ValueError(f"{n} outcomes of {k // 2} pairs, with {len(flat)} parameters, is too "
                         "many to enumerate here; use fewer pairs or Monte Carlo")
    uniforms, prob = _pair_outcomes(logits, k)
    stand_in = {"a": onp.repeat(logits[None], len(prob), axis=0),
                "lp": onp.repeat(onp.asarray(log_joints(flat))[None], len(prob), axis=0)}
    g = grad(lambda p: np.sum(objective_per_example(
        _stand_in_model(configurations), p, onp.zeros((len(prob), 1)), k, Fixed(uniforms),
        method, **options)))(stand_in)
    per_outcome = (g["a"] @ jacobian(lambda f: model.proposal_logits(unflatten(f), x)[0])(flat)
                   + g["lp"] @ jacobian(log_joints)(flat))
    mean = prob @ per_outcome
    objective_k = get(method).objective_k(k)

    def bound(f):
        return exact_bound(*model.enumerate_log_pq(unflatten(f), x[0]), objective_k)
    return {"mean": mean, "variance": onp.maximum(prob @ per_outcome ** 2 - mean ** 2, 0.0),
            "exact": grad(bound)(flat), "per_tuple": per_outcome, "probability": prob,
            "objective_k": objective_k, "unflatten": unflatten}
