"""Stored results of training runs: the file format and provenance, reading results back
(checked, naming the file at fault), selecting the runs a table is about by their whole
configuration, and the per-seed comparisons the notebooks print.

On disk, a run of configuration `config` (configs.py) is <folder>/<run_name(config)>.json,
{"config", "key", "history", "final", "provenance"}, standard JSON written atomically, and
beside it <run_name>.npz with its trained parameters ("params", one flat float16 vector).

    SWEEP = dict(task="generative", method=["nvil", "vimco"], k=[2, 5], seed=[0, 1, 2],
                 steps=25000, eval_every=1000, select="best-valid")   # the rest: defaults
    runs = select("results/generative", SWEEP)        # {(method, k): {seed: result}}
    d = paired(runs["vimco", 5], runs["nvil", 5])      # per-seed differences in test bound
    print(verdict(d, "VIMCO", "NVIL"))                 # VIMCO beats NVIL in 3 of 3 seeds, ..."""
import datetime
import itertools
import json
import os
import platform
import re
import subprocess
from importlib import metadata

import numpy as onp
from autograd.misc import flatten

from . import __version__, estimators
from .configs import SWEEPS, command, config_key, configuration, run_name
from .storage import atomic_savez, atomic_write_json, load_npz
from .tasks import init_params

RESULT_PARTS = ("config", "key", "history", "final", "provenance")
# how a result file is named (run_name + .json); other files in a results folder (notes,
# checkpoints, `._*` files that macOS leaves) are not results and are passed over
RESULT_NAME = re.compile(r"[^.].*-k\d+-seed\d+-[0-9a-f]{10}\.json")


# -- Writing -----------------------------------------------------------------------------------
def git_commit():
    """HEAD's hash, marked if tracked files differ from it (call before training starts);
    stored results (notebooks/results, tests/data) are data, not code, and do not count."""
    here = os.path.dirname(__file__)
    status = ["git", "status", "--porcelain", "--untracked-files=no", "--", ":/",
              ":(top,exclude)notebooks/results", ":(top,exclude)tests/data"]
    try:
        commit, dirty = (subprocess.run(words, capture_output=True, text=True, cwd=here,
                                        timeout=10).stdout.strip()
                         for words in (["git", "rev-parse", "HEAD"], status))
    except (OSError, subprocess.SubprocessError):
        commit, dirty = "unknown", ""
    return (commit or "unknown") + ("+uncommitted changes" if dirty else "")


def simd_features():
    """The SIMD instruction sets numpy dispatches its loops to on this CPU (the widest ones):
    two machines that differ here can round exp or a matrix product differently in the last
    bit, so the same seed can train differently on them."""
    try:   # numpy's own record of what it found at import (no public API for it)
        from numpy._core._multiarray_umath import __cpu_features__
    except ImportError:
        return []
    wanted = ("AVX512_SPR", "AVX512_SKX", "AVX512F", "AVX2", "FMA3", "SSE42", "ASIMD", "SVE")
    return [name for name in wanted if __cpu_features__.get(name)]


def provenance(command, commit, seconds, resumed_at):
    """Where a result came from. duration_seconds is the wall time of the session that
    finished the run; a run resumed from checkpoints lists the steps it resumed at (its
    whole training time is final.train_seconds)."""
    return {"command": command, "commit": commit, "duration_seconds": round(seconds, 1),
            "resumed_at": resumed_at,
            "finished": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "machine": {"platform": platform.platform(), "processor": platform.machine(),
                        "cpus": os.cpu_count(), "python": platform.python_version(),
                        "blas_threads": os.environ.get("OPENBLAS_NUM_THREADS", "default"),
                        "simd": simd_features()},
            "versions": {"vimco_edu": __version__, "numpy": onp.__version__,
                         "autograd": metadata.version("autograd")}}


def write(folder, result, params=None):
    """Store `result` (a dict of RESULT_PARTS) in `folder` under its run's name, with the
    trained parameters (float16) if given: the parameters first, so that a result file
    never points at missing parameters. Returns the JSON's path."""
    path = os.path.join(folder, run_name(result["config"]))
    if params is not None:
        atomic_savez(path + ".npz", compressed=True,
                     params=flatten(params)[0].astype(onp.float16))
    atomic_write_json(path + ".json", result)
    return path + ".json"


