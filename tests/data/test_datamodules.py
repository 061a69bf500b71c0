"""Datamodules: shapes, dtypes, ranges, seeding, no 1..100 leak, device placement."""

from types import SimpleNamespace

import pytest
import torch

from fizzlightning.data import CurveDataModule, FizzBuzzDataModule, RegressionDataModule
from fizzlightning.data.batches import TensorBatches
from fizzlightning.lessons import fizzbuzz


def fizzbuzz_data(**kwargs) -> FizzBuzzDataModule:
    data = FizzBuzzDataModule(**{"num_digits": 10, "seed": 0, **kwargs})
    data.setup("fit")
    return data


def test_fizzbuzz_splits_cover_the_training_range_and_never_touch_1_to_100():
    data = fizzbuzz_data(val_fraction=0.1)
    train, val = set(data.train_numbers.tolist()), set(data.val_numbers.tolist())
    assert not train & val
    assert train | val == set(range(101, 1024))
    assert min(train | val) == 101
    assert len(val) == round(923 * 0.1)
    assert data.test_numbers.tolist() == list(range(1, 101))


def test_fizzbuzz_batches_are_encoded_numbers_with_their_labels():
    data = fizzbuzz_data(batch_size=64)
    x, y = next(iter(data.train_dataloader()))
    assert x.shape == (64, 10) and x.dtype == torch.float32 and y.dtype == torch.int64
    numbers = (x.long() << torch.arange(10)).sum(dim=1)  # decode the bits back to integers
    assert set(numbers.tolist()) <= set(data.train_numbers.tolist())
    assert torch.equal(y, fizzbuzz.fizzbuzz_labels(numbers))


def test_fizzbuzz_epoch_covers_every_training_number_once():
    data = fizzbuzz_data(batch_size=100)
    batches = list(data.train_dataloader())
    assert len(batches) == len(data.train_dataloader())
    numbers = torch.cat([(x.long() << torch.arange(10)).sum(dim=1) for x, _ in batches])
    assert sorted(numbers.tolist()) == sorted(data.train_numbers.tolist())


def test_fizzbuzz_test_and_predict_sets():
    data = fizzbuzz_data(predict_range=(90, 120))
    x, y, numbers = next(iter(data.test_dataloader()))
    assert numbers.tolist() == list(range(1, 101)) and x.shape == (100, 10)
    assert y.tolist() == fizzbuzz.fizzbuzz_labels(torch.arange(1, 101)).tolist()
    x, numbers = next(iter(data.predict_dataloader()))
    assert numbers.tolist() == list(range(90, 121))


def test_fizzbuzz_split_and_order_follow_the_seed():
    a, b, c = fizzbuzz_data(seed=1), fizzbuzz_data(seed=1), fizzbuzz_data(seed=2)
    assert torch.equal(a.val_numbers, b.val_numbers)
    assert not torch.equal(a.val_numbers, c.val_numbers)
    first_batch = [next(iter(d.train_dataloader()))[1] for d in (a, b, c)]
    assert torch.equal(first_batch[0], first_batch[1]) and not torch.equal(first_batch[0], first_batch[2])


def test_shuffle_differs_per_epoch_and_repeats_per_seed():
    batches = TensorBatches(torch.arange(50), batch_size=50, shuffle=True, seed=3)
    epoch0 = next(iter(batches))[0]
    batches.set_epoch(1)
    epoch1 = next(iter(batches))[0]
    batches.set_epoch(0)
    assert torch.equal(next(iter(batches))[0], epoch0)
    assert not torch.equal(epoch0, epoch1)
    assert sorted(epoch1.tolist()) == list(range(50))


def test_regression_tensors_are_seeded_normal_draws():
    a, b = RegressionDataModule(seed=5), RegressionDataModule(seed=5)
    assert a.x.shape == (64, 1000) and a.y.shape == (64, 10)
    assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)
    assert not torch.equal(a.x, RegressionDataModule(seed=6).x)
    assert abs(a.x.mean()) < 0.05 and abs(a.x.std() - 1) < 0.05


def test_regression_epoch_repeats_the_full_batch():
    data = RegressionDataModule(n=8, d_in=3, d_out=2, steps_per_epoch=5, seed=0)
    batches = list(data.train_dataloader())
    assert len(batches) == 5 == len(data.train_dataloader())
    assert all(torch.equal(x, data.x) and torch.equal(y, data.y) for x, y in batches)


def test_curve_data_is_x_squared_plus_noise():
    data = CurveDataModule(num_points=100, noise="uniform", noise_scale=0.2, seed=0)
    assert data.x.shape == (100, 1) and data.x[0] == -1 and data.x[-1] == 1
    noise = data.y - data.x.pow(2)
    assert noise.min() >= 0 and noise.max() <= 0.2


def test_tensors_move_to_the_training_device_once():
    """The GPU path on a CPU machine: the 'meta' device stands in for cuda."""
    data = fizzbuzz_data()
    data.trainer = SimpleNamespace(
        strategy=SimpleNamespace(root_device=torch.device("meta")), global_rank=0, world_size=1
    )
    loader = data.train_dataloader()
    x, y = next(iter(loader))
    assert x.device.type == "meta" and y.device.type == "meta"
    assert data.train_dataloader().tensors[0] is loader.tensors[0]  # no second copy


@pytest.mark.parametrize("world_size", [2, 3])
def test_ranks_get_disjoint_equal_shards_that_cover_the_epoch(world_size):
    numbers = torch.arange(101)
    shards = [
        torch.cat(
            [b[0] for b in TensorBatches(numbers, batch_size=8, shuffle=True, seed=0, rank=r, world_size=world_size)]
        )
        for r in range(world_size)
    ]
    assert len({len(s) for s in shards}) == 1  # every rank runs the same number of steps
    assert set(torch.cat(shards).tolist()) == set(range(101))
    padding = len(shards[0]) * world_size - 101
    assert len(torch.cat(shards)) - len(set(torch.cat(shards).tolist())) == padding
