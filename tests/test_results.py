"""Stored results: every stored file named by its configuration's key, readers that name the
file at fault, the runs of a table selected by their whole configuration (issue 21.1), and
the per-seed comparisons the notebooks print."""
import glob
import json
import os
import platform
import shutil

import numpy as np
import pytest

from vimco_edu import configs, experiments, results

STORED = glob.glob("tests/data/smoke/vimco-k3-seed0-*.json")[0]
GENERATIVE = "notebooks/results/generative"
# notebook 05's tables on the standard MNIST: the sweep, and the schedule pilot's decayed arm
STANDARD = dict(task="generative", method=["nvil", "rws", "vimco"], k=[1, 2, 5, 10, 50],
                seed=[0, 1, 2], source="standard", steps=100000, eval_every=5000,
                valid_size=2000, select="best-valid", test_k=1000, test_size=10000,
                tightness_k=5000, tightness_size=1000)
PILOT = {**STANDARD, "method": ["vimco"], "k": [5], "seed": [0], "step_size": 3e-3,
         "decay": 0.75, "decay_every": 10000}
# the configurations each notebook's tables are about, as notebooks 05, 06 and 07 mean them
TABLES = {
    "generative": STANDARD,
    "structured": dict(task="structured", proposal=["prior", "learned"],
                       method=["nvil", "vimco"], k=[1, 2, 5, 10, 50], seed=[0, 1, 2],
                       steps=10000, eval_every=500, select="best-valid"),
    "landscape": dict(task="generative", method=["vimco", "rws", "rloo", "disarm-iw", "concrete",
                                                 "straight-through"],
                      k=10, seed=[0, 1, 2], sizes="784,200", steps=10000, eval_every=500,
                      select="best-valid"),
}
# notebook 06 on the standard MNIST: its headline configuration only (its sweep is the subset's)
STRUCTURED_STANDARD = {**STANDARD, "task": "structured", "proposal": ["prior", "learned"],
                       "method": ["nvil", "vimco"]}
# 06's headline configuration trained three times as long (seeds 0-2): where it stops improving
STRUCTURED_LONG = {**STRUCTURED_STANDARD, "proposal": ["learned"], "method": ["vimco"], "k": [50],
                   "steps": 300000}
OTHER_TABLES = {"generative": [PILOT], "structured": [STRUCTURED_STANDARD, STRUCTURED_LONG],
                "landscape": []}


def stored_result_files():
    return sorted(glob.glob("notebooks/results/*/*.json") + glob.glob("tests/data/*/*.json"))


def test_every_stored_result_is_named_by_the_key_of_its_configuration():
    assert len(stored_result_files()) >= 75
    for path in stored_result_files():
        with open(path) as f:
            stored = json.load(f)
        key = configs.config_key(stored["config"])
        assert stored["key"] == key and path.endswith(f"-{key}.json"), path
        assert results.load_result(path)["key"] == key


# (table, runs, slots): 05's sweep is NVIL with K = 1, 2, 5, 10, 50 and RWS and VIMCO with
# K = 2, 5, 10, 50, three seeds each (13 configurations, 39 runs)
@pytest.mark.parametrize("table, runs, slots", [("generative", 39, 13), ("structured", 54, 18),
                                                ("landscape", 18, 6)])
def test_each_tables_configurations_select_exactly_its_stored_runs(table, runs, slots):
    selected = results.select(f"notebooks/results/{table}", TABLES[table])
    count = sum(len(by_seed) for by_seed in selected.values())
    assert (len(selected), count) == (slots, runs)
    paths = {r["path"] for by_seed in selected.values() for r in by_seed.values()}
    for spec in OTHER_TABLES[table]:
        others = results.select(f"notebooks/results/{table}", spec)
        found = {r["path"] for by_seed in others.values() for r in by_seed.values()}
        assert found and not found & paths
        paths |= found
    everything = {r["path"] for r in results.load_results(f"notebooks/results/{table}")}
    assert paths == everything


def stored_runs(pattern):
    """The stored runs of 05's sweep (STANDARD) matching `pattern`."""
    return [path for path in glob.glob(os.path.join(GENERATIVE, pattern))
            if results.load_result(path)["config"].get("step_size") == 0.001]


