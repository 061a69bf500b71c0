"""``RunCheckpoint``, the callback ``fit`` always has: best and last checkpoints, a clean stop on a signal."""

import signal
import sys
import time
from functools import cached_property
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.utilities import rank_zero_info

from fizzlightning.runs.checkpoints import run_record
from fizzlightning.runs.slurm import REQUEUE_SIGNAL, RequeueSignal

LAST_EVERY_SECONDS = 1.0  # last.ckpt at most this often (and whenever the run stops): a write costs ~2 ms, an epoch ~30


class RunCheckpoint(ModelCheckpoint):
    """What makes a run resumable: ``best.ckpt``, ``last.ckpt``, and a clean stop on a signal.

    ``best.ckpt`` is the best epoch by the monitored metric; of epochs that tie, the later one (where a stopping
    rule ends). ``last.ckpt`` is written after the first epoch, then at most every ``LAST_EVERY_SECONDS``, and at
    the stop: a crash loses at most that much training. It is this callback's own write, not ModelCheckpoint's
    ``save_last``, which writes it only with ``best.ckpt``.

    On Ctrl-C or SIGTERM (in a SLURM job, also SIGUSR1) the run finishes the epoch, writes ``last.ckpt`` and stops:
    an epoch end keeps a resume exact to the bit. A second Ctrl-C stops at once (the previous ``last.ckpt`` is whole).
    ``requeue``: SLURM's requeue signal as the command caught it before training; one that came once the command
    had decided to train (while the Trainer set up) stops the run at the end of the first epoch.
    A fit that stops inside an epoch (``max_steps``, or a callback's ``should_stop``: ``max_time``) writes ``last.ckpt``
    after its last step, where Lightning resumes it inside that epoch at the next batch (the loaders' state:
    ``data.batches.EpochBatches``), and that partial epoch's end is no epoch's: nothing of it is kept. The resumed run
    then trains what the uninterrupted one would have, to the bit.
    One callback instead of three: Lightning calls every hook of every callback at every step.
    """

    def __init__(self, dirpath: Path, monitor: str, mode: str, requeue: RequeueSignal | None = None) -> None:
        super().__init__(dirpath, "best", monitor=monitor, mode=mode, enable_version_counter=False)
        self.requeue = requeue
        # and SLURM's requeue signal in a job
        self.stop_signals = (signal.SIGINT, signal.SIGTERM, *((REQUEUE_SIGNAL,) if requeue is not None else ()))
        self.signal_received: int | None = None
        self.stopped_by: int | None = None  # the signal that stopped the run, the same on every rank: on_train_end's
        self.start_step: int | None = None  # the step training started from (a resume's); None: it never started
        self._run_over = False  # the run had stopped for its own reasons (early stopping) when last.ckpt was written
        self._mid_epoch = False  # last.ckpt is written inside an epoch, after the step where the fit stops
        self._trained = False  # a batch has trained since the last epoch's end, in this process
        # when (time.monotonic) and at which global step last.ckpt was last written: never yet
        self._last_written, self._last_step = float("-inf"), None
        self.earlier_seconds = 0.0  # the run's training time before this command: a resumed checkpoint's
        self._started = time.perf_counter()  # when this command's fit began: setup sets it

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict) -> None:
        checkpoint["fizzlightning"] = run_record(trainer)

    def trained_seconds(self) -> float:
        """The run's training time so far, across every resume: the resumed checkpoint's, plus this command's."""
        return self.earlier_seconds + time.perf_counter() - self._started

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        super().setup(trainer, pl_module, stage)
        self._started = time.perf_counter()

    def state_dict(self) -> dict:
        return {
            **super().state_dict(),
            "run_over": self._run_over,
            "seconds": self.trained_seconds(),
            "mid_epoch": self._mid_epoch,
        }

    def load_state_dict(self, state_dict: dict) -> None:
        super().load_state_dict(state_dict)
        self._run_over = state_dict.get("run_over", False)
        self.earlier_seconds = state_dict.get("seconds", 0.0)  # none in a checkpoint of an earlier version

    @cached_property
    def state_key(self) -> str:
        # Lightning formats it into a profiler label at every hook call; the parent rebuilds it each time.
        return super().state_key

    @property
    def stopped_inside_epoch(self) -> bool:
        """The fit stopped inside an epoch (``max_steps``, ``max_time``): Lightning counts that epoch as trained."""
        return self._mid_epoch

    def on_train_batch_start(self, *args, **kwargs) -> None:
        self._mid_epoch = False  # the fit went on after all (a should_stop before min_epochs)
        self._trained = True

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch, batch_idx) -> None:
        """``last.ckpt`` where the fit stops inside an epoch; nothing else (the parent's per-step checks cost time)."""
        if batch_idx + 1 >= trainer.num_training_batches or self._mid_epoch:
            return  # the epoch's end writes it
        # should_stop stays set while min_epochs or min_steps hold the run: the epoch loop says whether it stops now
        stops = trainer.should_stop and trainer.fit_loop.epoch_loop.done
        if not (0 <= trainer.max_steps <= trainer.global_step or stops):
            return
        record = getattr(pl_module, "record_step", None)  # the model keeps this step's loss after this hook
        if record is not None:
            record(outputs, batch_idx)
        self._mid_epoch = True
        self.write_last(trainer)

    def check_monitor_top_k(self, trainer: L.Trainer, current: torch.Tensor | None = None) -> bool:
        # A tie goes to the later epoch: the one that kept the best score longer.
        if current is not None and self.best_k_models:
            tie = bool(torch.eq(current, self.best_k_models[self.kth_best_model_path]))
            if trainer.strategy.reduce_boolean_decision(tie, all=True):
                return True
        return super().check_monitor_top_k(trainer, current)

    def write_last(self, trainer: L.Trainer) -> None:
        """Write ``last.ckpt`` (on every rank: the save is collective) unless this step's is written already."""
        if trainer.fast_dev_run or self._last_step == trainer.global_step:
            return
        path = Path(self.dirpath) / f"{self.CHECKPOINT_NAME_LAST}{self.FILE_EXTENSION}"
        self.last_model_path = str(path)  # before the save: the callback's state is part of the checkpoint
        trainer.save_checkpoint(path, self.save_weights_only)
        self._last_written, self._last_step = time.monotonic(), trainer.global_step

    @staticmethod
    def ignore_signals() -> None:
        """The run is stopping because of a signal: another Ctrl-C could only interrupt the exit itself, and would
        print a traceback from whatever cleanup it landed in."""
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, signal.SIG_IGN)

    def _handle_signal(self, signum: int, frame) -> None:
        if self.signal_received is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.signal_received = signum
        print(
            f"\n{signal.Signals(signum).name} received: stopping at the end of this epoch and saving last.ckpt "
            "(Ctrl-C again to stop now).",
            file=sys.stderr,
            flush=True,
        )

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_train_start(trainer, pl_module)
        self.signal_received = self.stopped_by = None
        self.start_step = trainer.global_step  # Lightning has restored a resumed checkpoint's by now
        # Resuming a last.ckpt written in the epoch where early stopping fired (a signal arrived in the same
        # epoch): Lightning does not save should_stop, and the resumed run would train an epoch too many.
        trainer.should_stop = trainer.should_stop or self._run_over
        # Replaces Lightning's own handlers for the run; its teardown restores the originals.
        for signum in self.stop_signals:
            signal.signal(signum, self._handle_signal)
        caught = self.requeue.take() if self.requeue is not None else None  # after: none falls between the two
        if caught is not None and self.signal_received is None:
            self._handle_signal(caught, None)

    def agree_on_signal(self, trainer: L.Trainer) -> int:
        """The stop signal that came to any rank (the highest number), 0 if none; every rank then holds the same one,
        so that every rank stops, exits and requeues alike. Collective: every rank calls it at the same point."""
        mine = torch.tensor(self.signal_received or 0, device=trainer.strategy.root_device)
        agreed = int(trainer.strategy.reduce(mine, reduce_op="max"))
        if agreed:
            self.signal_received = agreed
        return agreed

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # a stop inside an epoch (max_steps) passes no epoch end's agreement, and one may have come since; one that
        # comes after this stops nothing: training is over
        self.stopped_by = self.agree_on_signal(trainer) or None
        # A run that stopped inside an epoch (max_steps, max_time) keeps its last step. A smoke test (fast_dev_run)
        # keeps no checkpoint: its last.ckpt would be what a resume or a later command picks.
        self.write_last(trainer)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        trained, self._trained = self._trained, False
        if self._mid_epoch or not trained:
            # the fit stopped inside the epoch: a resume trains the rest of it, and ends it. Or it resumed a
            # checkpoint written at this epoch's end, whose end Lightning runs again (under max_steps): done before
            return
        # Lightning runs checkpoint callbacks after the others, so a stopping rule has decided by now.
        self._run_over = trainer.should_stop
        # every rank must agree to stop, or the others would wait for it at the next collective
        signalled = bool(self.agree_on_signal(trainer))
        ending = signalled or trainer.should_stop or trainer.current_epoch + 1 >= (trainer.max_epochs or 0)
        waited = time.monotonic() - self._last_written >= LAST_EVERY_SECONDS
        super().on_train_epoch_end(trainer, pl_module)  # best.ckpt, if this epoch is the best
        # the same decision on every rank: ranks whose clocks disagree would disagree on the collective save
        if trainer.strategy.reduce_boolean_decision(ending or waited, all=False):
            self.write_last(trainer)
        if signalled:
            trainer.should_stop = True
            rank_zero_info(f"Stopped after epoch {trainer.current_epoch}.")
