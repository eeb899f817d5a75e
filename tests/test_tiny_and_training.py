"""The running example's advertised properties, and training that really learns."""
import numpy as np
import pytest

from vimco_edu import data, evaluate_bound, exact, sbn, tiny, train, training


def test_tiny_model_explains_away_and_proposals_behave_as_described():
    params, x = tiny.tiny_model()
    posterior, configurations = tiny.exact_posterior(params, x)
    assert np.isclose(posterior.sum(), 1.0)
    on = {tuple(c.astype(int)): p for c, p in zip(configurations, posterior)}
    assert on[(0, 1, 0)] + on[(1, 0, 0)] > 0.85 and on[(1, 1, 0)] > 0.05  # XOR-like
    log_p, log_q = sbn.enumerate_log_pq(params, x)
    log_px = exact.exact_log_marginal(log_p)
    gap_prior = [log_px - exact.exact_bound(log_p, log_q, k) for k in (1, 5)]
    assert gap_prior[0] > 5 and gap_prior[1] < gap_prior[0] / 2
    gaps = {}
    for k_fit in (1, 3):
        log_p, log_q = sbn.enumerate_log_pq(tiny.fitted_proposal(params, x, k=k_fit), x)
        gaps[k_fit] = [log_px - exact.exact_bound(log_p, log_q, k) for k in (1, 3)]
    # fitted for the ELBO: mode-seeking, stuck near 0.5 nats however large K is
    assert 0.4 < gaps[1][1] < gaps[1][0] < 0.6
    # fitted for L^3: worse ELBO, but much tighter at K = 3
    assert gaps[3][0] > gaps[1][0] and gaps[3][1] < gaps[1][1] / 2


def test_short_vimco_training_improves_held_out_bound():
    """VIMCO K=5 on the shipped subset: the held-out bound improves by far more than
    its Monte Carlo noise (fixed seeds, so this is deterministic)."""
    train_x = data.load_mnist("train")[:2000].astype(np.float32)
    valid_x = data.load_mnist("valid")[:200].astype(np.float32)
    params = sbn.init_sbn([784, 50], 0, dtype=np.float32)
    before = evaluate_bound(sbn.log_weights, params, valid_x, 50, 1)
    trained, history = train(sbn.log_weights, params, train_x, method="vimco", k=5, steps=300,
                             rng=2, valid_x=valid_x, eval_k=50, progress=False)
    after = history["eval_bound"][-1]
    noise = np.std([evaluate_bound(sbn.log_weights, trained, valid_x, 50, s) for s in range(3)])
    assert after - before > 100 and after - before > 100 * noise
    assert history["steps"][-1] == 300 and len(history["train_bound"]) == 300


def test_nvil_training_runs_and_improves():
    train_x = data.load_mnist("train")[:1000]
    params = sbn.init_sbn([784, 20], 0)
    _, history = train(sbn.log_weights, params, train_x, method="nvil", k=1, steps=150, rng=3,
                       valid_x=train_x[:100], eval_k=10, eval_every=75, progress=False)
    assert history["eval_bound"][-1] > history["eval_bound"][0] + 20


def test_step_schedule_decays_in_stairs_and_train_takes_numpy_and_schedules():
    from vimco_edu.training import step_schedule
    schedule = step_schedule(1e-3, 0.5, 10)
    assert [schedule(i) for i in (1, 10, 11, 20, 21)] == [1e-3, 1e-3, 5e-4, 5e-4, 2.5e-4]
    assert step_schedule(1e-3)(10 ** 6) == 1e-3
    x = data.load_mnist("train")[:50]
    for step_size in (np.float32(1e-3), schedule):
        train(sbn, sbn.init_sbn([784, 5], 0), x, k=2, steps=3, step_size=step_size,
              progress=False)
    for bad, error in [(float("inf"), ValueError), (-1.0, ValueError), ("0.1", TypeError)]:
        with pytest.raises(error, match="step_size"):
            train(sbn, sbn.init_sbn([784, 5], 0), x, k=2, steps=3, step_size=bad)


def test_a_diverging_run_stops_with_a_clear_error():
    x = data.load_mnist("train")[:100]
    with pytest.raises(FloatingPointError, match="training bound at step .* is nan.*diverged"):
        with np.errstate(all="ignore"):
            train(sbn, sbn.init_sbn([784, 5], 0), x, method="nvil", k=2, steps=30,
                  step_size=1e300, progress=False)


def test_dynamic_binarisation_draws_each_minibatch_from_the_grey_levels():
    grey = np.random.default_rng(0).random((60, 784))
    with pytest.raises(ValueError, match="binary"):
        train(sbn, sbn.init_sbn([784, 5], 0), grey, k=2, steps=2, progress=False)
    with pytest.raises(ValueError, match="probabilities"):
        train(sbn, sbn.init_sbn([784, 5], 0), grey * 2, k=2, steps=2, progress=False,
              binarise_each_batch=True)
    _, history = train(sbn, sbn.init_sbn([784, 5], 0), grey, k=2, steps=5, progress=False,
                       binarise_each_batch=True)
    assert len(history["train_bound"]) == 5 and np.all(np.isfinite(history["train_bound"]))


def test_results_are_standard_json(tmp_path):
    from vimco_edu.storage import atomic_write_json
    with pytest.raises(ValueError, match="JSON compliant"):
        atomic_write_json(tmp_path / "r.json", {"test_bound": float("nan")})
    assert list(tmp_path.iterdir()) == []


