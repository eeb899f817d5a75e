"""Chains of stochastic binary layers: the building block of sigmoid belief networks.

A chain of Bernoulli layers walks v_1 -> v_2 -> ... where layer 1 has given
logits and layer l > 1 has logits v_{l-1} W_l + b_l (+ an optional side term).
Every value is either sampled (if not given) or scored; the chain returns the
values and sum_l log Bern(v_l; sigmoid(logits_l)).

Arrays are (B, k, units): k samples for each of B inputs. Anything given once per
input, such as the first layer's logits or the data, is (B, 1, units) and numpy
broadcasting shares it between the k samples, so it is neither copied k times nor
pushed through exp and log k times.

The values are constants for autograd (score-function estimators hold the samples fixed),
so the gradient of the chain's log-probability needs only d/d logits_l = v_l - p_l, with
p_l = sigmoid(logits_l), for every layer: the delta rule of logistic regression. The chain
is therefore a single autograd node whose gradient is written out (_chain_log_prob_vjp) and
checked against autograd's own in tests/test_layers.py; letting autograd trace each layer's
numpy calls instead cost a few percent of a training step in overhead and temporaries.
`chain_log_prob_reference` is the plain definition, one readable line per layer, that the
fast chain equals (in value and, by autograd, in gradient)."""
import autograd.numpy as np
import numpy as onp
from autograd.extend import defvjp, defvjp_argnums, primitive
from autograd.tracer import getval


def sigmoid(a):
    """1 / (1 + exp(-a)), written with tanh so that it never overflows; for showing
    probabilities (accurate to rounding in absolute terms: sigmoid(-40) rounds to 0)."""
    return 0.5 * (np.tanh(0.5 * a) + 1.0)


def bernoulli_stats(logits):
    """For plain-array logits a: the probabilities sigmoid(a) and the log-normaliser
    sum_i softplus(a_i) over the last axis, from a single exp per unit.

    With p = 1 / (1 + e^{-a}) (e^{-a} may overflow to inf, giving p = 0 as it should),
    softplus(a) = log(1 + e^a) = max(a, 0) - log max(p, 1 - p), where max(p, 1 - p) lies
    in [1/2, 1] and is accurate to rounding, and whose logs log_of_product sums."""
    return _stats_of_minus_logits(onp.negative(logits))


def _stats_of_minus_logits(minus_logits):
    """bernoulli_stats given -a, which is what exp needs: the chain computes -(v W + b)
    in the pass that would otherwise add the bias, saving a full-size negation."""
    with onp.errstate(over="ignore"):
        probs = onp.exp(minus_logits)
    probs += 1
    onp.reciprocal(probs, out=probs)
    # |a| + a = 2 max(a, 0) exactly (numpy's maximum with a scalar is 3x slower here)
    work = onp.abs(minus_logits)
    work -= minus_logits
    positive_part = 0.5 * onp.sum(work, axis=-1)
    onp.subtract(1, probs, out=work)                # the buffer is reused for
    onp.maximum(work, probs, out=work)              # max(p, 1 - p)
    return probs, positive_part - log_of_product(work)


def log_of_product(factors, halvings=5):
    """sum_i log(f_i) over the last axis, for f_i in [1/2, 1]: multiply the two halves of
    the axis together `halvings` times (each entry then holds < 2^(halvings + 1)
    factors), then take logs of what is left. numpy's log costs far more than a multiply:
    for 1200 x 784 float32 factors this takes ~0.5 ms against ~2 ms for a log of each."""
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


def bernoulli_log_prob(logits, values):
    """sum_i log Bern(values_i; sigmoid(logits_i)) over the last axis, i.e.
    sum_i v_i a_i - softplus(a_i), for logits of any size: accurate to rounding relative to
    sum_i |v_i a_i| + softplus(a_i). Leading axes broadcast; the last must match."""
    return bernoulli_chain(logits, [], [values])[1]


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


def bernoulli_log_prob_reference(logits, values):
    """sum_i v_i a_i - log(1 + e^{a_i}) over the last axis: the plain Bernoulli formula."""
    return np.sum(values * logits - np.logaddexp(0.0, logits), axis=-1)


