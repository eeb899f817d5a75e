"""The course's running example: a sigmoid belief network small enough to enumerate.

Six visible units and three latent units (8 latent configurations), with weights
large enough that the exact posterior is correlated ("explaining away"), which the
factorised proposal q(h | x) cannot match exactly. Everything about it is exact."""
import autograd.numpy as np
import numpy as onp
from autograd import grad

from . import exact, sbn
from .checks import positive_int

X = onp.array([1.0, 1.0, 1.0, 0.0, 0.0, 0.0])


def tiny_model():
    """(params, x): a [6, 3] SBN built for explaining away, and the observation x.

    Causes h_1 and h_2 each switch on pixels 1-3; h_3 switches on pixels 4-6; all are
    rare a priori. Seeing x = 111000, one of h_1, h_2 is on, h_3 is off; both on is
    possible but less likely: the posterior is close to "h_1 XOR h_2", which no
    factorised q can match. The recognition network starts at the prior, q(h | x) = p(h)
    (a poor proposal)."""
    W = onp.array([[6.0, 6.0, 6.0, 0.0, 0.0, 0.0],
                   [5.0, 5.0, 5.0, 0.0, 0.0, 0.0],
                   [0.0, 0.0, 0.0, 6.0, 6.0, 6.0]])
    params = {"prior": onp.array([-2.0, -1.5, -2.0]),
              "gen": [{"W": W, "b": onp.full(6, -3.0)}],
              "rec": [{"W": onp.zeros((6, 3)), "b": onp.zeros(3)}]}
    return prior_proposal(params), X.copy()


def prior_proposal(params):
    """The same model with q(h | x) set to the prior p(h): W = 0, b = prior logits."""
    rec = [{"W": onp.zeros_like(params["rec"][0]["W"]), "b": onp.array(params["prior"], float)}]
    return {**params, "rec": rec}


def fitted_proposal(params, x, k=1, steps=300, step_size=0.1):
    """The same model with q(h | x) fitted to x by gradient ascent on the exact L^k
    (the model itself is unchanged): a good, though still factorised, proposal."""
    steps = positive_int(steps, "steps")

    def bound(rec):
        return exact.exact_bound(*sbn.enumerate_log_pq({**params, "rec": rec}, x), k)
    rec = params["rec"]
    gradient = grad(bound)
    for _ in range(steps):
        rec = [{name: value + step_size * g for (name, value), g in
                zip(layer.items(), layer_grad.values())}
               for layer, layer_grad in zip(rec, gradient(rec))]
    return {**params, "rec": rec}


def exact_posterior(params, x):
    """p(h | x) over the 8 configurations, with the configurations themselves."""
    log_p, _ = sbn.enumerate_log_pq(params, x)
    configurations = onp.concatenate(sbn.all_latent_configurations(params), axis=1)
    return np.exp(log_p - exact.exact_log_marginal(log_p)), configurations
