"""The experiments command: results keyed by their whole configuration, written atomically,
resumable after an interruption to the same result, every argument checked before training
(usage errors, exit 2), a stored run reproduced by re-running its command, sweeps in
parallel (stopped by one Ctrl-C) or as a list of commands that run, and an estimator's rules
and options taken from its registry entry. Classes of issue 21 are marked "issue 21.n"."""
import glob
import json
import os
import shlex
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from vimco_edu import configs, data, estimators, experiments, palette, results, runs, sbn, train
from vimco_edu.bounds import bound_estimate
from vimco_edu.checks import positive_number

STORED = glob.glob("tests/data/smoke/vimco-k3-seed0-*.json")[0]
TINY = ["--sizes", "784,5", "--steps", "4", "--eval-every", "2", "--eval-k", "2",
        "--valid-size", "4", "--test-k", "2", "--test-size", "4", "--quiet"]


def refused(argv, capsys, *words):
    """main(argv) stops with a usage error (exit 2, one line) naming `words`."""
    with pytest.raises(SystemExit) as stop:
        experiments.main(argv)
    err = capsys.readouterr().err
    assert stop.value.code == 2, err
    message = err.strip().splitlines()[-1]
    assert "Traceback" not in err and all(word in message for word in words), message
    return message


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


# configurations made by the command at commit ae28a87, and the names it gave them: the keys
# of every run started by that command must stay what they were
KEYS_BEFORE = {
    "generative --method concrete --temperature 0.7 --k 2 --sizes 784,5 --steps 4":
        ["concrete-k2-seed0-c456d7e1e4"],
    "generative --method disarm --k 4 --sizes 784,200 --time-budget 60 --train-size 500 "
    "--batch-size 10": ["disarm-k4-seed0-53449651bc"],
    "structured --method nvil --k 1 --proposal prior --steps 10000 --select best-valid":
        ["nvil-prior-k1-seed0-4db54c214c"],
    "structured --method vimco --k 5": ["vimco-learned-k5-seed0-8e6de61ff0"],
    "generative --sweep --methods nvil,rws --ks 1,50 --seeds 0,2 --steps 25000 --eval-every "
    "1000 --select best-valid": ["nvil-k1-seed0-1f68fde926", "nvil-k1-seed2-73d2c778b3",
                                 "nvil-k50-seed0-c9e41cd237", "nvil-k50-seed2-c3763b1d69",
                                 "rws-k50-seed0-fa7fb49dd4", "rws-k50-seed2-4387a2c01e"],
}


@pytest.mark.parametrize("command", KEYS_BEFORE)
def test_the_command_names_configurations_as_it_always_did(command, tmp_path, capsys):
    _, found = experiments.plan(shlex.split(command) + ["--out-dir", str(tmp_path)])
    assert [configs.run_name(config) for config in found] == KEYS_BEFORE[command]


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
    stored = results.load_results(str(tmp_path))
    assert sorted(r["config"]["steps"] for r in stored) == [4, 6]
    assert len({r["key"] for r in stored}) == 2 and len(os.listdir(tmp_path)) == 4


def test_a_crash_while_writing_leaves_no_half_written_result(tmp_path, monkeypatch, capsys):
    real_dump = json.dump

    def interrupted(value, out, **kwargs):
        out.write('{"config": ')
        raise KeyboardInterrupt
    monkeypatch.setattr(json, "dump", interrupted)
    with pytest.raises(SystemExit) as stop:
        experiments.main(["generative", *TINY, "--out-dir", str(tmp_path)])
    assert stop.value.code == 130 and "run the same command again" in capsys.readouterr().err
    assert not glob.glob(str(tmp_path / "*.json")) and not glob.glob(str(tmp_path / "*.part"))
    monkeypatch.setattr(json, "dump", real_dump)
    experiments.main(["generative", *TINY, "--out-dir", str(tmp_path)])
    (result,) = results.load_results(str(tmp_path))
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
    np.testing.assert_array_equal(sbn.sample(resumed_params, 3, np.random.default_rng(0))[0],
                                  sbn.sample(params, 3, np.random.default_rng(0))[0])


