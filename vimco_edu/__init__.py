"""vimco_edu: gradient estimators for discrete latent variables, built around VIMCO
(Mnih & Rezende, "Variational inference for Monte Carlo objectives", ICML 2016).

Pure numpy + autograd. Modules: bounds (L-hat, log-mean-exp), estimators (the registry of
gradient estimators, each entry owning its rules: naive, NVIL, VIMCO and its arithmetic
variant, RWS, RLOO, VarGrad, DisARM and its multi-sample form, Concrete, straight-through; add
one there), score_function (the surrogate they share), leave_one_out (VIMCO's per-sample
signals), nvil (NVIL's baseline network and running statistics), models (the model contract),
layers / sbn / conditional_sbn (models as functions of dicts), sampling (samplers that couple
samples), exact (enumeration), diagnostics (gradient variance and SNR), training (Adam loop,
checkpoints), speed, tasks / configs / runs / experiments (the MNIST tasks, a run's
configuration, running it, the command line), results (stored results: reading, selecting,
comparing over seeds), storage, palette, checks, exercises (answer checks), data (binarised
MNIST)."""
from . import conditional_sbn, diagnostics, exact, nvil, sbn
from .bounds import bound_estimate, log_mean_exp, normalised_weights
from .estimators import ESTIMATORS, learning_signals, surrogate, surrogate_per_example
from .leave_one_out import vimco_signals
from .training import evaluate_bound, train

__all__ = ["ESTIMATORS", "bound_estimate", "conditional_sbn", "diagnostics",
           "evaluate_bound", "exact", "learning_signals", "log_mean_exp", "normalised_weights",
           "nvil", "sbn", "surrogate", "surrogate_per_example", "train", "vimco_signals"]
__version__ = "0.1.0"
