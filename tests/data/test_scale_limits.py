"""What a pass over the data holds: a batch, not the data; and a num_digits limit that says what it assumed."""

import pytest
import torch

from fizzlightning.data import FizzBuzzDataModule, base
from fizzlightning.data import fizzbuzz as fizzbuzz_data
from fizzlightning.data.base import EVAL_BATCH_SIZE
from fizzlightning.data.batches import TensorBatches
from fizzlightning.errors import ConfigError
from fizzlightning.lessons import fizzbuzz
from tests.helpers import CONFIGS


def decoded(x: torch.Tensor) -> torch.Tensor:
    return (x.long() << torch.arange(x.shape[1])).sum(dim=1)


def test_validation_test_and_predict_come_in_batches_that_do_not_grow_with_the_data():
    data = FizzBuzzDataModule(num_digits=18, seed=0, predict_range=(1, 3 * EVAL_BATCH_SIZE + 5))
    data.setup("fit")
    data.setup("predict")
    val = list(data.val_dataloader())
    assert len(val) == len(data.val_dataloader()) > 1
    assert all(len(x) <= EVAL_BATCH_SIZE for x, _ in val)
    numbers = torch.cat([decoded(x) for x, _ in val])
    assert torch.equal(numbers, data.val_numbers)  # every held-out number once, in order
    assert torch.equal(torch.cat([y for _, y in val]), fizzbuzz.fizzbuzz_labels(data.val_numbers))
    played = list(data.predict_dataloader())
    assert [len(n) for _, n in played] == [EVAL_BATCH_SIZE] * 3 + [5]
    assert torch.equal(torch.cat([n for _, n in played]), data.predict_numbers)
    assert all(torch.equal(decoded(x), n) for x, n in played)


def test_evaluation_holds_the_numbers_alone():
    data = FizzBuzzDataModule(num_digits=12, seed=0)
    data.setup("fit")
    data.val_dataloader()
    (held,) = data._on_device["val"]
    assert held is data.val_numbers  # (num_val,) int64: the bits are made a batch at a time


@pytest.mark.parametrize("world_size", [2, 3])
@pytest.mark.parametrize("n", [0, 1, 2, 10, 4097])
def test_evaluation_shards_are_contiguous_and_score_every_number_once(world_size, n):
    numbers = torch.arange(n)
    parts = []
    for rank in range(world_size):
        loader = TensorBatches(numbers, batch_size=8, rank=rank, world_size=world_size, even=False)
        batches = list(loader)
        assert len(batches) == len(loader)  # the steps Lightning counts are the steps it gets
        assert all(len(b) <= 8 for (b,) in batches)
        parts.append(torch.cat([b for (b,) in batches]))
    assert [len(p) for p in parts] == [len(p) for p in torch.tensor_split(numbers, world_size)]
    assert torch.equal(torch.cat(parts), numbers)  # in rank order: input order


def test_encoding_in_chunks_is_the_encoding(monkeypatch):
    monkeypatch.setattr(fizzbuzz_data, "ENCODE_CHUNK", 7)
    data = FizzBuzzDataModule(num_digits=10, seed=0)
    numbers = torch.arange(101, 1024)
    x, y = data.encoded(numbers)
    assert torch.equal(x, fizzbuzz.binary_encode(numbers, 10)) and torch.equal(y, fizzbuzz.fizzbuzz_labels(numbers))


def test_test_and_predict_build_no_training_split():
    data = FizzBuzzDataModule(num_digits=20, seed=0, predict_range=(1, 50))
    for stage in ("test", "predict"):
        data.setup(stage)
    assert not hasattr(data, "train_numbers") and not hasattr(data, "val_numbers")
    assert data.test_numbers.tolist() == list(range(1, 101))


def test_the_data_bytes_the_limit_counts_are_what_fit_holds():
    num_digits = 14
    data = FizzBuzzDataModule(num_digits=num_digits, seed=0)
    data.setup("fit")
    x, y = data.train_dataloader().tensors
    held = x.nbytes + y.nbytes + data.train_numbers.nbytes + data.val_numbers.nbytes
    assert held <= fizzbuzz_data._fizzbuzz_bytes(num_digits)
    assert held >= fizzbuzz_data._fizzbuzz_bytes(num_digits) * 0.9  # less 1..100 and the bits of validation
    loader = data.train_dataloader()
    epoch_order = loader._indices()  # the one per-epoch tensor of the size of the data
    assert held + 2 * epoch_order.nbytes <= fizzbuzz_data._fit_bytes(num_digits)


