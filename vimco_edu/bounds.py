"""The multi-sample bound (Burda et al. 2016; Mnih & Rezende 2016, eq. 2).

Log-weights are l_k = log p(x, h_k) - log q(h_k | x) for K samples h_k ~ q(h | x),
stored on the last axis of an array of shape (..., K)."""
import autograd.numpy as np
import numpy as onp
from autograd.tracer import getval


def log_mean_exp(a, axis=-1):
    """log (1/K) sum_k exp(a_k) along `axis`, without overflow or underflow.

    The shift by the maximum is a constant for autograd (its gradient cancels),
    so the gradient is the softmax of `a`, the normalised importance weights."""
    value = getval(a)
    if onp.iscomplexobj(value) or not onp.issubdtype(onp.asarray(value).dtype, onp.number):
        raise TypeError(f"a must be a real array, got dtype {onp.asarray(value).dtype}")
    if onp.ndim(value) == 0 or onp.shape(value)[axis] == 0:
        raise ValueError(f"a must have at least one entry along axis {axis} to average over, "
                         f"got shape {onp.shape(value)}")
    shift = np.max(value, axis=axis, keepdims=True)
    shift = np.where(np.isfinite(shift), shift, 0.0)
    mean = np.mean(np.exp(a - shift), axis=axis, keepdims=True)
    return np.squeeze(np.log(mean) + shift, axis=axis)


def bound_estimate(log_w):
    """L-hat(h^{1:K}) = log (1/K) sum_k p(x, h_k) / q(h_k | x), eq. (2) of the paper.

    Its expectation under q is the K-sample bound L^K(x) <= log p(x)."""
    return log_mean_exp(log_w, axis=-1)


def normalised_weights(log_w):
    """w~_k = f(x, h_k) / sum_i f(x, h_i): the softmax of the log-weights over the last axis."""
    log_total = log_mean_exp(log_w, axis=-1) + np.log(np.shape(log_w)[-1])
    return np.exp(log_w - np.expand_dims(log_total, -1))
