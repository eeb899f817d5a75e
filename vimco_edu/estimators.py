"""Gradient estimators for the multi-sample bound: one registry, one entry per estimator.

**To add an estimator**, write its function in this file and register it (one decorator):

- `@register_signals(...)` for a score-function estimator: the function maps log-weights
  (..., K) to the learning signals s_j (..., K) that multiply grad log q(h_j | x); the
  surrogate (score_function.surrogate_from_signals) is built from them;
- `@register_surrogate(...)` for any other: the function maps (log_p, log_q) to one
  surrogate per example whose value is L-hat and whose autograd gradient is the estimator.

Options a function takes as keyword arguments (NVIL's baseline, centre and scale) pass
through `surrogate(log_p, log_q, method, **options)`. The entry's other fields are read by
training, the experiments command, the exact tests and every figure: minimum K, whether the
estimator is unbiased (for every parameter), a label, colour, marker and line style, what it
needs from sampling, and the training-time state it carries (NVIL's baseline network)."""
import inspect
from dataclasses import dataclass
from typing import Callable

import autograd.numpy as np
import numpy as onp
from autograd.tracer import getval

from . import nvil
from .bounds import bound_estimate, normalised_weights
from .checks import floating, log_weight_pair
from .leave_one_out import vimco_signals
from .score_function import surrogate_from_signals


@dataclass(frozen=True)
class Estimator:
    """One gradient estimator of grad L^K and what the rest of the package needs to know."""
    name: str
    per_example: Callable        # (log_p, log_q, **options) -> surrogate per example (...)
    signals: Callable | None     # (log_w, **options) -> learning signals (..., K), if any
    min_k: int
    unbiased: bool
    label: str
    colour: str
    marker: str
    linestyle: str
    sampling: str = "independent"   # "independent" samples, or "antithetic" pairs
    state: Callable | None = None   # (n_inputs, rng, dtype) -> training-time state, if any


ESTIMATORS: dict[str, Estimator] = {}


def register_surrogate(name, *, label, colour, marker, linestyle, min_k=1, unbiased=True,
                       sampling="independent", state=None, signals=None):
    """Decorator: register `function(log_p, log_q, **options)` as estimator `name`."""
    def add(function):
        ESTIMATORS[name] = Estimator(name, function, signals, min_k, unbiased, label, colour,
                                     marker, linestyle, sampling, state)
        return function
    return add


def register_signals(name, **fields):
    """Decorator: register `signals(log_w, **options)` as a score-function estimator."""
    def add(signals):
        def per_example(log_p, log_q, **options):
            return surrogate_from_signals(log_p, log_q, signals(getval(log_p - log_q), **options))
        per_example.__signature__ = inspect.signature(signals)
        per_example.__doc__ = signals.__doc__
        register_surrogate(name, signals=signals, **fields)(per_example)
        return signals
    return add


def get(method):
    """The registry entry of `method`, or a ValueError listing the choices."""
    if not isinstance(method, str) or method not in ESTIMATORS:
        raise ValueError(f"method must be one of {tuple(ESTIMATORS)}, got {method!r}")
    return ESTIMATORS[method]


# -- The estimators ----------------------------------------------------------------------------
@register_signals("naive", label="naive score function", colour="#D55E00", marker="v",
                  linestyle=":")
def naive(log_w):
    """s_j = L-hat(h^{1:K}) for every j: eq. (5) with no baseline (K = 1: REINFORCE)."""
    return onp.broadcast_to(bound_estimate(log_w)[..., None], onp.shape(log_w))


# NVIL's signal, baseline network and running statistics live together in nvil.py
register_signals("nvil", label="NVIL", colour="#E69F00", marker="s", linestyle="--",
                 state=nvil.NVIL)(nvil.learning_signals)


@register_signals("vimco", label="VIMCO (geometric)", colour="#0072B2", marker="o",
                  linestyle="-", min_k=2)
def vimco(log_w):
    """s_j = L-hat - L-hat(h^{-j}, geometric mean of the others): eqs. (9)-(10)."""
    return vimco_signals(log_w, "geometric")