def store_variant(folder, source, change, final=None):
    """A copy of the result at `source` with its configuration changed (and renamed for it)."""
    with open(source) as f:
        result = json.load(f)
    result["config"].update(change)
    result["key"] = configs.config_key(result["config"])
    result["final"].update(final or {})
    path = os.path.join(folder, configs.run_name(result["config"]) + ".json")
    with open(path, "w") as f:
        json.dump(result, f)
    return path


def test_a_result_of_another_configuration_does_not_replace_a_tables_run(tmp_path):
    """issue 21.1: an extra file that differs in the step size (with a far worse test bound)
    neither replaces seed 1 nor changes the verdict."""
    for path in stored_runs("*-k50-seed*.json"):
        shutil.copy(path, tmp_path)
    spec = {**STANDARD, "method": ["rws", "vimco"], "k": [50]}
    before = results.select(tmp_path, spec)
    verdict_before = results.verdict(results.paired(before["vimco", 50], before["rws", 50]),
                                     "VIMCO", "RWS")
    (original,) = stored_runs("vimco-k50-seed1-*.json")
    store_variant(tmp_path, original, {"step_size": 3e-3}, {"test_bound": -500.0})
    runs = results.select(tmp_path, spec)
    assert runs["vimco", 50][1]["path"] == before["vimco", 50][1]["path"]
    verdict = results.verdict(results.paired(runs["vimco", 50], runs["rws", 50]), "VIMCO", "RWS")
    seeds = len(before["vimco", 50])
    assert seeds >= 2 and verdict == verdict_before and f" of {seeds} seeds, " in verdict


def test_two_results_claiming_one_slot_are_refused_naming_both(tmp_path):
    (original,) = stored_runs("vimco-k50-seed0-*.json")
    first = store_variant(tmp_path, original, {"data_sha256": "a" * 64})
    second = store_variant(tmp_path, original, {"data_sha256": "b" * 64})
    spec = {key: value for key, value in STANDARD.items() if key != "data_sha256"}
    with pytest.raises(ValueError) as refused:
        results.select(tmp_path, spec)
    assert str(tmp_path) in str(refused.value)
    assert first in str(refused.value) and second in str(refused.value)
    chosen = results.select(tmp_path, {**spec, "data_sha256": "b" * 64})
    assert chosen["vimco", 50][0]["path"] == second


def test_an_empty_or_missing_folder_says_what_to_run(tmp_path):
    with pytest.raises(FileNotFoundError, match="no results folder .*python -m vimco_edu"):
        results.select(tmp_path / "missing", TABLES["structured"])
    with pytest.raises(FileNotFoundError) as empty:
        results.select(tmp_path, TABLES["structured"])
    message = str(empty.value)
    assert "structured --sweep --proposals prior,learned --methods nvil,vimco" in message
    assert message.count(".") <= 2 and f"--out-dir {tmp_path}" in message
    for folder in (tmp_path, tmp_path / "missing"):
        with pytest.raises(FileNotFoundError, match="python -m vimco_edu.experiments"):
            experiments.load_results(str(folder))


# -- issue 21.9: readers name the file -----------------------------------------------------------
def test_a_stray_file_in_a_results_folder_does_not_stop_the_results_loading(tmp_path):
    shutil.copy(STORED, tmp_path)
    (tmp_path / ("._" + os.path.basename(STORED))).write_bytes(b"\x00\x05\x16\x07\xff\xfe")
    (tmp_path / "notes.json").write_text('{"written": "by hand"}')
    (tmp_path / "notes.txt").write_text("a note")
    (result,) = experiments.load_results(str(tmp_path))
    assert result["key"] == os.path.basename(STORED)[-len("16a99de92f.json"):-5]


