"""NVIL (Mnih & Gregor 2014), everything it adds to the score-function estimator, in one place:
an input-dependent baseline C_psi(x) (a small network, section 3.2), fitted by regression onto
the learning signal, and the running centring and variance normalisation of that signal.

The learning signal shared by the K samples of one input is

    s = (L-hat - C_psi(x) - c) / max(1, sqrt(v)),

with c and v running averages of the mean and variance of L-hat - C_psi(x) over minibatches
(c <- a c + (1 - a) mean, v <- a v + (1 - a) var, a = 0.8 as in NVIL's appendix). The baseline
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


def learning_signals(log_w, baseline=0.0, centre=0.0, scale=1.0):
    """s = (L-hat - C(x) - c) / scale for each of the K samples of an input (shape (..., K),
    plain arrays); `baseline` is C(x), one value per example (shape (...), or one that
    broadcasts to it, such as a scalar)."""
    lhat = getval(bound_estimate(log_w))
    baseline = getval(baseline)
    for value, name in [(baseline, "baseline"), (centre, "centre"), (scale, "scale")]:
        finite(value, name)
    try:
        fits = onp.broadcast_shapes(onp.shape(baseline), onp.shape(lhat)) == onp.shape(lhat)
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(f"baseline must have shape {onp.shape(lhat)} (one value per example) "
                         f"or one that broadcasts to it, got {onp.shape(baseline)}")
    if not scale > 0:
        raise ValueError(f"scale must be positive, got {scale}")
    signal = (lhat - baseline - centre) / scale
    return onp.broadcast_to(onp.asarray(signal)[..., None], onp.shape(log_w))


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
        signals = learning_signals(getval(log_p - log_q), baseline, centre, scale)
        fit = regression(lhat, baseline, centre)
        # the regression adds its gradient (for psi) but not its value: the value stays L-hat
        return surrogate_from_signals(log_p, log_q, signals) + fit - getval(fit)

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
