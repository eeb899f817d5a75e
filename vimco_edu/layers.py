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

    A custom autograd primitive because it is the hot spot of SBN training: it needs
    one exp and one log (numpy's logaddexp costs an exp and a slow log1p, and its
    gradient two more exps), and its gradient v - sigmoid(a) reuses e^{-|a|}."""
    return _bernoulli_log_prob_and_cache(logits, values)[0]


def _bernoulli_log_prob_and_cache(logits, values):
    decay = onp.exp(-onp.abs(logits))
    softplus = onp.maximum(logits, 0) + onp.log(1 + decay)
    return onp.sum(values * logits - softplus, axis=-1), decay


def _bernoulli_log_prob_vjp(ans, logits, values):
    decay = onp.exp(-onp.abs(logits))
    probs = onp.where(logits >= 0, 1, decay) / (1 + decay)
    return lambda g: unbroadcast(onp.expand_dims(g, -1) * (values - probs), logits)


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
