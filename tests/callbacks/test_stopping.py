"""StreakStopping: training ends after the threshold held for ``streak`` validations in a row, and a resume keeps
the count."""

from types import SimpleNamespace

import pytest
import torch

from fizzlightning.callbacks.stopping import StreakStopping
from fizzlightning.errors import ConfigError


def validations(rule: StreakStopping, values: list[float]) -> list[bool]:
    """Feed one validation value after another; what ``should_stop`` was after each."""
    stops = []
    for value in values:
        trainer = SimpleNamespace(
            sanity_checking=False, should_stop=False, callback_metrics={"val/acc": torch.tensor(value)}
        )
        rule.on_validation_end(trainer, None)
        stops.append(trainer.should_stop)
    return stops


def test_it_stops_on_the_second_perfect_validation_in_a_row_only():
    rule = StreakStopping("val/acc", threshold=1.0, streak=2)
    assert validations(rule, [0.99, 1.0, 0.995, 1.0, 1.0]) == [False, False, False, False, True]


def test_a_loss_stops_at_or_below_its_threshold_and_sanity_checks_do_not_count():
    rule = StreakStopping("val/acc", threshold=0.1, streak=1, mode="min")
    sanity = SimpleNamespace(sanity_checking=True, should_stop=False, callback_metrics={"val/acc": torch.tensor(0.0)})
    rule.on_validation_end(sanity, None)
    assert not sanity.should_stop and rule.count == 0
    assert validations(rule, [0.3, 0.05]) == [False, True]


def test_the_count_survives_a_resume():
    rule = StreakStopping(streak=3)
    validations(rule, [1.0, 1.0])
    resumed = StreakStopping(streak=3)
    resumed.load_state_dict(rule.state_dict())
    assert validations(resumed, [1.0]) == [True]


@pytest.mark.parametrize(
    "args, fragment", [({"streak": 0}, "StreakStopping.streak = 0"), ({"mode": "up"}, "'max' or 'min'")]
)
def test_bad_settings_are_config_errors(args, fragment):
    with pytest.raises(ConfigError, match=fragment):
        StreakStopping(**args)