# -- Reading -----------------------------------------------------------------------------------
def load_result(path):
    """The result stored at `path`, with its "path" added, after checking that it is one:
    ValueError naming the file, what is wrong and what to do, if it is empty, truncated, not
    UTF-8, not JSON, not a result, or not named for its own configuration."""
    fix = "move it out of the results folder (or re-run the configuration to replace it)"
    try:
        with open(path, encoding="utf-8") as f:
            result = json.load(f)
    except ValueError as err:          # not UTF-8, not JSON (empty, truncated)
        raise ValueError(f"{path} is not a readable result ({err}): {fix}") from err
    try:
        name, key = run_name(result["config"]) + ".json", config_key(result["config"])
        whole = set(RESULT_PARTS) <= set(result)
    except (KeyError, TypeError, AttributeError) as err:
        raise ValueError(f"{path} is not a stored result (it has no configuration): "
                         f"{fix}") from err
    if not whole:
        raise ValueError(f"{path} is not a whole stored result (it lacks "
                         f"{sorted(set(RESULT_PARTS) - set(result))}): {fix}")
    if result["key"] != key or os.path.basename(path) != name:
        raise ValueError(f"{path} does not match its own configuration (its key is "
                         f"{result['key']}, its configuration's {key}, which names the file "
                         f"{name}): it was renamed or edited; {fix}")
    return {**result, "path": str(path)}


def load_params(result_json, dtype=onp.float32):
    """Rebuild the trained parameters stored beside a results file (as `dtype`: float32 for
    speed, float64 where printed numbers must not depend on the CPU's kernels), checking that
    they are the shape its configuration says."""
    config = load_result(result_json)["config"]
    template, unflatten = flatten(init_params(config, dtype))
    path = str(result_json)[:-len(".json")] + ".npz"
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} does not exist: the run's parameters were not kept "
                                "(the experiments command keeps them for --params-seeds only)")
    flat = load_npz(path, ["params"])["params"]
    if flat.shape != template.shape:
        raise ValueError(f"{path} holds parameters of shape {flat.shape}, but the "
                         f"configuration in {result_json} (sizes {config['sizes']}) has "
                         f"{template.size} in one vector, shape {template.shape}")
    return unflatten(flat.astype(dtype))


def result_files(folder):
    """The paths of the result files in `folder`, sorted by name; FileNotFoundError, saying
    what to run, if there is no such folder."""
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"there is no results folder {folder}: make its results with "
                                "python -m vimco_edu.experiments (each notebook's last "
                                "section shows the command)")
    return [os.path.join(folder, name) for name in sorted(os.listdir(folder))
            if RESULT_NAME.fullmatch(name)]


def load_results(folder, **where):
    """Every result in `folder` (sorted by name) whose configuration matches `where` (e.g.
    method="vimco", k=5): a list of the stored dicts, each with its "path" for `load_params`.
    FileNotFoundError, saying what to run, if none does. To pick the runs of one table, use
    `select`, which compares whole configurations."""
    results = [result for result in map(load_result, result_files(folder))
               if all(result["config"].get(key) == value for key, value in where.items())]
    if not results:
        raise FileNotFoundError(f"{folder} holds no results with {where}: make them with "
                                "python -m vimco_edu.experiments (each notebook's last "
                                "section shows the command)")
    return results


# -- Selecting the runs of a table ---------------------------------------------------------------
def select(folder, spec):
    """The stored runs of the configurations `spec` describes: {slot: {seed: result}}.

    `spec` holds configuration fields (configs.FIELDS, e.g. steps=25000); every field it
    leaves out has its default, so it describes whole configurations. Lists as the values of
    method, k, proposal or seed say which values the table covers (combinations a method
    cannot take, such as VIMCO with K = 1, are left out); the other listed fields, in the
    spec's order, make the slot (one value: the value itself, several: a tuple). A result
    counts only if its configuration is one of those; data_sha256, when the spec does not
    give it, must merely be the same for all. Raises FileNotFoundError saying what to run if
    there are none, and ValueError naming both files if two results claim one slot."""
    slots = [name for name, value in spec.items()
             if isinstance(value, (list, tuple)) and name != "seed"]
    wanted = {config_key(config) for config in _configurations(spec)}
    runs = {}
    for result in map(load_result, result_files(folder)):
        config = dict(result["config"])
        if "data_sha256" not in spec:
            config.pop("data_sha256", None)
        if config_key(config) not in wanted:
            continue
        slot = tuple(config[name] for name in slots)
        by_seed = runs.setdefault(slot[0] if len(slot) == 1 else slot, {})
        if config["seed"] in by_seed:
            raise ValueError(f"{by_seed[config['seed']]['path']} and {result['path']} both "
                             f"claim {dict(zip(slots, slot))}, seed {config['seed']}: move "
                             "one of them out of the results folder")
        by_seed[config["seed"]] = result
    if not runs:
        raise FileNotFoundError(f"{folder} holds no results of these configurations: make "
                                f"them with {command(spec)} --out-dir {folder}")
    return _one_data_version(runs, spec)


