"""Training with Adam on a minibatch surrogate, held-out evaluation of the bound, and
checkpoints from which an interrupted run continues to the same result.

A model is a module such as sbn (models.py gives the contract), or, for estimators that need
only log-weights, its function log_weights(params, x, k, rng) -> (log p, log q), each (B, k)."""
import json
import os
import sys
import time

import autograd.numpy as np
import numpy as onp
from autograd.misc import flatten

from . import estimators
from .bounds import bound_estimate
from .checks import binary_data, generator, positive_int, positive_number, probabilities
from .speed import value_and_grad_of_tree
from .storage import atomic_savez, load_npz


def evaluate_bound(model, params, x, k, rng, max_rows=200_000):
    """Mean over the rows of x of L-hat with k samples each: an estimate of the mean L^k,
    a lower bound on the mean log-likelihood that tightens with k. Rows are processed
    in chunks so that at most `max_rows` samples are held at once. `model`: a model module
    or its log_weights function."""
    log_weights = model if callable(model) else model.log_weights
    rng = generator(rng)
    k = positive_int(k, "k")
    if len(x) == 0:
        raise ValueError("x holds no rows to evaluate the bound on")
    chunk = max(1, max_rows // k)
    total = 0.0
    for start in range(0, len(x), chunk):
        log_p, log_q = log_weights(params, x[start:start + chunk], k, rng)
        total += float(onp.sum(bound_estimate(log_p - log_q)))
    return total / len(x)


def step_schedule(step_size, decay=1.0, every=None):
    """The step size at update i = 1, 2, ...: step_size * decay ** floor((i - 1) / every), a
    staircase decay (as in zhusuan's SBN examples); constant with the defaults."""
    step_size = positive_number(step_size, "step_size")
    decay = positive_number(decay, "decay")
    every = None if every is None else positive_int(every, "every")
    if every is None:
        return lambda i: step_size
    return lambda i: step_size * decay ** ((i - 1) // every)


def finite_bound(value, what, method):
    """Stop a run whose bound has become NaN or infinite (it has diverged)."""
    if not onp.isfinite(value):
        raise FloatingPointError(f"{what} is {float(value)}: the {method} run diverged (try a "
                                 "smaller step size); no result was stored")


def adam_step(x, g, m, v, i, step_size, b1=0.9, b2=0.999, eps=1e-8):
    """One step of Adam (Kingma & Ba 2015, Algorithm 1) *ascending* x, i = 1, 2, ...; as in
    autograd.misc.optimizers.adam, whose loop we cannot use: it keeps m and v to itself (a
    checkpoint needs them) and cannot stop on a time budget. Updates x, m and v in place (the
    same arithmetic in the same order as the textbook lines in the comments, so the same bits,
    with a third of the memory traffic: for a 476k-parameter SBN this step was a quarter of a
    K = 5 update) and returns them."""
    m *= b1                           # m = b1 m + (1 - b1) g     (first moment estimate)
    m += (1 - b1) * g
    v *= b2                           # v = b2 v + (1 - b2) g^2   (second moment estimate)
    v += (1 - b2) * (g * g)
    step = m / (1 - b1 ** i)          # mhat = m / (1 - b1^i)     (bias correction)
    step *= step_size
    root = v / (1 - b2 ** i)          # vhat = v / (1 - b2^i)
    onp.sqrt(root, out=root)
    root += eps
    step /= root                      # x = x + step_size mhat / (sqrt(vhat) + eps)
    x += step
    return x, m, v


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


def train(model, params, train_x, *, method="vimco", k=5, steps=1000, rng=0,
          batch_size=24, step_size=1e-3, valid_x=None, eval_every=None, eval_k=100,
          time_budget=None, progress=True, checkpoint=None, checkpoint_every=500,
          keep_best=False, options=None, binarise_each_batch=False):
    """Train `model` (a module such as sbn, or its log_weights function) with Adam, using the
    estimator `method` (a name in estimators.ESTIMATORS, with its `options`, e.g. a
    temperature; NVIL's baseline network trains alongside the model) on K samples per input.

    Runs `steps` updates (or stops after `time_budget` seconds of training), evaluating
    the held-out bound with `eval_k` samples on `valid_x` every `eval_every` steps and at
    the end. With `checkpoint` (a path), the whole state of the run (parameters, Adam's
    moments, the random generator, the data order, the history) is written there atomically
    every `checkpoint_every` steps, and a run started with an existing checkpoint continues
    from it to the same result as an uninterrupted run. Returns (params, history): history
    is a dict of plain lists and numbers (steps, seconds, train_bound, eval_step,
    eval_seconds, eval_bound, the estimator's final state, and selected_step).

    `step_size` is a number or a schedule: a function of the step i = 1, 2, ... (e.g.
    `step_schedule`). With binarise_each_batch, train_x holds grey levels in [0, 1] and every
    minibatch is binarised afresh, pixel ~ Bernoulli(grey) (dynamic binarisation). A training
    or held-out bound that is not finite stops the run with FloatingPointError.

    With keep_best, the parameters returned are those with the best held-out bound among the
    evaluations (model selection by early stopping); otherwise the last ones."""
    estimator = estimators.get(method)
    rng = generator(rng)
    steps = positive_int(steps, "steps")
    k = positive_int(k, "k", minimum=estimator.min_k)
    if estimator.even_k and k % 2:
        raise ValueError(f"method {method!r} uses antithetic pairs: k must be even, got {k}")
    batch_size = positive_int(batch_size, "batch_size")
    eval_k = positive_int(eval_k, "eval_k")
    if not callable(step_size):
        step_size = positive_number(step_size, "step_size")
    if time_budget is not None and not time_budget > 0:
        raise ValueError(f"time_budget must be a positive number of seconds, got {time_budget!r}")
    train_x = (probabilities(train_x, "train_x") if binarise_each_batch
               else binary_data(train_x, "train_x"))
    if len(train_x) == 0:
        raise ValueError("train_x holds no rows to train on")
    if valid_x is not None:
        valid_x = binary_data(valid_x, "valid_x", width=train_x.shape[1])
        if len(valid_x) == 0:
            raise ValueError("valid_x holds no rows: pass None to skip evaluation")
    eval_every = steps if eval_every is None else positive_int(eval_every, "eval_every")
    if keep_best and valid_x is None:
        raise ValueError("keep_best selects parameters by their held-out bound: pass valid_x")
    checkpoint_every = positive_int(checkpoint_every, "checkpoint_every")

    state = estimators.training_state(method, train_x.shape[1], rng, dtype=train_x.dtype,
                                      options=options)
    flat, unflatten = flatten({"model": params, "estimator": state.params})
    run = {"step": 0, "cursor": 0, "elapsed": 0.0, "flat": flat, "best": flat.copy(),
           "m": onp.zeros_like(flat),
           "v": onp.zeros_like(flat), "order": rng.permutation(len(train_x)),
           "history": {"method": method, "k": k, "steps": [], "seconds": [], "train_bound": [],
                       "eval_k": eval_k, "eval_step": [], "eval_seconds": [],
                       "eval_bound": [], "selected_step": 0, "resumed_at": []}}
    if checkpoint is not None and os.path.exists(checkpoint):
        run = _resume(checkpoint, run, rng, state)

    def objective(trainable, batch):
        return np.mean(state.objective(model, trainable["model"], batch, k, rng,
                                       trainable["estimator"]))
    value_and_gradient = value_and_grad_of_tree(objective)
    history, bar = run["history"], _Progress(steps, progress)
    flat, best, m, v, order, cursor, elapsed = (
        run[key] for key in ("flat", "best", "m", "v", "order", "cursor", "elapsed"))
    for step in range(run["step"] + 1, steps + 1):
        start = time.perf_counter()
        if cursor + batch_size > len(order):
            order, cursor = rng.permutation(len(train_x)), 0
        batch = train_x[order[cursor:cursor + batch_size]]
        if binarise_each_batch:
            batch = (rng.random(batch.shape) < batch).astype(batch.dtype)
        cursor += batch_size
        # differentiate with respect to the parameters' arrays, not the flat vector:
        # unflattening inside the traced function would make autograd scatter every
        # gradient back into a vector of all parameters (np.add.at)
        value, gradient = value_and_gradient(unflatten(flat), batch)
        finite_bound(value, f"the training bound at step {step}", method)
        size = step_size(step) if callable(step_size) else step_size
        flat, m, v = adam_step(flat, flatten(gradient)[0], m, v, step, size)
        state.update()
        elapsed += time.perf_counter() - start
        history["steps"].append(step)
        history["seconds"].append(elapsed)
        history["train_bound"].append(float(value))
        out_of_time = time_budget is not None and elapsed >= time_budget
        if valid_x is not None and (step % eval_every == 0 or step == steps or out_of_time):
            bound = evaluate_bound(model, unflatten(flat)["model"], valid_x, eval_k, rng)
            finite_bound(bound, f"the held-out bound at step {step}", method)
            history["eval_step"].append(step)
            history["eval_seconds"].append(elapsed)
            history["eval_bound"].append(bound)
            if keep_best and bound >= max(history["eval_bound"]):
                # a copy: adam_step updates flat in place
                best, history["selected_step"] = flat.copy(), step
        if checkpoint is not None and (step % checkpoint_every == 0 or step == steps
                                       or out_of_time):
            _save(checkpoint, step, cursor, elapsed, flat, best, m, v, order, history, rng,
                  state)
        recent = onp.mean(history["train_bound"][-50:])
        bar.show(step, f"train bound {recent:8.2f} nats  {elapsed:6.1f} s", force=step == steps)
        if out_of_time:
            break
    bar.close()
    history["estimator_state"] = state.state()
    if not keep_best:
        best, history["selected_step"] = flat, history["steps"][-1]
    return unflatten(best)["model"], history


def _save(path, step, cursor, elapsed, flat, best, m, v, order, history, rng, state):
    """Everything a run needs to continue, in one .npz written atomically."""
    progress = {"step": step, "cursor": cursor, "elapsed": elapsed, "history": history,
                "rng": rng.bit_generator.state, "estimator": state.state()}
    atomic_savez(path, flat=flat, best=best, m=m, v=v, order=order,
                 progress=onp.array(json.dumps(progress)))


def _resume(path, fresh, rng, state):
    """The run stored at `path`, checked against this run's parameter count and data."""
    stored = load_npz(path, ["flat", "best", "m", "v", "order", "progress"])
    if stored["flat"].shape != fresh["flat"].shape or stored["order"].shape != fresh["order"].shape:
        raise ValueError(f"checkpoint {path} is for another configuration "
                         f"({stored['flat'].size} parameters, {stored['order'].size} training "
                         f"rows; this run has {fresh['flat'].size} and {fresh['order'].size})")
    progress = json.loads(str(stored["progress"]))
    if progress["history"]["method"] != fresh["history"]["method"] or \
            progress["history"]["k"] != fresh["history"]["k"]:
        raise ValueError(f"checkpoint {path} is for method {progress['history']['method']!r} "
                         f"with K = {progress['history']['k']}, not this run's")
    rng.bit_generator.state = progress["rng"]
    state.restore(progress["estimator"])
    progress["history"]["resumed_at"].append(progress["step"])
    dtype = fresh["flat"].dtype
    return {"step": progress["step"], "cursor": progress["cursor"],
            "elapsed": progress["elapsed"], "history": progress["history"],
            "flat": stored["flat"].astype(dtype), "best": stored["best"].astype(dtype),
            "m": stored["m"], "v": stored["v"], "order": stored["order"]}