@pytest.mark.parametrize("damage, words", [
    (lambda text: "", "not a readable result"),
    (lambda text: text[:len(text) // 2], "not a readable result"),
    (lambda text: b"\xff\xfe{}", "not a readable result"),
    (lambda text: "[1, 2, 3]", "not a stored result"),
    (lambda text: json.dumps({k: v for k, v in json.loads(text).items() if k != "final"}),
     "lacks \\['final'\\]"),
    (lambda text: text.replace('"k": 3', '"k": 4'), "does not match its own configuration"),
])
def test_a_damaged_result_is_named_with_what_to_do(damage, words, tmp_path):
    path = tmp_path / os.path.basename(STORED)
    damaged = damage(open(STORED).read())
    (path.write_bytes if isinstance(damaged, bytes) else path.write_text)(damaged)
    for read in (results.load_result, lambda p: experiments.load_results(str(tmp_path))):
        with pytest.raises(ValueError, match=words) as refused:
            read(str(path))
        assert str(path) in str(refused.value) and "move it out" in str(refused.value)


def test_parameters_of_the_wrong_shape_or_not_kept_are_named(tmp_path):
    json_path = tmp_path / os.path.basename(STORED)
    shutil.copy(STORED, json_path)
    flat = np.load(STORED[:-5] + ".npz")["params"]
    with pytest.raises(FileNotFoundError, match="parameters were not kept"):
        results.load_params(str(json_path))
    np.savez(str(json_path)[:-5] + ".npz", params=flat[None])   # all there, but 2-D
    with pytest.raises(ValueError, match=r"shape \(1, \d+\), but .* has \d+ in one vector"):
        results.load_params(str(json_path))


def test_stored_parameters_load_as_their_configuration_says():
    from vimco_edu import sbn
    params = results.load_params(STORED)
    probs, _ = sbn.sample(params, 4, np.random.default_rng(0))
    assert probs.shape == (4, 784) and np.all((probs >= 0) & (probs <= 1))
    assert params["prior"].dtype == np.float32
    in_float64 = results.load_params(STORED, dtype=np.float64)
    assert in_float64["prior"].dtype == in_float64["rec"][0]["W"].dtype == np.float64
    np.testing.assert_array_equal(in_float64["gen"][0]["W"], params["gen"][0]["W"])


# -- the comparisons over seeds that notebooks 05-07 print ---------------------------------------
def fake(seeds_and_bounds, steps=(10, 20)):
    return {seed: {"path": f"run-{seed}.json", "final": {"test_bound": bound},
                   "history": {"eval_step": list(steps), "eval_bound": [bound - 5, bound],
                               "selected_step": steps[0]}}
            for seed, bound in seeds_and_bounds.items()}


def test_per_seed_comparisons_and_verdicts():
    a = fake({0: -90.0, 1: -91.0, 2: -89.5, 3: -95.0})
    b = fake({0: -92.0, 1: -92.5, 2: -90.0})
    np.testing.assert_array_equal(results.seed_values(a), [-90.0, -91.0, -89.5, -95.0])
    d = results.paired(a, b)
    assert d == {0: 2.0, 1: 1.5, 2: 0.5}
    mean, se = results.mean_and_se(d)
    assert mean == pytest.approx(4 / 3)
    assert se == pytest.approx(np.std([2, 1.5, .5], ddof=1) / 3 ** .5)
    assert results.margin(d) == f"by 1.3 ± {2 * se:.1f} nats (mean ± 2 SE)"
    assert results.verdict(d, "A", "B") == f"A beats B in 3 of 3 seeds, {results.margin(d)}"
    flipped = results.verdict(results.paired(b, a), "B", "A")
    assert flipped.startswith("A beats B in 3 of 3 seeds, by 1.3 ±")      # said the right way
    assert results.margin({0: 2.0}) == "by 2.0 nats (one seed: no standard error)"
    assert results.spread([-90.0, -92.0]).strip() == "-91.0 (-92.0--90.0, n=2)"
    assert results.spread([3.0]).strip() == "3.0 (n=1)" and results.spread([]).strip() == "—"
    steps, curves = results.curves(b)
    np.testing.assert_array_equal(steps, [10, 20])
    assert curves.shape == (3, 2) and curves[1, 1] == -92.5
    assert results.selected_bound(b[0]) == -97.0
    with pytest.raises(ValueError, match="run-1.json was evaluated at other steps"):
        results.curves({**b, 1: fake({1: 0.0}, steps=(10, 30))[1]})


def test_provenance_records_the_simd_instruction_sets_numpy_dispatches_to():
    # the same seed can train differently on machines whose kernels round differently (06's
    # long runs of seeds 1 and 2), so a stored run says which kernels it ran on
    from numpy._core._multiarray_umath import __cpu_features__
    machine = results.provenance("cmd", "abc", 1.0, [])["machine"]
    assert machine["simd"] == [name for name in machine["simd"] if __cpu_features__[name]]
    if platform.machine() in ("x86_64", "AMD64"):
        assert "SSE42" in machine["simd"]   # every x86-64 CPU numpy 2 runs on has it
