"""Chains of stochastic binary layers: the building block of sigmoid belief networks.

A layer of independent Bernoulli units with logits a gives values v in {0, 1} the
log-probability

    log Bern(v; sigmoid(a)) = sum_i v_i a_i - softplus(a_i),    softplus(a) = log(1 + e^a).

A chain walks v_1 -> v_2 -> ... where layer 1 has given logits and layer l > 1 has logits
a_l = v_{l-1} W_l + b_l (+ an optional side term); its log-probability is the sum over its
layers. The first functions below are these definitions, written as one would write them.
`bernoulli_chain`, which the models call, samples or scores a chain with the same numbers
computed faster (_fast_chain.py; tests/test_layers.py checks the two agree).

Arrays are (B, k, units): k samples for each of B inputs. Anything given once per input,
such as the first layer's logits or the data, is (B, 1, units) and numpy broadcasting shares
it between the k samples, so it is neither copied k times nor pushed through exp and log k
times."""
import autograd.numpy as np
import numpy as onp

from . import _fast_chain


def bernoulli_log_prob(logits, values):
    """sum_i v_i a_i - softplus(a_i) over the last axis: log Bern(values; sigmoid(logits))."""
    return np.sum(values * logits - np.logaddexp(0.0, logits), axis=-1)


def affine(layer, inputs):
    """inputs W + b for a layer dict {"W", "b"}: the logits of the layer above `inputs`."""
    return np.matmul(inputs, layer["W"]) + layer["b"]


def chain_log_prob(first_logits, layers, values, side=None):
    """sum_l log Bern(v_l; sigmoid(a_l)) with a_1 = first_logits and
    a_l = v_{l-1} W_l + b_l (+ side_l) for the layers {"W", "b"} after the first."""
    log_prob = bernoulli_log_prob(first_logits, values[0])
    for layer, below, value, extra in zip(layers, values, values[1:], side or [0] * len(layers)):
        log_prob = log_prob + bernoulli_log_prob(affine(layer, below) + extra, value)
    return log_prob


def bernoulli_chain(first_logits, layers, values=None, rng=None, side=None, k=1):
    """Sample (where `values` is None) or score a chain of Bernoulli layers: returns
    (list of values, chain_log_prob of them), computed by _fast_chain.chain.

    first_logits: the first layer's logits, (B, 1, units) once per input (to score, also
    anything that broadcasts against the values, e.g. (units,) for a prior);
    layers: dicts {"W", "b"} giving each later layer's logits from the one before;
    values: arrays (B, k, units) to score; any of them may be (B, 1, units), shared by
    the k samples of an input (as the data are);
    side: optional extra logits added to each later layer, (B, 1, units) each;
    rng: a numpy Generator, or any sampler with its random(shape, dtype) method: a sample is
    v = [u < sigmoid(a)] for the uniforms u it returns (e.g. sampling.Antithetic's);
    k: samples per input, used only when sampling. The log-probability (B, k) is
    differentiable in first_logits, the layers and side (the values are constants)."""
    return _fast_chain.chain(first_logits, layers, values, rng, side, k)


def sigmoid(a):
    """1 / (1 + exp(-a)), written with tanh so that it never overflows; for showing
    probabilities (accurate to rounding in absolute terms: sigmoid(-40) rounds to 0)."""
    return 0.5 * (np.tanh(0.5 * a) + 1.0)


def per_input(latents, batch, k):
    """Latents given as B*k rows (input-major) as (B, k, units) arrays (views, no copies)."""
    return None if latents is None else [onp.reshape(h, (batch, k, -1)) for h in latents]


def as_rows(values, log_prob):
    """A chain's (B, k, units) values and (B, k) log-probability as B*k rows."""
    return [np.reshape(v, (-1, np.shape(v)[-1])) for v in values], np.reshape(log_prob, (-1,))


# The names these definitions had when they were the reference beside a fast version here
bernoulli_log_prob_reference = bernoulli_log_prob
chain_log_prob_reference = chain_log_prob
