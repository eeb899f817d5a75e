"""Sigmoid belief networks (Neal 1992) with a mirrored recognition network, as in
the VIMCO paper's generative experiments, written as plain functions of a dict.

Layer sizes [D, H_1, ..., H_L] list the visible layer first. The generative model is
p(h_L) p(h_{L-1} | h_L) ... p(x | h_1) and the recognition model (the proposal) is
q(h_1 | x) q(h_2 | h_1) ... q(h_L | h_{L-1}); every factor is a layer of independent
Bernoulli units whose logits are affine in the layer before.

The public functions take and return samples as rows: K samples for each of B inputs
are B*K rows (input-major). Inside, they are (B, K, units) arrays (see layers.py), so
that q's first layer and the data are computed and scored once per input."""
import autograd.numpy as np
import numpy as onp

from .checks import binary_data, generator, positive_int, sampler
from .layers import affine, as_rows, bernoulli_chain, bernoulli_log_prob, per_input, sigmoid
from .models import init_layers


def init_sbn(sizes, rng, scale=0.01, dtype=np.float64):
    """Parameters for an SBN with layer sizes [D, H_1, ..., H_L] (visible first):
    {"prior": logits of h_L, "gen": top-down layers, "rec": bottom-up layers}."""
    rng = generator(rng)
    if len(sizes) < 2:
        raise ValueError(
            f"sizes must list the visible layer and at least one latent layer, got {sizes}")
    sizes = [positive_int(s, "sizes") for s in sizes]
    return {"prior": onp.zeros(sizes[-1], dtype),
            "gen": init_layers(sizes[::-1], rng, scale, dtype),
            "rec": init_layers(sizes, rng, scale, dtype)}


def sbn_sizes(params):
    """Layer sizes [D, H_1, ..., H_L] of an SBN's parameters."""
    return [params["rec"][0]["W"].shape[0]] + [layer["W"].shape[1] for layer in params["rec"]]


def recognise(params, x, k=1, rng=None, latents=None):
    """Draw k samples h ~ q(h | x) per row of x (or score the given `latents`); `rng` is a
    Generator, seed or sampler.

    Returns (latents [h_1, ..., h_L], each (B*k, H_l); log q(h | x), shape (B*k,))."""
    rng = None if latents is not None else sampler(rng)
    values, log_q = _recognise(params, x, k, rng, per_input(latents, len(x), k))
    return as_rows(values, log_q)


def log_joint(params, x, latents, k=1):
    """log p(x, h) for latents [h_1, ..., h_L] of B*k rows, x given once per input (B, D)."""
    return np.reshape(_log_joint(params, x, per_input(latents, len(x), k)), (-1,))


def _recognise(params, x, k, rng, latents=None):
    """h ~ q(h | x) = q(h_1 | x) q(h_2 | h_1) ... q(h_L | h_{L-1}), each factor a Bernoulli
    layer with logits affine in the layer below: samples (or given latents) as (B, k, H_l)
    arrays, and log q(h | x) of shape (B, k). q's first logits, x W_1 + b_1, depend on the
    input alone: computed once per input and shared by its k samples."""
    first = affine(params["rec"][0], x)[:, None, :]
    return bernoulli_chain(first, params["rec"][1:], latents, rng, k=k)


def _log_joint(params, x, latents):
    """log p(x, h) = log p(h_L) + log p(h_{L-1} | h_L) + ... + log p(x | h_1), shape (B, k),
    for latents (B, k, H_l) and x (B, D): the generative chain from the prior's logits
    down to the data, which are given once per input."""
    values = latents[::-1] + [x[:, None, :]]
    return bernoulli_chain(params["prior"], params["gen"], values)[1]


def log_weights(params, x, k, rng):
    """log p(x, h_k) and log q(h_k | x) for k fresh samples per input: two (B, k) arrays
    (the model contract, models.py; `rng` may be a sampler)."""
    x = binary_data(x, "x", width=sbn_sizes(params)[0])
    k, rng = positive_int(k, "k"), sampler(rng)
    latents, log_q = _recognise(params, x, k, rng)
    return _log_joint(params, x, latents), log_q


def proposal_logits(params, x):
    """The logits a (B, H) of the factorised proposal q(h | x) = prod_u Bern(h_u; sigmoid(a_u))
    of an SBN with one latent layer (models.py: the factorised-proposal hook)."""
    if len(params["rec"]) != 1:
        raise ValueError("proposal_logits needs an SBN with one latent layer (a factorised "
                         f"proposal); this one has {len(params['rec'])}")
    x = binary_data(x, "x", width=sbn_sizes(params)[0])
    return affine(params["rec"][0], x)


def relaxed_log_weights(params, x, latents):
    """log p(x, h) and log q(h | x), (B, k) each, for given latents h (B, k, H) of a one-layer
    SBN, by the plain Bernoulli formula sum v a - softplus(a) at every layer: for binary h
    they equal log_weights'; for h in (0, 1) (relaxed samples) they are the formulas'
    continuous extension; differentiable in the parameters and in h."""
    logits = proposal_logits(params, x)[:, None, :]
    log_q = bernoulli_log_prob(logits, latents)
    gen = params["gen"][0]
    log_p = (bernoulli_log_prob(params["prior"], latents)
             + bernoulli_log_prob(np.matmul(latents, gen["W"]) + gen["b"],
                                            x[:, None, :]))
    return log_p, log_q


def sample(params, n, rng):
    """n draws from the model: returns (p(x = 1 | h_1) for each draw, shape (n, D), latents)."""
    rng = generator(rng)
    n = positive_int(n, "n")
    latents, _ = bernoulli_chain(params["prior"][None, None, :], params["gen"][:-1], rng=rng, k=n)
    latents = [h[0] for h in latents[::-1]]
    return sigmoid(affine(params["gen"][-1], latents[0])), latents


def all_latent_configurations(params):
    """Every joint setting of the latents, as a list [h_1, ..., h_L] of (2^H, H_l) arrays,
    for enumeration on tiny models (H = H_1 + ... + H_L at most 20)."""
    sizes = sbn_sizes(params)[1:]
    total = sum(sizes)
    if total > 20:
        raise ValueError(f"enumeration needs at most 20 latent units, the model has {total}")
    codes = onp.arange(2 ** total)[:, None] >> onp.arange(total - 1, -1, -1) & 1
    return onp.split(codes.astype(float), onp.cumsum(sizes)[:-1], axis=1)


def enumerate_log_pq(params, x):
    """log p(x, h) and log q(h | x) for every latent configuration h of a tiny SBN,
    for one input x of shape (D,): two arrays of shape (2^H,)."""
    x = binary_data(onp.reshape(x, (1, -1)), "x", width=sbn_sizes(params)[0])
    latents = all_latent_configurations(params)
    k = len(latents[0])
    _, log_q = recognise(params, x, k, latents=latents)
    return log_joint(params, x, latents, k), log_q
