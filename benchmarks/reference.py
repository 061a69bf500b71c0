"""The references the benchmark compares against: the seeds' own loops, and a plain torch loop of any recipe.

The seeds' loops use neither fizzlightning nor Lightning. FizzBuzz follows seed 000 (15 digits, hidden 100 and 60,
SGD lr 0.05, batch 128, batches in order, no shuffle, the training loss ``.item()`` after each epoch);
the regressor follows seed 000's ``torch.nn`` + ``torch.optim`` loop (N=64, 1000 -> 100 -> 10 with
biases, ``normal_`` on both weights, SGD lr 1e-6, the loss ``.item()`` at every step, printed there).
"""

import time

import numpy as np
import torch

NUM_DIGITS, NUM_HIDDEN1, NUM_HIDDEN2, BATCH_SIZE, LR = 15, 100, 60, 128, 0.05


def fizz_buzz_encode(i: int) -> int:
    if i % 15 == 0:
        return 3
    if i % 5 == 0:
        return 2
    if i % 3 == 0:
        return 1
    return 0


def binary_encode(i: int, num_digits: int) -> np.ndarray:
    return np.array([i >> d & 1 for d in range(num_digits)])


def _encode(numbers: range) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.Tensor(np.array([binary_encode(i, NUM_DIGITS) for i in numbers]))
    return x, torch.LongTensor([fizz_buzz_encode(i) for i in numbers])


class SeedFizzBuzz:
    """Seed 000's FizzBuzz network, data, loss and optimizer, for one random seed."""

    def __init__(self, seed: int) -> None:
        torch.manual_seed(seed)
        self.trX, self.trY = _encode(range(101, 2**NUM_DIGITS))
        self.teX, self.teY = _encode(range(1, 101))
        self.model = torch.nn.Sequential(
            torch.nn.Linear(NUM_DIGITS, NUM_HIDDEN1),
            torch.nn.ReLU(),
            torch.nn.Linear(NUM_HIDDEN1, NUM_HIDDEN2),
            torch.nn.ReLU(),
            torch.nn.Linear(NUM_HIDDEN2, 4),
        )
        self.loss_fn = torch.nn.CrossEntropyLoss()
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=LR)

    def epoch(self) -> float:
        """One epoch of the seed's loop; returns the training loss it prints."""
        for start in range(0, len(self.trX), BATCH_SIZE):
            end = start + BATCH_SIZE
            loss = self.loss_fn(self.model(self.trX[start:end]), self.trY[start:end])
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
        return self.loss_fn(self.model(self.trX), self.trY).item()

    def timed_epoch(self) -> float:
        """One epoch, timed: seconds."""
        start = time.perf_counter()
        self.epoch()
        return time.perf_counter() - start

    def score(self) -> int:
        """Numbers of 1..100 played right (the seed's final check, here after every epoch)."""
        with torch.no_grad():
            return int((self.model(self.teX).argmax(dim=1) == self.teY).sum())

    def time_to_perfect(self, max_epochs: int) -> tuple[float, int, int]:
        """Train until the first perfect 1..100 game or ``max_epochs``: (seconds, epochs, final score)."""
        start, score, epoch = time.perf_counter(), 0, 0
        while score < 100 and epoch < max_epochs:
            self.epoch()
            epoch += 1
            score = self.score()
        return time.perf_counter() - start, epoch, score


def regressor_seconds(steps: int, seed: int = 0) -> tuple[float, float]:
    """Seed 000's ``nn`` + ``optim`` regressor loop for ``steps`` steps: (seconds, final loss)."""
    torch.manual_seed(seed)
    N, D_in, H, D_out = 64, 1000, 100, 10
    x = torch.randn(N, D_in)
    y = torch.randn(N, D_out)
    model = torch.nn.Sequential(torch.nn.Linear(D_in, H), torch.nn.ReLU(), torch.nn.Linear(H, D_out))
    torch.nn.init.normal_(model[0].weight)
    torch.nn.init.normal_(model[2].weight)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-6)
    start = time.perf_counter()
    for _ in range(steps):
        y_pred = model(x)
        loss = (y_pred - y).pow(2).sum()
        loss.item()  # the seed prints it at every step
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return time.perf_counter() - start, loss.item()


def plain_fit_seconds(recipe: dict, seed: int, epochs: int, device: str = "cpu") -> float:
    """A plain torch loop of a fizzlightning FizzBuzz recipe: the same data, network, optimizer, batches and
    epochs, one validation pass per epoch, no Lightning. ``recipe``: num_digits, width, activation, batch_size, lr,
    weight_decay (AdamW, as the default config). Returns the seconds of its epochs."""
    from fizzlightning.data import FizzBuzzDataModule
    from fizzlightning.lessons.nets import FizzBuzzMLP

    torch.manual_seed(seed)
    data = FizzBuzzDataModule(num_digits=recipe["num_digits"], batch_size=recipe["batch_size"], seed=seed)
    data.setup("fit")
    net = FizzBuzzMLP(recipe["num_digits"], [recipe["width"]], activation=recipe["activation"]).to(device)
    optimizer = torch.optim.AdamW(net.parameters(), lr=recipe["lr"], weight_decay=recipe["weight_decay"])
    loader = data.train_dataloader()  # without a trainer: on the CPU, one process
    loader.tensors = tuple(t.to(device) for t in loader.tensors)  # on the device once, as fizzlightning does
    x_val, y_val = (t.to(device) for t in data.encoded(data.val_numbers))
    start = time.perf_counter()
    for epoch in range(epochs):
        loader.set_epoch(epoch)
        for x, y in loader:
            loss = torch.nn.functional.cross_entropy(net(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        with torch.no_grad():
            (net(x_val).argmax(dim=1) == y_val).float().mean().item()  # the epoch's validation, to the host
    return time.perf_counter() - start
