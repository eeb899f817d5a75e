"""Training with Adam on a minibatch surrogate, held-out evaluation of the bound, and
checkpoints from which an interrupted run continues to the same result.

A model is a module such as sbn (models.py gives the contract), or, for estimators that need
only log-weights, its function log_weights(params, x, k, rng) -> (log p, log q), each (B, k).

`train` is the loop of autograd's `adam` (autograd.misc.optimizers) with what a long run
adds: held-out evaluation (and selection of the parameters with the best held-out bound),
checkpoints and a time budget. Everything a run changes as it goes lives in one `Run`
object (fresh, loaded from a checkpoint, or saved to one), and every argument is checked
before anything starts (`_checked`), so the loop reads as the algorithm. NVIL's baseline
network trains alongside the model (estimators.training_state).

- With `checkpoint` (a path), the whole state of the run (parameters, Adam's moments, the
  random generator, the data order, the history) is written there atomically every
  `checkpoint_every` steps, and a run started with an existing checkpoint continues from it
  to the same result as an uninterrupted run.
- With binarise_each_batch, train_x holds grey levels in [0, 1] and every minibatch is
  binarised afresh, pixel ~ Bernoulli(grey) (dynamic binarisation).
- A training or held-out bound that is not finite stops the run with FloatingPointError.
- history: steps, seconds, train_bound (one per step), eval_step, eval_seconds, eval_bound,
  the estimator's final state, selected_step, resumed_at (the steps it resumed from)."""
import json
import os
import sys
import time
from dataclasses import dataclass
from types import SimpleNamespace

import autograd.numpy as np
import numpy as onp
from autograd.misc import flatten

from . import estimators
from .bounds import bound_estimate
from .checks import (binary_data, examples, generator, parameters, positive_int,
                     positive_number, probabilities)
from .speed import value_and_grad_of_tree
from .storage import atomic_savez, load_npz


def evaluate_bound(model, params, x, k, rng, max_rows=200_000):
    """Mean over the rows of x of L-hat with k samples each: an estimate of the mean L^k,
    a lower bound on the mean log-likelihood that tightens with k (bounds_per_row's mean)."""
    return float(onp.mean(bounds_per_row(model, params, x, k, rng, max_rows)))


