"""VIMCO's per-sample learning signals by leave-one-out (Mnih & Rezende 2016, eqs. 9-10).

For log-weights l_1..l_K the signal of sample j is

    L-hat(h^{1:K}) - log (1/K) ( sum_{i != j} f_i + f^_{-j} ),

where f^_{-j} stands in for the left-out f_j: the geometric mean of the others,
exp( sum_{i != j} l_i / (K-1) ) (the paper's choice), or their arithmetic mean
sum_{i != j} f_i / (K-1), for which the subtracted term is log (1/(K-1)) sum_{i != j} f_i.

All K terms need log sum_{i != j} exp(l_i). Subtracting f_j from the total
(log(expm1(...)) tricks) cancels catastrophically when f_j dominates; instead
we combine a prefix and a suffix cumulative logaddexp: O(K) time and memory,
no subtraction, accurate to rounding."""
import numpy as np
from autograd.tracer import getval

from .bounds import log_mean_exp
from .checks import as_log_weights

MEANS = ("geometric", "arithmetic")


def log_sum_exp_others(log_w):
    """log sum_{i != j} exp(l_i) for every j, over the last axis: shape (..., K), K >= 2."""
    empty = np.full(log_w.shape[:-1] + (1,), -np.inf, dtype=log_w.dtype)
    before = np.concatenate([empty, np.logaddexp.accumulate(log_w[..., :-1], axis=-1)], axis=-1)
    after = np.logaddexp.accumulate(log_w[..., :0:-1], axis=-1)[..., ::-1]
    after = np.concatenate([after, empty], axis=-1)
    return np.logaddexp(before, after)


def vimco_signals(log_w, mean="geometric"):
    """Per-sample learning signals L-hat(h^{1:K}) - L-hat(h^{-j}, f^_{-j}) of shape (..., K).

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
