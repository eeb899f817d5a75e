"""Gradient estimators for the multi-sample bound, written as autograd surrogates.

A surrogate is a scalar whose *value* is the batch-mean bound estimate L-hat and
whose autograd *gradient* is the estimator (Mnih & Rezende 2016, eq. 5):

    sum_j s_j grad log q(h_j | x)  +  sum_j w~_j grad log f(x, h_j),

with the learning signal s_j chosen by the method:

    naive        s_j = L-hat(h^{1:K})                 (shared by all j; K = 1 is REINFORCE)
    nvil         s_j = (L-hat - C(x) - c) / scale     (NVIL baseline, centring, normalisation)
    vimco        s_j = L-hat - L-hat(h^{-j}, geometric mean of the others)
    vimco-arith  s_j = L-hat - L-hat(h^{-j}, arithmetic mean of the others)

The second term is the gradient of L-hat itself with the samples held fixed, so
model parameters (which enter only log p) receive the importance-weighted term
alone, and proposal parameters also receive the learning signals."""
import autograd.numpy as np
from autograd.tracer import getval

from .bounds import bound_estimate
from .checks import as_log_weights, same_shape
from .leave_one_out import vimco_signals

METHODS = ("naive", "nvil", "vimco", "vimco-arith")


def learning_signals(log_w, method, baseline=0.0, centre=0.0, scale=1.0):
    """The signals s_j (shape (..., K)) that multiply grad log q(h_j | x); plain arrays.

    For "nvil", `baseline` is C(x) of shape (...) (or a scalar), `centre` the running
    mean c and `scale` the normaliser max(1, sqrt(running variance))."""
    log_w = getval(log_w)
    if method == "vimco":
        return vimco_signals(log_w, "geometric")
    if method == "vimco-arith":
        return vimco_signals(log_w, "arithmetic")
    shared = bound_estimate(log_w)
    if method == "nvil":
        if not scale > 0:
            raise ValueError(f"scale must be positive, got {scale}")
        shared = (shared - getval(baseline) - centre) / scale
    elif method != "naive":
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    return np.broadcast_to(np.expand_dims(shared, -1), log_w.shape)


def surrogate_per_example(log_p, log_q, method="vimco", baseline=None, centre=0.0, scale=1.0):
    """One surrogate per example (shape (...)): value L-hat, gradient the estimator.

    `log_p` = log p(x, h_k) and `log_q` = log q(h_k | x), shape (..., K), for samples
    h_k held fixed. For "nvil", `baseline` (shape (...)) may be traced: it then also
    receives the gradient of -(L-hat - c - C(x))^2 / 2, NVIL's regression, which
    changes the surrogate's gradient but not its value."""
    min_k = 2 if method.startswith("vimco") else 1
    same_shape(log_p, log_q, "log_p", "log_q")
    as_log_weights(log_p, "log_p", min_k)
    as_log_weights(log_q, "log_q", min_k)
    log_w = log_p - log_q
    as_log_weights(log_w, "log_p - log_q", min_k)
    if method == "nvil":
        if baseline is None:
            baseline = 0.0
        if np.ndim(getval(baseline)) and np.shape(getval(baseline)) != np.shape(getval(log_w))[:-1]:
            raise ValueError(f"baseline must have shape {np.shape(getval(log_w))[:-1]} "
                             f"(one value per example), got {np.shape(getval(baseline))}")
    elif baseline is not None:
        raise ValueError(f"baseline is only used by method 'nvil', not {method!r}")
    signals = learning_signals(log_w, method, baseline, centre, scale)
    lhat = bound_estimate(log_w)
    # (log_q - getval(log_q)) is zero in value but has the gradient of log q.
    score = np.sum(signals * (log_q - getval(log_q)), axis=-1)
    out = lhat + score
    if method == "nvil":
        regression = -0.5 * (getval(lhat) - centre - baseline) ** 2
        out = out + regression - getval(regression)
    return out


def surrogate(log_p, log_q, method="vimco", **options):
    """Batch-mean surrogate: autograd's gradient of it is the chosen estimator of the
    gradient of the batch-mean L^K; its value is the batch-mean L-hat. Options:
    `baseline`, `centre`, `scale` for "nvil" (see surrogate_per_example)."""
    return np.mean(surrogate_per_example(log_p, log_q, method, **options))