def chain_log_prob_reference(first_logits, layers, values, side=None):
    """sum_l log Bern(v_l; sigmoid(a_l)) with a_1 = first_logits, a_l = v_{l-1} W_l + b_l
    (+ side_l): the chain written plainly, for autograd to differentiate on its own."""
    log_prob = bernoulli_log_prob_reference(first_logits, values[0])
    for layer, below, value, extra in zip(layers, values, values[1:], side or [0] * len(layers)):
        log_prob = log_prob + bernoulli_log_prob_reference(
            np.matmul(below, layer["W"]) + layer["b"] + extra, value)
    return log_prob


def bernoulli_chain(first_logits, layers, values=None, rng=None, side=None, k=1):
    """Sample (where `values` is None) or score a chain of Bernoulli layers; the
    log-probability equals chain_log_prob_reference's.

    first_logits: the first layer's logits, (B, 1, units) once per input (to score, also
    anything that broadcasts against the values, e.g. (units,) for a prior);
    layers: dicts {"W", "b"} giving each later layer's logits from the one before;
    values: arrays (B, k, units) to score; any of them may be (B, 1, units), shared by
    the k samples of an input (as the data are);
    side: optional extra logits added to each later layer, (B, 1, units) each;
    rng: a numpy Generator, or any sampler with its random(shape, dtype) method (values are
    v = [u < sigmoid(logits)] for the uniforms u it returns, e.g. sampling.Antithetic's);
    k: samples per input, used only when sampling. Returns (list of values,
    log-probability (B, k)), differentiable in first_logits, the layers and side (the values
    are constants)."""
    n_layers = 1 + len(layers)
    side = list(side or [])
    if values is not None and len(values) != n_layers:
        raise ValueError(f"values must hold {n_layers} arrays (one per layer), got {len(values)}")
    if values is None and (rng is None or onp.shape(getval(first_logits))[1:2] != (1,)
                           or onp.ndim(getval(first_logits)) != 3):
        raise ValueError("sampling a chain needs rng and first_logits of shape (B, 1, units), "
                         f"got rng={rng!r} and first_logits of shape "
                         f"{onp.shape(getval(first_logits))}")
    if side and len(side) != len(layers):
        raise ValueError(f"side must hold {len(layers)} arrays (one per later layer), "
                         f"got {len(side)}")
    values, probs, log_prob = _run_chain(
        getval(first_logits), [getval(layer["W"]) for layer in layers],
        [getval(layer["b"]) for layer in layers], [getval(term) for term in side], values, rng, k)
    # the primitive's arguments, and what each one is: a layer's W, or a term of its logits
    inputs, roles = [first_logits], [("logit term", 0)]
    for n, layer in enumerate(layers, 1):
        inputs += [layer["W"], layer["b"]]
        roles += [("W", n), ("logit term", n)]
    for n, term in enumerate(side, 1):
        inputs.append(term)
        roles.append(("logit term", n))
    return values, _chain_log_prob(*inputs, roles=roles, values=values, probs=probs,
                                   log_prob=log_prob)


def _run_chain(first_logits, weights, biases, side, values, rng, k):
    """The chain's forward pass on plain arrays: its values (sampled where not given), the
    probabilities sigmoid(logits) of every layer and the log-probability (B, k)."""
    out, probs, log_prob = [], [], 0.0
    for index in range(1 + len(weights)):
        if index == 0:
            minus_logits = onp.negative(first_logits)
        else:   # -(v W + b), subtracting the bias in one pass (exp needs -a, see above)
            minus_logits = _rows(out[-1]) @ weights[index - 1]
            onp.subtract(-biases[index - 1], minus_logits, out=minus_logits)
            minus_logits = onp.reshape(minus_logits, onp.shape(out[-1])[:-1] + (-1,))
            if side:
                minus_logits -= side[index - 1]
        p, log_normaliser = _stats_of_minus_logits(minus_logits)
        if values is not None:
            value = onp.asarray(getval(values[index]))
            if value.shape[-1] != p.shape[-1]:
                raise ValueError(f"values[{index}] must have {p.shape[-1]} units on its last "
                                 f"axis (as its logits do), got shape {value.shape}")
        else:   # v = [u < p] for u ~ Uniform(0, 1), written over u
            shape = (p.shape[0], k, p.shape[-1]) if index == 0 else p.shape
            value = rng.random(shape, dtype=p.dtype)
            onp.less(value, p, out=value)
        out.append(value)
        probs.append(p)
        log_prob = log_prob - (_row_dot(value, minus_logits) + log_normaliser)
    return out, probs, log_prob


