"""The experiments command: a stored short run is reproduced exactly by re-running it."""
import json
import shlex

import numpy as np
import pytest

from vimco_edu import experiments, sbn

STORED = "tests/data/smoke/vimco-k3-seed0.json"


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
    assert set(stored["provenance"]) >= {"command", "commit", "duration_seconds", "machine",
                                         "versions"}
    assert stored["config"]["seed"] == 0


def test_load_results_finds_the_stored_run():
    (result,) = experiments.load_results("tests/data/smoke")
    assert result["path"].endswith("vimco-k3-seed0.json")
    assert result["config"]["method"] == "vimco" and result["config"]["k"] == 3


def test_stored_parameters_load_and_sample():
    params = experiments.load_params(STORED)
    probs, _ = sbn.sample(params, 4, np.random.default_rng(0))
    assert probs.shape == (4, 784) and np.all((probs >= 0) & (probs <= 1))


def test_sweep_skips_finished_runs_and_vimco_with_k_of_one(tmp_path, capsys):
    argv = ["generative", "--sweep", "--methods", "vimco", "--ks", "1,2", "--sizes", "784,5",
            "--steps", "2", "--eval-every", "2", "--eval-k", "2", "--valid-size", "4",
            "--test-k", "2", "--test-size", "4", "--quiet", "--out-dir", str(tmp_path)]
    experiments.main(argv)
    experiments.main(argv)
    out = capsys.readouterr().out
    assert "VIMCO needs K >= 2" in out and "results exist, skipping" in out
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == ["vimco-k2-seed0.json", "vimco-k2-seed0.npz"]


def test_bad_arguments_are_refused():
    with pytest.raises(SystemExit):
        experiments.main(["generative", "--method", "reinforce"])
