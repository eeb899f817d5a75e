"""A conditional sigmoid belief network for structured output prediction (Raiko et
al. 2014; the VIMCO paper's first experiment): predict the bottom half of a
binarised digit from its top half.

With layer sizes [D_top, H_1, ..., H_L, D_bottom] the model is the chain
p(h_1 | top) p(h_2 | h_1) ... p(bottom | h_L). The proposal is either the prior
chain p(h | top) itself, or a learned q(h | top, bottom): the same chain, with every
layer also seeing the bottom half through its own weights V_l:

    q(h_1 | top, bottom)      = Bern(sigmoid(top W_1 + bottom V_1 + b_1))
    q(h_l | h_{l-1}, bottom)  = Bern(sigmoid(h_{l-1} W_l + bottom V_l + b_l)).

Images are full 784-pixel rows; the model splits them into halves itself."""
import autograd.numpy as np
import numpy as onp

from .checks import binary_data, generator, positive_int, sampler
from .layers import affine, as_rows, bernoulli_chain, per_input, sigmoid
from .models import init_layers

def init_conditional_sbn(sizes, rng, proposal="learned", scale=0.01, dtype=np.float64):
    """Parameters {"gen": chain layers top -> ... -> bottom, and, for a learned
    proposal, "rec": layers with the extra bottom-half weights "V"}."""
    rng = generator(rng)
    if proposal not in ("prior", "learned"):
        raise ValueError(f"proposal must be 'prior' or 'learned', got {proposal!r}")
    if len(sizes) < 3:
        raise ValueError(f"sizes must be [D_top, H_1, ..., H_L, D_bottom], got {sizes}")
    sizes = [positive_int(s, "sizes") for s in sizes]
    params = {"gen": init_layers(sizes, rng, scale, dtype)}
    if proposal == "learned":
        params["rec"] = init_layers(sizes[:-1], rng, scale, dtype, side=sizes[-1])
    return params


def split_halves(x, params):
    """Check binary images (N, D_top + D_bottom) and return (top, bottom)."""
    d_top, d_bottom = params["gen"][0]["W"].shape[0], params["gen"][-1]["W"].shape[1]
    x = binary_data(x, "x", width=d_top + d_bottom)
    return x[:, :d_top], x[:, d_top:]


def propose(params, top, bottom, k=1, rng=None, latents=None):
    """Sample k latent chains per input from the proposal (or score given `latents`).
    Returns (latents [h_1..h_L] of B*k rows, log proposal density (B*k,))."""
    rng = None if latents is not None else sampler(rng)
    values, log_q = _propose(params, top, bottom, k, rng, per_input(latents, len(top), k))
    return as_rows(values, log_q)


def log_joint(params, top, bottom, latents, k=1):
    """log p(h, bottom | top) for latents of B*k rows; top and bottom given once per input."""
    return np.reshape(_log_joint(params, top, bottom, per_input(latents, len(top), k)), (-1,))


def _propose(params, top, bottom, k, rng, latents=None):
    """h ~ the proposal: the prior chain p(h_1 | top) ... p(h_L | h_{L-1}), or the learned
    q(h_1 | top, bottom) ... q(h_L | h_{L-1}, bottom) (module docstring). Samples (or given
    latents) as (B, k, H_l) arrays and their log proposal density (B, k); the terms that
    depend on the input alone (top W_1 + b_1, bottom V_l) are computed once per input."""
    if "rec" not in params:  # the prior p(h | top) is the proposal
        first = affine(params["gen"][0], top)[:, None, :]
        return bernoulli_chain(first, params["gen"][1:-1], latents, rng, k=k)
    rec = params["rec"]
    side = [(bottom @ layer["V"])[:, None, :] for layer in rec]
    first = affine(rec[0], top)[:, None, :] + side[0]
    return bernoulli_chain(first, rec[1:], latents, rng, side=side[1:], k=k)


def _log_joint(params, top, bottom, latents):
    """log p(h, bottom | top) = log p(h_1 | top) + ... + log p(bottom | h_L), shape (B, k),
    for latents (B, k, H_l): the generative chain, the bottom half given once per input."""
    first = affine(params["gen"][0], top)[:, None, :]
    return bernoulli_chain(first, params["gen"][1:], list(latents) + [bottom[:, None, :]])[1]


def log_weights(params, x, k, rng):
    """log p(h_k, bottom | top) and log q(h_k | .) for k fresh samples per image: (B, k) each.
    With the prior as proposal the difference is log p(bottom | h_k)."""
    top, bottom = split_halves(x, params)
    k, rng = positive_int(k, "k"), sampler(rng)
    latents, log_q = _propose(params, top, bottom, k, rng)
    return _log_joint(params, top, bottom, latents), log_q


def complete(params, top, n, rng):
    """n completions per top half, drawn from the model p(bottom | top):
    returns p(bottom = 1 | h_L) for each draw, shape (B, n, D_bottom)."""
    rng = generator(rng)
    n = positive_int(n, "n")
    top = binary_data(onp.atleast_2d(top), "top", width=params["gen"][0]["W"].shape[0])
    first = affine(params["gen"][0], top)[:, None, :]
    latents, _ = bernoulli_chain(first, params["gen"][1:-1], rng=rng, k=n)
    return sigmoid(affine(params["gen"][-1], latents[-1]))
