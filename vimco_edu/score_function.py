"""The score-function surrogate, the building block of the course's estimators.

For samples h_j held fixed, with log_p = log p(x, h_j) and log_q = log q(h_j | x) of shape
(..., K), and learning signals s_j (plain numbers, no gradient), the scalar

    L-hat  +  sum_j s_j (log q_j - stop(log q_j))

has the *value* L-hat (the second term is zero) and the autograd *gradient*

    sum_j s_j grad log q(h_j | x)  +  sum_j w~_j grad log f(x, h_j),

the form of every score-function estimator of grad L^K (Mnih & Rezende 2016, eq. 5):
model parameters, which enter only log p, receive the importance-weighted term alone;
proposal parameters also receive the learning signals. stop() is autograd's getval: it
returns the value with the link to the parameters cut, so it acts as a constant."""
import autograd.numpy as np
from autograd.tracer import getval

from .bounds import bound_estimate


def surrogate_from_signals(log_p, log_q, signals):
    """One surrogate per example (shape (...)): value L-hat, gradient the estimator with
    learning signals `signals` (shape (..., K), plain arrays)."""
    lhat = bound_estimate(log_p - log_q)
    # (log_q - getval(log_q)) is zero in value but has the gradient of log q.
    return lhat + np.sum(getval(signals) * (log_q - getval(log_q)), axis=-1)
