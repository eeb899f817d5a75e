"""A training run's configuration: every setting that can change its numbers, with the
experiments command's default for each, the short key that names a configuration, its file
name, and the command line that makes it.

A configuration is a plain dict. Two stored runs are of the same configuration exactly when
their dicts are equal, and so when their keys are: that is how the experiments command
skips what is done and how results.select finds the runs a table is about."""
import hashlib
import json
import shlex

from . import estimators
from .tasks import TASKS

# every field a configuration records, in order, with its default (None: not set; sizes:
# the task's; proposal: only the structured task has one)
FIELDS = {"task": None, "method": "vimco", "k": 5, "proposal": "learned", "sizes": None,
          "steps": 3000, "time_budget": None, "seed": 0, "source": "subset", "train_size": None,
          "batch_size": 24, "step_size": 1e-3, "eval_every": 500, "eval_k": 100,
          "valid_size": 500, "select": "last", "test_k": 1000, "test_size": 1000}
# fields added later: recorded (and part of the key) only when set, so that the runs stored
# before they existed keep their keys. The run options of an estimator (its registry entry's
# `options`, e.g. temperature) are recorded the same way, for the methods that take them.
# data_sha256 is the content checksum of the data a run used (data.data_sha256), recorded
# for every source but the shipped subset, whose content the package fixes (it is verified
# against data.SUBSET_SHA256 at every load). tightness_size defaults to 1000 with tightness_k.
OPTIONAL = ("decay", "decay_every", "binarisation", "data_sha256", "tightness_k",
            "tightness_size")
# the fields a sweep varies, and the command's flag for a list of their values
SWEEPS = {"method": "methods", "k": "ks", "seed": "seeds", "proposal": "proposals"}


def option_names():
    """The run options of every registered estimator (each is a configuration field)."""
    return {name for entry in estimators.ESTIMATORS.values() for name in entry.options}


def configuration(task, **fields):
    """The whole configuration of a run of `task`: the given `fields` over the defaults,
    with the method's run options (defaults filled in; options of other methods dropped).
    ValueError for a field that no configuration has."""
    unknown = set(fields) - set(FIELDS) - set(OPTIONAL) - option_names()
    if task not in TASKS or unknown:
        raise ValueError(f"a configuration has a task in {sorted(TASKS)} and fields from "
                         f"{[*FIELDS, *OPTIONAL]} or the estimators' options; got task "
                         f"{task!r} and {sorted(unknown)}")
    config = {**FIELDS, **{name: fields[name] for name in FIELDS if name in fields}}
    config.update(task=task, sizes=config["sizes"] or TASKS[task].sizes)
    if task != "structured":
        config["proposal"] = None
    config.update({name: fields[name] for name in OPTIONAL if fields.get(name) is not None})
    if config.get("tightness_k"):
        config["tightness_size"] = fields.get("tightness_size") or 1000
    else:
        config.pop("tightness_size", None)
    entry = estimators.get(config["method"])
    config.update(entry.run_options({name: fields[name] for name in entry.options
                                     if fields.get(name) is not None}))
    return config


def config_key(config):
    """A short hash of the whole configuration: equal keys, equal configurations."""
    fields = {**{name: config.get(name) for name in FIELDS},
              **{name: value for name, value in config.items()
                 if name not in FIELDS and value is not None}}
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:10]


def run_name(config):
    """The name of a run's files: <method>[-<proposal>]-k<K>-seed<S>-<key>."""
    proposal = f"-{config['proposal']}" if config["task"] == "structured" else ""
    return (f"{config['method']}{proposal}-k{config['k']}-seed{config['seed']}-"
            f"{config_key(config)}")


def command(config, python="python"):
    """The command line that makes `config`, every field written out (so it does not rest
    on the defaults of the version that runs it). Lists as values of the SWEEPS fields make
    it a sweep (--sweep --methods a,b ...). data_sha256 is not an option: a run computes it."""
    sweep = any(isinstance(value, (list, tuple)) for value in config.values())
    words = [python, "-m", "vimco_edu.experiments", config["task"]] + ["--sweep"] * sweep
    for name, value in config.items():
        if name in ("task", "data_sha256") or value is None:
            continue
        if sweep and name in SWEEPS:       # a sweep takes only the lists' flags
            values = value if isinstance(value, (list, tuple)) else [value]
            words += [f"--{SWEEPS[name]}", ",".join(map(str, values))]
        elif name == "binarisation":
            words.append(f"--{value}-binarisation")
        else:
            words += [f"--{name.replace('_', '-')}", str(value)]
    return shlex.join(words)
