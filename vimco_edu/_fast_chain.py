"""The fast path behind layers.bernoulli_chain: the numbers of layers.chain_log_prob (the
plain definition), with fewer passes over memory. Its contract is tests/test_layers.py, which
checks values and gradients against the plain definition.

What makes it fast (each measured on a VIMCO K=50 training step, see benchmarks/run.py):
- the chain is one autograd node whose gradient is written out: the delta rule
  d log p / d a_l = v_l - p_l (the values are constants), so autograd traces no per-layer
  arithmetic and no layer computes a gradient with respect to its input;
- one exp per unit gives sigmoid(a), and one log per 16 units the row sums of softplus(a)
  (on an AVX2 CPU, a step takes ~18% less time than with one tanh and one log per unit,
  which numpy computes several times more slowly than exp there);
- each layer's elementwise passes run over blocks of rows that stay in the CPU's cache (~6%
  with the tanh chain; with the exp chain on an AVX2 CPU, blocks of 2^17 elements and none at
  all were within noise of each other, so the blocks may no longer pay);
- row sums are matrix-vector products (~3%).

Arrays are (B, k, units): k samples for each of B inputs; anything given once per input
(first logits, data, side terms) is (B, 1, units) and broadcasts."""
import numpy as onp
from autograd.extend import defvjp_argnums, primitive
from autograd.tracer import getval

BLOCK = 1 << 17     # elements per block of rows: the few arrays a block uses fit in L2 cache


def chain(first_logits, layers, values=None, rng=None, side=None, k=1):
    """layers.bernoulli_chain: sample or score a chain; returns (values, log-probability)."""
    side = list(side or [])
    _check(first_logits, layers, values, rng, side)
    run = _forward(getval(first_logits), [getval(layer["W"]) for layer in layers],
                   [getval(layer["b"]) for layer in layers], [getval(s) for s in side],
                   values, rng, k)
    params = [p for layer in layers for p in (layer["W"], layer["b"])]
    return run["values"], _log_prob(first_logits, *params, *side, run=run)


def _check(first_logits, layers, values, rng, side):
    """The errors layers.bernoulli_chain promises for arguments it would get wrong."""
    first = getval(first_logits)
    if values is not None and len(values) != 1 + len(layers):
        raise ValueError(f"values must hold {1 + len(layers)} arrays (one per layer), "
                         f"got {len(values)}")
    if values is None and (rng is None or onp.ndim(first) != 3 or onp.shape(first)[1] != 1):
        raise ValueError("sampling a chain needs rng and first_logits of shape (B, 1, units), "
                         f"got rng={rng!r} and first_logits of shape {onp.shape(first)}")
    if side and len(side) != len(layers):
        raise ValueError(f"side must hold {len(layers)} arrays (one per later layer), "
                         f"got {len(side)}")


# -- The log-probability as one autograd node: its value and its gradient ---------------------
@primitive
def _log_prob(first_logits, *params, run):
    """sum_l log Bern(v_l; sigmoid(a_l)), as _forward computed it into `run`. The arguments
    (first logits; W_l, b_l for each later layer; the side terms) link the node to them."""
    return run["log_prob"]


def _log_prob_vjp(argnums, ans, args, kwargs):
    """The delta rule: d log p / d a_l = v_l - p_l for every layer l (the values are
    constants). So W_l gets (g v_{l-1})^T (v_l - p_l), and each term of layer l's logits
    (first logits, b_l, side_l) the g-weighted sum of v_l - p_l over the axes it was
    broadcast along. tests/test_layers.py checks this against autograd on the definition."""
    run = kwargs["run"]
    n_later = len(run["deltas"]) - 1

    def vjp(g):
        g = onp.asarray(g, run["dtype"])     # autograd's np.mean sends float64
        grads = []
        for argnum in argnums:               # argument -> (layer, whether it is a W)
            if 0 < argnum <= 2 * n_later:
                layer, is_weight = (argnum + 1) // 2, argnum % 2 == 1
            else:
                layer, is_weight = max(0, argnum - 2 * n_later), False
            delta = _rows(run["deltas"][layer], g.shape)
            if is_weight:
                grads.append(_rows(run["values"][layer - 1] * g[..., None], g.shape).T @ delta)
            else:
                grads.append(_weighted_sum(g, delta, onp.shape(args[argnum])))
        return tuple(grads)
    return vjp


