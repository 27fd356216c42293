"""The one resumable training loop shared by pre-training and fine-tuning.

What differs between the two is a :class:`LoopTask`: how a batch becomes
``(inputs, targets)`` for training and for validation, and the loss. Per step::

    batch ← prefetching loader → device → task.train_pair → forward (bf16 on CUDA) → loss
    → backward → clip → optimizer step → step scheduler → [log] → [validate] → [checkpoint]

Validation pairs come from ``task.val_pair(batch, batch_index)`` over the validation
reader in fixed order, so the same pairs are seen at every validation. The last
checkpoint (``last.pt``) holds everything needed to continue bit-for-bit on the same
hardware: weights, optimizer, scheduler, :class:`LoopState` (step, data position,
early-stopping counters, history) and all RNG states.

Under ``torchrun`` the same loop trains data-parallel: see :mod:`.distributed`.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.optim.lr_scheduler import ReduceLROnPlateau

from genesis_core.training import checkpoint as ckpt
from genesis_core.training import distributed as ddp
from genesis_core.training.config import LoopConfig
from genesis_core.training.device import (
    as_format,
    autocast,
    memory_format,
    resolve_device,
    to_device,
)
from genesis_core.training.loader import Batch, BatchLoader
from genesis_core.training.optim import build_optimizer, build_scheduler, current_lr
from genesis_core.training.rng import capture_rng_state, restore_rng_state
from genesis_core.training.sinks import MetricsSink, NullSink, close_sink
from genesis_core.training.state import LoopState, TrainResult

Pair = tuple[Tensor, Tensor]


@dataclass(frozen=True)
class LoopTask:
    """The task-specific part of the loop.

    ``train_pair(batch, generator)``: device batch → ``(inputs, targets)``, drawing any
    randomness from ``generator`` (checkpointed). ``val_pair(batch, index)``: the same for
    validation batch ``index``, deterministically. ``loss(outputs, targets)``: scalar;
    outputs arrive as float32.
    """

    train_pair: Callable[[Batch, torch.Generator], Pair]
    val_pair: Callable[[Batch, int], Pair]
    loss: Callable[[Tensor, Tensor], Tensor]


class _Meter:
    """Mean training loss and throughput since the last flush (no device sync per step)."""

    def __init__(self) -> None:
        self.restart()

    def restart(self) -> None:
        self.loss_sum: Tensor | None = None
        self.steps, self.samples, self.t0 = 0, 0, time.perf_counter()

    def add(self, loss: Tensor, samples: int) -> None:
        self.loss_sum = loss if self.loss_sum is None else self.loss_sum + loss
        self.steps, self.samples = self.steps + 1, self.samples + samples

    def flush(self) -> dict[str, float]:
        if not self.steps:
            return {}
        loss = float(self.loss_sum)  # waits for the device, so the time below covers its work
        seconds = max(time.perf_counter() - self.t0, 1e-9)
        world = ddp.current().world  # every rank trains as many samples: report the total
        out = {"train_loss": loss / self.steps, "cubes_per_s": world * self.samples / seconds}
        self.restart()
        return out


class TrainingLoop:
    """Wires model, data, optimizer, checkpoints and sink; :meth:`run` trains."""

    def __init__(
        self,
        model: nn.Module,
        train_reader: Any,
        val_reader: Any | None,
        task: LoopTask,
        config: LoopConfig,
        sink: MetricsSink | None = None,
        checkpoint_dir: str | Path | None = None,
    ) -> None:
        self.config, self.task = config, task
        self.dist = ddp.init_from_env(resolve_device(config.device).type)
        self.sink = (sink or NullSink()) if self.dist.is_main else NullSink()
        self.device = resolve_device(ddp.device_for(config.device, self.dist))
        self.fmt = memory_format(self.device, config.channels_last)
        if self.device.type == "cuda":  # fixed cube shapes: let cuDNN pick the fastest kernels
            torch.backends.cudnn.benchmark = config.cudnn_benchmark
        self.model = model.to(self.device, memory_format=self.fmt)
        self.evaluate = self.model  # validation never needs the gradient all-reduce
        if config.compile:  # True, or a torch.compile mode such as "max-autotune"
            mode = config.compile if isinstance(config.compile, str) else None
            self.evaluate = torch.compile(self.model, mode=mode)
        self.forward = self.evaluate
        if self.dist.active:
            from torch.nn.parallel import DistributedDataParallel

            ids = [self.device.index] if self.device.type == "cuda" else None
            self.forward = DistributedDataParallel(self.evaluate, device_ids=ids)
        self.train_loader, self.val_loader = self._loaders(train_reader, val_reader)
        bpe = self.train_loader.batches_per_epoch
        self.optimizer = build_optimizer(self.model, config)
        self.scheduler = build_scheduler(self.optimizer, config, bpe)
        seed = config.seed + self.dist.rank  # each rank corrupts its own samples its own way
        self.generator = torch.Generator(device=self.device).manual_seed(seed)
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir is not None else None
        self.val_every = config.val_every_steps or bpe
        self.ckpt_every = config.checkpoint_every_steps or self.val_every
        self.state, self.meter, self.last_train_loss = LoopState(), _Meter(), float("nan")
        self._best_in_memory: dict[str, Tensor] | None = None

    def _loaders(self, train_reader: Any, val_reader: Any | None):
        c, pin = self.config, self.device.type == "cuda"
        train = BatchLoader(
            train_reader,
            c.batch_size,
            seed=c.seed,
            drop_last=c.drop_last,
            prefetch=c.prefetch_batches,
            pin_memory=pin,
            shard=(self.dist.rank, self.dist.world),
            sampling=c.sampling,
            block_scans=c.block_scans,
            workers=c.loader_workers,
        )
        if val_reader is None or len(val_reader) == 0:
            return train, None
        val = BatchLoader(
            val_reader,
            c.batch_size,
            shuffle=False,
            drop_last=False,
            prefetch=c.prefetch_batches,
            pin_memory=pin,
            workers=c.loader_workers,
        )
        return train, val

    # -- running ---------------------------------------------------------------------------

    def run(self, resume: bool = False) -> TrainResult:
        """Train until max steps/epochs or early stopping; resume from ``last.pt`` if asked."""
        if not (resume and self._resume()):
            self.sink.log_params(self.config.to_dict())
        self.model.train()
        self.meter.restart()
        stream = self.train_loader.stream(self.state.position)
        try:
            try:
                while self._stop_reason() is None:
                    position, batch = next(stream)
                    loss, samples = self._train_step(to_device(batch, self.device))
                    self.state.step, self.state.position = self.state.step + 1, position
                    self.meter.add(loss, samples)
                    self._after_step()
            finally:
                stream.close()
            return self._finish()
        finally:
            close_sink(self.sink)

    def _stop_reason(self) -> str | None:
        c, s = self.config, self.state
        if s.stop_reason is None:
            if c.max_steps is not None and s.step >= c.max_steps:
                s.stop_reason = "max_steps"
            elif c.max_epochs is not None and s.position.epoch >= c.max_epochs:
                s.stop_reason = "max_epochs"
            elif c.patience is not None and s.bad_validations >= c.patience:
                s.stop_reason = "early_stopping"
        return s.stop_reason

    def _train_step(self, batch: Batch) -> tuple[Tensor, int]:
        inputs, targets = self.task.train_pair(batch, self.generator)
        with autocast(self.device, self.config.bf16):
            outputs = self.forward(as_format(inputs, self.fmt))
        loss = self.task.loss(outputs.float(), targets)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.config.grad_clip_norm is not None:
            nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip_norm)
        self.optimizer.step()
        if self.scheduler is not None and not isinstance(self.scheduler, ReduceLROnPlateau):
            self.scheduler.step()
        return loss.detach(), len(inputs)

    def _after_step(self) -> None:
        step = self.state.step
        validate = self.val_loader is not None and step % self.val_every == 0
        save = self.checkpoint_dir is not None and step % self.ckpt_every == 0
        if validate or save or step % self.config.log_every_steps == 0:
            self._log_train()
        if validate:
            self._record_validation(self.validate())
        if save:
            self._save_last()
        self.meter.restart()  # keep validation and saving out of the throughput

    def _log_train(self) -> None:
        metrics = self.meter.flush()
        if not metrics:
            return
        self.last_train_loss = metrics["train_loss"]
        bpe = self.train_loader.batches_per_epoch
        metrics |= {"lr": current_lr(self.optimizer), "epoch": self._epoch_float(bpe)}
        self.sink.log_metrics(metrics, self.state.step)

    def _epoch_float(self, batches_per_epoch: int) -> float:
        return self.state.position.epoch + self.state.position.batch / batches_per_epoch

    # -- validation ------------------------------------------------------------------------

    @torch.no_grad()
    def validate(self) -> float:
        """Mean validation loss per sample over the whole validation reader."""
        assert self.val_loader is not None
        self._sync_buffers()
        self.model.eval()
        total, count = torch.zeros((), device=self.device), 0
        try:
            for index, batch in enumerate(self.val_loader.one_pass()):
                inputs, targets = self.task.val_pair(to_device(batch, self.device), index)
                with autocast(self.device, self.config.bf16):
                    outputs = self.evaluate(as_format(inputs, self.fmt))
                total += self.task.loss(outputs.float(), targets) * len(inputs)
                count += len(inputs)
        finally:
            self.model.train()
        loss = total / max(count, 1)
        if self.dist.active:  # rank 0's number everywhere: early stopping must agree
            torch.distributed.broadcast(loss, src=0)
        return float(loss)

    def _sync_buffers(self) -> None:
        """Rank 0's BatchNorm running statistics on every rank (they drift per rank)."""
        if self.dist.active:
            for buffer in self.model.buffers():
                torch.distributed.broadcast(buffer, src=0)

    def _record_validation(self, val_loss: float) -> None:
        s, c = self.state, self.config
        if isinstance(self.scheduler, ReduceLROnPlateau):
            self.scheduler.step(val_loss)
        s.last_val_step = s.step
        if val_loss < s.best_val_loss - c.min_delta:
            s.best_val_loss, s.best_step, s.bad_validations = val_loss, s.step, 0
            self._save_best()
        else:
            s.bad_validations += 1
        record = {"step": s.step, "epoch": self._epoch_float(self.train_loader.batches_per_epoch)}
        record |= {"train_loss": self.last_train_loss, "val_loss": val_loss}
        record["lr"] = current_lr(self.optimizer)
        s.history.append(record)
        metrics = {"val_loss": val_loss, "best_val_loss": s.best_val_loss, "lr": record["lr"]}
        self.sink.log_metrics(metrics, s.step)

    # -- checkpoints -----------------------------------------------------------------------

    def _payload(self) -> dict[str, Any]:
        model_config = getattr(self.model, "config", None)
        rng = capture_rng_state(self.generator)
        if self.dist.active:  # collective: every rank's corruption generator
            rng["rank_generators"] = ddp.gather_objects(self.generator.get_state(), self.dist)
        return {
            "format": 1,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "state": self.state.to_dict(),
            "rng": rng,
            "config": self.config.to_dict(),
            "model_config": (
                dataclasses.asdict(model_config) if dataclasses.is_dataclass(model_config) else None
            ),
        }

    def _save_last(self) -> Path | None:
        if self.checkpoint_dir is None:
            return None
        self._sync_buffers()
        payload, path = self._payload(), self.checkpoint_dir / ckpt.LAST_NAME
        if self.dist.is_main:
            ckpt.save_atomic(payload, path)
        ddp.barrier(self.dist)  # nobody reads or resumes before rank 0 has written
        return path

    def _save_best(self) -> None:
        if self.checkpoint_dir is None:
            state = self.model.state_dict()
            self._best_in_memory = {k: v.detach().clone() for k, v in state.items()}
            return
        if self.dist.is_main:  # buffers were synced by the validation that got here
            payload = {"model": self.model.state_dict(), "step": self.state.step}
            payload |= {"val_loss": self.state.best_val_loss, "config": self.config.to_dict()}
            ckpt.save_atomic(payload, self.checkpoint_dir / ckpt.BEST_NAME)
        ddp.barrier(self.dist)

    def _resume(self) -> bool:
        path = ckpt.latest_checkpoint(self.checkpoint_dir) if self.checkpoint_dir else None
        if path is None:
            return False
        payload = ckpt.load_checkpoint(path)
        self.model.load_state_dict(payload["model"])
        self.optimizer.load_state_dict(payload["optimizer"])
        if self.scheduler is not None and payload["scheduler"] is not None:
            self.scheduler.load_state_dict(payload["scheduler"])
        self.state = LoopState.from_dict(payload["state"])
        self.state.stop_reason = None  # limits may have been raised since; re-evaluated
        restore_rng_state(payload["rng"], self.generator)
        per_rank = payload["rng"].get("rank_generators")
        if per_rank is not None and len(per_rank) == self.dist.world:
            self.generator.set_state(per_rank[self.dist.rank])
        elif self.dist.active:  # resumed with another world size: fresh per-rank streams
            self.generator.manual_seed(
                self.config.seed + self.dist.rank + 1_000_003 * self.state.step
            )
        return True

    def _finish(self) -> TrainResult:
        s = self.state
        self._log_train()
        if self.val_loader is not None and s.step > 0 and s.last_val_step != s.step:
            self._record_validation(self.validate())
        last = self._save_last()
        if self.config.restore_best:
            self._restore_best()
        has_best = s.best_step >= 0
        best_path = self.checkpoint_dir / ckpt.BEST_NAME if self.checkpoint_dir else None
        return TrainResult(
            best_val_loss=s.best_val_loss if has_best else None,
            best_step=s.best_step if has_best else None,
            steps=s.step,
            epochs=s.position.epoch,
            stop_reason=s.stop_reason or "max_steps",
            checkpoint_path=last,
            best_checkpoint_path=best_path if (best_path and best_path.is_file()) else None,
            history=list(s.history),
        )

    def _restore_best(self) -> None:
        """Load the best validation weights into the model (fine-tuning)."""
        if self.checkpoint_dir is not None and (self.checkpoint_dir / ckpt.BEST_NAME).is_file():
            state = ckpt.load_checkpoint(self.checkpoint_dir / ckpt.BEST_NAME)["model"]
        else:
            state = self._best_in_memory
        if state is not None:
            self.model.load_state_dict(state)
