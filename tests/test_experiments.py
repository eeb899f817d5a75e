"""The experiments command: results keyed by their whole configuration, written atomically,
resumable after an interruption to the same result, arguments checked before training, a
stored run reproduced by re-running its command, and sweeps in parallel or as a list."""
import glob
import json
import os
import shlex

import numpy as np
import pytest

from vimco_edu import data, experiments, sbn, train

STORED = glob.glob("tests/data/smoke/vimco-k3-seed0-*.json")[0]
TINY = ["--sizes", "784,5", "--steps", "4", "--eval-every", "2", "--eval-k", "2",
        "--valid-size", "4", "--test-k", "2", "--test-size", "4", "--quiet"]


def test_rerunning_the_stored_command_reproduces_its_results(tmp_path):
    with open(STORED) as f:
        stored = json.load(f)
    command = stored["provenance"]["command"]
    assert command.startswith("python -m vimco_edu.experiments ")
    argv = shlex.split(command)[3:]
    argv[argv.index("--out-dir") + 1] = str(tmp_path)
    rerun = experiments.main(argv)
    for key in ["train_bound", "eval_bound", "eval_step"]:
        np.testing.assert_allclose(rerun["history"][key], stored["history"][key], rtol=1e-4)
    np.testing.assert_allclose(rerun["final"]["test_bound"], stored["final"]["test_bound"],
                               rtol=1e-4)
    assert rerun["key"] == stored["key"] == experiments.config_key(stored["config"])
    assert set(stored["provenance"]) >= {"command", "commit", "duration_seconds", "machine",
                                         "versions"}
    assert stored["config"]["seed"] == 0


def test_load_results_finds_and_filters_the_stored_run():
    (result,) = experiments.load_results("tests/data/smoke", method="vimco", k=3)
    assert result["path"] == STORED
    assert experiments.load_results("tests/data/smoke", method="nvil") == []


def test_stored_parameters_load_and_are_checked_against_the_configuration(tmp_path):
    params = experiments.load_params(STORED)
    probs, _ = sbn.sample(params, 4, np.random.default_rng(0))
    assert probs.shape == (4, 784) and np.all((probs >= 0) & (probs <= 1))
    assert params["prior"].dtype == np.float32
    in_float64 = experiments.load_params(STORED, dtype=np.float64)
    assert in_float64["prior"].dtype == in_float64["rec"][0]["W"].dtype == np.float64
    np.testing.assert_array_equal(in_float64["gen"][0]["W"], params["gen"][0]["W"])
    with open(STORED) as f:
        stored = json.load(f)
    stored["config"]["sizes"] = "784,30"          # a configuration of another size
    other = tmp_path / "other.json"
    other.write_text(json.dumps(stored))
    (tmp_path / "other.npz").write_bytes(open(STORED[:-5] + ".npz", "rb").read())
    with pytest.raises(ValueError, match="holds .* parameters, but the configuration"):
        experiments.load_params(str(other))


def test_a_sweep_skips_only_runs_with_the_same_whole_configuration(tmp_path, capsys):
    argv = ["generative", "--sweep", "--methods", "vimco", "--ks", "1,2", *TINY,
            "--out-dir", str(tmp_path)]
    experiments.main(argv)
    experiments.main(argv)
    assert "results exist, skipping" in capsys.readouterr().err
    longer = [*argv[:argv.index("--steps") + 1], "6", *argv[argv.index("--steps") + 2:]]
    experiments.main(longer)                       # 6 steps: a different configuration
    err = capsys.readouterr().err
    assert "needs K >= 2" in err and "skipping" not in err.replace("skipping vimco", "")
    runs = experiments.load_results(str(tmp_path))
    assert sorted(r["config"]["steps"] for r in runs) == [4, 6]
    assert len({r["key"] for r in runs}) == 2 and len(os.listdir(tmp_path)) == 4


def test_a_crash_while_writing_leaves_no_half_written_result(tmp_path, monkeypatch):
    real_dump = json.dump

    def interrupted(value, out, **kwargs):
        out.write('{"config": ')
        raise KeyboardInterrupt
    monkeypatch.setattr(json, "dump", interrupted)
    with pytest.raises(KeyboardInterrupt):
        experiments.main(["generative", *TINY, "--out-dir", str(tmp_path)])
    assert not glob.glob(str(tmp_path / "*.json")) and not glob.glob(str(tmp_path / "*.part"))
    monkeypatch.setattr(json, "dump", real_dump)
    experiments.main(["generative", *TINY, "--out-dir", str(tmp_path)])
    (result,) = experiments.load_results(str(tmp_path))
    assert result["final"]["steps_done"] == 4


class Interrupt(Exception):
    pass


