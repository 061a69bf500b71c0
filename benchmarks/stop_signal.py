"""Which stop signal predicts a perfect game at 12 bits, measured without 1..100.

    python benchmarks/stop_signal.py --quick      # CI smoke test: 1 seed, 6 epochs, every rule: not results
    python benchmarks/stop_signal.py              # the study: 2 recipes x 2 splits x 16 study seeds (8000-8015)
    python benchmarks/stop_signal.py --fresh 9000-9029 --candidate relu --candidate searched
                                                  # candidates on fresh seeds, scored on 1..100 at their stop

1..100 is the test, so it chooses nothing here. The study plays the game one level up, with
``benchmarks/small_data.py``'s probe at 12 bits: 128..227 is held out of training AND of every validation set,
and a (recipe, split, rule) is judged by whether the epoch the rule stops on plays every probe number right.

Two splits of what is left for training:

- ``uniform``: today's FizzBuzzDataModule split, a seeded 5 % of the numbers as validation (about 200).
- ``small``: the same 5 %, and besides it a seeded ``SMALL_FRACTION`` of the remaining numbers below
  ``SMALL_BELOW`` (the low numbers, with 1..100's leading zeros) held out too: validation is then both
  (``val_acc`` over both, as one validation set would give it), ``small_acc`` the small part alone.

Rules, all read off the same runs (each run goes to its cap): a streak of perfect validations, on the whole
validation set or on its small part; a fixed budget of epochs (the best validation epoch within it, the later
of ties, as fizzlightning's ``best.ckpt``). An unmet rule ends at the cap on its best validation epoch. The table
gives, per (recipe, split, rule): rule met, probe perfect at the stop, worst probe, median epochs and optimizer
steps spent. Training is plain torch with fizzlightning's network, encoding, batches and optimizer, in one
process on one thread; no seconds are reported (the study ran on a shared machine): epochs and steps only.

``--fresh FIRST-LAST`` runs ``--candidate`` entries (``CANDIDATES``) on the real split (no probe held out: train
on 101..4095, as ``fizzlightning fit`` does) and scores 1..100 once, at the epoch the candidate's rule stops on.
"""

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from seeds import seed_range
from small_data import PROBE, Recipe, build_net, build_optimizer
from stopping import streak, train_epoch

from fizzlightning.data.batches import TensorBatches
from fizzlightning.lessons import fizzbuzz

NUM_DIGITS, VAL_FRACTION = 12, 0.05
SMALL_BELOW, SMALL_FRACTION = 512, 0.5  # the numbers with bits 9.. clear: 101..511 in a real fit
STUDY_SEEDS = range(8000, 8016)  # no other study used these; 9000-9029 stay unseen for --fresh
GAME = range(1, 101)
RECIPES = {
    "relu [2048] (fizzbuzz_relu.yaml)": Recipe(),  # lightning_configs/fizzbuzz_relu.yaml, the default before
    "sin [512] lr 0.02": Recipe(hidden=(512,), lr=0.02, activation="sin"),  # fizzbuzz_relu.yaml otherwise
}
# lightning_configs/fizzbuzz.yaml: `small_data.py --search 60 --space 12bit`'s fastest recipes, perfect on the
# probe of 8 search seeds (8100-8107), replayed on 16 more (8200-8215): the fastest perfect on all 24 (docs/studies.md)
SEARCHED = Recipe(hidden=(256,), batch=128, lr=0.035177238299847986, cap=14, activation="sin")
SPLITS = {"uniform": 0.0, "small": SMALL_FRACTION}
BUDGETS = (10, 20, 30, 40, 60)  # fixed epoch budgets read off each run; the cap (80) is one more

Rule = Callable[[list[dict]], tuple[int, int] | None]  # rows -> (the checkpoint's epoch, epochs spent), or None


def split(seed: int, small_fraction: float, probe: range | None) -> dict[str, torch.Tensor]:
    """The numbers of each part: ``train``, ``val`` (today's seeded 5 %, as FizzBuzzDataModule draws it),
    ``small`` (a seeded share of the rest below ``SMALL_BELOW``, maybe empty), and ``probe`` held out of all."""
    numbers = torch.arange(fizzbuzz.FIRST_TRAIN_NUMBER, fizzbuzz.max_number(NUM_DIGITS) + 1)
    if probe is not None:
        numbers = numbers[(numbers < probe.start) | (numbers >= probe.stop)]
    order = torch.randperm(len(numbers), generator=torch.Generator().manual_seed(seed))
    held = round(len(numbers) * VAL_FRACTION)
    val, train = numbers[order[:held]], numbers[order[held:]]  # train: in a seeded random order
    low = (train < SMALL_BELOW).nonzero().flatten()
    small = low[: round(len(low) * small_fraction)]  # the first of the low ones in that order: a seeded sample
    keep = torch.ones(len(train), dtype=torch.bool)
    keep[small] = False
    tested = torch.arange(probe.start, probe.stop) if probe is not None else torch.arange(GAME.start, GAME.stop)
    return {"train": train[keep], "val": val, "small": train[small], "tested": tested}


