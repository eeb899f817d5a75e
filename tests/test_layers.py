"""The Bernoulli layer arithmetic that every SBN step runs: the fast chain (_fast_chain.py,
behind layers.bernoulli_chain) gives the plain definitions' values and gradients (layers.py),
log-probabilities are accurate for logits of any size, broadcasting is right, and the speed-ups
in speed.py (a tree-shaped gradient) give the same numbers as plain autograd."""
import autograd.numpy as anp
import numpy as np
import pytest
from autograd import value_and_grad
from autograd.misc import flatten
from autograd.test_util import check_grads

from vimco_edu import sbn
from vimco_edu._fast_chain import bernoulli_stats
from vimco_edu.layers import (affine, bernoulli_chain, bernoulli_log_prob,
                              bernoulli_log_prob_reference, chain_log_prob_reference)
from vimco_edu.speed import value_and_grad_of_tree


def fast_log_prob(logits, values):
    """One layer's log-probability by the fast chain."""
    return bernoulli_chain(logits, [], [values])[1]


@pytest.mark.parametrize("log_prob", [fast_log_prob, bernoulli_log_prob])
@pytest.mark.parametrize("dtype, tolerance", [(np.float64, 1e-12), (np.float32, 1e-6)])
@pytest.mark.parametrize("units", [784, 300, 7])   # logs of products of 16, 4 and 1 units
def test_log_prob_accurate_from_tiny_to_huge_logits(dtype, tolerance, log_prob, units):
    rng = np.random.default_rng(0)
    scales = np.array([1e-6, 0.1, 1, 5, 20, 40, 100, 1e3, 1e4])
    logits = (rng.standard_normal((len(scales), units)) * scales[:, None]).astype(dtype)
    values = (rng.random(logits.shape) < 0.5).astype(dtype)
    got = log_prob(logits, values)
    want = bernoulli_log_prob_reference(logits.astype(np.float64), values)
    assert got.dtype == dtype and np.all(np.isfinite(got))
    # relative to the sum of |terms|, the scale that rounding in float32 or float64 sets
    scale = np.sum(np.abs(values * logits) + np.logaddexp(0.0, logits.astype(np.float64)), -1)
    np.testing.assert_array_less(np.abs(got - want), tolerance * scale + 1e-300)


def test_stats_give_the_sigmoid_and_never_overflow():
    """The probabilities are accurate to rounding relative to p (down to the smallest normal
    number, where 1 / (1 + exp(-a)) underflows), the log-normaliser for logits of any size."""
    logits = np.array([-1e4, -800.0, -100.0, -20.0, -1.0, 0.0, 1.0, 20.0, 100.0, 800.0, 1e4])
    for dtype in (np.float64, np.float32):
        probs, log_normaliser = bernoulli_stats(logits.astype(dtype))
        assert probs.dtype == dtype
        with np.errstate(over="ignore"):
            want = 1 / (1 + np.exp(-logits))
        np.testing.assert_allclose(probs, want, rtol=1e-6, atol=np.finfo(dtype).tiny)
        assert np.isfinite(log_normaliser)
        np.testing.assert_allclose(log_normaliser, np.sum(np.logaddexp(0.0, logits)), rtol=1e-6)


def test_broadcast_logits_score_and_differentiate_like_repeated_ones():
    """(B, 1, H) logits shared by k samples: the same value and gradient as repeating them."""
    rng = np.random.default_rng(1)
    logits = rng.standard_normal((3, 1, 7)) * 3
    values = (rng.random((3, 4, 7)) < 0.5).astype(float)
    weights = rng.standard_normal((3, 4))

    def shared(a):
        return anp.sum(weights * fast_log_prob(a, values))

    def repeated(a):
        return anp.sum(weights * fast_log_prob(anp.repeat(a, 4, axis=1), values))
    value, gradient = value_and_grad(shared)(logits)
    value_ref, gradient_ref = value_and_grad(repeated)(logits)
    np.testing.assert_allclose(value, value_ref, rtol=1e-13)
    np.testing.assert_allclose(gradient, gradient_ref, rtol=1e-12, atol=1e-14)
    check_grads(shared, modes=["rev"], order=1)(logits)


