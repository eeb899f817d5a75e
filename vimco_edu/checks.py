"""Input validation shared by the package: every public function fails loudly,
naming the argument and what was expected, instead of returning a wrong number."""
import numpy as onp
from autograd.tracer import getval


def as_log_weights(value, name, min_k=1):
    """Return `value` as a float ndarray of shape (..., K), K >= min_k, all finite."""
    array = onp.asarray(getval(value))
    if array.dtype == object or not onp.issubdtype(array.dtype, onp.number):
        raise TypeError(f"{name} must be a numeric array, got dtype {array.dtype}")
    if onp.iscomplexobj(array):
        raise TypeError(f"{name} must be real, got complex dtype {array.dtype}")
    if array.ndim < 1:
        raise ValueError(f"{name} must have a last axis of K samples, got a scalar")
    if array.shape[-1] < min_k:
        raise ValueError(
            f"{name} must have K >= {min_k} samples on its last axis, got shape {array.shape}")
    if not onp.all(onp.isfinite(array)):
        bad = "NaN" if onp.isnan(array).any() else "infinite"
        raise ValueError(
            f"{name} contains {bad} values; log-weights must be finite "
            "(a NaN usually means a bug upstream, -inf a sample the model deems impossible)")
    if not onp.issubdtype(array.dtype, onp.floating):
        array = array.astype(float)
    return array


def same_shape(a, b, name_a, name_b):
    """Raise ValueError unless the two arrays have the same shape."""
    shape_a, shape_b = onp.shape(getval(a)), onp.shape(getval(b))
    if shape_a != shape_b:
        raise ValueError(
            f"{name_a} and {name_b} must have the same shape, got {shape_a} and {shape_b}")


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


def positive_int(value, name, minimum=1):
    """Return `value` as int after checking it is an integer >= minimum."""
    if isinstance(value, bool) or not isinstance(value, (int, onp.integer)):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def generator(rng, name="rng"):
    """Return a numpy Generator from a Generator or an integer seed (never global state)."""
    if isinstance(rng, onp.random.Generator):
        return rng
    if isinstance(rng, (int, onp.integer)) and not isinstance(rng, bool):
        return onp.random.default_rng(int(rng))
    raise TypeError(
        f"{name} must be a numpy.random.Generator or an integer seed, got {type(rng).__name__}")
