"""Monte Carlo gradient statistics: draw an estimator's gradient many times and
report its mean, variance and signal-to-noise ratio |mean| / std per parameter
(the SNR of Rainforth et al. 2018). Exact counterparts live in `exact`."""
import autograd.numpy as np
import numpy as onp
from autograd import grad
from autograd.misc import flatten

from .checks import generator, positive_int
from .estimators import objective_per_example
from .exact import per_tuple_gradients


def gradient_draws(model, params, x, k, method, n_draws, rng, **options):
    """n_draws independent estimates of the gradient of the batch mean of the estimator's
    objective (L^K for most) at `params`, each from fresh samples: an array
    (n_draws, n_parameters) of flat gradients. `model` is a model module (models.py) or, for
    estimators of log-weights, its log_weights function."""
    rng = generator(rng)
    n_draws = positive_int(n_draws, "n_draws")

    def objective(p):
        return np.mean(objective_per_example(model, p, x, k, rng, method, **options))
    gradient = grad(objective)
    return onp.stack([flatten(gradient(params))[0] for _ in range(n_draws)])


def batch_means(model, params, x, k, method, n_groups, group_size, rng, **options):
    """Mean and variance of one draw of an estimator's gradient for one input x, from
    n_groups x group_size independent draws in only n_groups backward passes: each pass
    averages group_size draws (x repeated), and the spread of the group means gives the
    variance of one draw, Var[g] ~ group_size * Var[group mean] (the batch-means estimator).
    Returns flat arrays "mean", "variance", and their standard errors "se_mean" and
    "se_variance" (normal approximation: variance * sqrt(2 / (n_groups - 1)))."""
    rng = generator(rng)
    n_groups = positive_int(n_groups, "n_groups", minimum=2)
    group_size = positive_int(group_size, "group_size")
    xs = onp.repeat(onp.asarray(x, dtype=float)[None], group_size, axis=0)

    def group_mean(p):
        return np.mean(objective_per_example(model, p, xs, k, rng, method, **options))
    gradient = grad(group_mean)
    means = onp.stack([flatten(gradient(params))[0] for _ in range(n_groups)])
    variance = group_size * means.var(axis=0, ddof=1)
    return {"mean": means.mean(axis=0), "variance": variance,
            "se_mean": onp.sqrt(variance / (n_groups * group_size)),
            "se_variance": variance * onp.sqrt(2 / (n_groups - 1))}


def enumerable_gradient_draws(enumerate_log_pq, params, x, k, method, n_draws, rng, **options):
    """The same draws for a model small enough to enumerate, vectorised: sample
    configuration indices from q, then use exact.per_tuple_gradients. Fast for K up to
    10^4 or so, for one input x; returns (n_draws, n_parameters)."""
    rng = generator(rng)
    k, n_draws = positive_int(k, "k"), positive_int(n_draws, "n_draws")
    log_q = onp.asarray(enumerate_log_pq(params, x)[1])
    tuples = rng.choice(len(log_q), size=(n_draws, k), p=onp.exp(log_q) / onp.exp(log_q).sum())
    return per_tuple_gradients(enumerate_log_pq, params, x, tuples, method, **options)


def moments(draws):
    """Mean, variance and SNR = |mean| / sqrt(variance) of gradient draws, per parameter."""
    draws = onp.asarray(draws)
    if draws.ndim < 1 or len(draws) < 2:
        raise ValueError(f"draws must hold at least 2 gradient draws (on the first axis) to "
                         f"estimate a variance, got shape {draws.shape}")
    mean, variance = draws.mean(axis=0), draws.var(axis=0, ddof=1)
    with onp.errstate(divide="ignore", invalid="ignore"):
        snr = onp.where(variance > 0, onp.abs(mean) / onp.sqrt(variance), onp.inf)
    return {"mean": mean, "variance": variance, "snr": snr}


def bootstrap_se(draws, statistic, rng, n_boot=200, strata=None):
    """The bootstrap standard error of statistic(draws) (Efron & Tibshirani 1993, ch. 6):
    the standard deviation of the statistic over `n_boot` resamples of the draws (rows, with
    replacement). For any summary of Monte Carlo gradient draws, such as the total variance
    sum_i Var[g_i] or the median SNR, where no simple formula for the error exists. With
    `strata` (one label per row), stratified draws are resampled within each stratum, so every
    stratum keeps its size (and its weights, if a column holds them)."""
    rng = generator(rng)
    draws = onp.asarray(draws)
    if draws.ndim < 1 or len(draws) < 2:
        raise ValueError(f"draws must hold at least 2 rows to resample, got shape {draws.shape}")
    n_boot = positive_int(n_boot, "n_boot", minimum=2)
    if strata is None:
        members = [onp.arange(len(draws))]
    else:
        strata = onp.asarray(strata)
        if strata.shape != draws.shape[:1]:
            raise ValueError(f"strata must hold one label per row of draws ({len(draws)}), got "
                             f"shape {strata.shape}")
        members = [onp.flatnonzero(strata == s) for s in onp.unique(strata)]
    values = [statistic(draws[onp.concatenate([m[rng.integers(0, len(m), len(m))]
                                               for m in members])])
              for _ in range(n_boot)]
    return onp.std(values, axis=0, ddof=1)


def proposal_mask(params):
    """Boolean mask over `flatten(params)[0]`: True where the entry belongs to the proposal
    (the recognition network, params["rec"]), False for the model's parameters."""
    flat, unflatten = flatten(params)
    position = unflatten(onp.arange(len(flat), dtype=float))  # where each entry sits in `flat`
    mask = onp.zeros(len(flat), dtype=bool)
    for layer in position.get("rec", []):
        for value in layer.values():
            mask[onp.asarray(value, dtype=int).ravel()] = True
    return mask
