"""NVIL (Mnih & Gregor 2014), everything it adds to the score-function estimator, in one place:
an input-dependent baseline C_psi(x) (a small network, section 3.2), fitted by regression onto
the learning signal, and the running centring and variance normalisation of that signal.

The learning signal shared by the K samples of one input is

    l = L-hat - C_psi(x) - c,

with c and v running averages of the mean and variance of L-hat - C_psi(x) over minibatches
(c <- a c + (1 - a) mean, v <- a v + (1 - a) var, a = 0.8 as in NVIL's appendix), and the
variance normalisation divides the proposal's whole gradient by s = max(1, sqrt(v)):

    g_phi = (1/s) [ sum_j l grad log q(h_j|x) - sum_j w~_j grad log q(h_j|x) ],

the score term *and* the proposal's part of the importance-weighted term. At K = 1 the second
part has mean zero, so dividing the signal alone (NVIL's own description) gives the same mean;
at K > 1 it does not, and dividing only the score term would turn the mean update towards
minus the wake update of reweighted wake-sleep. Dividing both keeps the mean exactly
(1/s) grad_phi L^K (tests/test_estimators_exact.py). The baseline
network's parameters psi ascend the regression objective -(L-hat - c - C_psi(x))^2 / 2 (L-hat
held fixed), whose gradient with respect to C_psi(x) is L-hat - c - C_psi(x).

`NVIL` holds the training-time state (psi, c, v) that `training.train` carries along for the
"nvil" estimator; the functions below are the pieces, for notebooks and tests."""
import autograd.numpy as np
import numpy as onp
from autograd.tracer import getval

from .bounds import bound_estimate
from .checks import finite, generator, log_weight_pair
from .score_function import surrogate_from_signals

DECAY = 0.8


def init_baseline(n_inputs, rng, n_hidden=100, scale=0.01, dtype=np.float64):
    """Parameters psi of C_psi(x) = w2 . tanh(x W1 + b1) + b2 (starts at C = 0)."""
    rng = generator(rng)
    return {"W1": (scale * rng.standard_normal((n_inputs, n_hidden))).astype(dtype),
            "b1": onp.zeros(n_hidden, dtype), "w2": onp.zeros(n_hidden, dtype),
            "b2": onp.zeros((), dtype)}


def baseline_value(psi, x):
    """C_psi(x) for each row of x: shape (B,)."""
    return np.tanh(x @ psi["W1"] + psi["b1"]) @ psi["w2"] + psi["b2"]


def _number(value, name, positive=False):
    """`value` as a float, checked: a finite (and, if `positive`, positive) real number, as
    the running statistics are: one number for the minibatch."""
    if isinstance(value, bool) or not isinstance(value, (int, float, onp.integer, onp.floating)):
        raise TypeError(f"{name} must be a real number (one value for the minibatch), got "
                        f"{type(value).__name__} {value!r}")
    finite(value, name)
    if positive and not value > 0:
        raise ValueError(f"{name} must be positive, got {value}")
    return float(value)


def learning_signals(log_w, baseline=0.0, centre=0.0, scale=1.0):
    """(L-hat - C(x) - c) / scale for each of the K samples of an input (shape (..., K),
    plain arrays); `baseline` is C(x), one value per example (shape (...), or one that
    broadcasts to it, such as a scalar). The estimator (`surrogate`) divides the whole
    proposal gradient by `scale`, not only these signals."""
    lhat = getval(bound_estimate(log_w))
    baseline = getval(baseline)
    finite(baseline, "baseline")
    centre, scale = _number(centre, "centre"), _number(scale, "scale", positive=True)
    try:
        fits = onp.broadcast_shapes(onp.shape(baseline), onp.shape(lhat)) == onp.shape(lhat)
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(f"baseline must have shape {onp.shape(lhat)} (one value per example) "
                         f"or one that broadcasts to it, got {onp.shape(baseline)}")
    signal = (lhat - baseline - centre) / scale
    return onp.broadcast_to(onp.asarray(signal)[..., None], onp.shape(log_w))


