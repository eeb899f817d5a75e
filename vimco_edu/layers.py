"""Chains of stochastic binary layers: the building block of sigmoid belief networks.

A chain of Bernoulli layers walks v_1 -> v_2 -> ... where layer 1 has given
logits and layer l > 1 has logits v_{l-1} W_l + b_l (+ an optional side term).
Every value is either sampled (if not given) or scored; the chain returns the
values and sum_l log Bern(v_l; sigmoid(logits_l)).

Arrays are (B, k, units): k samples for each of B inputs. Anything given once per
input, such as the first layer's logits or the data, is (B, 1, units) and numpy
broadcasting shares it between the k samples, so it is neither copied k times nor
pushed through exp and log k times."""
import autograd.numpy as np
import numpy as onp
from autograd.extend import defvjp, primitive
from autograd.tracer import getval


def sigmoid(a):
    """1 / (1 + exp(-a)), written with tanh so that it never overflows."""
    return 0.5 * (np.tanh(0.5 * a) + 1.0)


def bernoulli_stats(logits):
    """For plain-array logits a: the probabilities sigmoid(a) and the log-normaliser
    sum_i softplus(a_i) over the last axis, from a single exp per unit.

    With p = 1 / (1 + e^{-a}) (e^{-a} may overflow to inf, giving p = 0 as it should),
    softplus(a) = log(1 + e^a) = max(a, 0) - log max(p, 1 - p), where max(p, 1 - p) lies
    in [1/2, 1] and is accurate to rounding. The logs are taken of products of fewer than
    64 such factors (never below 2^-64, so no underflow even in float32): about one log
    per 32 units instead of one per unit, for ~1e-14 extra rounding in float64."""
    logits = onp.asarray(logits)
    probs = onp.negative(logits)
    with onp.errstate(over="ignore"):
        onp.exp(probs, out=probs)
    probs += 1
    onp.reciprocal(probs, out=probs)
    work = onp.abs(logits)
    work += logits                                  # 2 max(a, 0), exactly
    positive_part = 0.5 * onp.sum(work, axis=-1)
    onp.subtract(1, probs, out=work)
    onp.maximum(work, probs, out=work)              # max(p, 1 - p)
    return probs, positive_part - log_of_product(work)


def log_of_product(factors, halvings=5):
    """sum_i log(f_i) over the last axis, for f_i in [1/2, 1]: multiply the two halves of
    the axis together `halvings` times (each entry then holds < 2^(halvings + 1)
    factors), then take logs of what is left. numpy's exp/log cost far more than a multiply."""
    for _ in range(halvings):
        n = factors.shape[-1]
        if n == 1:
            break
        half = n // 2
        paired = factors[..., :half] * factors[..., half:2 * half]
        if n % 2:
            paired[..., :1] *= factors[..., -1:]   # the odd one out joins the first column
        factors = paired
    return onp.sum(onp.log(factors), axis=-1)


@primitive
def _bernoulli_log_prob(logits, values, probs, log_normaliser):
    """sum_i v_i a_i - sum_i softplus(a_i), given sigmoid(a) and sum_i softplus(a_i)
    already computed from the logits' value (so that sampling, the value and the
    gradient share them); differentiable in the logits only: d/da = v - sigmoid(a)."""
    return onp.einsum("...i,...i->...", values, logits) - log_normaliser


def _bernoulli_log_prob_vjp(ans, logits, values, probs, log_normaliser):
    def vjp(g):
        work = onp.subtract(values, probs)
        # g arrives in float64 from autograd's np.mean even for float32 models: cast the
        # small (B, k) array, not the full-size product
        work *= onp.expand_dims(onp.asarray(g, work.dtype), -1)
        return unbroadcast(work, logits)
    return vjp


defvjp(_bernoulli_log_prob, _bernoulli_log_prob_vjp)


def bernoulli_log_prob(logits, values):
    """sum_i log Bern(values_i; sigmoid(logits_i)) over the last axis (shapes broadcast),
    i.e. sum_i v_i a_i - softplus(a_i), accurate for logits of any size."""
    return _bernoulli_log_prob(logits, values, *bernoulli_stats(getval(logits)))


def unbroadcast(gradient, target):
    """Sum a gradient over the axes along which `target` was broadcast."""
    while onp.ndim(gradient) > onp.ndim(target):
        gradient = onp.sum(gradient, axis=0)
    for axis, size in enumerate(onp.shape(target)):
        if size == 1 and gradient.shape[axis] != 1:
            gradient = onp.sum(gradient, axis=axis, keepdims=True)
    return gradient


def affine(layer, inputs):
    """inputs W + b for a layer dict {"W", "b"}; inputs of shape (..., n_in) are multiplied
    as one 2-D matrix (one BLAS call, not one per leading index)."""
    return _affine(inputs, layer["W"], layer["b"])


def _rows(a):
    """A view of `a` as a 2-D matrix with the last axis as columns."""
    return onp.reshape(a, (-1, onp.shape(a)[-1]))


@primitive
def _affine(inputs, weights, bias):
    """A primitive rather than `inputs @ W + b` traced by autograd: the bias is added in
    place (no second full-size array) and its gradient is one matrix-vector product."""
    out = _rows(inputs) @ weights
    out += bias
    return onp.reshape(out, onp.shape(inputs)[:-1] + (onp.shape(weights)[-1],))


defvjp(_affine,
       lambda ans, inputs, weights, bias: lambda g: onp.reshape(_rows(g) @ weights.T,
                                                                onp.shape(inputs)),
       lambda ans, inputs, weights, bias: lambda g: _rows(inputs).T @ _rows(g),
       lambda ans, inputs, weights, bias: lambda g: onp.ones(len(_rows(g)), g.dtype) @ _rows(g))


def per_input(latents, batch, k):
    """Latents given as B*k rows (input-major) as (B, k, units) arrays (views, no copies)."""
    return None if latents is None else [onp.reshape(h, (batch, k, -1)) for h in latents]


def as_rows(values, log_prob):
    """A chain's (B, k, units) values and (B, k) log-probability as B*k rows."""
    return [np.reshape(v, (-1, np.shape(v)[-1])) for v in values], np.reshape(log_prob, (-1,))


def bernoulli_chain(first_logits, layers, values=None, rng=None, side=None, k=1):
    """Sample (where `values` is None) or score a chain of Bernoulli layers.

    first_logits: the first layer's logits, (B, 1, units) once per input (or anything
    that broadcasts against the values, e.g. (units,) for a prior);
    layers: dicts {"W", "b"} giving each later layer's logits from the one before;
    values: arrays (B, k, units) to score (the last may be (B, 1, units));
    side: optional extra logits added to each later layer, (B, 1, units) each;
    k: samples per input when sampling. Returns (list of values, log-probability (B, k))."""
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
        probs, log_normaliser = bernoulli_stats(getval(logits))
        if values is not None:
            value = values[index]
        else:
            shape = (probs.shape[0], k, probs.shape[-1]) if index == 0 else probs.shape
            value = (rng.random(shape, dtype=probs.dtype) < probs).astype(probs.dtype)
        out.append(value)
        log_prob = log_prob + _bernoulli_log_prob(logits, value, probs, log_normaliser)
    return out, log_prob