def test_a_checkpoint_of_another_configuration_is_refused(tmp_path):
    x = data.load_mnist("train")[:50]
    checkpoint = str(tmp_path / "c.npz")
    train(sbn.log_weights, sbn.init_sbn([784, 6], 0), x, k=2, steps=2, rng=1, progress=False,
          checkpoint=checkpoint)
    with pytest.raises(ValueError, match="another configuration.*delete"):
        train(sbn.log_weights, sbn.init_sbn([784, 7], 0), x, k=2, steps=4, rng=1,
              progress=False, checkpoint=checkpoint)


def test_relaxations_store_their_temperature_and_others_keep_their_keys(tmp_path):
    experiments.main(["generative", "--method", "concrete", "--temperature", "0.7", "--k", "2",
                      *TINY, "--out-dir", str(tmp_path)])
    experiments.main(["generative", "--method", "straight-through", "--k", "2", *TINY,
                      "--out-dir", str(tmp_path)])
    stored = {r["config"]["method"]: r for r in results.load_results(str(tmp_path))}
    assert stored["concrete"]["config"]["temperature"] == 0.7
    assert stored["straight-through"]["config"]["temperature"] == 0.5     # its default
    with open(STORED) as f:
        assert "temperature" not in json.load(f)["config"]


def test_the_final_numbers_carry_their_standard_errors_over_the_test_digits():
    """issue 24: each run's test bound and tightening come with a standard error over the
    digits. A stand-in model whose every sample of row i has log-weight 10 b_i + k b_i / 1000
    (b_i the row's first pixel) has per-row bounds that are known exactly."""
    def log_weights(params, x, k, rng):
        w = x[:, :1] * (10.0 + k / 1000)
        return np.repeat(w, k, axis=1), np.zeros((len(x), k))
    test_x = np.zeros((6, 784))
    test_x[[1, 2, 4], 0] = 1
    config = dict(method="vimco", test_k=2, tightness_k=5, tightness_size=4)
    history = dict(steps=[10], selected_step=10, seconds=[1.0])
    numbers = runs.final(log_weights, None, test_x, config, history, 0)
    rows = test_x[:, 0] * 10.002
    gain = test_x[:4, 0] * 0.003
    assert numbers["test_bound"] == pytest.approx(rows.mean(), abs=1e-12)
    assert numbers["test_bound_se"] == pytest.approx(rows.std(ddof=1) / np.sqrt(6), abs=1e-12)
    tight = numbers["tightness"]
    assert tight["bound"][1] - tight["bound"][0] == pytest.approx(gain.mean(), abs=1e-12)
    assert tight["gain_se"] == pytest.approx(gain.std(ddof=1) / 2, abs=1e-12)


# -- issue 21.2: one data source for every split, recorded ---------------------------------------
def test_source_auto_is_resolved_once_and_the_source_used_is_recorded(tmp_path, monkeypatch,
                                                                       capsys):
    def offline(*args, **kwargs):
        raise data._download.DownloadError("offline (test)")
    monkeypatch.setattr(data._standard, "fetch", offline)
    result = experiments.main(["generative", "--source", "auto", *TINY,
                               "--out-dir", str(tmp_path)])
    assert result["config"]["source"] == "subset" and "data_sha256" not in result["config"]
    assert "offline (test)" in capsys.readouterr().out
    _, (config,) = experiments.plan(["generative", "--source", "subset", *TINY,
                                     "--out-dir", str(tmp_path)])
    assert configs.config_key(config) == result["key"]


# -- issue 21.3: diverged runs are not stored ----------------------------------------------------
@pytest.mark.parametrize("option", ["--step-size", "--time-budget", "--decay"])
def test_non_finite_settings_are_refused(option, capsys):
    refused(["generative", option, "inf", "--decay-every", "2"], capsys, option, "finite")


