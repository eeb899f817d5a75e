"""Exact answers by enumeration, for models with a few binary latents.

With C latent configurations, per-configuration log p(x, h) and log q(h | x) (shape
(C,)) determine everything: log p(x) = log sum_h p(x, h), and since K samples form
one of C^K equally enumerable tuples,

    L^K = sum_{tuples t} prod_k q(h_{t_k} | x) * L-hat(h_{t_1}, ..., h_{t_K}),

a differentiable function of the parameters. Any estimator's mean and variance
follow the same way: its value on each tuple weighted by the tuple's probability."""
import itertools

import autograd.numpy as np
import numpy as onp
from autograd import elementwise_grad, grad, jacobian
from autograd.misc import flatten

from .bounds import bound_estimate, log_mean_exp
from .checks import positive_int
from .estimators import surrogate_per_example

MAX_TUPLES = 2 ** 20


def sample_tuples(n_configs, k):
    """All C^K ordered K-tuples of configuration indices, shape (C^K, K)."""
    k = positive_int(k, "k")
    if n_configs ** k > MAX_TUPLES:
        raise ValueError(f"{n_configs}^{k} tuples is too many to enumerate (limit {MAX_TUPLES}); "
                         "use fewer latents or a smaller k")
    return onp.array(list(itertools.product(range(n_configs), repeat=k)), dtype=int)


def exact_log_marginal(log_p):
    """log p(x) = log sum_h p(x, h) from per-configuration log joints (..., C)."""
    return log_mean_exp(log_p) + np.log(np.shape(log_p)[-1])


def exact_bound(log_p, log_q, k):
    """L^K exactly: the q-probability-weighted mean of L-hat over all K-tuples."""
    tuples = sample_tuples(np.shape(log_p)[-1], k)
    log_prob = np.sum(log_q[..., tuples], axis=-1)
    return np.sum(np.exp(log_prob) * bound_estimate(log_p[..., tuples] - log_q[..., tuples]), -1)


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


def exact_gradient_moments(enumerate_log_pq, params, x, k, method, **options):
    """Exact mean and variance, per parameter, of an estimator's gradient for one input x,
    by enumerating all C^K tuples, and autograd's gradient of the exact L^K to compare
    the mean with. Returns a dict of flat arrays "mean", "variance", "exact" (gradient
    of L^K), "per_tuple" (the estimate on every tuple), "probability" (of every tuple),
    and "unflatten" (to turn a flat array back into the parameters' dict)."""
    flat, unflatten = flatten(params)
    log_p, log_q = (onp.asarray(a) for a in enumerate_log_pq(params, x))
    tuples = sample_tuples(len(log_p), k)
    prob = onp.exp(onp.sum(log_q[tuples], axis=-1))
    per_tuple = per_tuple_gradients(enumerate_log_pq, params, x, tuples, method, **options)
    mean = prob @ per_tuple
    variance = onp.maximum(prob @ per_tuple ** 2 - mean ** 2, 0.0)

    def bound(f):
        return exact_bound(*enumerate_log_pq(unflatten(f), x), k)
    return {"mean": mean, "variance": variance, "exact": grad(bound)(flat),
            "per_tuple": per_tuple, "probability": prob, "unflatten": unflatten}