def test_keep_best_returns_the_parameters_of_the_selected_step(monkeypatch):
    """Adam updates the parameters in place: the kept best must be a copy, equal to a run that
    stops at the selected step. The held-out bound is computed as usual (it draws from the
    run's generator) but reported as peaking at step 70 of 80, so the selection is the same on
    every CPU and numpy."""
    from autograd.misc import flatten

    from vimco_edu import training
    x = data.load_mnist("train")[:300].astype(np.float32)

    def run(steps, keep_best):
        reported = iter([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 0.0])   # evaluations at 10, ..., 80

        def scripted(*args, **kwargs):
            training_evaluate(*args, **kwargs)
            return next(reported)
        monkeypatch.setattr(training, "evaluate_bound", scripted)
        return train(sbn, sbn.init_sbn([784, 20], 0, dtype=np.float32), x, method="vimco", k=2,
                     steps=steps, rng=1, valid_x=x[:50], eval_every=10, keep_best=keep_best,
                     progress=False, step_size=0.3)
    training_evaluate = training.evaluate_bound
    best, history = run(80, True)
    assert history["selected_step"] == 70
    last = flatten(run(80, False)[0])[0]
    at_70 = flatten(run(70, False)[0])[0]
    assert not np.array_equal(last, at_70)
    np.testing.assert_array_equal(flatten(best)[0], at_70)


# -- issue 21.6: the evaluation holds at most max_rows samples, whatever K is -------------------
def test_the_bound_is_evaluated_in_chunks_of_samples_when_k_alone_is_too_many():
    x = data.load_mnist("valid")[:3]
    params = sbn.init_sbn([784, 4], 0, scale=1.0)
    sizes = []

    def counted(p, rows, k, rng):
        sizes.append(len(rows) * k)
        return sbn.log_weights(p, rows, k, rng)
    chunked = evaluate_bound(counted, params, x, 500, 0, max_rows=64)
    assert max(sizes) <= 64 and sum(sizes) == 3 * 500
    whole = [evaluate_bound(sbn, params, x, 500, seed) for seed in range(4)]
    assert abs(chunked - np.mean(whole)) < 5 * np.std(whole) + 1e-9
    rows = training.bounds_per_row(counted, params, x, 500, 0, max_rows=64)
    assert rows.shape == (3,) and rows.mean() == pytest.approx(chunked, abs=1e-12)
    rows = training.bounds_per_row(sbn, params, x, 30, 0, max_rows=64)   # 2 rows a chunk
    assert rows.shape == (3,) and rows.mean() == pytest.approx(
        evaluate_bound(sbn, params, x, 30, 0, max_rows=64), abs=1e-12)


# -- issue 21.9: a damaged checkpoint is named, with what to do ---------------------------------
@pytest.mark.parametrize("damage, words", [
    (lambda progress: progress.pop("cursor"), "damaged"),
    (lambda progress: progress.pop("history"), "damaged"),
    (lambda progress: progress.update(step=99), "damaged"),
])
def test_a_damaged_checkpoint_is_named(damage, words, tmp_path):
    import json
    x = data.load_mnist("train")[:40]
    path = str(tmp_path / "run.checkpoint.npz")
    train(sbn, sbn.init_sbn([784, 5], 0), x, k=2, steps=3, progress=False, checkpoint=path)
    stored = dict(np.load(path))
    progress = json.loads(str(stored["progress"]))
    damage(progress)
    np.savez(path, **{**stored, "progress": np.array(json.dumps(progress))})
    with pytest.raises(ValueError, match=f"checkpoint {path} .*{words}.*delete {path}"):
        train(sbn, sbn.init_sbn([784, 5], 0), x, k=2, steps=3, progress=False, checkpoint=path)


def test_a_checkpoint_beyond_the_runs_steps_is_refused(tmp_path):
    x = data.load_mnist("train")[:40]
    path = str(tmp_path / "run.checkpoint.npz")
    train(sbn, sbn.init_sbn([784, 5], 0), x, k=2, steps=6, progress=False, checkpoint=path)
    with pytest.raises(ValueError, match="at step 6, beyond this run's 3 steps"):
        train(sbn, sbn.init_sbn([784, 5], 0), x, k=2, steps=3, progress=False, checkpoint=path)


# -- issue 21.10: clear messages -----------------------------------------------------------------
@pytest.mark.parametrize("change, error, words", [
    (dict(train_x=lambda x: x[0]), ValueError, r"train_x must be a 2-D array .* x\[None\]"),
    (dict(valid_x=lambda x: x[0]), ValueError, "valid_x must be a 2-D array"),
    (dict(params=lambda p: {**p, "prior": np.zeros(5, int)}), TypeError,
     r"params\['prior'\] must be a floating-point array"),
    (dict(params=lambda p: {**p, "prior": np.full(5, np.nan)}), ValueError,
     r"params\['prior'\] holds NaN"),
    (dict(k=lambda k: "2"), TypeError, "k must be an integer, got str"),
])
def test_bad_training_input_gets_a_message_naming_it(change, error, words):
    x = data.load_mnist("train")[:20]
    arguments = dict(params=sbn.init_sbn([784, 5], 0), train_x=x, valid_x=x[:4], k=2)
    arguments.update({name: f(arguments[name]) for name, f in change.items()})
    with pytest.raises(error, match=words):
        train(sbn, arguments.pop("params"), arguments.pop("train_x"), steps=1, progress=False,
              **arguments)
    with pytest.raises(ValueError, match="x must be a 2-D array"):
        evaluate_bound(sbn, sbn.init_sbn([784, 5], 0), x[0], 2, 0)