@torch.no_grad()
def right(net: torch.nn.Module, numbers: torch.Tensor) -> int:
    if not len(numbers):
        return 0
    logits = net(fizzbuzz.binary_encode(numbers, NUM_DIGITS))
    return int((logits.argmax(1) == fizzbuzz.fizzbuzz_labels(numbers)).sum())


def run(seed: int, recipe: Recipe, small_fraction: float, probe: range | None, until: Rule | None = None) -> list[dict]:
    """Per epoch: accuracy on the whole validation set (``val_acc``) and on its small part, tested numbers right
    (the probe, or 1..100 with ``probe=None``), and optimizer steps so far; to the cap, or until ``until`` is met."""
    parts = split(seed, small_fraction, probe)
    torch.manual_seed(seed)
    net = build_net(recipe, NUM_DIGITS)
    optimizer, _ = build_optimizer(recipe, net)
    train = parts["train"]
    batches = TensorBatches(
        fizzbuzz.binary_encode(train, NUM_DIGITS), fizzbuzz.fizzbuzz_labels(train), batch_size=recipe.batch,
        shuffle=True, seed=seed,
    )  # fmt: skip
    rows, steps = [], 0
    n_val, n_small = len(parts["val"]), len(parts["small"])
    for epoch in range(recipe.cap):
        net.train()
        steps += train_epoch(net, optimizer, batches, epoch)
        net.eval()
        val, small = right(net, parts["val"]), right(net, parts["small"])
        rows.append({"val_acc": (val + small) / (n_val + n_small), "small_acc": small / n_small if n_small else None,
                     "tested": right(net, parts["tested"]), "steps": steps})  # fmt: skip
        if until and until(rows) is not None:
            break
    return rows


def best_within(rows: list[dict], epochs: int) -> int:
    """The best validation epoch among the first ``epochs``, the later of ties (``best.ckpt``)."""
    return max(range(min(epochs, len(rows))), key=lambda e: (rows[e]["val_acc"], e))


def streak_rule(length: int, key: str = "val_acc") -> Rule:
    def rule(rows: list[dict]) -> tuple[int, int] | None:
        if rows[0][key] is None:  # no small part in this split
            return None
        epoch = streak(rows, lambda row: row[key] == 1.0, length)
        return None if epoch is None else (epoch, epoch + 1)

    return rule


def budget_rule(epochs: int) -> Rule:
    return lambda rows: (best_within(rows, epochs), epochs) if len(rows) >= epochs else None


RULES: dict[str, Rule] = {
    "validation perfect 2 in a row (the ReLU config's rule)": streak_rule(2),
    "validation perfect 3 in a row": streak_rule(3),
    "validation perfect 5 in a row": streak_rule(5),
    "small part perfect 2 in a row": streak_rule(2, "small_acc"),
    "small part perfect 5 in a row": streak_rule(5, "small_acc"),
    **{f"fixed {n} epochs": budget_rule(n) for n in BUDGETS},
    "fixed: the cap": lambda rows: (best_within(rows, len(rows)), len(rows)),
}
BEYOND = {cap: {f"fixed {n} epochs" for n in BUDGETS if n >= cap} for cap in range(1, 1000)}  # not read at a cap
# what only --fresh runs: the search's recipe, not part of the study above
FRESH_RECIPES = {**RECIPES, "sin [256] lr 0.0352 (the search's)": SEARCHED}
FRESH_RULES = {**RULES, f"fixed {SEARCHED.cap} epochs (the search's)": budget_rule(SEARCHED.cap)}

# (recipe, split, rule) triples that --fresh runs; "searched" is the default config, "relu" the one before it
CANDIDATES: dict[str, tuple[str, str, str]] = {
    "relu": ("relu [2048] (fizzbuzz_relu.yaml)", "uniform", "validation perfect 2 in a row (the ReLU config's rule)"),
    # chosen on the probe alone (docs/studies.md): the least budget perfect on every study seed, both recipes and
    # both splits (8000-8015); of the two recipes, the one whose probe settled earliest (8016-8031: by 26, not 31)
    "sin-fixed-30": ("sin [512] lr 0.02", "uniform", "fixed 30 epochs"),
    "searched": ("sin [256] lr 0.0352 (the search's)", "uniform", f"fixed {SEARCHED.cap} epochs (the search's)"),
}