@pytest.mark.parametrize("method", ["vimco", "nvil"])
def test_an_interrupted_run_resumes_to_the_same_result(tmp_path, method):
    x = data.load_mnist("train")[:200]
    valid = data.load_mnist("valid")[:10]
    options = dict(method=method, k=2, steps=9, batch_size=8, valid_x=valid, eval_every=3,
                   eval_k=3, progress=False, keep_best=True)
    params, history = train(sbn.log_weights, sbn.init_sbn([784, 6], 0), x, rng=1, **options)
    calls = []

    def dies_midway(p, batch, k, rng):
        calls.append(1)
        if len(calls) == 9:        # during step 7 (steps 3 and 6 also evaluate)
            raise Interrupt
        return sbn.log_weights(p, batch, k, rng)
    checkpoint = str(tmp_path / "run.checkpoint.npz")
    with pytest.raises(Interrupt):
        train(dies_midway, sbn.init_sbn([784, 6], 0), x, rng=1, checkpoint=checkpoint,
              checkpoint_every=2, **options)
    resumed_params, resumed = train(sbn.log_weights, sbn.init_sbn([784, 6], 0), x, rng=1,
                                    checkpoint=checkpoint, checkpoint_every=2, **options)
    assert resumed["resumed_at"] == [6]
    for key in ["train_bound", "eval_bound", "steps", "selected_step", "estimator_state"]:
        assert resumed[key] == history[key], key
    for got, want in zip(*(sbn_flat(p) for p in (resumed_params, params))):
        assert got == want


def sbn_flat(params):
    from autograd.misc import flatten
    return [flatten(params)[0].tolist()]


def test_a_checkpoint_of_another_configuration_is_refused(tmp_path):
    x = data.load_mnist("train")[:50]
    checkpoint = str(tmp_path / "c.npz")
    train(sbn.log_weights, sbn.init_sbn([784, 6], 0), x, k=2, steps=2, rng=1, progress=False,
          checkpoint=checkpoint)
    with pytest.raises(ValueError, match="another configuration"):
        train(sbn.log_weights, sbn.init_sbn([784, 7], 0), x, k=2, steps=4, rng=1,
              progress=False, checkpoint=checkpoint)


def test_relaxations_store_their_temperature_and_others_keep_their_keys(tmp_path):
    experiments.main(["generative", "--method", "concrete", "--temperature", "0.7", "--k", "2",
                      *TINY, "--out-dir", str(tmp_path)])
    (result,) = experiments.load_results(str(tmp_path))
    assert result["config"]["temperature"] == 0.7
    with open(STORED) as f:
        stored = json.load(f)
    assert "temperature" not in stored["config"]
    assert experiments.config_key(stored["config"]) == stored["key"]


@pytest.mark.parametrize("argv, words", [
    (["--method", "disarm", "--k", "3"], "even K"),
    (["--method", "disarm", "--k", "4", "--sizes", "784,5,3"], "one latent layer"),
    (["--method", "concrete", "--k", "4"], "needs a temperature"),
    (["--method", "vimco", "--temperature", "0.5"], "relaxations"),
])
def test_methods_the_model_cannot_serve_are_refused_before_training(argv, words, capsys):
    with pytest.raises(SystemExit):
        experiments.main(["generative", "--sizes", "784,5", *argv])
    assert words in capsys.readouterr().err


@pytest.mark.parametrize("option, value", [
    ("--batch-size", "0"), ("--test-size", "0"), ("--valid-size", "0"), ("--valid-size", "-3"),
    ("--step-size", "-0.001"), ("--seed", "-1"), ("--k", "0"), ("--sizes", "784,-5"),
    ("--steps", "0"), ("--method", "reinforce"),
])
def test_bad_arguments_are_refused_before_training(option, value, capsys):
    with pytest.raises(SystemExit):
        experiments.main(["generative", option, value])
    assert option in capsys.readouterr().err


def test_vimco_with_k_of_one_is_refused():
    with pytest.raises(SystemExit):
        experiments.main(["generative", "--method", "vimco", "--k", "1"])


def test_list_prints_one_command_per_configuration_each_reproducing_its_key(tmp_path, capsys):
    argv = ["generative", "--sweep", "--methods", "nvil,rws", "--ks", "1,2", "--seeds", "0,3",
            *TINY, "--out-dir", str(tmp_path), "--list"]
    experiments.main(argv)
    commands = capsys.readouterr().out.splitlines()
    assert len(commands) == 2 * 2 + 1 * 2          # NVIL at K = 1, 2; RWS needs K >= 2
    keys = set()
    for command in commands:
        args = experiments.parser().parse_args(shlex.split(command)[3:])
        args.sizes = args.sizes or experiments.TASKS[args.task][1]
        keys.add(experiments.config_key(experiments.config_of(args)))
    assert len(keys) == len(commands)


def test_jobs_run_a_sweep_in_parallel_processes(tmp_path):
    experiments.main(["generative", "--sweep", "--methods", "vimco,rws", "--ks", "2", *TINY,
                      "--out-dir", str(tmp_path), "--jobs", "2"])
    runs = experiments.load_results(str(tmp_path))
    assert sorted(r["config"]["method"] for r in runs) == ["rws", "vimco"]
    assert all(r["provenance"]["machine"]["blas_threads"] == "1" for r in runs)