def surrogate(log_p, log_q, baseline=0.0, centre=0.0, scale=1.0):
    """NVIL's surrogate per example (shape (...)): value L-hat, gradient

        sum_j (l / s) grad log q_j  +  sum_j w~_j (grad log p_j - grad log q_j / s),

    l = L-hat - C(x) - c, s = `scale`: the whole gradient through log q divided by s. Where
    log p does not depend on the proposal's parameters (models.py), their gradient is the
    unnormalised estimator's divided by s, with mean grad_phi L^K / s; the model's is unchanged."""
    scale = _number(scale, "scale", positive=True)
    signals = learning_signals(getval(log_p - log_q), baseline, centre)
    # value log q, gradient grad log q / s (the `x - stop(x)` trick, score_function.py)
    log_q = getval(log_q) + (log_q - getval(log_q)) / scale
    return surrogate_from_signals(log_p, log_q, signals)


def regression(lhat, baseline, centre=0.0):
    """-(L-hat - c - C(x))^2 / 2 per example, with L-hat held fixed: ascending it fits C(x)
    to L-hat - c; its gradient with respect to C(x) is L-hat - c - C(x)."""
    return -0.5 * (getval(lhat) - centre - baseline) ** 2


def update_running_stats(stats, residuals, decay=DECAY):
    """c <- a c + (1 - a) mean(l), v <- a v + (1 - a) var(l) for one minibatch's residual
    signals l = L-hat - C(x); a = 0.8 as in NVIL's appendix."""
    residuals = onp.asarray(getval(residuals), dtype=float)
    return {"centre": decay * stats["centre"] + (1 - decay) * float(onp.mean(residuals)),
            "variance": decay * stats["variance"] + (1 - decay) * float(onp.var(residuals))}


def signal_scale(stats):
    """NVIL divides the centred signal by max(1, sqrt(v))."""
    return max(1.0, float(onp.sqrt(stats["variance"])))


class NVIL:
    """NVIL's training-time state: the baseline network's parameters `params` (trained with
    the model), and the running statistics `stats` (c starts at 0, v at 1). It has the
    interface of estimators.Stateless, which training.train uses for every estimator.

    objective(model, params, x, k, rng, psi) is what training ascends for one minibatch, per
    example, on K fresh samples: the NVIL surrogate plus the baseline's regression (psi: the
    baseline network's parameters); update() then moves the running statistics with that
    minibatch's residuals, after the optimiser step."""

    def __init__(self, n_inputs, rng, dtype=np.float64):
        self.params = init_baseline(n_inputs, rng, dtype=dtype)
        self.stats = {"centre": 0.0, "variance": 1.0}
        self._residuals = None

    def objective(self, model, params, x, k, rng, psi):
        log_weights = model if callable(model) else model.log_weights
        log_p, log_q = log_weight_pair(*log_weights(params, x, k, rng))
        lhat = bound_estimate(log_p - log_q)
        baseline = baseline_value(psi, x)
        self._residuals = getval(lhat) - getval(baseline)
        centre, scale = self.stats["centre"], signal_scale(self.stats)
        if isinstance(params, dict) and "rec" not in params:
            # The proposal is the model's own prior (conditional_sbn's "prior"): its parameters
            # enter log p too, the weights term's two parts for them cancel, and only the
            # score term reaches them, so dividing the signals divides their whole gradient.
            signals = learning_signals(getval(log_p - log_q), baseline, centre, scale)
            estimate = surrogate_from_signals(log_p, log_q, signals)
        else:
            estimate = surrogate(log_p, log_q, baseline, centre, scale)
        fit = regression(lhat, baseline, centre)
        # the regression adds its gradient (for psi) but not its value: the value stays L-hat
        return estimate + fit - getval(fit)

    def update(self):
        if self._residuals is None:
            raise RuntimeError("update() follows objective(): no minibatch has been seen yet")
        self.stats = update_running_stats(self.stats, self._residuals)
        self._residuals = None

    def state(self):
        """The running statistics, as plain numbers (to store, check or restore)."""
        return dict(self.stats)

    def restore(self, state):
        self.stats = {"centre": float(state["centre"]), "variance": float(state["variance"])}