def test_a_diverged_run_stores_nothing_and_a_sweep_goes_on_naming_it(tmp_path, monkeypatch,
                                                                    capsys):
    real, calls = runs.bounds_per_row, []

    def first_test_bound_is_nan(*args, **kwargs):    # the first run's (RWS's) test bound
        calls.append(1)
        bounds = real(*args, **kwargs)
        return bounds * np.nan if len(calls) == 1 else bounds
    monkeypatch.setattr(runs, "bounds_per_row", first_test_bound_is_nan)
    with pytest.raises(SystemExit) as stop:
        experiments.main(["generative", "--sweep", "--methods", "rws,vimco", "--ks", "2", *TINY,
                          "--out-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert stop.value.code == 1 and "1 of 2 runs failed" in err
    assert "rws-k2-seed0" in err and "the test bound is nan" in err
    assert [r["config"]["method"] for r in results.load_results(str(tmp_path))] == ["vimco"]


# -- issue 21.4: nothing is quietly ignored ------------------------------------------------------
@pytest.mark.parametrize("argv, words", [
    (["--sweep", "--method", "nvil"], ["--method", "--methods"]),
    (["--sweep", "--k", "3"], ["--k", "--ks"]),
    (["--sweep", "--seed", "0"], ["--seed", "--seeds"]),
    (["--ks", "2,5"], ["--ks", "--sweep"]),
    (["--jobs", "2"], ["--jobs", "--sweep"]),
    (["--proposal", "prior"], ["structured"]),
    (["--train-size", "9000"], ["--train-size", "8000"]),
    (["--test-size", "5000"], ["--test-size", "1000"]),
    (["--tightness-size", "10"], ["--tightness-size", "--tightness-k"]),
    (["--params-seeds", "0,x"], ["--params-seeds"]),
    (["--sweep", "--seeds", "0,1", "--params-seeds", "2"], ["--params-seeds"]),
    (["--method", "vimco", "--temperature", "0.5"], ["--temperature", "concrete"]),
])
def test_options_that_would_be_ignored_are_refused(argv, words, capsys, tmp_path):
    listing = ["--list"] if "--sweep" in argv else []
    refused(["generative", *argv, "--out-dir", str(tmp_path), *listing], capsys, *words)


def test_structured_sweeps_take_proposals(tmp_path, capsys):
    refused(["structured", "--sweep", "--proposal", "prior"], capsys, "--proposals")


# -- issue 21.6: everything that can be checked is checked before any training -------------------
@pytest.mark.parametrize("argv, words", [
    (["--ks", "0"], ["--ks", ">= 1"]), (["--ks", "a,2"], ["--ks", "'a'"]),
    (["--seeds", "-1"], ["--seeds", ">= 0"]), (["--methods", "vimco,bogus"], ["bogus"]),
    (["--proposals", "bogus"], ["--proposals", "bogus"]),
    (["--temperature", "inf"], ["--temperature", "finite"]),
])
def test_every_value_of_a_sweep_list_is_checked(argv, words, capsys):
    task = "structured" if "--proposals" in argv else "generative"
    refused([task, "--sweep", "--methods", "concrete", *argv], capsys, *words)


@pytest.mark.parametrize("option, value", [
    ("--batch-size", "0"), ("--test-size", "0"), ("--valid-size", "0"), ("--valid-size", "-3"),
    ("--step-size", "-0.001"), ("--seed", "-1"), ("--k", "0"), ("--sizes", "784,-5"),
    ("--steps", "0"), ("--method", "reinforce"), ("--k", "five"), ("--sizes", "700,5"),
    ("--test-k", "2.5"),
])
def test_bad_arguments_are_refused_before_training(option, value, capsys):
    refused(["generative", option, value], capsys, option)


@pytest.mark.parametrize("argv, words", [
    (["--method", "disarm", "--k", "3"], "even K"),
    (["--method", "disarm", "--k", "4", "--sizes", "784,5,3"], "one latent layer"),
    (["--method", "vimco", "--k", "1"], "K >= 2"),
])
def test_methods_the_model_cannot_serve_are_refused_before_training(argv, words, capsys):
    refused(["generative", "--sizes", "784,5", *argv], capsys, words)


def test_an_output_folder_that_cannot_take_results_is_refused(tmp_path, capsys):
    (tmp_path / "file").write_text("not a folder")
    refused(["generative", "--out-dir", str(tmp_path / "file")], capsys, "--out-dir")
    refused(["generative", "--out-dir", str(tmp_path / "file" / "below")], capsys, "--out-dir")


def test_a_data_source_that_cannot_be_had_is_a_usage_error(monkeypatch, capsys, tmp_path):
    def offline(*args, **kwargs):
        raise data._download.DownloadError("could not download (test)")
    monkeypatch.setattr(data._standard, "fetch", offline)
    refused(["generative", "--source", "standard", "--out-dir", str(tmp_path)], capsys,
            "--source standard", "could not download")


# -- issue 21.7: one Ctrl-C stops a sweep; no worker outlives its parent; leftovers cleaned ------
SLOW_SWEEP = ["generative", "--sweep", "--methods", "vimco,rws,nvil", "--ks", "2", "--seeds",
              "0,1", "--sizes", "784,5", "--steps", "200000", "--eval-every", "200000",
              "--eval-k", "2", "--valid-size", "4", "--test-k", "2", "--test-size", "4",
              "--checkpoint-every", "20", "--quiet", "--jobs", "2"]


@pytest.fixture
def sweep(tmp_path):
    """start(): the slow sweep in its own process group (as a terminal runs it), with Ctrl-C
    at its default even where this session ignores it (nohup, background jobs), returned once
    both workers have checkpointed, with the workers' process ids. Whatever is left of it is
    killed at the end of the test."""
    started = []

    def start():
        process = subprocess.Popen(
            [sys.executable, "-m", "vimco_edu.experiments", *SLOW_SWEEP, "--out-dir",
             str(tmp_path)], start_new_session=True, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "OPENBLAS_NUM_THREADS": "1"},
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        started.append(process)
        deadline = time.time() + 120
        while len(glob.glob(str(tmp_path / "*.checkpoint.npz"))) < 2 and time.time() < deadline:
            time.sleep(0.2)
        return process, [pid for pid in alive() if field_of(pid, 1) == process.pid]
    yield start
    for process in started:          # what is still in its process group, if anything
        for pid in [pid for pid in alive() if field_of(pid, 2) == process.pid]:
            os.kill(pid, signal.SIGKILL)


def alive():
    return [int(p) for p in os.listdir("/proc") if p.isdigit() and state_of(int(p)) not in "ZX"]


def state_of(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "X"


def field_of(pid, index):
    """From /proc/<pid>/stat: 1, the parent's process id; 2, the process group's."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[index])
    except (OSError, IndexError, ValueError):
        return None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_one_ctrl_c_stops_a_parallel_sweep_at_once_and_says_how_to_resume(tmp_path, sweep):
    process, workers = sweep()
    assert len(workers) >= 2
    os.killpg(process.pid, signal.SIGINT)          # what Ctrl-C in a terminal does
    started = time.time()
    err = process.communicate(timeout=30)[1]
    assert process.returncode == 130 and time.time() - started < 10, err
    assert "run the same command again" in err and "Traceback" not in err
    time.sleep(1)
    assert not set(workers) & set(alive())
    assert not glob.glob(str(tmp_path / "*.json"))     # nothing more was trained
    for path in glob.glob(str(tmp_path / "*.checkpoint.npz")):
        assert np.load(path)["flat"].size > 0


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_workers_do_not_outlive_a_killed_parent(sweep):
    process, workers = sweep()
    assert len(workers) >= 2
    process.kill()
    process.wait()
    deadline = time.time() + 10
    while set(workers) & set(alive()) and time.time() < deadline:
        time.sleep(0.2)
    assert not set(workers) & set(alive())


def test_a_killed_runs_temporary_files_are_removed_at_the_next_start(tmp_path):
    _, (config,) = experiments.plan(["generative", *TINY, "--out-dir", str(tmp_path)])
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    stem = tmp_path / configs.run_name(config)
    stale = [f"{stem}.json.{gone}.x1y2.part", f"{stem}.checkpoint.npz.{gone}.ab_c.part",
             f"{stem}.npz.oldform.part"]
    live = f"{stem}.json.{os.getpid()}.zz.part"      # a writer still at work
    for path in [*stale, live]:
        open(path, "w").close()
    experiments.main(["generative", *TINY, "--out-dir", str(tmp_path)])
    assert not any(os.path.exists(path) for path in stale) and os.path.exists(live)


# -- issue 21.8: --list prints commands that run, as the sweep would run them --------------------
def test_list_prints_one_runnable_command_per_configuration(tmp_path, capsys):
    argv = ["generative", "--sweep", "--methods", "nvil,rws,concrete", "--ks", "1,2,2",
            "--seeds", "0,3,0", *TINY, "--checkpoint-every", "7", "--out-dir", str(tmp_path)]
    experiments.main([*argv, "--list"])
    commands = capsys.readouterr().out.splitlines()
    assert len(commands) == (2 + 1 + 2) * 2        # NVIL at K = 1, 2; RWS needs K >= 2
    _, planned = experiments.plan(argv)
    keys = []
    for command in commands:
        words = shlex.split(command)
        assert words[:4] == ["OPENBLAS_NUM_THREADS=1", sys.executable, "-m",
                             "vimco_edu.experiments"]
        words = words[1:]
        assert "--checkpoint-every" in words and words[words.index("--checkpoint-every") + 1] == "7"
        _, (config,) = experiments.plan(words[3:])
        keys.append(configs.config_key(config))
    assert keys == [configs.config_key(config) for config in planned]
    assert sum("--temperature 0.5" in command for command in commands) == 4
    finished = subprocess.run(commands[0], shell=True, capture_output=True, text=True)
    assert finished.returncode == 0, finished.stderr
    (stored,) = results.load_results(str(tmp_path))
    assert stored["provenance"]["machine"]["blas_threads"] == "1"


def test_jobs_run_a_sweep_in_parallel_processes(tmp_path):
    experiments.main(["generative", "--sweep", "--methods", "vimco,rws", "--ks", "2", *TINY,
                      "--out-dir", str(tmp_path), "--jobs", "2"])
    stored = results.load_results(str(tmp_path))
    assert sorted(r["config"]["method"] for r in stored) == ["rws", "vimco"]
    assert all(r["provenance"]["machine"]["blas_threads"] == "1" for r in stored)


# -- issue 22.2: an estimator's rules and options live in its registry entry ---------------------
def test_an_estimator_with_an_option_is_one_registration(tmp_path, capsys):
    """A throwaway estimator with an option and its own K rule: the command line, --list, the
    sweep, training and the palette all take them from its entry."""
    @estimators.register_signals(
        "test-shifted", label="shifted signal", colour="#123456", marker="x", linestyle=":",
        min_k=3, options={"shift": estimators.Option(3.0, positive_number,
                                                      "a constant added to every signal")})
    def shifted(log_w, shift):
        """s_j = L-hat + shift for every j."""
        return np.broadcast_to(bound_estimate(log_w)[..., None] + shift, np.shape(log_w))
    try:
        assert palette.METHOD_COLOURS["test-shifted"] == "#123456"
        argv = ["generative", "--sweep", "--methods", "test-shifted", "--ks", "2,3",
                "--sizes", "784,5", "--steps", "20", "--eval-every", "10", "--eval-k", "2",
                "--valid-size", "4", "--test-k", "3", "--test-size", "4", "--quiet",
                "--out-dir", str(tmp_path), "--list"]
        experiments.main(argv)
        out, err = capsys.readouterr()
        assert "skipping test-shifted with K=2: it needs K >= 3" in err
        (command,) = out.splitlines()
        assert "--shift 3.0" in command and "--k 3" in command
        result = experiments.main(shlex.split(command)[4:])   # after the env and interpreter
        assert result["config"]["shift"] == 3.0 and result["final"]["steps_done"] == 20
        refused(["generative", "--method", "test-shifted", "--k", "2"], capsys, "K >= 3")
        refused(["generative", "--method", "test-shifted", "--shift", "-1"], capsys,
                "--shift", "finite positive")
        with pytest.raises(ValueError, match="shift must be a finite positive number"):
            train(sbn, sbn.init_sbn([784, 5], 0), data.load_mnist("train")[:30],
                  method="test-shifted", k=3, steps=1, options={"shift": -1.0})
    finally:
        del estimators.ESTIMATORS["test-shifted"]