def test_a_fit_that_cannot_fit_in_memory_is_refused_before_any_data_is_made(monkeypatch):
    monkeypatch.setattr(
        base, "available_memory", lambda: (3 * 2**29, "a test's 1.5 GiB")
    )  # injected: no real shortage here
    data = FizzBuzzDataModule(num_digits=24, seed=0)
    with pytest.raises(ConfigError) as error:
        data.setup("fit")
    message = str(error.value)
    assert message.startswith("data.num_digits = 24 is not allowed on this machine: a run would need about")
    assert "the data (2**24 numbers x 128 bytes: bits, label, number, shuffle order) 2.00 GiB" in message
    assert "1.5 GiB is available (a test's 1.5 GiB)" in message
    assert not hasattr(data, "train_numbers")


def test_the_limit_counts_the_model_a_batch_and_every_process_on_the_machine():
    model = torch.nn.Sequential(torch.nn.Linear(20, 2048), torch.nn.ReLU(), torch.nn.Linear(2048, 4))
    needs = base.model_needs(model, 4096, 20)
    parameters = sum(p.numel() for p in model.parameters())
    assert list(needs.values()) == [16 * parameters, 8 * 4096 * (20 + 2 * (2048 + 4))]
    settings = {"the data": ("data.num_digits", 12, "Use fewer digits")}
    base.check_memory(settings, {"the data": 2**20}, needs, processes=1)  # this machine has 100 MB to spare
    with pytest.raises(ConfigError, match=r"data.num_digits = 12 .*4 processes x .*the data 256\.00 GiB"):
        base.check_memory(settings, {"the data": 2**40 // 4}, needs, processes=4)


# (arguments, GiB available (injected: no real shortage here), the setting named or None when the run fits): a batch
# larger than the training data is the whole data, so past it the batch size changes nothing; the line names the
# setting behind the largest part of what the run needs.
BATCHES = [
    (["--data.init_args.batch_size", "1000000"], None, None),  # 12 bits: a million-row batch is 3994 numbers
    (["--data.init_args.batch_size", str(2**40)], None, None),
    (["--data.init_args.num_digits", "16", "--data.init_args.batch_size", "100000000"], 1.0, "data.batch_size"),
    (["--data.init_args.num_digits", "10", "--model.init_args.hidden", "[4000, 4000]"], 0.1, "model.hidden"),
    (["--data.init_args.num_digits", "22"], 0.5, "data.num_digits = 22"),
]


@pytest.mark.parametrize("args, gib, named", BATCHES, ids=[" ".join(a) for a, _, _ in BATCHES])
def test_the_memory_check_counts_a_batch_no_larger_than_the_data_and_names_the_largest_part(
    cli, capfd, monkeypatch, args, gib, named
):
    if gib is not None:
        monkeypatch.setattr(base, "available_memory", lambda: (int(gib * 2**30), "a test's figure"))
    one_step = ["--trainer.max_epochs", "1", "--trainer.limit_train_batches", "1", "--trainer.limit_val_batches", "1"]
    code = cli("fit", "--config", str(CONFIGS / "fizzbuzz_relu.yaml"), *one_step, *args)  # the figures: its [2048]
    err = capfd.readouterr().err
    assert "Traceback" not in err
    if named is None:
        assert code == 0, err
    else:
        assert code == 2 and f"fizzlightning: error: {named}" in err and "is not allowed on this machine" in err


def _size_arguments():
    """Every integer argument of every shipped datamodule but its seed: each may size what the data allocates."""
    import inspect

    from fizzlightning.data import ArtistDataModule, CurveDataModule, RegressionDataModule

    for cls in (RegressionDataModule, CurveDataModule, ArtistDataModule):
        for name, parameter in inspect.signature(cls.__init__).parameters.items():
            if parameter.annotation is int and name != "seed":
                yield pytest.param(cls, name, id=f"{cls.__name__}.{name}")


@pytest.mark.parametrize(("cls", "name"), list(_size_arguments()))
def test_a_data_set_too_large_for_memory_is_refused_before_it_is_allocated(cls, name):
    # 2**40 of anything is terabytes here: the datamodule builds (the value sizes nothing it holds), or refuses in
    # one ConfigError naming the setting, never a failed allocation (RuntimeError) or a machine out of memory
    try:
        cls(**{name: 2**40}, seed=0)
    except ConfigError as error:
        assert f"data.{name} = {2**40}" in str(error), error
