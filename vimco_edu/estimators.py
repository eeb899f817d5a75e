"""Gradient estimators for discrete latent variables: one registry, one entry per estimator.

**To add an estimator**, write its function in this file and register it (one decorator):

- `@register_signals(...)` for a score-function estimator of grad L^K: the function maps
  log-weights (..., K) to the learning signals s_j (..., K) that multiply grad log q(h_j | x);
  the surrogate (score_function.surrogate_from_signals) is built from them;
- `@register_surrogate(...)` for any other function of the log-weights of K independent
  samples: it maps (log_p, log_q) to one surrogate per example whose autograd gradient is
  the estimator (and whose value estimates the objective it follows);
- `@register_model_estimator(...)` for one that needs more of the model than log-weights
  (antithetic pairs, relaxed samples): it maps (model, params, x, k, rng) to the surrogate
  per example, using the factorised-proposal hooks of models.py.

The entry owns the estimator's rules, and everything else asks it: which K it accepts
(`min_k`, `even_k`; `Estimator.check_k`), the options a training run may set, with their
defaults and checks (`options`, name -> `Option`, e.g. a relaxation's temperature: training,
the experiments command and its stored configurations take them from here), the objective
whose gradient it estimates at cost K (K model evaluations per example), whether it is
unbiased for that objective, its label, colour, marker and line style (palette.py), what it
needs from sampling, and the training-time state it carries (NVIL's baseline network).
Other keyword arguments of a function (NVIL's baseline, centre and scale) pass through.
The decorators return the function with its inputs checked by those rules."""
import inspect
from dataclasses import dataclass, field, replace
from functools import wraps
from typing import Callable

import autograd.numpy as np
import numpy as onp
from autograd.tracer import getval

from . import nvil
from .bounds import bound_estimate, normalised_weights
from .checks import as_log_weights, log_weight_pair, positive_int, positive_number, sampler
from .layers import sigmoid
from .leave_one_out import vimco_signals
from .sampling import Antithetic
from .score_function import surrogate_from_signals


