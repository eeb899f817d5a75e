"""A jax.jit twin of one VIMCO training step of a sigmoid belief network, for benchmarks/run.py
to time ours against. It lives here only: jax is a benchmark requirement
(benchmarks/requirements.txt), never the package's.

The same step as `value_and_grad_of_tree(lambda p: surrogate(*sbn.log_weights(p, x, k, rng),
"vimco"))`: k samples h ~ q(h | x) per input from the recognition chain (q's first layer
computed once per input), log p(x, h) from the generative chain, VIMCO's geometric-mean
leave-one-out signals (Mnih & Rezende 2016, eqs. 9-10) held fixed, and the gradient of the
batch mean of L-hat + sum_j s_j (log q_j - stop(log q_j)) with respect to every parameter.
Written as a jax user would write it; XLA fuses and schedules the rest."""
import jax
import jax.numpy as jnp


def _log_bernoulli(logits, values):
    """sum_i v_i a_i - softplus(a_i) over the last axis."""
    return jnp.sum(values * logits - jax.nn.softplus(logits), axis=-1)


def _log_weights(params, x, uniforms):
    """log p(x, h) and log q(h | x), (B, k) each, for h_l = [u_l < sigmoid(logits_l)] with
    the given uniforms u_l (B, k, H_l), one array per latent layer."""
    logits = (x @ params["rec"][0]["W"] + params["rec"][0]["b"])[:, None, :]
    latents, log_q = [], 0.0
    for n, u in enumerate(uniforms):
        if n:
            layer = params["rec"][n]
            logits = latents[-1] @ layer["W"] + layer["b"]
        h = jax.lax.stop_gradient((u < jax.nn.sigmoid(logits)).astype(x.dtype))
        latents.append(h)
        log_q = log_q + _log_bernoulli(logits, h)
    values = latents[::-1] + [x[:, None, :]]
    log_p = _log_bernoulli(params["prior"], values[0])
    for layer, below, value in zip(params["gen"], values, values[1:]):
        log_p = log_p + _log_bernoulli(below @ layer["W"] + layer["b"], value)
    return log_p, log_q


def _vimco_signals(log_w):
    """L-hat - L-hat(h^{-j}, geometric mean of the others for f_j), (B, K)."""
    k = log_w.shape[-1]
    others = jnp.where(jnp.eye(k, dtype=bool), -jnp.inf, log_w[:, None, :])   # (B, K, K)
    fill = (jnp.sum(log_w, axis=-1, keepdims=True) - log_w) / (k - 1)
    without_j = jnp.logaddexp(jax.nn.logsumexp(others, axis=-1), fill) - jnp.log(k)
    return jax.nn.logsumexp(log_w, axis=-1, keepdims=True) - jnp.log(k) - without_j


def surrogate(params, x, uniforms):
    """The batch-mean VIMCO surrogate for given uniforms: value mean L-hat, gradient VIMCO's."""
    log_p, log_q = _log_weights(params, x, uniforms)
    log_w = log_p - log_q
    signals = jax.lax.stop_gradient(_vimco_signals(log_w))
    k = log_w.shape[-1]
    lhat = jax.nn.logsumexp(log_w, axis=-1) - jnp.log(k)
    return jnp.mean(lhat + jnp.sum(signals * (log_q - jax.lax.stop_gradient(log_q)), axis=-1))


def make_step(params, x, k):
    """A jitted step(params, key) -> ((value, gradient), next key) for the given shapes, with
    fresh uniforms drawn from `key` inside the compiled function; compiled before returning."""
    sizes = [layer["W"].shape[1] for layer in params["rec"]]
    value_and_grad = jax.value_and_grad(surrogate)

    @jax.jit
    def step(params, x, key):
        key, *keys = jax.random.split(key, len(sizes) + 1)
        uniforms = [jax.random.uniform(part, (x.shape[0], k, n), x.dtype)
                    for part, n in zip(keys, sizes)]
        return value_and_grad(params, x, uniforms), key
    params, x = jax.device_put(params), jax.device_put(x)
    state = {"key": jax.random.PRNGKey(0)}

    def run():
        out, state["key"] = step(params, x, state["key"])
        jax.block_until_ready(out)
        return out
    run()
    return run
