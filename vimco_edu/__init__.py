"""vimco_edu: gradient estimators for discrete latent variables, built around VIMCO
(Mnih & Rezende, "Variational inference for Monte Carlo objectives", ICML 2016).

Pure numpy + autograd. Modules: bounds (L-hat, log-mean-exp), leave_one_out (VIMCO's
per-sample signals), estimators (surrogates: naive, NVIL, VIMCO), layers / sbn /
conditional_sbn / baseline (models as functions of dicts), exact (enumeration),
diagnostics (gradient variance and SNR), training (Adam loop), data (binarised MNIST)."""
from . import baseline, conditional_sbn, diagnostics, exact, sbn
from .bounds import bound_estimate, log_mean_exp, normalised_weights
from .estimators import METHODS, learning_signals, surrogate, surrogate_per_example
from .leave_one_out import vimco_signals
from .training import evaluate_bound, train

__all__ = ["METHODS", "baseline", "bound_estimate", "conditional_sbn", "diagnostics",
           "evaluate_bound", "exact", "learning_signals", "log_mean_exp", "normalised_weights",
           "sbn", "surrogate", "surrogate_per_example", "train", "vimco_signals"]
__version__ = "0.1.0"