@register_signals("vimco-arith", label="VIMCO (arithmetic)", colour="#56B4E9", marker="D",
                  linestyle="-.", min_k=2)
def vimco_arithmetic(log_w):
    """s_j = L-hat - L-hat(h^{-j}, arithmetic mean of the others): eq. (10), other fill-in."""
    return vimco_signals(log_w, "arithmetic")


@register_surrogate("rws", label="RWS (wake)", colour="#009E73", marker="^",
                    linestyle=(0, (5, 1, 1, 1)), min_k=2, unbiased=False)
def reweighted_wake_sleep(log_p, log_q):
    """Reweighted wake-sleep (Bornschein & Bengio 2015), as in the VIMCO paper's Table 1:
    sum_j w~_j grad log p(x, h_j) + sum_j w~_j grad log q(h_j | x), the normalised weights
    w~ held fixed. The model part equals grad L-hat's (unbiased for grad_theta L^K); the
    proposal part is the wake-phase update, which fits q to the posterior (inclusive KL) and
    is not the gradient of L^K. K >= 2: with one sample w~ = 1 and q does not learn.
    Value: L-hat."""
    weights = getval(normalised_weights(log_p - log_q))
    wake = np.sum(weights * (log_p + log_q), axis=-1)
    return getval(bound_estimate(log_p - log_q)) + wake - getval(wake)


# -- Public functions --------------------------------------------------------------------------
def _check_options(estimator, options):
    allowed = set(inspect.signature(estimator.per_example).parameters) - {"log_p", "log_q",
                                                                           "log_w"}
    unknown = set(options) - allowed
    if unknown:
        raise ValueError(f"method {estimator.name!r} takes no option {', '.join(sorted(unknown))}"
                         f" (its options: {', '.join(sorted(allowed)) or 'none'})")


def learning_signals(log_w, method, **options):
    """The learning signals s_j (shape (..., K)) of a score-function estimator: the numbers
    that multiply grad log q(h_j | x); plain arrays. Options as for `surrogate`."""
    estimator = get(method)
    if estimator.signals is None:
        raise ValueError(f"method {method!r} is not a score-function estimator: it has no "
                         "learning signals (use surrogate)")
    _check_options(estimator, options)
    return estimator.signals(floating(getval(log_w), "log_w", estimator.min_k), **options)


def surrogate_per_example(log_p, log_q, method="vimco", **options):
    """One surrogate per example (shape (...)): value L-hat, gradient the chosen estimator.

    `log_p` = log p(x, h_k) and `log_q` = log q(h_k | x), shape (..., K), for samples h_k held
    fixed; either may be traced by autograd. Options: `baseline` (C(x), shape (...) or a
    scalar), `centre` and `scale` for "nvil"."""
    estimator = get(method)
    _check_options(estimator, options)
    log_p, log_q = log_weight_pair(log_p, log_q, estimator.min_k)
    return estimator.per_example(log_p, log_q, **options)


def surrogate(log_p, log_q, method="vimco", **options):
    """Batch-mean surrogate: autograd's gradient of it is the chosen estimator of the
    gradient of the batch-mean L^K; its value is the batch-mean L-hat."""
    return np.mean(surrogate_per_example(log_p, log_q, method, **options))


class Stateless:
    """The training-time view of an estimator that carries no state (every one but NVIL):
    no extra parameters, an objective that is its surrogate, nothing to update. NVIL's state
    (nvil.NVIL) has the same interface; training.train uses only this interface."""

    def __init__(self, method):
        self.method, self.params = method, {}

    def objective(self, log_p, log_q, x, params):
        return surrogate_per_example(log_p, log_q, self.method)

    def update(self):
        pass

    def state(self):
        return {}

    def restore(self, state):
        pass


def training_state(method, n_inputs, rng, dtype=np.float64):
    """What training carries along for `method`: nvil.NVIL or a Stateless."""
    estimator = get(method)
    return estimator.state(n_inputs, rng, dtype) if estimator.state else Stateless(method)
