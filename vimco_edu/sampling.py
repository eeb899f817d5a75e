"""Samplers: where models get their uniforms. A model draws each binary unit as
h = [u < sigmoid(logit)] with u from its `rng` argument, which may be a numpy Generator or
any object with Generator's random(shape, dtype) method. An estimator that couples its
samples supplies such an object; models need no change."""
import numpy as onp

from .checks import generator


class Antithetic:
    """Uniforms in antithetic pairs (DisARM, Dong, Mnih & Tucker 2020): for arrays of shape
    (B, k, units) with k even, sample j < k/2 uses u and sample k/2 + j uses 1 - u."""

    def __init__(self, rng):
        self.rng = generator(rng)

    def random(self, shape, dtype=onp.float64):
        if len(shape) < 2 or shape[-2] % 2:
            raise ValueError(f"antithetic pairs need an even number of samples on the "
                             f"second-to-last axis, got shape {shape}")
        u = self.rng.random(tuple(shape[:-2]) + (shape[-2] // 2, shape[-1]), dtype=dtype)
        return onp.concatenate([u, 1 - u], axis=-2)
