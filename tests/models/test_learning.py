"""The shipped recipes still learn the game: the checkpoint chosen on validation plays 1..100 perfectly."""

import re

import pytest

from tests.helpers import CONFIGS


@pytest.mark.slow
@pytest.mark.parametrize("config", ["fizzbuzz", "fizzbuzz_relu", "fizzbuzz_10bit", "fizzbuzz_sin"])
def test_recipe_plays_a_perfect_game(cli, capsys, config):
    args = ["--config", str(CONFIGS / f"{config}.yaml")]
    assert cli("fit", *args) == 0
    capsys.readouterr()
    assert cli("test", *args) == 0
    score = re.search(r"Score on 1\.\.100: (\d+)/100", capsys.readouterr().out)
    assert score and int(score[1]) == 100