# the bound each estimator's expectation is the gradient of, at cost K: its number of samples
OBJECTIVES = {"L^K": lambda k: k, "ELBO": lambda k: 1, "L^(K/2)": lambda k: k // 2}
# the arguments of the registered functions that are data, not options
_INPUTS = {"log_p", "log_q", "log_w", "model", "params", "x", "k", "rng"}


@dataclass(frozen=True)
class Option:
    """A setting of an estimator that a training run chooses (and records in its
    configuration), such as a relaxation's temperature: its default, a check
    check(value, name) -> value that raises naming the option, and a line of help."""
    default: object
    check: Callable
    help: str

    def parse(self, text, name):
        """The option's value from command-line text (via float for numbers)."""
        return self.check(float(text) if isinstance(self.default, float) else text, name)


@dataclass(frozen=True)
class Estimator:
    """One gradient estimator and its rules: everything the rest of the package (training,
    the experiments command, the exact tests, the figures) needs to know about it."""
    name: str
    per_example: Callable        # the surrogate per example, inputs checked (module docstring)
    signals: Callable | None     # (log_w, **options) -> learning signals (..., K), if any
    min_k: int
    unbiased: bool               # for its objective, for every parameter
    label: str
    colour: str
    marker: str
    linestyle: object
    objective: str = "L^K"       # a key of OBJECTIVES
    sampling: str = "independent"   # "independent" samples, "antithetic" pairs, or "relaxed"
    needs_model: bool = False    # per_example takes (model, params, x, k, rng)
    even_k: bool = False         # K must be even (antithetic pairs)
    state: Callable | None = None   # (n_inputs, rng, dtype) -> training-time state, if any
    options: dict = field(default_factory=dict)   # name -> Option: what a run may set

    def objective_k(self, k):
        """The K' of the bound L^K' whose gradient this estimator estimates at cost K."""
        return OBJECTIVES[self.objective](k)

    @property
    def k_rule(self):
        """Which K it accepts, in words: "K >= 2" or "an even K >= 2 (pairs)"."""
        return f"an even K >= {max(2, self.min_k)} (pairs)" if self.even_k else f"K >= {self.min_k}"

    def accepts_k(self, k):
        return k >= self.min_k and not (self.even_k and k % 2)

    def check_k(self, k, name="k"):
        """K as an int, or TypeError / ValueError naming the estimator and its rule."""
        k = positive_int(k, name)
        if not self.accepts_k(k):
            raise ValueError(f"method {self.name!r} needs {self.k_rule}, got {name} = {k}")
        return k

    def run_options(self, options=None):
        """The options of a training run: every one of the estimator's options, given or
        default, each checked; ValueError for an option it does not take."""
        options = dict(options or {})
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            raise ValueError(f"method {self.name!r} takes no option {', '.join(unknown)} (its "
                             f"options: {', '.join(sorted(self.options)) or 'none'})")
        return {name: option.check(options.get(name, option.default), name)
                for name, option in self.options.items()}

    def call_options(self, options):
        """The keyword arguments for its function: its run options (defaults filled in,
        checked) and any other input its function takes (NVIL's baseline, centre, scale)."""
        inputs = set(inspect.signature(self.per_example).parameters) - _INPUTS - set(self.options)
        return {**self.run_options({k: v for k, v in options.items() if k not in inputs}),
                **{k: v for k, v in options.items() if k in inputs}}


ESTIMATORS: dict[str, Estimator] = {}


def register_surrogate(name, *, label, colour, marker, linestyle, min_k=1, unbiased=True,
                       objective="L^K", sampling="independent", state=None, signals=None,
                       needs_model=False, even_k=False, options=None):
    """Decorator: register `function(log_p, log_q, **options)` as estimator `name`, with its
    rules (min_k, even_k, its `options`: name -> Option) and its look; returns the function
    with its inputs checked by those rules (as the registry calls it)."""
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {tuple(OBJECTIVES)}, got {objective!r}")

    def add(function):
        entry = Estimator(name, function, signals, min_k, unbiased, label, colour, marker,
                          linestyle, objective, sampling, needs_model, even_k, state,
                          dict(options or {}))
        checking = _checking_model if needs_model else _checking_log_weights
        entry = replace(entry, per_example=checking(entry),
                        signals=signals and _checking_signals(entry))
        ESTIMATORS[name] = entry
        return entry.per_example
    return add


def register_model_estimator(name, **fields):
    """Decorator: register `function(model, params, x, k, rng, **options)` as estimator `name`."""
    return register_surrogate(name, needs_model=True, **fields)


def register_signals(name, **fields):
    """Decorator: register `signals(log_w, **options)` as a score-function estimator."""
    def add(signals):
        def per_example(log_p, log_q, **options):
            return surrogate_from_signals(log_p, log_q, signals(getval(log_p - log_q), **options))
        per_example.__signature__ = inspect.signature(signals)
        per_example.__doc__ = signals.__doc__
        register_surrogate(name, signals=signals, **fields)(per_example)
        return ESTIMATORS[name].signals
    return add


def _checking_log_weights(entry):
    """entry.per_example, first checking log p and log q (floating, finite, of one shape
    (..., K)), K by the entry's rule and the options by its own."""
    function = entry.per_example

    @wraps(function)
    def per_example(log_p, log_q, **options):
        log_p, log_q = log_weight_pair(log_p, log_q)
        entry.check_k(onp.shape(getval(log_p))[-1], "K")
        return function(log_p, log_q, **entry.call_options(options))
    return per_example


def _checking_signals(entry):
    """entry.signals, first checking the log-weights, K and the options."""
    function = entry.signals

    @wraps(function)
    def signals(log_w, **options):
        log_w = as_log_weights(getval(log_w), "log_w")
        entry.check_k(log_w.shape[-1], "K")
        return function(log_w, **entry.call_options(options))
    return signals


def _checking_model(entry):
    """entry.per_example of a model-based estimator, first checking K, that the model has a
    factorised proposal (models.py) and the options (its log-weights are checked inside)."""
    function = entry.per_example

    @wraps(function)
    def per_example(model, params, x, k, rng, **options):
        k = entry.check_k(k)
        if not hasattr(model, "proposal_logits"):
            raise ValueError(f"method {entry.name!r} needs a model with a factorised proposal "
                             "(proposal_logits, relaxed_log_weights; see models.py), such as "
                             "the sbn module with one latent layer")
        return function(model, params, x, k, rng, **entry.call_options(options))
    return per_example


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
# (its surrogate divides the whole proposal gradient by the scale, not only the signals)
register_surrogate("nvil", label="NVIL", colour="#E69F00", marker="s", linestyle="--",
                   state=nvil.NVIL, signals=nvil.learning_signals)(nvil.surrogate)


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


@register_surrogate("rloo", label="RLOO (ELBO)", colour="#CC79A7", marker="P",
                    linestyle=(0, (3, 1, 1, 1, 1, 1)), min_k=2, objective="ELBO")
def reinforce_leave_one_out(log_p, log_q):
    """REINFORCE leave-one-out (Kool, van Hoof & Welling 2019) for the ELBO from K
    independent samples, with l_j = log p(x, h_j) - log q(h_j | x):
    (1/K) sum_j [(l_j - mean_{i != j} l_i) grad log q(h_j | x) + grad l_j].
    VIMCO-arithmetic is the same construction for L^K: its baseline is the (K-1)-sample
    L-hat of the others where RLOO's is the mean of their l_i. Value: mean_j l_j."""
    log_w = log_p - log_q
    k = onp.shape(log_q)[-1]
    w = getval(log_w)
    signals = (w - (onp.sum(w, axis=-1, keepdims=True) - w) / (k - 1)) / k
    return np.mean(log_w, axis=-1) + np.sum(signals * (log_q - getval(log_q)), axis=-1)


def log_variance_loss(log_p, log_q):
    """VarGrad's loss (Richter et al. 2020): the sample variance over the K samples (drawn
    from q, held fixed) of log q(h_j | x) - log p(x, h_j), per example."""
    d = log_q - log_p
    k = as_log_weights(d, "log_q - log_p", min_k=2).shape[-1]
    return np.sum((d - np.mean(d, axis=-1, keepdims=True)) ** 2, axis=-1) / (k - 1)


@register_surrogate("vargrad", label="VarGrad (ELBO)", colour="#CC79A7", marker="X",
                    linestyle=":", min_k=2, objective="ELBO")
def vargrad(log_p, log_q):
    """VarGrad (Richter et al. 2020): the proposal descends the log-variance loss, whose
    gradient -1/2 grad_phi loss = (1/(K-1)) sum_j (l_j - mean l) grad log q(h_j | x) is
    RLOO's score term (l_j - mean_{i != j} l_i = K/(K-1) (l_j - mean l)), an unbiased
    estimate of grad_phi ELBO; the model ascends the ELBO estimate. Value: mean_j l_j."""
    loss = log_variance_loss(getval(log_p), log_q)
    return np.mean(log_p - getval(log_q), axis=-1) - 0.5 * (loss - getval(loss))


def _log_weights_at(model, params, x, h):
    """(log p, log q) at the given (possibly relaxed) latents h (B, K, H), checked finite as
    every estimator's log-weights are."""
    return log_weight_pair(*model.relaxed_log_weights(params, x, h))


def _pairs(model, params, x, k, rng):
    """The proposal's logits a (B, 1, H) and K/2 antithetic pairs of samples (B, K, H): sample
    j < K/2 is [u < sigmoid(a)] and sample K/2 + j is [1 - u < sigmoid(a)], one u for both."""
    logits = model.proposal_logits(params, x)[:, None, :]
    u = Antithetic(rng).random((len(x), k, onp.shape(logits)[-1]))
    return logits, (u < sigmoid(getval(logits))).astype(onp.result_type(getval(logits)))


def _disarm_weights(logits, b, f_b, f_anti):
    """DisARM's factor for each pair and unit (Dong, Mnih & Tucker 2020, eq. 9): the estimate
    of d E[f] / d a is 1/2 (f(b) - f(b~)) (-1)^{b~} [b != b~] sigmoid(|a|), for b = [u <
    sigmoid(a)], b~ = [1 - u < sigmoid(a)]."""
    half = onp.shape(b)[-2] // 2
    first, anti = b[..., :half, :], b[..., half:, :]
    return (0.5 * (f_b - f_anti)[..., None] * (first != anti) * (-1.0) ** anti
            * sigmoid(onp.abs(getval(logits))))


@register_model_estimator("disarm", label="DisARM (ELBO)", colour="#882255", marker="*",
                          linestyle="--", min_k=2, even_k=True, objective="ELBO",
                          sampling="antithetic")
def disarm(model, params, x, k, rng):
    """DisARM for the ELBO of a factorised Bernoulli proposal with logits a, averaged over
    K/2 antithetic pairs (a pair costs two model evaluations): the proposal gets
    sum_units DisARM factor * grad a (see _disarm_weights, f = log p - log q), the model
    the mean of grad log p(x, h) over the K samples. Value: the mean of f (an ELBO estimate)."""
    logits, b = _pairs(model, params, x, k, rng)
    log_p, log_q = _log_weights_at(model, params, x, b)
    f = getval(log_p - log_q)
    weights = _disarm_weights(logits, b, f[:, :k // 2], f[:, k // 2:])
    proposal = np.sum(weights * (logits - getval(logits)), axis=(1, 2)) / (k // 2)
    return np.mean(log_p - getval(log_q), axis=-1) + proposal


@register_model_estimator("disarm-iw", label="DisARM (multi-sample)", colour="#882255",
                          marker="h", linestyle="-.", min_k=2, even_k=True,
                          objective="L^(K/2)", sampling="antithetic")
def disarm_importance_weighted(model, params, x, k, rng):
    """Local DisARM for the multi-sample bound L^(K/2) (Dong, Mnih & Tucker 2020, section 4):
    the first sample of each pair enters L-hat(h^{1:K/2}); pair j's unit factor uses
    f(b) - f(b~) = L-hat(h^{1:K/2}) - L-hat with sample j swapped for its partner b~_j; both
    parts also get the gradient of L-hat(h^{1:K/2}) with the samples held fixed (the weights
    term). Value: L-hat(h^{1:K/2})."""
    logits, b = _pairs(model, params, x, k, rng)
    log_p, log_q = _log_weights_at(model, params, x, b)
    half = k // 2
    l_first = getval(log_p - log_q)[:, :half]
    l_anti = getval(log_p - log_q)[:, half:]
    lhat = bound_estimate(l_first)
    swapped = onp.where(onp.eye(half, dtype=bool), l_anti[:, None, :], l_first[:, None, :])
    weights = _disarm_weights(logits, b, lhat[:, None], bound_estimate(swapped))
    proposal = np.sum(weights * (logits - getval(logits)), axis=(1, 2))
    # L-hat with the samples held fixed also depends on the proposal, through -log q: for the
    # multi-sample bound that term's mean, -E[sum_j w~_j grad log q(h_j | x)], is not zero
    return bound_estimate(log_p[:, :half] - log_q[:, :half]) + proposal


# the relaxations' one option
TEMPERATURE = Option(0.5, positive_number, "the Concrete temperature (relaxations)")


def _relaxed(model, params, x, k, rng, temperature):
    """Binary Concrete samples z = sigmoid((a + log u - log(1 - u)) / temperature), (B, K, H),
    differentiable in the proposal's logits a (Maddison, Mnih & Teh 2017; Jang et al. 2017)."""
    logits = model.proposal_logits(params, x)[:, None, :]
    u = onp.clip(sampler(rng).random((len(x), k, onp.shape(logits)[-1])), 1e-12, 1 - 1e-12)
    return sigmoid((logits + onp.log(u) - onp.log1p(-u)) / temperature)


@register_model_estimator("concrete", label="Concrete relaxation", colour="#999933",
                          marker="d", linestyle=(0, (1, 1)), min_k=1, unbiased=False,
                          sampling="relaxed", options={"temperature": TEMPERATURE})
def concrete(model, params, x, k, rng, temperature):
    """The relaxation's estimator of grad L^K: autograd's gradient of L-hat evaluated at K
    binary Concrete samples z in (0, 1) (the Bernoulli formulas of log p and log q applied to
    non-binary z), through z. Biased: its mean is the gradient of E[L-hat(z)], not of L^K;
    the bias shrinks as the temperature falls, the variance grows. Value: L-hat(z)."""
    z = _relaxed(model, params, x, k, rng, temperature)
    return bound_estimate(np.subtract(*_log_weights_at(model, params, x, z)))


@register_model_estimator("straight-through", label="straight-through Concrete",
                          colour="#999933", marker="<", linestyle=(0, (5, 2)), min_k=1,
                          unbiased=False, sampling="relaxed", options={"temperature": TEMPERATURE})
def straight_through(model, params, x, k, rng, temperature):
    """Straight-through (Bengio et al. 2013; Jang et al. 2017): L-hat at the binary samples
    b = [z > 1/2] (which are exact draws from q), differentiated as if b were z. The model
    part is then exactly L-hat's weights term (unbiased); the proposal part is biased at
    every temperature. Value: L-hat(b)."""
    z = _relaxed(model, params, x, k, rng, temperature)
    hard = (getval(z) > 0.5).astype(onp.result_type(getval(z)))
    return bound_estimate(np.subtract(*_log_weights_at(model, params, x, z + (hard - getval(z)))))


# -- Public functions --------------------------------------------------------------------------
def learning_signals(log_w, method, **options):
    """The learning signals s_j (shape (..., K)) of a score-function estimator: the numbers
    that multiply grad log q(h_j | x); plain arrays. Options as for `surrogate`."""
    estimator = get(method)
    if estimator.signals is None:
        raise ValueError(f"method {method!r} is not a score-function estimator: it has no "
                         "learning signals (use surrogate)")
    return estimator.signals(log_w, **options)


def surrogate_per_example(log_p, log_q, method="vimco", **options):
    """One surrogate per example (shape (...)): value L-hat, gradient the chosen estimator.

    `log_p` = log p(x, h_k) and `log_q` = log q(h_k | x), shape (..., K), for samples h_k held
    fixed; either may be traced by autograd. Options: `baseline` (C(x), shape (...) or a
    scalar), `centre` and `scale` for "nvil"."""
    estimator = get(method)
    if estimator.needs_model:
        raise ValueError(f"method {method!r} needs the model, not only log-weights: use "
                         "objective_per_example(model, params, x, k, rng, method)")
    return estimator.per_example(log_p, log_q, **options)


def objective_per_example(model, params, x, k, rng, method="vimco", **options):
    """The surrogate per example (B,) of `method` on K fresh samples for each row of x: its
    autograd gradient is the estimator. `model` is a model module (models.py), or, for the
    estimators that need only log-weights, its log_weights function."""
    estimator = get(method)
    if estimator.needs_model:
        return estimator.per_example(model, params, x, k, rng, **options)
    k = estimator.check_k(k)
    log_weights = model if callable(model) else model.log_weights
    return estimator.per_example(*log_weights(params, x, k, rng), **options)


def surrogate(log_p, log_q, method="vimco", **options):
    """Batch-mean surrogate for samples held fixed: autograd's gradient of it is the chosen
    estimator of the gradient of the batch mean of its objective (L^K for most)."""
    return np.mean(surrogate_per_example(log_p, log_q, method, **options))


class Stateless:
    """The training-time view of an estimator that carries no state (every one but NVIL):
    no extra parameters, an objective that is its surrogate, nothing to update. NVIL's state
    (nvil.NVIL) has the same interface; training.train uses only this interface:
    objective(model, params, x, k, rng, extra) is the surrogate per example on fresh samples,
    `extra` the state's own trainable parameters (`params`); update() follows each step."""

    def __init__(self, method, options=None):
        self.method, self.options, self.params = method, options or {}, {}

    def objective(self, model, params, x, k, rng, extra):
        return objective_per_example(model, params, x, k, rng, self.method, **self.options)

    def update(self):
        pass

    def state(self):
        return {}

    def restore(self, state):
        pass


def training_state(method, n_inputs, rng, dtype=np.float64, options=None):
    """What training carries along for `method` with its run `options` (e.g. a temperature;
    defaults filled in, an option it does not take refused): nvil.NVIL or a Stateless."""
    estimator = get(method)
    options = estimator.run_options(options)
    if estimator.state:
        return estimator.state(n_inputs, rng, dtype, **options)
    return Stateless(method, options)
