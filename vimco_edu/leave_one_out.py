"""VIMCO's per-sample learning signals by leave-one-out (Mnih & Rezende 2016, eqs. 9-10).

For log-weights l_1..l_K the signal of sample j is

    L-hat(h^{1:K}) - log (1/K) ( sum_{i != j} f_i + f^_{-j} ),

where f^_{-j} stands in for the left-out f_j: the geometric mean of the others,
exp( sum_{i != j} l_i / (K-1) ) (the paper's choice), or their arithmetic mean
sum_{i != j} f_i / (K-1), for which the subtracted term is log (1/(K-1)) sum_{i != j} f_i.

All K terms need log sum_{i != j} exp(l_i). Subtracting f_j from the total
(log(expm1(...)) tricks) cancels catastrophically when f_j dominates. Instead we scale
by the largest weight, so that every sum that leaves out some *other* sample still
contains the leader's 1, and add prefix and suffix cumulative sums (no subtraction);
the leader's own sum is taken once, scaled by the second largest weight. O(K) time and
memory, accurate to rounding, whatever the spread of the log-weights.
`vimco_signals_brute_force` is the plain O(K^2) definition that the fast version equals."""
import numpy as np
from autograd.tracer import getval

from .bounds import log_mean_exp
from .checks import as_log_weights

MEANS = ("geometric", "arithmetic")


def log_sum_exp_others(log_w):
    """log sum_{i != j} exp(l_i) for every j, over the last axis: shape (..., K), K >= 2."""
    leader = np.argmax(log_w, axis=-1)[..., None]
    shift = np.take_along_axis(log_w, leader, axis=-1)
    scaled = np.exp(log_w - shift)  # the leader is 1, no overflow; >= 1 in every sum below
    zero = np.zeros_like(shift)
    before = np.concatenate([zero, np.cumsum(scaled[..., :-1], axis=-1)], axis=-1)
    after = np.concatenate([np.cumsum(scaled[..., :0:-1], axis=-1)[..., ::-1], zero], axis=-1)
    with np.errstate(divide="ignore"):  # log(0) at the leader is replaced just below
        out = shift + np.log(before + after)
    is_leader = np.arange(log_w.shape[-1]) == leader
    without_leader = np.where(is_leader, -np.inf, log_w)
    second = np.max(without_leader, axis=-1, keepdims=True)
    leader_sum = second + np.log(np.sum(np.exp(without_leader - second), axis=-1, keepdims=True))
    return np.where(is_leader, leader_sum, out)


def vimco_signals(log_w, mean="geometric"):
    """Per-sample learning signals L-hat(h^{1:K}) - L-hat(h^{-j}, f^_{-j}) of shape (..., K)
    (eqs. 9-10); equals vimco_signals_brute_force in O(K) time and memory.

    `log_w` holds finite log-weights with K >= 2 on the last axis; `mean` is
    "geometric" (the paper's default) or "arithmetic". The signals are plain
    arrays (no gradient flows through them), computed in float64 and returned
    in the input's floating dtype."""
    if mean not in MEANS:
        raise ValueError(f"mean must be one of {MEANS}, got {mean!r}")
    log_w = as_log_weights(getval(log_w), "log_w", min_k=2)
    work = log_w.astype(np.float64)
    k = work.shape[-1]
    others = log_sum_exp_others(work)
    if mean == "geometric":
        log_fill = (np.sum(work, axis=-1, keepdims=True) - work) / (k - 1)
        log_mean_without_j = np.logaddexp(others, log_fill) - np.log(k)
    else:
        log_mean_without_j = others - np.log(k - 1)
    signals = log_mean_exp(work)[..., None] - log_mean_without_j
    return signals.astype(log_w.dtype, copy=False)


def vimco_signals_brute_force(log_w, mean="geometric"):
    """The plain O(K^2) definition: for each j, take the K - 1 others (row j of `others`),
    fill in the geometric or arithmetic mean of their weights for f_j, and subtract the
    resulting L-hat from the full one. The reference that tests and benchmarks compare with."""
    if mean not in MEANS:
        raise ValueError(f"mean must be one of {MEANS}, got {mean!r}")
    log_w = as_log_weights(log_w, "log_w", min_k=2).astype(np.float64)
    k = log_w.shape[-1]
    others = log_w[..., np.where(~np.eye(k, dtype=bool))[1].reshape(k, k - 1)]  # (..., K, K-1)
    fill = others.mean(-1) if mean == "geometric" else log_mean_exp(others)
    without_j = log_mean_exp(np.concatenate([others, fill[..., None]], axis=-1))
    return log_mean_exp(log_w)[..., None] - without_j