def stop(rows: list[dict], rule: Rule) -> dict:
    """Where ``rule`` ends a run: the checkpoint's epoch, the epochs and steps spent, whether the rule was met."""
    ended = rule(rows)
    met = ended is not None
    epoch, spent = ended if met else (best_within(rows, len(rows)), len(rows))
    return {"epoch": epoch, "epochs": spent, "steps": rows[spent - 1]["steps"], "met": met,
            "tested": rows[epoch]["tested"]}  # fmt: skip


def settled(rows: list[dict]) -> int | None:
    """The epoch (1-based) from which every tested number is played right to the run's end, or None."""
    since = None
    for epoch, row in enumerate(rows, 1):
        since = (since or epoch) if row["tested"] == 100 else None
    return since


def table(title: str, runs: dict[tuple[str, str], dict[int, list[dict]]], rules: dict[str, Rule], what: str) -> None:
    print(f"\n{title}\n")
    print(f"| recipe | split | rule | rule met | {what} perfect at the stop | worst {what} | median epochs "
          "| median steps | per seed: score (epochs) |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    for (recipe, split_name), by_seed in runs.items():
        for name, rule in rules.items():
            length = min(len(rows) for rows in by_seed.values())
            beyond = what == "probe" and name in BEYOND.get(length, ())  # a study's budget past its cap: not read
            if (split_name == "uniform" and name.startswith("small")) or beyond:
                continue
            cells = {seed: stop(rows, rule) for seed, rows in by_seed.items()}
            n = len(cells)
            scores = [c["tested"] for c in cells.values()]
            print(f"| {recipe} | {split_name} | {name} | {sum(c['met'] for c in cells.values())}/{n} "
                  f"| {sum(s == 100 for s in scores)}/{n} | {min(scores)}/100 "
                  f"| {statistics.median(c['epochs'] for c in cells.values()):g} "
                  f"| {statistics.median(c['steps'] for c in cells.values()):g} | "
                  + ", ".join(f"{s}: {c['tested']} ({c['epochs']})" for s, c in cells.items()) + " |",
                  flush=True)  # fmt: skip
        since = {seed: settled(rows) for seed, rows in by_seed.items()}
        if what == "probe":
            print(f"| {recipe} | {split_name} | (probe perfect from epoch ... to the run's end, epoch "
                  f"{len(next(iter(by_seed.values())))}) | | {sum(e is not None for e in since.values())}/{len(since)} "
                  f"| | the latest {max((e for e in since.values() if e), default='-')} | | "
                  + ", ".join(f"{s}: {e or '-'}" for s, e in since.items()) + " |", flush=True)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1 seed, 6 epochs: checks that the study runs")
    parser.add_argument("--seeds", type=seed_range, default=STUDY_SEEDS, help="FIRST-LAST (default: 8000-8015)")
    parser.add_argument("--fresh", type=seed_range, metavar="FIRST-LAST", help="score candidates on 1..100")
    parser.add_argument("--candidate", action="append", choices=list(CANDIDATES), help="with --fresh")
    parser.add_argument("--cap", type=int, help="the study's epoch cap (default: each recipe's, 80)")
    parser.add_argument("--split", action="append", choices=list(SPLITS), help="only these splits (default: all)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    began = time.perf_counter()
    if args.fresh:
        chosen = args.candidate or list(CANDIDATES)
        runs = {}
        for name in chosen:
            recipe, split_name, rule = CANDIDATES[name]
            runs[name] = {
                s: run(s, FRESH_RECIPES[recipe], SPLITS[split_name], None, FRESH_RULES[rule]) for s in args.fresh
            }
        print(f"seeds {args.fresh.start}-{args.fresh.stop - 1}, trained on 101..4095 less validation; 1..100 "
              "scored once, at each candidate's stop")  # fmt: skip
        for name in chosen:
            recipe, split_name, rule = CANDIDATES[name]
            table(f"candidate {name}", {(recipe, split_name): runs[name]}, {rule: FRESH_RULES[rule]}, "1..100")
    else:
        seeds, cap = (range(args.seeds.start, args.seeds.start + 1), 6) if args.quick else (args.seeds, args.cap)
        splits = {name: SPLITS[name] for name in args.split or SPLITS}
        runs = {
            (name, split_name): {
                s: run(s, Recipe(**{**recipe.__dict__, "cap": cap or recipe.cap}), fraction, PROBE) for s in seeds
            }
            for name, recipe in RECIPES.items()
            for split_name, fraction in splits.items()
        }
        table(f"{NUM_DIGITS} bits; probe {PROBE.start}..{PROBE.stop - 1} held out of training and validation; "
              f"seeds {seeds.start}-{seeds.stop - 1}" + (" (--quick: not results)" if args.quick else ""),
              runs, RULES, "probe")  # fmt: skip
    print(f"\n{time.perf_counter() - began:.0f} s, torch {torch.__version__}, one thread")


if __name__ == "__main__":
    main()
