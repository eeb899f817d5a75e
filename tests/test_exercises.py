"""vimco_edu.exercises: each check accepts the right answer, rejects a wrong one with a hint, and
says when nothing was answered (the notebooks run them with answer = None)."""
import math

import pytest

from vimco_edu import exercises

CASES = [  # (check, the right answer, a wrong one)
    (exercises.score_function_at_zero, 0.25, 0.5),
    (exercises.scaled_score_variance, 1e4 * 0.11920292202211755 * (1 - 0.11920292202211755), 1e4),
    (exercises.one_sample_bound_two_modes, -10.0, -math.log(2)),
]


@pytest.mark.parametrize("check, right, wrong", CASES)
def test_each_check_tells_right_from_wrong(check, right, wrong, capsys):
    for answer, start in [(None, "Not answered yet"), (right, "Correct"), (wrong, "Not quite")]:
        check(answer)
        assert capsys.readouterr().out.startswith(start), (check.__name__, answer)


def test_the_two_mode_check_catches_a_flipped_sign(capsys):
    exercises.one_sample_bound_two_modes(10.0)
    assert capsys.readouterr().out.startswith("Almost: check the sign")
