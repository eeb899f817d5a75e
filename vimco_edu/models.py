"""The model contract, and the plumbing the course's models share.

A model (sbn, conditional_sbn) is a module of plain functions over a dict of parameter
arrays. Training, evaluation, diagnostics and the exact tools rely on this much:

- log_weights(params, x, k, rng) -> (log_p, log_q): two arrays of shape (B, k) holding
  log p(x, h) and log q(h | x) for k fresh samples h ~ q(h | x) of each of the B rows of x
  (training.train, training.evaluate_bound, diagnostics.gradient_draws). `rng` is a numpy
  Generator, an integer seed, or a sampler (sampling.py): anything with Generator's
  random(shape, dtype) method, from which the model takes the uniforms u that set each unit
  to [u < sigmoid(logit)]. This is the hook for estimators that couple samples.
- params["rec"] holds the proposal's parameters, and nothing else does; they must not enter
  log p (diagnostics.proposal_mask, and the split of a gradient into its proposal and model
  parts, rely on this). A model whose proposal has no parameters (the conditional prior)
  has no "rec".
- A model whose proposal is one layer of independent Bernoulli units (a factorised proposal:
  sbn with one latent layer) also provides proposal_logits(params, x) -> the logits a (B, H)
  of q(h | x), and relaxed_log_weights(params, x, h) -> (log p, log q) for given latents h
  (B, k, H), differentiable in h, which may be relaxed (in (0, 1)). Estimators that build
  their own samples (DisARM's antithetic pairs, Concrete relaxations) use these.
- Small models also provide enumerate_log_pq(params, x) -> (log p(x, h), log q(h | x)) for
  every latent configuration h, two arrays of shape (C,), for one input x (exact.py).

Samples are held as (B, k, units) arrays inside a model (layers.py), and handed out as B*k
rows, input-major, by the public sampling functions."""
import numpy as onp

from .checks import generator, positive_int


def init_layers(sizes, rng, scale=0.01, dtype=onp.float64, side=None):
    """A chain of layers {"W": (n_in, n_out) ~ N(0, scale^2), "b": zeros} between
    consecutive `sizes`; with `side` (an input width), each layer also gets weights
    "V" (side, n_out) for an extra input, as a learned proposal's view of the data."""
    rng = generator(rng)
    sizes = [positive_int(s, "sizes") for s in sizes]

    def weights(n_in, n_out):
        return (scale * rng.standard_normal((n_in, n_out))).astype(dtype)
    layers = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        layer = {"W": weights(n_in, n_out)}
        if side is not None:
            layer["V"] = weights(side, n_out)
        layer["b"] = onp.zeros(n_out, dtype)
        layers.append(layer)
    return layers
