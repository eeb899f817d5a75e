"""Train one configuration (or a sweep) and store its results with provenance.

    python -m vimco_edu.experiments generative --method vimco --k 5 --steps 3000
    python -m vimco_edu.experiments structured --proposal learned --method nvil --k 1
    python -m vimco_edu.experiments generative --sweep --methods nvil,vimco --ks 1,2,5,10,50

Each run writes <out-dir>/<name>.json (configuration, history of the held-out bound,
final test bound, provenance: command, seed, commit, versions, duration, machine) and
<name>.npz (the trained parameters, float16, for drawing samples). A sweep skips runs
whose results exist, so an interrupted sweep resumes where it stopped."""
import argparse
import datetime
from importlib import metadata
import json
import os
import platform
import subprocess
import sys
import time

import numpy as onp
from autograd.misc import flatten

from . import __version__, conditional_sbn, data, sbn
from .training import evaluate_bound, train

# each task: its model's log_weights function and default layer sizes
TASKS = {"generative": (sbn.log_weights, "784,200"),
         "structured": (conditional_sbn.log_weights, "392,200,200,392")}


def run_name(args):
    proposal = f"-{args.proposal}" if args.task == "structured" else ""
    return f"{args.method}{proposal}-k{args.k}-seed{args.seed}"


def init_params(args):
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.task == "generative":
        return sbn.init_sbn(sizes, args.seed, dtype=onp.float32)
    return conditional_sbn.init_conditional_sbn(sizes, args.seed, args.proposal, dtype=onp.float32)


def load_params(result_json):
    """Rebuild the trained parameters stored beside a results file (as float32)."""
    with open(result_json) as f:
        config = json.load(f)["config"]
    template = init_params(argparse.Namespace(**config))
    flat = onp.load(result_json.replace(".json", ".npz"), allow_pickle=False)["params"]
    return flatten(template)[1](flat.astype(onp.float32))


def load_results(folder):
    """Every results file in `folder`, sorted by name: a list of the stored dicts (config,
    history, final, provenance), each with its "path" added for `load_params`."""
    results = []
    for name in sorted(os.listdir(folder)):
        if name.endswith(".json"):
            path = os.path.join(folder, name)
            with open(path) as f:
                results.append({**json.load(f), "path": path})
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
    return commit + ("+uncommitted changes" if dirty else "")


def provenance(command, commit, seconds):
    return {"command": command, "commit": commit, "duration_seconds": round(seconds, 1),
            "finished": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "machine": {"platform": platform.platform(), "processor": platform.machine(),
                        "cpus": os.cpu_count(), "python": platform.python_version()},
            "versions": {"vimco_edu": __version__, "numpy": onp.__version__,
                         "autograd": metadata.version("autograd")}}


def run(args, command, commit):
    """Train one configuration and write its results; returns the results dict."""
    log_weights, _ = TASKS[args.task]
    started = time.perf_counter()
    splits = {s: data.load_mnist(s, source=args.source).astype(onp.float32)
              for s in ("train", "valid", "test")}
    rng = onp.random.default_rng(args.seed)
    params, history = train(log_weights, init_params(args), splits["train"], method=args.method,
                            k=args.k, steps=args.steps, rng=rng, batch_size=args.batch_size,
                            step_size=args.step_size, valid_x=splits["valid"][:args.valid_size],
                            eval_every=args.eval_every, eval_k=args.eval_k,
                            time_budget=args.time_budget, progress=not args.quiet)
    test_x = splits["test"][:args.test_size]
    test_bound = evaluate_bound(log_weights, params, test_x, args.test_k, rng)
    result = {"config": vars(args), "history": history,
              "final": {"test_bound": test_bound, "test_k": args.test_k, "test_size": len(test_x),
                        "steps_done": history["steps"][-1],
                        "train_seconds": history["seconds"][-1]},
              "provenance": provenance(command, commit, time.perf_counter() - started)}
    os.makedirs(args.out_dir, exist_ok=True)
    path = os.path.join(args.out_dir, run_name(args))
    onp.savez_compressed(path + ".npz", params=flatten(params)[0].astype(onp.float16))
    with open(path + ".json", "w") as f:
        json.dump(result, f, indent=1)
    print(f"{run_name(args)}: test bound {test_bound:.2f} nats (K={args.test_k}) "
          f"after {history['steps'][-1]} steps, {history['seconds'][-1]:.0f} s -> {path}.json")
    return result


def parser():
    p = argparse.ArgumentParser(prog="python -m vimco_edu.experiments", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("task", choices=sorted(TASKS))
    p.add_argument("--method", default="vimco", choices=["naive", "nvil", "vimco", "vimco-arith"])
    p.add_argument("--k", type=int, default=5, help="samples per input")
    p.add_argument("--proposal", default="learned", choices=["learned", "prior"],
                   help="structured task: learned q(h | top, bottom) or the prior p(h | top)")
    p.add_argument("--sizes", help="layer sizes, visible first (default: task's)")
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--time-budget", type=float, help="stop after this many training seconds")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--source", default="subset", choices=["subset", "full", "auto"])
    p.add_argument("--batch-size", type=int, default=24)
    p.add_argument("--step-size", type=float, default=1e-3)
    p.add_argument("--eval-every", type=int, default=500)
    p.add_argument("--eval-k", type=int, default=100)
    p.add_argument("--valid-size", type=int, default=500)
    p.add_argument("--test-k", type=int, default=1000)
    p.add_argument("--test-size", type=int, default=1000)
    p.add_argument("--out-dir", help="default: notebooks/results/<task>")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--sweep", action="store_true",
                   help="run every --methods x --ks (x --proposals)")
    p.add_argument("--methods", default="nvil,vimco")
    p.add_argument("--ks", default="1,2,5,10,50")
    p.add_argument("--proposals", default="prior,learned")
    return p


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = parser().parse_args(argv)
    args.sizes = args.sizes or TASKS[args.task][1]
    args.out_dir = args.out_dir or os.path.join("notebooks", "results", args.task)
    command = "python -m vimco_edu.experiments " + " ".join(argv)
    commit = git_commit()  # now, while the code this process runs is what HEAD holds
    if not args.sweep:
        return run(args, command, commit)
    proposals = args.proposals.split(",") if args.task == "structured" else [args.proposal]
    for proposal in proposals:
        for method in args.methods.split(","):
            for k in (int(k) for k in args.ks.split(",")):
                if method.startswith("vimco") and k < 2:
                    print(f"skipping {method} with K={k}: VIMCO needs K >= 2")
                    continue
                one = argparse.Namespace(**{**vars(args), "method": method, "k": k,
                                            "proposal": proposal, "sweep": False})
                if os.path.exists(os.path.join(args.out_dir, run_name(one) + ".json")):
                    print(f"{run_name(one)}: results exist, skipping")
                    continue
                run(one, command, commit)


if __name__ == "__main__":
    main()
