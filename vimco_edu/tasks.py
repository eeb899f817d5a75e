"""The course's two MNIST tasks, as a configuration (configs.py) names them: the model each
trains and its default layer sizes, what a configuration must satisfy to be run (checked
before any training), the data a run sees and the parameters it starts from."""
from typing import NamedTuple

import numpy as onp

from . import conditional_sbn, data, estimators, sbn


class Task(NamedTuple):
    model: object       # a model module (models.py)
    sizes: str          # default layer sizes, visible first
    visible: tuple      # (first, last) layer sizes the data fix (None: any)


TASKS = {"generative": Task(sbn, "784,200,200,200", (data.PIXELS, None)),
         "structured": Task(conditional_sbn, "392,200,200,392",
                            (data.PIXELS // 2, data.PIXELS // 2))}


def layer_sizes(config):
    return [int(s) for s in config["sizes"].split(",")]


def problems(config):
    """What stops `config` from running, in words naming the option (an empty list if
    nothing does): layer sizes the data or the method cannot take, more digits asked of a
    split than it has, a method the model cannot serve, a K the method does not accept."""
    sizes, (first, last) = layer_sizes(config), TASKS[config["task"]].visible
    found = []
    if sizes[0] != first or (last is not None and sizes[-1] != last):
        found.append(f"--sizes: the {config['task']} task's data need "
                     + (f"{first},...,{last} (top and bottom halves)" if last else
                        f"{first} visible units first") + f", got {config['sizes']}")
    available = data.SPLIT_SIZES[config["source"]]
    for option, split in [("train_size", "train"), ("valid_size", "valid"),
                          ("test_size", "test")]:
        if (config.get(option) or 0) > available[split]:
            found.append(f"--{option.replace('_', '-')}: the {config['source']} data's "
                         f"{split} split has {available[split]} digits, not {config[option]}")
    if (config.get("tightness_size") or 0) > config["test_size"]:
        found.append(f"--tightness-size: at most --test-size ({config['test_size']}), got "
                     f"{config['tightness_size']}")
    entry = estimators.get(config["method"])
    if entry.needs_model and (config["task"] != "generative" or len(sizes) != 2):
        found.append(f"--method: {entry.name!r} needs a factorised proposal: the generative "
                     "task with one latent layer (--sizes 784,H)")
    if not entry.accepts_k(config["k"]):
        found.append(f"--k: method {entry.name!r} needs {entry.k_rule}, got {config['k']}")
    return found


def init_params(config, dtype=onp.float32):
    """The parameters a run of `config` starts from (its seed's initialisation)."""
    if config["task"] == "generative":
        return sbn.init_sbn(layer_sizes(config), config["seed"], dtype=dtype)
    return conditional_sbn.init_conditional_sbn(layer_sizes(config), config["seed"],
                                                config["proposal"], dtype=dtype)


def load_splits(config):
    """The run's three splits as float32, from its (resolved) source, checked against the data
    checksum its configuration records, and cut to the sizes it asks for; training digits as
    grey levels for dynamic binarisation."""
    source = config["source"]
    if source == "auto":
        raise ValueError("resolve source 'auto' (data.resolve_source) before building a config")
    recorded = config.get("data_sha256", data.SUBSET_SHA256 if source == "subset" else None)
    if recorded != data.data_sha256(source):
        raise ValueError(f"the {source!r} data on this machine (sha256 "
                         f"{data.data_sha256(source)}) are not those this configuration "
                         f"records ({config.get('data_sha256')})")
    dynamic = config.get("binarisation") == "dynamic"
    sizes = {"train": config["train_size"], "valid": config["valid_size"],
             "test": config["test_size"]}
    return {s: data.load_mnist(s, source, binarised=not (dynamic and s == "train"))
            [:sizes[s]].astype(onp.float32) for s in data.SPLITS}
