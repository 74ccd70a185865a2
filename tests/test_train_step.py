"""The learning-rate schedule: step decay (paper) with an optional linear warm-up."""
import numpy as np
import pytest


@pytest.mark.parametrize("warmup", [0, 1000])
def test_schedule_in_graph_equals_the_logged_value(warmup):
    import mindspore as ms
    from src.engine.train_step import StepDecayLR
    schedule = StepDecayLR(5e-4, decay_step=3000, gamma=0.5, warmup=warmup)
    for step in [0, 1, 499, 998, 999, 1000, 2999, 3000, 6001]:
        in_graph = float(schedule(ms.Tensor(step, ms.int32)).asnumpy())
        assert np.isclose(in_graph, schedule.value_at(step), rtol=1e-6), step


def test_warmup_ramps_linearly_then_decays_in_steps():
    from src.engine.train_step import StepDecayLR
    schedule = StepDecayLR(5e-4, decay_step=3000, gamma=0.5, warmup=1000)
    assert np.isclose(schedule.value_at(0), 5e-7)             # first step: lr / warmup
    assert np.isclose(schedule.value_at(499), 2.5e-4)         # halfway up
    assert np.isclose(schedule.value_at(999), 5e-4)           # full lr from step 1000 on
    assert np.isclose(schedule.value_at(2999), 5e-4)
    assert np.isclose(schedule.value_at(3000), 2.5e-4)        # then halved every 3000
    no_warmup = StepDecayLR(5e-4, decay_step=3000, gamma=0.5, warmup=0)
    assert no_warmup.value_at(0) == 5e-4
