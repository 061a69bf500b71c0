"""The default FizzBuzz config is the best trial of the stored recipe search, as the README says.

Reads ``benchmarks/search.db`` with sqlite3 (Optuna's own tables), so the test needs no Optuna.
"""

import json
import sqlite3
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
IMPERFECT = 1000.0  # benchmarks/search.py adds this per search seed whose validation was not perfect


def trials() -> list[dict]:
    """Every finished trial: its number, objective value and decoded parameters."""
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
        found.append({"number": number, "value": value, "params": params})
    db.close()
    return found


def test_the_default_config_is_the_searchs_best_trial():
    stored = trials()
    assert len(stored) >= 30
    best = min(stored, key=lambda trial: trial["value"])
    assert best["value"] < IMPERFECT  # perfect validation on every search seed
    config = yaml.safe_load((ROOT / "lightning_configs" / "fizzbuzz.yaml").read_text())
    in_config = {
        "num_digits": config["data"]["init_args"]["num_digits"],
        "batch_size": config["data"]["init_args"]["batch_size"],
        "width": config["model"]["init_args"]["hidden"][0],
        "lr": config["optimizer"]["init_args"]["lr"],
        "weight_decay": config["optimizer"]["init_args"]["weight_decay"],
        "max_epochs": config["trainer"]["max_epochs"],
    }
    assert config["model"]["init_args"]["hidden"] == [in_config["width"]]
    assert best["params"] == in_config


def test_the_starting_recipe_was_scored_first():
    # the search always scored the recipe the project had before it: 12 digits, [1024], AdamW lr 0.007, <= 35 epochs
    first = next(trial for trial in trials() if trial["number"] == 0)
    assert first["params"] == {
        "num_digits": 12,
        "width": 1024,
        "lr": 0.007,
        "weight_decay": 0.1,
        "batch_size": 128,
        "max_epochs": 35,
    }
