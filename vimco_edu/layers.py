"""Chains of stochastic binary layers: the building block of sigmoid belief networks.

A chain of Bernoulli layers walks v_1 -> v_2 -> ... where layer 1 has given
logits and layer l > 1 has logits v_{l-1} W_l + b_l (+ an optional per-row
side term). Every value is either sampled (if not given) or scored; the chain
returns the values and sum_l log Bern(v_l; sigmoid(logits_l))."""
import autograd.numpy as np
import numpy as onp
from autograd.extend import defvjp, primitive
from autograd.tracer import getval


def sigmoid(a):
    """1 / (1 + exp(-a)), written with tanh so that it never overflows."""
    return 0.5 * (np.tanh(0.5 * a) + 1.0)


@primitive
def bernoulli_log_prob(logits, values):
    """sum_i log Bern(values_i; sigmoid(logits_i)) over the last axis, i.e.
    sum_i v_i a_i - softplus(a_i), with softplus(a) = max(a, 0) + log(1 + e^{-|a|}).

    A custom autograd primitive because it is the hot spot of SBN training. Written
    with numpy's logaddexp it costs an exp and a slow log1p, its autograd gradient two
    more exps, and each step allocates a fresh full-size temporary. Here the value costs
    one exp and one log and the gradient v - sigmoid(a) one tanh, all computed in place
    in one work array: about three times faster (benchmarks/run.py, item 3)."""
    work = onp.abs(logits)
    onp.negative(work, out=work)
    onp.exp(work, out=work)
    work += 1
    onp.log(work, out=work)                 # log(1 + e^{-|a|})
    work += onp.maximum(logits, 0)          # softplus(a)
    return onp.einsum("...i,...i->...", values, logits) - work.sum(axis=-1)


def _bernoulli_log_prob_vjp(ans, logits, values):
    def vjp(g):
        shape = onp.broadcast_shapes(onp.shape(logits), onp.shape(values))
        work = onp.multiply(onp.broadcast_to(logits, shape), 0.5)
        onp.tanh(work, out=work)
        work *= -0.5
        work -= 0.5                         # -sigmoid(a) = -(tanh(a / 2) + 1) / 2
        work += values                      # v - sigmoid(a)
        work *= onp.expand_dims(g, -1)
        return unbroadcast(work, logits)
    return vjp


def unbroadcast(gradient, target):
    """Sum a gradient over the axes along which `target` was broadcast."""
    while onp.ndim(gradient) > onp.ndim(target):
        gradient = onp.sum(gradient, axis=0)
    for axis, size in enumerate(onp.shape(target)):
        if size == 1 and gradient.shape[axis] != 1:
            gradient = onp.sum(gradient, axis=axis, keepdims=True)
    return gradient


defvjp(bernoulli_log_prob, _bernoulli_log_prob_vjp)


def bernoulli_sample(logits, rng):
    """Binary samples with P(1) = sigmoid(logits); no gradient flows through them."""
    probs = sigmoid(getval(logits))
    return (rng.random(np.shape(probs), dtype=probs.dtype) < probs).astype(probs.dtype)


def affine(layer, inputs):
    """inputs W + b for a layer dict {"W", "b"}. (The @ operator, not np.dot: autograd
    differentiates np.dot through tensordot, which copies transposes; matmul does not.)"""
    return inputs @ layer["W"] + layer["b"]


def bernoulli_chain(first_logits, layers, values=None, rng=None, side=None):
    """Sample (where `values` is None) or score a chain of Bernoulli layers.

    first_logits: logits of the first layer, shape (N, units) (or (units,) when scoring);
    layers: dicts {"W", "b"} giving each later layer's logits from the one before;
    side: optional list of extra logits added to each later layer (per row).
    Returns (list of values, log-probability of shape (N,))."""
    n_layers = 1 + len(layers)
    if values is not None and len(values) != n_layers:
        raise ValueError(f"values must hold {n_layers} arrays (one per layer), got {len(values)}")
    if values is None and rng is None:
        raise ValueError("rng is required to sample a chain whose values are not given")
    out, log_prob, logits = [], 0.0, first_logits
    for index in range(n_layers):
        if index > 0:
            logits = affine(layers[index - 1], out[-1])
            if side is not None:
                logits = logits + side[index - 1]
        value = values[index] if values is not None else bernoulli_sample(logits, rng)
        out.append(value)
        log_prob = log_prob + bernoulli_log_prob(logits, value)
    return out, log_prob
