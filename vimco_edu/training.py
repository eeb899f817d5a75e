"""Training with Adam on a minibatch surrogate, and held-out evaluation of the bound.

A model is any function log_weights(params, x, k, rng) -> (log p, log q), each (B, k)."""
import ctypes
import sys
import time

import autograd.numpy as np
import numpy as onp
from autograd import value_and_grad
from autograd.misc import flatten
from autograd.tracer import getval

from .baseline import (baseline_value, init_baseline, init_running_stats, signal_scale,
                       update_running_stats)
from .bounds import bound_estimate
from .checks import binary_data, generator, positive_int
from .estimators import METHODS, surrogate_per_example


def evaluate_bound(log_weights, params, x, k, rng, max_rows=200_000):
    """Mean over the rows of x of L-hat with k samples each: an estimate of the mean L^k,
    a lower bound on the mean log-likelihood that tightens with k. Rows are processed
    in chunks so that at most `max_rows` samples are held at once."""
    rng = generator(rng)
    k = positive_int(k, "k")
    chunk = max(1, max_rows // k)
    total = 0.0
    for start in range(0, len(x), chunk):
        log_p, log_q = log_weights(params, x[start:start + chunk], k, rng)
        total += float(onp.sum(bound_estimate(log_p - log_q)))
    return total / len(x)


def reuse_freed_memory():
    """Ask the C library's malloc (glibc, as on Linux and Binder) to keep freed memory for
    reuse rather than hand it back to the operating system; returns whether it could.

    Every training step allocates some 30 MB of fresh arrays and frees them at the end.
    By default glibc returns that memory to the system, and the next step faults it back
    in 4 kB page by page, which costs about as much as all of the step's element-wise
    arithmetic (a VIMCO K=50 step of a 784-200-200-200 SBN: 65 ms -> 47 ms; see
    benchmarks/run.py). Arrays under 32 MB now come from memory the process keeps; the
    process holds on to (up to 256 MB of) its peak usage. A no-op where there is no glibc."""
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3     # from glibc's <malloc.h>
    return bool(mallopt(m_mmap_threshold, 32 << 20) and mallopt(m_trim_threshold, 256 << 20))


def value_and_grad_of_tree(fun):
    """autograd's value_and_grad for fun(tree, *args), where `tree` is a nested dict/list of
    arrays such as an SBN's parameters; returns (value, gradient with the tree's structure).

    It differentiates with respect to the tuple of the tree's arrays and rebuilds the tree
    from plain containers inside: autograd zero-fills and adds up the whole gradient once
    for every nesting level of a container it traces, which for {"rec": [{"W", "b"}, ...]}
    costs some 5% of an SBN training step; this way one level is left."""
    def of_leaves(leaves, tree, *args):
        return fun(_rebuild(tree, iter(leaves)), *args)
    value_and_grad_of_leaves = value_and_grad(of_leaves)

    def value_and_gradient(tree, *args):
        value, gradients = value_and_grad_of_leaves(tuple(_leaves(tree)), tree, *args)
        return value, _rebuild(tree, iter(gradients))
    return value_and_gradient


def _leaves(tree):
    """The arrays of a nested dict/list/tuple, in order."""
    if isinstance(tree, dict):
        return [leaf for value in tree.values() for leaf in _leaves(value)]
    if isinstance(tree, (list, tuple)):
        return [leaf for value in tree for leaf in _leaves(value)]
    return [tree]


def _rebuild(tree, leaves):
    """`tree` with its arrays replaced, in order, by those the iterator `leaves` yields."""
    if isinstance(tree, dict):
        return {key: _rebuild(value, leaves) for key, value in tree.items()}
    if isinstance(tree, (list, tuple)):
        return type(tree)(_rebuild(value, leaves) for value in tree)
    return next(leaves)


class _Progress:
    """A one-line text progress bar on stderr (the package depends on numpy and
    autograd only, so no tqdm); redrawn at most twice a second."""

    def __init__(self, total, enabled):
        self.total, self.enabled, self.last = total, enabled, 0.0

    def show(self, step, text, force=False):
        now = time.perf_counter()
        if self.enabled and (force or now - self.last > 0.5):
            done = int(30 * step / self.total)
            sys.stderr.write(f"\r[{'#' * done}{'.' * (30 - done)}] {step}/{self.total} {text}")
            sys.stderr.flush()
            self.last = now

    def close(self):
        if self.enabled:
            sys.stderr.write("\n")


def train(log_weights, params, train_x, *, method="vimco", k=5, steps=1000, rng=0,
          batch_size=24, step_size=1e-3, valid_x=None, eval_every=None, eval_k=100,
          time_budget=None, progress=True):
    """Maximise the mean K-sample bound with Adam, using the chosen gradient estimator.

    Runs `steps` updates (or stops after `time_budget` seconds of training), evaluating
    the held-out bound with `eval_k` samples on `valid_x` every `eval_every` steps and at
    the end. For "nvil" an input-dependent baseline network and NVIL's running centring
    and normalisation are trained alongside. Returns (params, history): history is a dict
    of plain lists and numbers (steps, seconds, train_bound, eval_step, eval_seconds,
    eval_bound)."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    rng = generator(rng)
    reuse_freed_memory()
    steps = positive_int(steps, "steps")
    k = positive_int(k, "k", minimum=2 if method.startswith("vimco") else 1)
    train_x = binary_data(train_x, "train_x")
    if valid_x is not None:
        valid_x = binary_data(valid_x, "valid_x")
    eval_every = steps if eval_every is None else positive_int(eval_every, "eval_every")

    trainable = {"model": params}
    stats = init_running_stats()
    if method == "nvil":
        trainable["baseline"] = init_baseline(train_x.shape[1], rng, dtype=train_x.dtype)
    residuals = {}

    def objective(current, batch):
        log_p, log_q = log_weights(current["model"], batch, k, rng)
        if method != "nvil":
            return np.mean(surrogate_per_example(log_p, log_q, method))
        baseline = baseline_value(current["baseline"], batch)
        residuals["last"] = getval(bound_estimate(log_p - log_q)) - getval(baseline)
        return np.mean(surrogate_per_example(log_p, log_q, "nvil", baseline=baseline,
                                             centre=stats["centre"], scale=signal_scale(stats)))

    # Adam written out (Kingma & Ba 2015, Algorithm 1) rather than autograd.misc.optimizers.adam:
    # we need to stop on a time budget, evaluate between steps and update NVIL's running
    # statistics, none of which its fixed-length loop allows.
    flat, unflatten = flatten(trainable)
    value_and_gradient = value_and_grad_of_tree(objective)
    m, v = onp.zeros_like(flat), onp.zeros_like(flat)
    b1, b2, eps = 0.9, 0.999, 1e-8
    history = {"method": method, "k": k, "steps": [], "seconds": [], "train_bound": [],
               "eval_k": eval_k, "eval_step": [], "eval_seconds": [], "eval_bound": []}
    bar = _Progress(steps, progress)
    order, cursor, elapsed = rng.permutation(len(train_x)), 0, 0.0
    for step in range(1, steps + 1):
        start = time.perf_counter()
        if cursor + batch_size > len(order):
            order, cursor = rng.permutation(len(train_x)), 0
        batch = train_x[order[cursor:cursor + batch_size]]
        cursor += batch_size
        # differentiate with respect to the parameters' arrays, not the flat vector:
        # unflattening inside the traced function would make autograd scatter every
        # gradient back into a vector of all parameters (np.add.at)
        value, gradient = value_and_gradient(unflatten(flat), batch)
        gradient = flatten(gradient)[0]
        m = b1 * m + (1 - b1) * gradient
        v = b2 * v + (1 - b2) * gradient ** 2
        flat = flat + step_size * (m / (1 - b1 ** step)) / (onp.sqrt(v / (1 - b2 ** step)) + eps)
        if method == "nvil":
            stats = update_running_stats(stats, residuals["last"])
        elapsed += time.perf_counter() - start
        history["steps"].append(step)
        history["seconds"].append(elapsed)
        history["train_bound"].append(float(value))
        out_of_time = time_budget is not None and elapsed >= time_budget
        if valid_x is not None and (step % eval_every == 0 or step == steps or out_of_time):
            bound = evaluate_bound(log_weights, unflatten(flat)["model"], valid_x, eval_k, rng)
            history["eval_step"].append(step)
            history["eval_seconds"].append(elapsed)
            history["eval_bound"].append(bound)
        recent = onp.mean(history["train_bound"][-50:])
        bar.show(step, f"train bound {recent:8.2f} nats  {elapsed:6.1f} s", force=step == steps)
        if out_of_time:
            break
    bar.close()
    return unflatten(flat)["model"], history
