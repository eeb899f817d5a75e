"""NVIL's input-dependent baseline C(x) (Mnih & Gregor 2014, section 3.2): a small
network with one tanh hidden layer, fitted by regression onto the learning signal,
and the running centring and variance normalisation of that signal."""
import autograd.numpy as np
import numpy as onp

from .checks import generator


def init_baseline(n_inputs, rng, n_hidden=100, scale=0.01, dtype=np.float64):
    """Parameters of C(x) = w2 . tanh(x W1 + b1) + b2."""
    rng = generator(rng)
    return {"W1": (scale * rng.standard_normal((n_inputs, n_hidden))).astype(dtype),
            "b1": onp.zeros(n_hidden, dtype), "w2": onp.zeros(n_hidden, dtype),
            "b2": onp.zeros((), dtype)}


def baseline_value(params, x):
    """C(x) for each row of x: shape (B,)."""
    return np.tanh(x @ params["W1"] + params["b1"]) @ params["w2"] + params["b2"]


def init_running_stats():
    """Running mean c and variance v of the learning signal, as NVIL starts them."""
    return {"centre": 0.0, "variance": 1.0}


def update_running_stats(stats, residuals, decay=0.8):
    """c <- a c + (1 - a) mean(l), v <- a v + (1 - a) var(l) for the batch's residual
    signals l = L-hat - C(x); a = 0.8 as in NVIL's appendix."""
    residuals = onp.asarray(residuals)
    return {"centre": decay * stats["centre"] + (1 - decay) * float(onp.mean(residuals)),
            "variance": decay * stats["variance"] + (1 - decay) * float(onp.var(residuals))}


def signal_scale(stats):
    """NVIL divides the centred signal by max(1, sqrt(v))."""
    return max(1.0, float(onp.sqrt(stats["variance"])))
