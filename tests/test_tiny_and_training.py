"""The running example's advertised properties, and training that really learns."""
import numpy as np

from vimco_edu import data, evaluate_bound, exact, sbn, tiny, train


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
