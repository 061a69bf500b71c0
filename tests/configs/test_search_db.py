"""The default FizzBuzz config is the best trial of the stored recipe search, as the README says.

Reads ``benchmarks/search.db`` with sqlite3 (Optuna's own tables), so the test needs no Optuna.
"""

import json
import sqlite3

import yaml

from tests.helpers import ROOT

UNMET = 1000.0  # benchmarks/search.py adds this per search seed whose run the stopping rule did not end
SEARCH_SEEDS = 8


def trials() -> list[dict]:
    """Every finished trial: its number, objective value, decoded parameters and per-seed records."""
    db = sqlite3.connect(f"file:{ROOT / 'benchmarks' / 'search.db'}?mode=ro", uri=True)
    rows = db.execute(
        "SELECT t.trial_id, t.number, v.value FROM trials t JOIN trial_values v ON v.trial_id = t.trial_id "
        "WHERE t.state = 'COMPLETE'"
    ).fetchall()
    found = []
    for trial_id, number, value in rows:
        params = {}
        for name, raw, distribution in db.execute(
            "SELECT param_name, param_value, distribution_json FROM trial_params WHERE trial_id = ?", (trial_id,)
        ):
            spec = json.loads(distribution)
            # Optuna stores a categorical choice as its index among the choices
            categorical = spec["name"] == "CategoricalDistribution"
            params[name] = spec["attributes"]["choices"][int(raw)] if categorical else raw
        attrs = {k: json.loads(v) for k, v in db.execute(
            "SELECT key, value_json FROM trial_user_attributes WHERE trial_id = ?", (trial_id,)
        )}  # fmt: skip
        found.append({"number": number, "value": value, "params": params, **attrs})
    db.close()
    return found


def test_the_relu_config_is_the_searchs_best_trial_and_met_the_rule_on_every_search_seed():
    stored = trials()
    assert len(stored) >= 16
    best = min(stored, key=lambda trial: trial["value"])
    assert best["value"] < UNMET and best["met"] == [True] * SEARCH_SEEDS  # the streak ended every run
    config = yaml.safe_load((ROOT / "lightning_configs" / "fizzbuzz_relu.yaml").read_text())
    in_config = {
        "batch_size": config["data"]["init_args"]["batch_size"],
        "width": config["model"]["init_args"]["hidden"][0],
        "lr": config["optimizer"]["init_args"]["lr"],
        "weight_decay": config["optimizer"]["init_args"]["weight_decay"],
    }
    assert config["model"]["init_args"]["hidden"] == [in_config["width"]]
    assert best["params"] == in_config
    (rule,) = config["trainer"]["callbacks"]
    assert rule["class_path"] == "fizzlightning.callbacks.stopping.StreakStopping" and rule["init_args"]["streak"] == 2


def test_the_search_started_from_the_previous_default_and_the_stopping_studys_pick():
    first = sorted(stored := trials(), key=lambda trial: trial["number"])[:2]
    assert [trial["params"] for trial in first] == [
        {"width": 1024, "batch_size": 128, "lr": 0.011303116104786666, "weight_decay": 0.1},
        {"width": 1536, "batch_size": 256, "lr": 0.008, "weight_decay": 0.1},
    ]
    assert len(stored) == len({trial["number"] for trial in stored})