def bounds_per_row(model, params, x, k, rng, max_rows=200_000):
    """L-hat = log (1/k) sum_j w_j with k samples for each row of x, as a float array (one
    row's estimate of L^k). At most `max_rows` samples are held at once: rows go in chunks,
    and a row whose k samples alone would exceed that has its L-hat summed up over chunks of
    samples. `model`: a model module or its log_weights function."""
    log_weights = model if callable(model) else model.log_weights
    rng = generator(rng)
    k = positive_int(k, "k")
    x = examples(x, "x")
    if k > max_rows:
        return onp.array([_one_row_bound(log_weights, params, row, k, rng, max_rows)
                          for row in x])
    chunk = max(1, max_rows // k)
    parts = []
    for start in range(0, len(x), chunk):
        log_p, log_q = log_weights(params, x[start:start + chunk], k, rng)
        parts.append(onp.asarray(bound_estimate(log_p - log_q), dtype=float))
    return onp.concatenate(parts)


def _one_row_bound(log_weights, params, row, k, rng, max_rows):
    """L-hat with k samples for one row, from chunks of at most max_rows samples:
    log (1/k) sum_j w_j = logsumexp over chunks c of (log-mean-exp of c + log |c|) - log k."""
    parts = []
    for start in range(0, k, max_rows):
        size = min(max_rows, k - start)
        log_p, log_q = log_weights(params, row[None], size, rng)
        parts.append(float(bound_estimate(log_p - log_q)[0]) + onp.log(size))
    return float(onp.logaddexp.reduce(parts) - onp.log(k))


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


def train(model, params, train_x, *, method="vimco", k=5, steps=1000, rng=0,
          batch_size=24, step_size=1e-3, valid_x=None, eval_every=None, eval_k=100,
          time_budget=None, progress=True, checkpoint=None, checkpoint_every=500,
          keep_best=False, options=None, binarise_each_batch=False):
    """Train `model` with Adam on K samples per input using the estimator `method` with its
    run `options` (e.g. a temperature), for `steps` updates or `time_budget` seconds;
    `step_size` is a number or a schedule i -> step size (`step_schedule`). The held-out
    bound (`eval_k` samples) on `valid_x` is evaluated every `eval_every` steps and at the
    end. Returns (params, history): the last parameters, or with keep_best those with the
    best held-out bound, and a dict of plain lists and numbers. `checkpoint`,
    `binarise_each_batch` and what stops a run: see the module docstring."""
    a = _checked(**locals())
    state = estimators.training_state(method, a.train_x.shape[1], a.rng, a.train_x.dtype,
                                      a.options)
    run, unflatten = Run.start(a, {"model": a.params, "estimator": state.params}, state)

    def objective(trainable, batch):
        return np.mean(state.objective(model, trainable["model"], batch, a.k, a.rng,
                                       trainable["estimator"]))
    value_and_gradient, bar = value_and_grad_of_tree(objective), _Progress(a.steps, progress)
    while run.step < a.steps:
        start, run.step = time.perf_counter(), run.step + 1
        batch = run.next_batch(a.train_x, a.batch_size, a.rng, a.binarise_each_batch)
        value, gradient = value_and_gradient(unflatten(run.flat), batch)
        finite_bound(value, f"the training bound at step {run.step}", method)
        run.flat, run.m, run.v = adam_step(run.flat, flatten(gradient)[0], run.m, run.v,
                                           run.step, a.step_size(run.step))
        state.update()
        out_of_time = run.record(value, time.perf_counter() - start, a.time_budget)
        last = run.step == a.steps or out_of_time
        if a.valid_x is not None and (run.step % a.eval_every == 0 or last):
            run.evaluate(evaluate_bound(model, unflatten(run.flat)["model"], a.valid_x,
                                        a.eval_k, a.rng), a.keep_best)
        if a.checkpoint is not None and (run.step % a.checkpoint_every == 0 or last):
            run.save(a.checkpoint, a.rng, state)
        bar.show(run.step, run.status(), force=run.step == a.steps)
        if out_of_time:
            break
    bar.close()
    return run.finish(state, a.keep_best, unflatten)


def _checked(model, params, train_x, method, k, steps, rng, batch_size, step_size, valid_x,
             eval_every, eval_k, time_budget, progress, checkpoint, checkpoint_every,
             keep_best, options, binarise_each_batch):
    """train's arguments, each checked (an error naming the argument), as a namespace; the
    step size becomes a schedule."""
    estimator = estimators.get(method)
    rng, k = generator(rng), estimator.check_k(k)
    steps, batch_size = positive_int(steps, "steps"), positive_int(batch_size, "batch_size")
    eval_k = positive_int(eval_k, "eval_k")
    if not callable(step_size):
        step_size = step_schedule(step_size)
    if time_budget is not None:
        time_budget = positive_number(time_budget, "time_budget")
    parameters(params, "params")
    train_x = examples(train_x, "train_x")
    train_x = (probabilities(train_x, "train_x") if binarise_each_batch
               else binary_data(train_x, "train_x"))
    if valid_x is not None:
        valid_x = binary_data(examples(valid_x, "valid_x", none="pass None to skip "
                                       "evaluation"), "valid_x", width=train_x.shape[1])
    eval_every = steps if eval_every is None else positive_int(eval_every, "eval_every")
    if keep_best and valid_x is None:
        raise ValueError("keep_best selects parameters by their held-out bound: pass valid_x")
    checkpoint_every = positive_int(checkpoint_every, "checkpoint_every")
    del estimator
    return SimpleNamespace(**locals())


@dataclass
class Run:
    """Everything a training run changes as it goes: the step reached, where it is in the
    current pass over the data (`order`, `cursor`), the training seconds so far, the
    parameters (one flat vector `flat`, and the best so far `best`), Adam's moments m and v,
    and the history. Saved whole to a checkpoint, it continues to the same result."""
    step: int
    cursor: int
    elapsed: float
    flat: onp.ndarray
    best: onp.ndarray
    m: onp.ndarray
    v: onp.ndarray
    order: onp.ndarray
    history: dict

    ARRAYS = ("flat", "best", "m", "v", "order")

    @classmethod
    def start(cls, a, trainable, state):
        """A fresh run for train's checked arguments `a` (or the one in a.checkpoint, if it
        exists), and the function that turns a flat vector back into `trainable`'s shape."""
        flat, unflatten = flatten(trainable)
        history = {"method": a.method, "k": a.k, "steps": [], "seconds": [], "train_bound": [],
                   "eval_k": a.eval_k, "eval_step": [], "eval_seconds": [], "eval_bound": [],
                   "selected_step": 0, "resumed_at": []}
        run = cls(0, 0, 0.0, flat, flat.copy(), onp.zeros_like(flat), onp.zeros_like(flat),
                  a.rng.permutation(len(a.train_x)), history)
        if a.checkpoint is not None and os.path.exists(a.checkpoint):
            run = cls.load(a.checkpoint, run, a.rng, state, a.steps)
        return run, unflatten

    def next_batch(self, x, batch_size, rng, binarise):
        """The next minibatch of rows in the current pass (a new shuffled pass when too few
        are left), binarised afresh from grey levels if `binarise`."""
        if self.cursor + batch_size > len(self.order):
            self.order, self.cursor = rng.permutation(len(x)), 0
        batch = x[self.order[self.cursor:self.cursor + batch_size]]
        self.cursor += batch_size
        return (rng.random(batch.shape) < batch).astype(batch.dtype) if binarise else batch

    def record(self, value, seconds, time_budget):
        """Log a step's training bound and time; True once the time budget is spent."""
        self.elapsed += seconds
        self.history["steps"].append(self.step)
        self.history["seconds"].append(self.elapsed)
        self.history["train_bound"].append(float(value))
        return time_budget is not None and self.elapsed >= time_budget

    def evaluate(self, bound, keep_best):
        """Log a held-out bound; with keep_best, keep these parameters if it is the best."""
        finite_bound(bound, f"the held-out bound at step {self.step}", self.history["method"])
        for key, value in [("eval_step", self.step), ("eval_seconds", self.elapsed),
                           ("eval_bound", bound)]:
            self.history[key].append(value)
        if keep_best and bound >= max(self.history["eval_bound"]):
            # a copy: adam_step updates flat in place
            self.best, self.history["selected_step"] = self.flat.copy(), self.step

    def status(self):
        recent = onp.mean(self.history["train_bound"][-50:])
        return f"train bound {recent:8.2f} nats  {self.elapsed:6.1f} s"

    def finish(self, state, keep_best, unflatten):
        """(the model's parameters, the history), as train returns them."""
        self.history["estimator_state"] = state.state()
        if not keep_best:
            self.best, self.history["selected_step"] = self.flat, self.history["steps"][-1]
        return unflatten(self.best)["model"], self.history

    def save(self, path, rng, state):
        """Everything the run needs to continue, in one .npz written atomically."""
        progress = {"step": self.step, "cursor": self.cursor, "elapsed": self.elapsed,
                    "history": self.history, "rng": rng.bit_generator.state,
                    "estimator": state.state()}
        atomic_savez(path, **{name: getattr(self, name) for name in self.ARRAYS},
                     progress=onp.array(json.dumps(progress)))

    @classmethod
    def load(cls, path, fresh, rng, state, steps):
        """The run saved at `path`, checked against this one (`fresh`); restores the random
        generator and the estimator's state. ValueError naming the file if it does not fit."""
        stored = load_npz(path, [*cls.ARRAYS, "progress"])
        progress = _checked_progress(path, stored, fresh, steps)
        rng.bit_generator.state = progress["rng"]
        state.restore(progress["estimator"])
        progress["history"]["resumed_at"].append(progress["step"])
        dtype = fresh.flat.dtype
        return cls(progress["step"], progress["cursor"], progress["elapsed"],
                   stored["flat"].astype(dtype), stored["best"].astype(dtype), stored["m"],
                   stored["v"], stored["order"], progress["history"])


def _checked_progress(path, stored, fresh, steps):
    """The progress record of a checkpoint, after checking that the checkpoint is whole and
    belongs to this run (parameter count, data, method, K, steps)."""
    fix = f"delete {path} to start this run afresh"
    shapes = {name: stored[name].shape for name in Run.ARRAYS}
    if shapes != {name: getattr(fresh, name).shape for name in Run.ARRAYS}:
        raise ValueError(f"checkpoint {path} is for another configuration "
                         f"({stored['flat'].size} parameters, {stored['order'].size} training "
                         f"rows; this run has {fresh.flat.size} and {fresh.order.size}): {fix}")
    try:
        progress = json.loads(str(stored["progress"]))
        step, history = int(progress["step"]), progress["history"]
        whole = ({"cursor", "elapsed", "rng", "estimator"} <= set(progress)
                 and len(history["steps"]) == step)
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(f"checkpoint {path} is damaged ({err!r}): {fix}") from err
    if not whole or not 0 <= progress["cursor"] <= len(fresh.order) or \
            not onp.array_equal(onp.sort(stored["order"]), onp.arange(len(fresh.order))):
        raise ValueError(f"checkpoint {path} is damaged (its progress record is incomplete or "
                         f"inconsistent): {fix}")
    if history["method"] != fresh.history["method"] or history["k"] != fresh.history["k"]:
        raise ValueError(f"checkpoint {path} is for method {history['method']!r} with K = "
                         f"{history['k']}, not this run's: {fix}")
    if step > steps:
        raise ValueError(f"checkpoint {path} is at step {step}, beyond this run's {steps} "
                         f"steps: {fix}")
    return progress


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