def _configurations(spec):
    """Every whole configuration `spec` describes (see `select`), without data_sha256
    unless it gives one."""
    axes = {name: list(value) for name, value in spec.items() if isinstance(value, (list, tuple))}
    unknown = set(axes) - set(SWEEPS)
    if unknown:
        raise ValueError(f"only {sorted(SWEEPS)} can take several values, got {sorted(unknown)}")
    fixed = {name: value for name, value in spec.items() if name not in axes}
    configs = [configuration(**fixed, **dict(zip(axes, values)))
               for values in itertools.product(*axes.values())]
    return [c for c in configs if estimators.get(c["method"]).accepts_k(c["k"])]


def _one_data_version(runs, spec):
    """`runs`, after checking that they all used the same data (same data_sha256)."""
    seen = {}
    for by_seed in runs.values():
        for result in by_seed.values():
            seen.setdefault(result["config"].get("data_sha256"), result["path"])
    if len(seen) > 1 and "data_sha256" not in spec:
        first, second = list(seen.values())[:2]
        raise ValueError(f"{first} and {second} were trained on different data (data_sha256 "
                         "differs): give data_sha256 in the spec to choose")
    return runs


# -- Comparing runs over seeds -------------------------------------------------------------------
def seed_values(by_seed, part="final", name="test_bound"):
    """result[part][name] of each seed's run, in seed order, as an array."""
    return onp.array([by_seed[seed][part][name] for seed in sorted(by_seed)])


def paired(a, b, name="test_bound"):
    """{seed: a's final[name] - b's} over the seeds both {seed: result} dicts have."""
    return {seed: a[seed]["final"][name] - b[seed]["final"][name]
            for seed in sorted(set(a) & set(b))}


def mean_and_se(differences):
    """The mean of values (per-seed differences, per-digit bounds: a dict or an array) and
    its standard error sd / sqrt(n) (None with one value)."""
    d = onp.asarray(list(differences.values()) if isinstance(differences, dict)
                    else differences, dtype=float)
    return float(d.mean()), (float(d.std(ddof=1) / onp.sqrt(len(d))) if len(d) > 1 else None)


def margin(differences, unit="nats"):
    """'by 1.2 ± 0.4 nats (mean ± 2 SE)', or, with one seed, 'by 1.2 nats (one seed: no
    standard error)'."""
    mean, se = mean_and_se(differences)
    if se is None:
        return f"by {mean:.1f} {unit} (one seed: no standard error)"
    return f"by {mean:.1f} ± {2 * se:.1f} {unit} (mean ± 2 SE)"


def verdict(differences, name_a, name_b, unit="nats"):
    """'A beats B in n of m seeds, by x ± y nats (mean ± 2 SE)' for per-seed differences
    a - b (higher is better), said the right way round: B beats A if the mean is negative."""
    d = onp.asarray(list(differences.values()) if isinstance(differences, dict)
                    else differences, dtype=float)
    if d.mean() < 0:
        d, name_a, name_b = -d, name_b, name_a
    return f"{name_a} beats {name_b} in {int(onp.sum(d > 0))} of {len(d)} seeds, {margin(d, unit)}"


def spread(values, width=25):
    """'mean (min-max, n=3)' of per-seed values, 'value (n=1)' for one, a dash for none:
    right-aligned in `width` characters, for tables."""
    values = onp.asarray(values, dtype=float)
    if len(values) == 0:
        return f"{'—':>{width}}"
    if len(values) == 1:
        return f"{values[0]:.1f} (n=1)".rjust(width)
    return f"{values.mean():.1f} ({values.min():.1f}-{values.max():.1f}, n={len(values)})" \
        .rjust(width)


def curves(by_seed, name="eval_bound"):
    """(steps, values): the evaluation steps and history[name] of each seed's run, one row a
    seed in seed order; ValueError naming a file whose evaluation steps differ."""
    seeds = sorted(by_seed)
    steps = by_seed[seeds[0]]["history"]["eval_step"]
    for seed in seeds:
        if by_seed[seed]["history"]["eval_step"] != steps:
            raise ValueError(f"{by_seed[seed]['path']} was evaluated at other steps than "
                             f"{by_seed[seeds[0]]['path']}: its curve cannot be averaged")
    return onp.array(steps), onp.array([by_seed[s]["history"][name] for s in seeds])


def selected_bound(result):
    """The held-out bound at the step whose parameters the run kept (its selected step)."""
    history = result["history"]
    return history["eval_bound"][history["eval_step"].index(history["selected_step"])]
