"""Running configurations (configs.py) for the experiments command: one in this process
(data, model, training with checkpoints, the test bound, the stored result), or many in
worker processes that one Ctrl-C stops.

- A run resumes from its checkpoint if one exists, and first removes the temporary files
  that a killed run of its configuration left behind.
- A run whose bounds stop being finite stores no result (FloatingPointError).
- In a sweep, a run that fails is reported and the others go on; the sweep then ends with
  the failures listed. Ctrl-C (or SIGTERM) stops every worker at once: what is left are the
  checkpoints, from which the same command continues. A worker whose parent dies (even by
  kill -9) exits within a second."""
import multiprocessing
import os
import signal
import threading
import time

import numpy as onp

from . import estimators, results
from .configs import run_name
from .speed import reuse_freed_memory
from .storage import remove_stale_parts
from .tasks import TASKS, init_params, load_splits
from .training import bounds_per_row, finite_bound, step_schedule, train


def run(config, out_dir, command, commit, save_params=True, checkpoint_every=500, quiet=False):
    """Train one configuration (resuming from its checkpoint if there is one) and write its
    results; returns the results dict."""
    model = TASKS[config["task"]].model
    reuse_freed_memory()   # a process-wide malloc setting, for speed (speed.py)
    started = time.perf_counter()
    checkpoint = os.path.join(out_dir, run_name(config)) + ".checkpoint.npz"
    remove_stale_parts(os.path.join(out_dir, run_name(config)))
    splits = load_splits(config)
    rng = onp.random.default_rng(config["seed"])
    params, history = train(
        model, init_params(config), splits["train"], method=config["method"], k=config["k"],
        steps=config["steps"], rng=rng, batch_size=config["batch_size"],
        step_size=step_schedule(config["step_size"], config.get("decay", 1.0),
                                config.get("decay_every")),
        valid_x=splits["valid"], eval_every=config["eval_every"], eval_k=config["eval_k"],
        time_budget=config["time_budget"], progress=not quiet, checkpoint=checkpoint,
        checkpoint_every=checkpoint_every, keep_best=config["select"] == "best-valid",
        options={name: config[name] for name in estimators.get(config["method"]).options},
        binarise_each_batch=config.get("binarisation") == "dynamic")
    result = {"config": config, "key": results.config_key(config),
              "history": thinned(history),
              "final": final(model, params, splits["test"], config, history, rng),
              "provenance": results.provenance(command, commit, time.perf_counter() - started,
                                               history["resumed_at"])}
    path = results.write(out_dir, result, params if save_params else None)
    if os.path.exists(checkpoint):
        os.remove(checkpoint)
    print(f"{run_name(config)}: test bound {result['final']['test_bound']:.2f} nats "
          f"(K={config['test_k']}) after {history['steps'][-1]} steps (selected: "
          f"{history['selected_step']}), {history['seconds'][-1]:.0f} s -> {path}", flush=True)
    return result


def final(model, params, test_x, config, history, rng):
    """The run's final numbers: the test bound with test_k samples and its standard error
    over the test digits (and, with tightness_k, the bound at both K on the first
    tightness_size digits and the standard error of the per-digit gain), each checked finite."""
    rows = bounds_per_row(model, params, test_x, config["test_k"], rng)
    test_bound = float(rows.mean())
    finite_bound(test_bound, "the test bound", config["method"])
    numbers = {"test_bound": test_bound, "test_bound_se": results.mean_and_se(rows)[1],
               "test_k": config["test_k"], "test_size": len(test_x),
               "steps_done": history["steps"][-1], "selected_step": history["selected_step"],
               "train_seconds": history["seconds"][-1]}
    if config.get("tightness_k"):
        x, ks = test_x[:config["tightness_size"]], (config["test_k"], config["tightness_k"])
        per_digit = [bounds_per_row(model, params, x, k, rng) for k in ks]
        bounds = [float(values.mean()) for values in per_digit]
        for k, bound in zip(ks, bounds):
            finite_bound(bound, f"the test bound with K = {k}", config["method"])
        numbers["tightness"] = {"size": len(x), "k": list(ks), "bound": bounds,
                                "gain_se": results.mean_and_se(per_digit[1] - per_digit[0])[1]}
    return numbers


def thinned(history, points=200):
    """The history with its per-step lists (steps, seconds, train_bound) cut to about `points`
    entries: the train bound's mean over each block of steps, with the step and seconds at the
    block's end (a 25,000-step run would otherwise store 75,000 numbers)."""
    n = len(history["steps"])
    every = max(1, n // points)
    ends = list(range(every - 1, n, every))
    bounds = onp.asarray(history["train_bound"])
    return {**history, "steps": [history["steps"][i] for i in ends],
            "seconds": [history["seconds"][i] for i in ends],
            "train_bound": [float(bounds[i + 1 - every:i + 1].mean()) for i in ends],
            "train_bound_block": every}


def run_or_report(job):
    """run(**job), or, if the run fails (it diverged, its checkpoint is damaged...), a
    one-line report of why: (result, None) or (None, "<run name>: <error>")."""
    try:
        return run(**job), None
    except Exception as err:     # reported with the sweep's other failures, by name
        return None, f"{run_name(job['config'])}: {type(err).__name__}: {err}"


def run_many(jobs, processes):
    """[run_or_report(job) for job in jobs], in `processes` worker processes (spawned, one
    BLAS thread each, one run each). Ctrl-C or SIGTERM terminates every worker at once and
    raises KeyboardInterrupt here."""
    if processes == 1:
        return [run_or_report(job) for job in jobs]
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")   # before the workers import numpy
    previous = signal.signal(signal.SIGTERM, _interrupt)
    pool = multiprocessing.get_context("spawn").Pool(
        processes, initializer=_worker_started, initargs=(os.getpid(),), maxtasksperchild=1)
    try:
        outcomes = pool.map(run_or_report, jobs, chunksize=1)
        pool.close()
        return outcomes
    finally:
        pool.terminate()        # at once: no run in progress outlives the sweep
        pool.join()
        signal.signal(signal.SIGTERM, previous)


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _worker_started(parent):
    """In each worker: leave Ctrl-C to the parent (which stops the pool), and exit as soon as
    the parent is gone."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def watch():
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)
    threading.Thread(target=watch, daemon=True).start()