defvjp_argnums(_log_prob, _log_prob_vjp)


def _rows(a, lead):
    """`a` broadcast to lead + (its units,), as 2-D rows (a view where it already has them)."""
    a = onp.broadcast_to(a, lead + a.shape[-1:])
    return a.reshape(-1, a.shape[-1])


def _weighted_sum(g, delta, shape):
    """sum over rows of g * delta (rows in g's shape), reduced to an array of `shape`:
    (units,) for a bias or a prior, (B, 1, units) for a term given once per input."""
    if len(shape) == 1:
        return g.reshape(-1) @ delta
    if len(shape) == 3 and shape[1] == 1 and g.ndim == 2 and g.shape[0] == shape[0]:
        return g[:, None, :] @ delta.reshape(g.shape + delta.shape[-1:])
    weighted = (delta * g.reshape(-1, 1)).reshape(g.shape + delta.shape[-1:])
    while weighted.ndim > len(shape):
        weighted = weighted.sum(axis=0)
    return weighted.sum(axis=tuple(i for i, n in enumerate(shape) if n == 1), keepdims=True)


# -- The forward pass: values, log-probability, and v - p for the gradient --------------------
def _forward(first_logits, weights, biases, side, values, rng, k):
    """The chain on plain arrays: {"values", "deltas": v_l - p_l, "log_prob", "dtype"}."""
    run = {"values": [], "deltas": [], "log_prob": 0.0}
    for n in range(1 + len(weights)):
        given = None if values is None else onp.asarray(getval(values[n]))
        if n == 0:
            value, delta, log_prob = _first_layer(first_logits, given, rng, k)
        else:
            offset = biases[n - 1] if not side else biases[n - 1] + side[n - 1]
            value, delta, log_prob = _later_layer(run["values"][-1], weights[n - 1], offset,
                                                  given, rng)
        if value.shape[-1] != delta.shape[-1]:
            raise ValueError(f"values[{n}] must have {delta.shape[-1]} units on its last axis "
                             f"(as its logits do), got shape {value.shape}")
        run["values"].append(value)
        run["deltas"].append(delta)
        run["log_prob"] = run["log_prob"] + log_prob
    run["dtype"] = run["deltas"][-1].dtype
    return run


def _first_layer(logits, value, rng, k):
    """Layer 1, whose logits are given (once per input, or a prior): there are few of them,
    so no blocks. A sample is v = [u < sigmoid(a)] for u ~ Uniform(0, 1)."""
    probs, log_normaliser = bernoulli_stats(logits)
    if value is None:
        value = rng.random((probs.shape[0], k, probs.shape[-1]), dtype=probs.dtype)
        onp.less(value, probs, out=value)
    elif value.shape[-1] != probs.shape[-1]:
        return value, probs, 0.0            # _forward reports the mismatch
    return value, value - probs, _row_dot(value, logits) - log_normaliser


def _later_layer(below, weights, offset, value, rng):
    """A layer with logits a = below W + offset (offset: the bias, plus a side term given once
    per input), in blocks of rows. Returns (values, v - p, sum_i v_i a_i - softplus(a_i))."""
    units = weights.shape[-1]
    if value is not None and value.shape[-1] != units:
        return value, onp.empty(units), 0.0                 # _forward reports the mismatch
    lead = below.shape[:-1] if value is None else onp.broadcast_shapes(below.shape[:-1],
                                                                        value.shape[:-1])
    below = onp.broadcast_to(below, lead + below.shape[-1:])
    dtype = onp.result_type(below, weights, offset)
    sampled = value is None
    if sampled:
        value = rng.random(lead + (units,), dtype=dtype)
    elif value.shape[:-1] != lead and value.shape[:1] != lead[:1]:   # (B, 1, units) stays
        value = onp.broadcast_to(value, lead + (units,))
    offset = onp.asarray(offset, dtype)
    logits = _matmul_rows(below, weights)                      # below W: one BLAS call
    logit_sums = _matmul_rows(below, weights.sum(axis=-1))     # and its row sums
    per_input = offset.ndim == len(lead) + 1                   # a side term, (B, 1, units)
    delta, log_prob = onp.empty(lead + (units,), dtype), onp.empty(lead, dtype)
    for block in _blocks(lead, units):
        off = offset[block] if per_input else offset
        a = logits[block]
        a += off
        probs, log_normaliser = _probs_and_log_normaliser(
            a, logit_sums[block] + off.sum(axis=-1), out=delta[block])
        v = value[block]
        if sampled:                                            # v = [u < p]
            onp.less(v, probs, out=v)
        log_prob[block] = _row_dot(v, a) - log_normaliser
        onp.subtract(v, probs, out=probs)                      # delta = v - p
    return value, delta, log_prob


