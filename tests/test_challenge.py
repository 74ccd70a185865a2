"""The NTIRE 2023 RTSR protocol helpers (src/challenge.py)."""
import pytest

from src.challenge import challenge_input_shape, challenge_score, measure_runtime_ms
from src.config import ConfigError


def test_score_reproduces_the_winning_entry_of_the_challenge_report():
    # Table 1, track 1: bicubic 33.92 dB RGB, Noah TerminalVision 35.02 dB, 3.19 ms,
    # score 24.13 (PSNRs rounded to 0.01 dB there, so the score to about 1%).
    assert challenge_score(35.02, 33.92, 3.19) == pytest.approx(24.13, rel=0.012)


def test_score_is_zero_at_or_below_bicubic_and_falls_with_runtime():
    assert challenge_score(30.0, 30.0, 5.0) == 0.0
    assert challenge_score(29.0, 30.0, 5.0) == 0.0
    assert challenge_score(31.0, 30.0, 4.0) == pytest.approx(2 * challenge_score(31.0, 30.0, 16.0))
    # +1 dB doubles the score at the same runtime
    assert challenge_score(32.0, 30.0, 9.0) == pytest.approx(2 * challenge_score(31.0, 30.0, 9.0))


def test_bad_runtime_is_a_one_line_config_error():
    with pytest.raises(ConfigError, match="--runtime_ms"):
        challenge_score(31.0, 30.0, 0.0)


def test_input_shape_gives_a_4k_output():
    assert challenge_input_shape(2) == (1080, 1920)
    assert challenge_input_shape(3) == (720, 1280)


def test_runtime_is_the_mean_of_the_timed_runs_at_the_challenge_size():
    class FakePredict:
        def __init__(self):
            self.shapes, self.last_forward_ms = [], None

        def __call__(self, lr):
            self.shapes.append(lr.shape)
            self.last_forward_ms = float(len(self.shapes))   # 1, 2, 3, ... ms

    predict = FakePredict()
    # 3 warm-up runs (1-3 ms), then 4 timed ones (4-7 ms)
    assert measure_runtime_ms(predict, 3, runs=4) == pytest.approx(5.5)
    assert predict.shapes == [(720, 1280, 3)] * 7
