"""Input validation shared by the package: every public function fails loudly,
naming the argument and what was expected, instead of returning a wrong number."""
import numpy as onp
from autograd.tracer import getval, isbox


def as_log_weights(value, name, min_k=1):
    """Return `value` as a floating-point ndarray of shape (..., K), K >= min_k, with at least
    one example, all finite."""
    array = onp.asarray(getval(value))
    if array.dtype == object or not onp.issubdtype(array.dtype, onp.number):
        raise TypeError(f"{name} must be a numeric array, got dtype {array.dtype}")
    if onp.iscomplexobj(array):
        raise TypeError(f"{name} must be real, got complex dtype {array.dtype}")
    if not onp.issubdtype(array.dtype, onp.floating):
        # integers would compute log p - log q in integer arithmetic (int8 wraps around)
        raise TypeError(f"{name} must be a floating-point array (log-weights are real numbers), "
                        f"got dtype {array.dtype}; convert with .astype(float)")
    if array.ndim < 1:
        raise ValueError(f"{name} must have a last axis of K samples, got a scalar")
    if array.shape[-1] < min_k:
        raise ValueError(
            f"{name} must have K >= {min_k} samples on its last axis, got shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"{name} holds no examples (shape {array.shape}): a batch needs at "
                         "least one")
    if not onp.all(onp.isfinite(array)):
        bad = "NaN" if onp.isnan(array).any() else "infinite"
        raise ValueError(
            f"{name} contains {bad} values; log-weights must be finite "
            "(a NaN usually means a bug upstream, -inf a sample the model deems impossible)")
    return array


def floating(value, name, min_k=1):
    """`value` checked as log-weights (see as_log_weights): the checked array, or, if it is
    traced by autograd (being differentiated), `value` itself."""
    array = as_log_weights(value, name, min_k)
    return value if isbox(value) else array


def log_weight_pair(log_p, log_q, min_k=1):
    """log p and log q of the same shape (..., K), checked as `floating` does, and with a
    finite difference log p - log q (the log-weights)."""
    same_shape(log_p, log_q, "log_p", "log_q")
    log_p, log_q = floating(log_p, "log_p", min_k), floating(log_q, "log_q", min_k)
    as_log_weights(getval(log_p) - getval(log_q), "log_p - log_q", min_k)
    return log_p, log_q


def finite(value, name):
    """Raise ValueError unless every entry of `value` (a number or array) is finite."""
    array = onp.asarray(getval(value))
    if array.dtype == object or not onp.issubdtype(array.dtype, onp.number):
        raise TypeError(f"{name} must be a number or numeric array, got {type(value).__name__}")
    if not onp.all(onp.isfinite(array)):
        raise ValueError(f"{name} must be finite, got {value!r}")


def same_shape(a, b, name_a, name_b):
    """Raise ValueError unless the two arrays have the same shape."""
    shape_a, shape_b = onp.shape(getval(a)), onp.shape(getval(b))
    if shape_a != shape_b:
        raise ValueError(
            f"{name_a} and {name_b} must have the same shape, got {shape_a} and {shape_b}")


def examples(x, name, none="it needs at least one"):
    """`x` as an array of shape (N, D), N >= 1: one example per row. ValueError otherwise
    (`none` says what to do about an empty one)."""
    array = onp.asarray(x)
    if array.ndim != 2:
        hint = " (for one example, pass x[None])" if array.ndim == 1 else ""
        raise ValueError(f"{name} must be a 2-D array with one example per row, got shape "
                         f"{array.shape}{hint}")
    if len(array) == 0:
        raise ValueError(f"{name} holds no rows: {none}")
    return array


def parameters(params, name="params"):
    """Raise unless every array in the nested dict/list `params` is a finite floating-point
    array (TypeError for integers, which gradient steps would truncate; ValueError for NaN
    or infinity), naming the entry, e.g. params['gen'][0]['W']."""
    todo = [(name, params)]
    while todo:
        where, value = todo.pop()
        if isinstance(value, dict):
            todo += [(f"{where}[{key!r}]", item) for key, item in value.items()]
        elif isinstance(value, (list, tuple)):
            todo += [(f"{where}[{i}]", item) for i, item in enumerate(value)]
        elif not onp.issubdtype(onp.asarray(value).dtype, onp.floating):
            raise TypeError(f"{where} must be a floating-point array (parameters are real "
                            f"numbers), got dtype {onp.asarray(value).dtype}; convert with "
                            ".astype(float)")
        elif not onp.all(onp.isfinite(value)):
            raise ValueError(f"{where} holds NaN or infinite values")


def binary_data(x, name, width=None):
    """Return `x` as a floating array (float64 unless it already floats) after checking
    it holds only 0s and 1s (and, if given, that its last axis has `width` entries)."""
    array = onp.asarray(x)
    if not onp.issubdtype(array.dtype, onp.number) and array.dtype != bool:
        raise TypeError(f"{name} must be a numeric array of 0s and 1s, got dtype {array.dtype}")
    if width is not None and (array.ndim < 1 or array.shape[-1] != width):
        raise ValueError(
            f"{name} must have {width} entries on its last axis, got shape {array.shape}")
    if not onp.all((array == 0) | (array == 1)):
        raise ValueError(f"{name} must be binary (only 0 and 1); binarise grey levels first")
    return array if onp.issubdtype(array.dtype, onp.floating) else array.astype(float)


def probabilities(x, name):
    """Return `x` as a floating array after checking every entry lies in [0, 1]."""
    array = onp.asarray(x)
    if not onp.issubdtype(array.dtype, onp.number) or onp.iscomplexobj(array):
        raise TypeError(f"{name} must be a real array of probabilities, got dtype {array.dtype}")
    if not onp.all((array >= 0) & (array <= 1)):
        raise ValueError(f"{name} must hold probabilities (grey levels in [0, 1])")
    return array if onp.issubdtype(array.dtype, onp.floating) else array.astype(float)


def positive_number(value, name):
    """Return `value` as float after checking it is a finite real number > 0 (numpy scalars
    such as numpy.float32 included)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, onp.integer, onp.floating)):
        raise TypeError(f"{name} must be a positive number, got {type(value).__name__} "
                        f"{value!r}")
    if not (onp.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite positive number, got {value!r}")
    return float(value)


def positive_int(value, name, minimum=1):
    """Return `value` as int after checking it is an integer >= minimum."""
    if isinstance(value, bool) or not isinstance(value, (int, onp.integer)):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def sampler(rng, name="rng"):
    """What models draw their uniforms from: a numpy Generator, an integer seed (turned into
    one), or any object with Generator's random(shape, dtype) method, such as
    sampling.Antithetic: the hook through which an estimator can couple samples."""
    if callable(getattr(rng, "random", None)) and not isinstance(rng, (int, onp.integer)):
        return rng
    return generator(rng, name)


def generator(rng, name="rng"):
    """Return a numpy Generator from a Generator or an integer seed (never global state)."""
    if isinstance(rng, onp.random.Generator):
        return rng
    if isinstance(rng, (int, onp.integer)) and not isinstance(rng, bool):
        return onp.random.default_rng(int(rng))
    raise TypeError(
        f"{name} must be a numpy.random.Generator or an integer seed, got {type(rng).__name__}")