def bernoulli_stats(logits):
    """sigmoid(a) and sum_i softplus(a_i) over the last axis, for plain-array logits a."""
    logits = onp.asarray(logits)
    return _probs_and_log_normaliser(logits, logits.sum(axis=-1))


def _probs_and_log_normaliser(logits, logit_sum, out=None):
    """sigmoid(a) (into `out`) and sum_i softplus(a_i) over the last axis, given the logits a
    and their row sums, from one exp per unit:
    p = sigmoid(a) = 1 / (1 + exp(-a)), accurate to rounding relative to p; where exp(-a)
    overflows, 1 / inf = 0, what p rounds to anyway. Then max(p, 1 - p) = sigmoid(|a|) lies
    in [1/2, 1], and softplus(a) = max(a, 0) - log max(p, 1 - p) with
    max(a, 0) = (|a| + a) / 2, each term accurate to rounding in absolute terms, which is
    what the row sums need. The logs are taken of products of up to 16 of the maxima (at
    least 2^-16), one log per group instead of one per unit (_sum_of_logs)."""
    probs = onp.negative(logits, out=out)
    with onp.errstate(over="ignore"):
        onp.exp(probs, out=probs)
    probs += 1.0
    onp.divide(1.0, probs, out=probs)                          # sigmoid(a)
    work = onp.subtract(1.0, probs)
    onp.maximum(probs, work, out=work)                         # max(p, 1 - p)
    log_max = _sum_of_logs(work)
    onp.abs(logits, out=work)
    positive_part = 0.5 * (_row_sum(work) + logit_sum)         # sum_i max(a_i, 0)
    return probs, positive_part - log_max


def _sum_of_logs(a, group=16):
    """sum_i log a_i over the last axis for a_i in [1/2, 1], as the logs of products of up to
    `group` of them. Each halving of the last axis multiplies its two halves (a cheap pass
    over half the data; into a new array, as numpy would copy an input that overlaps its
    output); the products stay above 2^-group, far from underflow."""
    while a.shape[-1] % 2 == 0 and group > 1:
        half = a.shape[-1] // 2
        a, group = a[..., :half] * a[..., half:], group // 2
    return _row_sum(onp.log(a))


def _row_sum(a):
    """sum over the last axis as a matrix-vector product (BLAS is faster than numpy's sum)."""
    return _matmul_rows(a, onp.ones(a.shape[-1], a.dtype))


def _row_dot(a, b):
    """sum_i a_i b_i over the last axis; where one side is (B, 1, n), shared by the k
    samples of each input, as one matrix-vector product per input."""
    if a.ndim == b.ndim == 3 and a.shape != b.shape:
        if a.shape[1] == 1 and b.shape[0] == a.shape[0]:
            return (b @ onp.swapaxes(a, 1, 2))[..., 0]
        if b.shape[1] == 1 and a.shape[0] == b.shape[0]:
            return (a @ onp.swapaxes(b, 1, 2))[..., 0]
    if b.ndim == 1:
        return a @ b
    return onp.einsum("...i,...i->...", a, b)


def _matmul_rows(a, m):
    """a (..., n) @ m (n, ...) as one 2-D product (one BLAS call, not one per leading index)."""
    out = a.reshape(-1, a.shape[-1]) @ m
    return out.reshape(a.shape[:-1] + m.shape[1:])


def _blocks(lead, units):
    """Slices along the first axis of arrays of shape lead + (units,), each about BLOCK
    elements (at least one entry of the first axis)."""
    if not lead:
        yield ...
        return
    step = max(1, BLOCK // (units * int(onp.prod(lead[1:]))))
    for start in range(0, lead[0], step):
        yield slice(start, start + step)