@pytest.mark.parametrize("first_shape, with_side", [((4, 1, 5), True), ((5,), False)])
@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-12), (np.float32, 1e-5)])
def test_chain_value_and_gradient_equal_plain_autograds(first_shape, with_side, dtype, rtol):
    """The chain's own gradient (one node, the delta rule) against autograd differentiating
    the plain formula: logits given once per input or as a prior, side terms, a last layer
    given once per input (as the data are), and unequal weights on the samples' outputs."""
    rng = np.random.default_rng(5)
    sizes, batch, k = [5, 3, 6], 4, 3

    def array(*shape):
        return (2 * rng.standard_normal(shape)).astype(dtype)
    first = array(*first_shape)
    layers = [{"W": array(a, b), "b": array(b)} for a, b in zip(sizes[:-1], sizes[1:])]
    side = [array(batch, 1, n) for n in sizes[1:]] if with_side else []
    values = [(rng.random((batch, k, n)) < 0.5).astype(dtype) for n in sizes[:-1]]
    values.append((rng.random((batch, 1, sizes[-1])) < 0.5).astype(dtype))
    weights = rng.standard_normal((batch, k))

    def ours(args):
        return anp.sum(weights * bernoulli_chain(args[0], args[1], values, side=args[2])[1])

    def reference(args):
        return anp.sum(weights * chain_log_prob_reference(args[0], args[1], values, args[2]))
    value, gradient = value_and_grad(ours)((first, layers, side))
    value_ref, gradient_ref = value_and_grad(reference)((first, layers, side))
    np.testing.assert_allclose(value, value_ref, rtol=rtol)
    got, want = flatten(gradient)[0], flatten(gradient_ref)[0]
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * np.max(np.abs(want)))
    leaves = [gradient[0], *(layer[n] for layer in gradient[1] for n in "Wb"), *gradient[2]]
    assert {leaf.dtype for leaf in leaves} == {np.dtype(dtype)}
    if dtype == np.float64:
        check_grads(ours, modes=["rev"], order=1)((first, layers, side))


def test_chain_refuses_inputs_it_would_get_wrong():
    rng = np.random.default_rng(6)
    layer = {"W": np.ones((3, 2)), "b": np.zeros(2)}
    with pytest.raises(ValueError, match=r"values\[0\] must have 1 units"):
        fast_log_prob(np.zeros((1, 1)), np.ones((1, 5)))   # would broadcast the units
    with pytest.raises(ValueError, match=r"first_logits of shape \(B, 1, units\)"):
        bernoulli_chain(np.zeros(3), [layer], rng=rng, k=2)
    with pytest.raises(ValueError, match="rng"):
        bernoulli_chain(np.zeros((2, 1, 3)), [layer], k=2)
    with pytest.raises(ValueError, match="side must hold 1 arrays"):
        bernoulli_chain(np.zeros((2, 1, 3)), [layer], rng=rng, k=2,
                        side=[np.zeros((2, 1, 2))] * 2)


def test_affine_gradients_match_finite_differences():
    rng = np.random.default_rng(2)
    inputs, weights, bias = (rng.standard_normal(s) for s in [(2, 3, 4), (4, 5), (5,)])
    check_grads(lambda x, w, b: anp.sum(anp.sin(affine({"W": w, "b": b}, x))),
                modes=["rev"], order=1)(inputs, weights, bias)


def test_tree_gradient_equals_autograds_and_keeps_the_structure():
    rng = np.random.default_rng(3)
    params = sbn.init_sbn([6, 4, 3], rng, scale=0.5)
    x = (rng.random((2, 6)) < 0.5).astype(float)

    def objective(p):
        return anp.sum(sbn.log_weights(p, x, 3, np.random.default_rng(4))[0])
    value, gradient = value_and_grad_of_tree(objective)(params)
    value_ref, gradient_ref = value_and_grad(objective)(params)
    assert value == value_ref
    assert gradient.keys() == gradient_ref.keys()
    for part in ("rec", "gen"):
        for layer, layer_ref in zip(gradient[part], gradient_ref[part]):
            for name in ("W", "b"):
                np.testing.assert_allclose(layer[name], layer_ref[name], rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(gradient["prior"], gradient_ref["prior"], rtol=1e-13)

