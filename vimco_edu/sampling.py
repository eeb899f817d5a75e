"""Samplers: where models get their uniforms. A model draws each binary unit as
h = [u < sigmoid(logit)] with u from its `rng` argument, which may be a numpy Generator or
any object with Generator's random(shape, dtype) method. An estimator that couples its
samples supplies such an object; models need no change."""
import numpy as onp

from .checks import sampler


class Antithetic:
    """Uniforms in antithetic pairs (DisARM, Dong, Mnih & Tucker 2020): for arrays of shape
    (B, k, units) with k even, sample j < k/2 uses u and sample k/2 + j uses 1 - u."""

    def __init__(self, rng):
        self.rng = sampler(rng)   # a Generator, a seed, or another sampler

    def random(self, shape, dtype=onp.float64):
        if len(shape) < 2 or shape[-2] % 2:
            raise ValueError(f"antithetic pairs need an even number of samples on the "
                             f"second-to-last axis, got shape {shape}")
        u = self.rng.random(tuple(shape[:-2]) + (shape[-2] // 2, shape[-1]), dtype=dtype)
        return onp.concatenate([u, 1 - u], axis=-2)


class Fixed:
    """A sampler that hands out given uniforms (an array of the shape that will be asked for):
    for enumerating an estimator's outcomes exactly (exact.exact_antithetic_moments)."""

    def __init__(self, uniforms):
        self.uniforms = onp.asarray(uniforms, dtype=float)

    def random(self, shape, dtype=onp.float64):
        if tuple(shape) != self.uniforms.shape:
            raise ValueError(f"Fixed holds uniforms of shape {self.uniforms.shape}, "
                             f"asked for {tuple(shape)}")
        return self.uniforms.astype(dtype)