def _row_dot(a, b):
    """sum_i a_i b_i over the last axis; where one side is (B, 1, n), shared by the k
    samples of each input, as one matrix-vector product per input."""
    if a.ndim == b.ndim == 3 and a.shape != b.shape:
        if a.shape[1] == 1:
            return (b @ onp.swapaxes(a, 1, 2))[..., 0]
        if b.shape[1] == 1:
            return (a @ onp.swapaxes(b, 1, 2))[..., 0]
    return onp.einsum("...i,...i->...", a, b)


@primitive
def _chain_log_prob(*inputs, roles, values, probs, log_prob):
    """Returns the log-probability that _run_chain computed from `inputs` unchanged; the
    inputs are passed so that autograd links this one node to them (instead of a dozen
    nodes per layer), and _chain_log_prob_vjp gives its gradient."""
    return log_prob


def _chain_log_prob_vjp(argnums, ans, inputs, kwargs):
    """The delta rule: d log p / d logits_l = v_l - p_l for every layer l (the values are
    constants). Every term of the logits (first logits, b, side terms) gets the
    g-weighted sum of v_l - p_l over the samples; W_l gets (g v_{l-1})^T (v_l - p_l), which
    scales the narrower v_{l-1} by g rather than the full-size v_l - p_l. Nothing here is
    approximate: tests/test_layers.py checks it against autograd differentiating the formula."""
    roles, values, probs = kwargs["roles"], kwargs["values"], kwargs["probs"]

    def vjp(g):
        # keep the gradients in the chain's dtype (autograd's np.mean sends float64)
        g = onp.asarray(g, probs[-1].dtype)
        deltas = {}

        def delta(layer):
            if layer not in deltas:
                d = onp.subtract(values[layer], probs[layer])
                deltas[layer] = onp.broadcast_to(d, g.shape + d.shape[-1:])
            return deltas[layer]

        def left_times_delta(left, layer):
            """left^T (v_l - p_l) summed over the samples, for left of shape g.shape + (n,).
            Where v_l is shared by the k samples of an input ((B, 1, units), as the data
            are), its part is summed over the samples first: no full-size v_l - p_l."""
            v, p = values[layer], probs[layer]
            if v.shape == (p.shape[0], 1, p.shape[-1]) and p.shape[:-1] == g.shape:
                return _rows(onp.sum(left, axis=1)).T @ _rows(v) - _rows(left).T @ _rows(p)
            return _rows(left).T @ _rows(delta(layer))

        def gradient(argnum):
            role, layer = roles[argnum]
            shape = onp.shape(inputs[argnum])
            if role == "W":
                return left_times_delta(values[layer - 1] * g[..., None], layer)
            if len(shape) == 1:                                 # a bias or a prior
                return left_times_delta(g[..., None], layer)[0]
            return _weighted_sum(g, delta(layer), shape)
        return tuple(gradient(argnum) for argnum in argnums)
    return vjp


defvjp_argnums(_chain_log_prob, _chain_log_prob_vjp)


def _weighted_sum(g, deltas, shape):
    """sum of g * deltas over every axis along which an array of `shape` was broadcast,
    e.g. (B, 1, units) for logits given once per input."""
    if shape == (deltas.shape[0], 1, deltas.shape[-1]) and deltas.ndim == 3:
        return g[:, None, :] @ deltas
    weighted = deltas * g[..., None]
    while weighted.ndim > len(shape):
        weighted = onp.sum(weighted, axis=0)
    return onp.sum(weighted, axis=tuple(i for i, n in enumerate(shape) if n == 1), keepdims=True)
