"""Answer checks for exercises whose expected value is a short formula: the formula lives here,
out of sight of the exercise cell, so that the check does not print the solution next to the
question (the solutions themselves are in each notebook's collapsed "Solution" blocks). Each
check prints one line: not answered yet, correct (with what the answer means), or a hint."""
import math


def _check(answer, target, tolerance, correct, hint,
           not_answered="Not answered yet: replace None with your number and re-run this cell."):
    if answer is None:
        print(not_answered)
    elif abs(float(answer) - target) <= tolerance:
        print(correct)
    else:
        print(hint)


def score_function_at_zero(answer):
    """Notebook 00: E_q[F(h) d log q(h) / da] for h ~ Bernoulli(sigmoid(a)) at a = 0, with
    F(0) = 0 and F(1) = 1: only h = 1 contributes, sigmoid(0) (1 - sigmoid(0))."""
    target = 0.5 * (1 - 0.5)
    _check(answer, target, 1e-6,
           f"Correct: {target}, which is also d sigma / da at a = 0: the estimator is unbiased.",
           "Not quite: only h = 1 contributes (F(0) = 0); it has probability sigma(0) and score "
           "1 - sigma(0).")


def scaled_score_variance(answer, c=-100.0, logit=-2.0):
    """Notebook 02: Var[c (h - mu)] for h ~ Bernoulli(mu), mu = sigmoid(logit): c^2 mu (1 - mu)."""
    mu = 1 / (1 + math.exp(-logit))
    target = c ** 2 * mu * (1 - mu)
    _check(answer, target, 0.01 * target,
           f"Correct: c^2 mu_1 (1 - mu_1) = {target:.0f} nats^2.",
           "Not quite: the variance of h - mu for a Bernoulli(mu) is mu (1 - mu); "
           "multiplying by c multiplies the variance by c^2.")


def one_sample_bound_two_modes(answer, log_eps=-20.0):
    """Notebook 06: L^1 of a model with two equally likely interpretations, one explaining the
    true bottom half with probability 1 and the other with eps: (log 1 + log eps) / 2."""
    target = 0.5 * math.log(1.0) + 0.5 * log_eps
    if answer is not None and abs(float(answer) + target) < 0.01:
        print("Almost: check the sign. L^1 is an expected log-probability, so it is negative.")
        return
    log_p = math.log(0.5 + 0.5 * math.exp(log_eps))
    _check(answer, target, 0.01,
           f"Correct: L^1 = {target:.2f} nats, while log p(bottom | top) = {log_p:.2f}: the "
           "one-sample bound punishes the right answer given for the other mode.",
           f"Not quite: {answer} is not it. Each truth is explained by one interpretation "
           "(log 1) and badly by the other (log eps).",
           not_answered="Not answered yet: replace None with your value.")
