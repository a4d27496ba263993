"""Training, top to bottom: set up, then for each epoch: train, validate, save.

`train()` reads like the loop it runs; each step is a named function below it.

Resume is a first-class path: `last.pt` (written atomically after every
epoch, every `--save-every` steps inside one, and on Ctrl-C / SIGTERM) holds
model, optimizer, scheduler, epoch, step and RNG state. Data order and
augmentation are pure functions of (seed, epoch, index), so a run stopped at
any point and resumed ends with the same weights as an uninterrupted one (on
the CPU). `--resume RUN --set epochs=N` extends a run; any other change is
refused, since the result would be neither run.

The crop contract: the run reads how its data was cropped (`data.crop_rule`)
and stores that rule as `crop_enlarge` in every checkpoint, so export and
prediction crop new faces the way the model saw its training faces.

Multi-GPU / multi-process: launch with ``torchrun --nproc_per_node K -m
pipnet106 train ...``; DistributedDataParallel is set up from the environment
(nccl on CUDA, gloo on the CPU).
"""
from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import math
import os
import random
import signal
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, DistributedSampler
from tqdm import tqdm

from ..models.checkpoint import check_init_layout, resolve_init, init_from, load_scheduler, make_checkpoint, read_checkpoint
from ..config import Config, combine_terms
from ..data.dataset import (CropRule, LandmarkDataset, check_input_size, crop_rule, list_path, read_manifest,
                            worker_ignores_stop_signals)
from ..data.formats import read_list
from ..data.parts import make_dataset, part_meanface
from ..layout import part_spec
from ..errors import UserError
from ..runtime import require_device
from .evaluate import nme, predict_loader
from ..fileio import atomic_torch_save, atomic_write_text
from ..layout import Layout, get_layout
from ..models.head_codecs import build_decoder, head_loss
from ..models.heads import init_head
from ..data.meanface import load_meanface, neighbors
from ..models import build_model, count_params

PAUSE_ENV = "PIPNET106_PAUSE_AT"
"""Test hook (see `pause_point`): ``PIPNET106_PAUSE_AT=EPOCH:STEP`` stops a run at a known step."""
PAUSE_MARKER = "paused"
"""File the paused run writes in its run folder (its text: ``EPOCH:STEP``) before it blocks."""
RESUME_MAY_CHANGE = ("epochs", "workers", "device", "tensorboard")
"""Keys a resumed run may change: the length of the run, and where/how it runs."""
_PATH_KEYS = ("data", "out", "init", "pretrained")


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM stopped training; `saved` is the resumable last.pt written first (None under DDP)."""

    def __init__(self, signum: int, out: Path | None = None, saved: Path | None = None,
                 where: str = "") -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum, self.out, self.saved, self.where = signum, out, saved, where

    def message(self) -> str:
        name = signal.Signals(self.signum).name
        if self.saved is None:
            return (f"interrupted ({name}); `pipnet106 train --resume {self.out}` continues from the last "
                    "finished epoch")
        return f"interrupted ({name}) {self.where}; saved {self.saved}; continue with: pipnet106 train --resume {self.out}"


class _Signals:
    """SIGINT/SIGTERM -> `TrainingInterrupted`, but never inside a training step or a save.

    Inside `deferred()` the signal is remembered and raised when the block ends, so the
    model, optimizer and step counter always agree when last.pt is written.
    """

    def __init__(self) -> None:
        self.pending: int | None = None
        self.depth = 0

    def _handler(self, signum, frame) -> None:
        self.pending = signum
        if self.depth == 0:
            raise TrainingInterrupted(signum)

    @contextlib.contextmanager
    def installed(self):
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        old = {s: signal.signal(s, self._handler) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for s, h in old.items():
                signal.signal(s, h)

    @contextlib.contextmanager
    def deferred(self):
        self.depth += 1
        try:
            yield
        finally:
            self.depth -= 1
        if self.depth == 0 and self.pending is not None:
            raise TrainingInterrupted(self.pending)


@dataclass
class Run:
    """Everything the loop needs, built once by `set_up`; (epoch, step) is the next step to run."""

    cfg: Config
    layout: Layout
    out: Path
    crop: CropRule
    device: torch.device
    ddp: bool
    world: int
    master: bool
    log: Callable[..., None]
    meanface: np.ndarray
    nb: np.ndarray
    train_ds: LandmarkDataset
    test_ds: LandmarkDataset
    sampler: Any
    train_dl: DataLoader
    test_dl: DataLoader
    model: torch.nn.Module
    decoder: torch.nn.Module
    """PIPNet's `Decoder`, or another head's (`models.head_codecs.build_decoder`)."""
    optimizer: torch.optim.Optimizer
    scheduler: Any
    scaler: Any
    amp: bool
    steps_per_epoch: int
    init_path: Path | None = None
    epoch: int = 0
    step: int = 0
    running: float = 0.0
    """Loss sum of the steps done in this epoch (kept in mid-epoch saves, so a resumed epoch logs the exact mean)."""
    best: float = math.inf
    writer: Any = None
    start_nme: float | None = None
    """Validation NME of the `init` model before training (epoch 0); None when training from scratch."""
    pause: tuple[int, int] | None = None
    """(epoch, step) at which to block, from `PAUSE_ENV` (tests only); None in every real run."""
    point_weight: torch.Tensor | None = None
    """(N,) weights of each point's own offset loss (`fine_weight`); None = all 1."""


# =========================================================================== the loop

def train(cfg: Config | None = None, resume: str | Path | None = None, save_every: int = 0, quiet: bool = False,
          origins: dict[str, str] | None = None) -> dict:
    """Train `cfg`, or continue the run folder `resume` (then `cfg`, if given, may differ only in
    `RESUME_MAY_CHANGE`). Returns {"out", "best_nme", "history", "start_nme", "warning"}: history has
    an epoch-0 row for the starting model when fine-tuning (`init`); warning is the message given when
    the run ended worse than that model, else None.

    Ctrl-C / SIGTERM save a resumable last.pt and raise `TrainingInterrupted`.
    `origins` names where config values came from (for error messages).
    """
    run = set_up(cfg, resume, quiet, origins or {})
    history: list[dict] = []
    warning = None
    stop = _Signals()
    try:
        with stop.installed():
            try:
                describe(run)
                if run.init_path is not None and (run.epoch, run.step) == (0, 0):
                    start_nme = validate(run)
                    with stop.deferred():
                        history.append(start_epoch(run, start_nme))
                    run.log(f"starting model {run.init_path}: val NME {start_nme * 100:.3f}% before training "
                            "(epoch 0; best.pt until an epoch beats it)")
                for _ in range(run.epoch, run.cfg.epochs):
                    seconds, seen = train_one_epoch(run, stop, save_every, quiet)
                    val = validate(run)
                    with stop.deferred():
                        row = end_epoch(run, val, seconds, seen)
                    history.append(row)
                    run.log(f"epoch {row['epoch']}/{run.cfg.epochs}  loss {row['loss']:.4f}  val NME {val * 100:.3f}%  "
                            f"best {run.best * 100:.3f}%  {row['images_per_s']:.1f} img/s")
                if run.ddp:
                    dist.barrier()
                warning = warn_if_worse(run, history)
            except TrainingInterrupted as e:
                e.out = run.out
                e.where = f"in epoch {run.epoch + 1} after step {run.step}/{run.steps_per_epoch}"
                if not run.ddp:
                    stop.depth += 1  # a second Ctrl-C must not cut the save short
                    e.saved = save(run, "last.pt")
                raise
    finally:
        if run.writer:
            run.writer.close()
        if run.ddp and dist.is_initialized():
            dist.destroy_process_group()
    return {"out": str(run.out), "best_nme": run.best, "history": history, "start_nme": run.start_nme,
            "warning": warning}


def train_one_epoch(run: Run, stop: _Signals, save_every: int, quiet: bool) -> tuple[float, int]:
    """Steps from (run.epoch, run.step) to the end of the epoch -> (seconds, images seen)."""
    cfg, skip = run.cfg, run.step
    if run.ddp:
        run.sampler.set_epoch(run.epoch)
    else:
        run.sampler.set_epoch(run.epoch, skip * cfg.batch_size)
    run.train_ds.set_epoch(run.epoch)
    run.model.train()
    if cfg.freeze_bn or cfg.train_only:
        freeze_bn_stats(run.model)
    t0, seen = time.time(), 0
    with stop.deferred():  # a signal inside tqdm's set-up would leave a half-built bar that prints a trace
        bar = tqdm(run.train_dl, total=run.steps_per_epoch - skip, desc=f"epoch {run.epoch + 1}/{cfg.epochs}",
                   unit="batch", disable=not run.master or quiet, leave=False)
    try:
        for x, tgt in bar:
            if run.step >= run.steps_per_epoch:
                break
            with stop.deferred():
                loss = train_step(run, x, tgt)
                run.step += 1
                run.running += loss
                seen += x.shape[0] * run.world
                if save_every and not run.ddp and run.step % save_every == 0 and run.step < run.steps_per_epoch:
                    save(run, "last.pt")
            if (run.epoch, run.step) == run.pause:
                pause_here(run)
            bar.set_postfix(loss=f"{loss:.4f}")
    finally:
        with stop.deferred():
            bar.close()
    return time.time() - t0, seen


def train_step(run: Run, x: torch.Tensor, tgt: dict[str, torch.Tensor]) -> float:
    """One optimizer step on one batch -> its loss."""
    x = x.to(run.device, non_blocking=True)
    tgt = {k: v.to(run.device, non_blocking=True) for k, v in tgt.items()}
    with torch.autocast(run.device.type, dtype=torch.float16, enabled=run.amp):
        outputs = run.model(x)
    loss, _ = head_loss(run.cfg, [o.float() for o in outputs], tgt, run.point_weight)   # pip_loss for head pip
    run.optimizer.zero_grad(set_to_none=True)
    run.scaler.scale(loss).backward()
    groups = run.optimizer.param_groups
    scheduled = [g["lr"] for g in groups]
    factor = warmup_factor(run.cfg.warmup_steps, run.epoch * run.steps_per_epoch + run.step)
    for g, lr in zip(groups, scheduled):
        g["lr"] = lr * factor
    run.scaler.step(run.optimizer)
    for g, lr in zip(groups, scheduled):  # the epoch schedule never sees the warm-up
        g["lr"] = lr
    run.scaler.update()
    return loss.item()


def warmup_factor(warmup_steps: int, done: int) -> float:
    """Learning-rate factor of the optimizer step after `done` steps: linear from 1/warmup_steps to 1.

    A pure function of the step count, so a resumed run warms up exactly as an uninterrupted one.
    """
    return 1.0 if warmup_steps <= 0 else min(1.0, (done + 1) / warmup_steps)


def trainable(model: torch.nn.Module, cfg: Config) -> list[torch.nn.Parameter]:
    """The weights the optimizer moves: all, or with `train_only: visibility` the visibility head's
    alone (the others stop needing gradients, so the backward pass is the head's only)."""
    if cfg.train_only != "visibility":
        return list(model.parameters())
    keep = {id(p) for p in model.vis_layer.parameters()}
    for p in model.parameters():
        p.requires_grad_(id(p) in keep)
    return [p for p in model.parameters() if id(p) in keep]


def freeze_bn_stats(model: torch.nn.Module) -> None:
    """BatchNorm layers to eval mode (running statistics used and kept, not updated); weights still train."""
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.eval()


def pause_point() -> tuple[int, int] | None:
    """The (epoch, step) of ``PIPNET106_PAUSE_AT=EPOCH:STEP``, or None when unset (every real run).

    A test hook, so that tests stop a run at a known point instead of racing a timer: right after
    the step that leaves the counters at (EPOCH, STEP) -- as last.pt records them: EPOCH 0-based,
    STEP steps done in it -- and after any save that step triggers, the run writes
    ``<out>/paused`` (`PAUSE_MARKER`) and blocks until a signal ends it: SIGKILL, or SIGINT/SIGTERM,
    which save last.pt as usual. The test waits for the file, then signals. Read once per run;
    unset, it costs one tuple comparison per step.
    """
    value = os.environ.get(PAUSE_ENV, "").strip()
    if not value:
        return None
    try:
        epoch, step = (int(v) for v in value.split(":"))
    except ValueError:
        raise UserError(f"{PAUSE_ENV}={value!r}: expected EPOCH:STEP, e.g. 0:2") from None
    return epoch, step


def pause_here(run: Run) -> None:
    """Write the pause marker and block; called outside any deferred block, so SIGINT/SIGTERM still stop the run."""
    if run.master:
        atomic_write_text(run.out / PAUSE_MARKER, f"{run.epoch}:{run.step}\n")
    while True:
        time.sleep(3600)


def validate(run: Run) -> float:
    """Mean NME on the test list (every process computes it; cheap and keeps ranks in step)."""
    model = run.model.module if run.ddp else run.model
    pred, _, gt = predict_loader(model, run.decoder, run.test_dl, run.device, run.layout)
    return float(nme(pred, gt, run.layout, run.cfg.norm).mean())


def end_epoch(run: Run, val: float, seconds: float, seen: int) -> dict:
    """Step the schedule, keep the best, write metrics.csv, best.pt and (last) last.pt."""
    lr = run.optimizer.param_groups[0]["lr"]  # the rate this epoch used
    run.scheduler.step()
    is_best = val < run.best
    run.best = min(run.best, val)
    row = {"epoch": run.epoch + 1, "loss": run.running / max(run.step, 1), "val_nme": val, "best_nme": run.best,
           "lr": lr, "images_per_s": seen / max(seconds, 1e-9), "seconds": seconds}
    run.epoch, run.step, run.running = run.epoch + 1, 0, 0.0
    if run.master:
        # last.pt goes last: a kill before it re-runs this epoch, which rewrites the same CSV row
        _append_csv(run.out / "metrics.csv", row)
        if is_best:
            save(run, "best.pt", metrics=row)
        save(run, "last.pt")
        if run.writer:
            for k, v in row.items():
                run.writer.add_scalar(k, v, row["epoch"])
    return row


def start_epoch(run: Run, val: float) -> dict:
    """The starting model (`init`) as epoch 0: a metrics.csv row, and best.pt until an epoch beats it,
    so fine-tuning never hands back a best.pt worse than the model it started from."""
    run.best = run.start_nme = val
    row = {"epoch": 0, "loss": math.nan, "val_nme": val, "best_nme": val, "lr": 0.0, "images_per_s": 0.0,
           "seconds": 0.0}
    if run.master:
        _append_csv(run.out / "metrics.csv", row)
        save(run, "best.pt", metrics=row)
    return row


def warn_if_worse(run: Run, history: list[dict]) -> str | None:
    """Warn (and return the message) when the last epoch validates worse than the starting model did."""
    start_nme = run.start_nme
    if start_nme is None or not history or history[-1]["epoch"] == 0 or history[-1]["val_nme"] <= start_nme \
            or not run.master:
        return None
    last = history[-1]
    msg = (f"training ended worse than it started: epoch {last['epoch']} val NME {last['val_nme'] * 100:.3f}% "
           f"(last.pt) against {start_nme * 100:.3f}% for the starting model ({run.cfg.init}); ")
    if run.best >= start_nme:
        msg += ("no epoch improved on it, so best.pt is the starting model; try a lower lr, a longer "
                "warmup_steps, freeze_bn: true, or more labelled faces")
    else:
        msg += f"best.pt ({run.best * 100:.3f}%) is better than both"
    warnings.warn(msg)
    return msg


def save(run: Run, name: str, **extra) -> Path | None:
    """Atomically write a resumable checkpoint at the current (epoch, step); master only."""
    if not run.master:
        return None
    ck = make_checkpoint(run.model, run.cfg, run.meanface, run.nb, epoch=run.epoch, step=run.step,
                         best_nme=run.best, start_nme=run.start_nme, running_loss=run.running,
                         crop=run.crop.to_dict(),
                         optimizer=run.optimizer.state_dict(), scheduler=run.scheduler.state_dict(),
                         scaler=run.scaler.state_dict(), rng={"torch": torch.get_rng_state()}, **extra)
    return atomic_torch_save(run.out / name, ck)


def describe(run: Run) -> None:
    cfg = run.cfg
    run.log(f"train: {len(run.train_ds)} images, test: {len(run.test_ds)}, {cfg.backbone} "
            f"({count_params(run.model) / 1e6:.2f} M params), input {cfg.input_size}, "
            f"grid {cfg.input_size // cfg.net_stride}, device {run.device}{f' x{run.world}' if run.ddp else ''}, "
            f"{run.steps_per_epoch} steps/epoch, crop enlargement {run.crop.enlarge:g} ({run.crop.source})")


# =========================================================================== set-up

def set_up(cfg: Config | None, resume: str | Path | None, quiet: bool, origins: dict[str, str]) -> Run:
    """Config (the run folder's on resume), data, crop rule, model, optimizer: a `Run` ready to loop."""
    master = int(os.environ.get("RANK", "0")) == 0
    log = (lambda *a: print(*a, flush=True)) if (master and not quiet) else (lambda *a: None)
    cfg, state, out = _run_config(cfg, resume, log)
    layout = get_layout(cfg.layout)  # the one lookup; everything below is handed this object
    torch.manual_seed(cfg.seed)
    random.seed(cfg.seed)
    np.random.seed(cfg.seed)
    init_path = resolve_init(cfg.init) if (cfg.init and state is None) else None
    init_ck = read_checkpoint(init_path) if init_path else None
    if init_ck is not None:
        # a part model may start from a face model of its parent layout (the backbone; the heads re-learn)
        if not (cfg.part and init_ck["config"].get("layout") == "lapa106"):
            check_init_layout(init_ck, layout, init_path)  # before its mean face is used
        cfg = inherit_terms(cfg, init_ck, init_path, log)
    meanface, nb = _mean_face(cfg, state, init_ck, layout)
    cfg, data = _data(cfg, state, out, layout, nb, origins, log)
    if init_ck is not None and not cfg.part:
        _note_crop_change(init_ck, init_path, data["crop"], log)
    device, ddp, world = start_processes(cfg.device)
    loaders = _loaders(cfg, data["train_ds"], data["test_ds"], device, ddp, world)
    model = build_model(cfg, layout=layout, warn_scratch=state is None and init_ck is None).to(device)
    init_head(model, meanface)   # regression starts at the mean face; `init` below fills the backbone
    if init_ck is not None:
        log(init_from(model, init_ck, init_path, layout, nb, same_layout=not cfg.part))
        if not cfg.warmup_steps:
            log("note: warmup_steps 0: Adam's first steps move every weight by about lr, which can wreck a "
                "trained model at once; configs/finetune_starter.yaml warms up over 100 steps")
    optimizer = torch.optim.Adam(trainable(model, cfg), lr=cfg.lr, weight_decay=cfg.weight_decay)
    amp = cfg.amp and device.type == "cuda"
    run = Run(cfg=cfg, layout=layout, out=out, device=device, ddp=ddp, world=world, master=master, log=log,
              meanface=meanface, nb=nb, model=model, decoder=build_decoder(cfg, nb).to(device),
              optimizer=optimizer,
              scheduler=torch.optim.lr_scheduler.MultiStepLR(optimizer, cfg.decay_epochs, cfg.decay_gamma),
              scaler=torch.amp.GradScaler("cuda", enabled=amp), amp=amp, init_path=init_path,
              point_weight=fine_part_weights(layout, cfg.fine_weight), **data, **loaders)
    run.pause = pause_point()
    if state is not None:
        _restore(run, state)
    if ddp:
        run.model = torch.nn.parallel.DistributedDataParallel(model)
    if master:
        _open_run_folder(run)
    if state is not None and run.epoch >= cfg.epochs:
        log(f"{out} has finished its {cfg.epochs} epochs; to train longer: "
            f"pipnet106 train --resume {out} --set epochs=N")
    return run


def _run_config(cfg: Config | None, resume: str | Path | None, log) -> tuple[Config, dict | None, Path]:
    """(config, the saved state when resuming, run folder), with the data folder checked."""
    state = None
    if resume:
        cfg, state = resume_config(resume, cfg)
        out = Path(resume)
        log(f"resuming {out / 'last.pt'} at epoch {state['epoch']} step {state['step']}"
            + (f", to {cfg.epochs} epochs" if cfg.epochs != state["config"]["epochs"] else ""))
    else:
        if cfg is None:
            raise UserError("train: give a config, or a run folder to resume")
        out = Path(cfg.out)
        if (out / "last.pt").exists():
            raise UserError(f"{out}: run folder already has last.pt (use --resume {out} or another --out)")
    if not cfg.data:
        raise UserError("no dataset: pass --data PREPARED_DIR (output of `pipnet106 prepare`)")
    if not Path(cfg.data).is_dir():
        raise UserError(f"{cfg.data}: prepared dataset folder not found (run `pipnet106 prepare` first)")
    return cfg, state, out


def _mean_face(cfg: Config, state: dict | None, init_ck: dict | None, layout: Layout) -> tuple[np.ndarray, np.ndarray]:
    """Mean face and neighbour table: the saved run's, else the checkpoint's we fine-tune from (so its
    neighbour heads keep their meaning), else the prepared folder's."""
    if state is not None:
        return np.asarray(state["meanface"]), np.asarray(state["nb"])
    if init_ck is not None and init_ck["config"]["num_nb"] == cfg.num_nb and len(init_ck["meanface"]) == layout.num_points:
        meanface = np.asarray(init_ck["meanface"])
    elif cfg.part:   # a part model: the mean of the part crops, from the labels of the face data
        spec = part_spec(cfg.part)
        entries = read_list(list_path(cfg.data, cfg.train_list), 106)
        meanface = part_meanface(entries, spec, cfg.input_size, cfg.crop_enlarge or spec.enlarge)
    else:
        meanface = load_meanface(Path(cfg.data) / "meanface.txt", layout.num_points)
    return meanface, neighbors(meanface, cfg.num_nb)


def _data(cfg: Config, state: dict | None, out: Path, layout: Layout, nb: np.ndarray, origins: dict[str, str],
          log) -> tuple[Config, dict]:
    """The datasets and the crop rule the data was made with (the config takes its enlargement)."""
    manifest = read_manifest(cfg.data)
    note = None if cfg.part else check_input_size(manifest, cfg.data, cfg.input_size, origins.get("input_size", "the config"))
    if cfg.part and not cfg.crop_enlarge:
        cfg = dataclasses.replace(cfg, crop_enlarge=part_spec(cfg.part).enlarge)
    train_ds = make_dataset(cfg.data, cfg.train_list, cfg, layout, nb, train=True)
    test_ds = make_dataset(cfg.data, cfg.test_list, cfg, layout, nb, train=False)
    if cfg.part:   # a part crop's rule is the part's own, not the face data's
        crop = CropRule("part", cfg.crop_enlarge, f"{cfg.part} crops (crop_enlarge)")
    elif state is not None:
        crop = CropRule(**state["crop"]) if "crop" in state else CropRule("unknown", cfg.crop_enlarge,
                                                                           f"{out / 'config.yaml'}")
    else:
        crop = crop_rule(cfg.data, train_ds.entries, manifest, cfg.crop_enlarge,
                         origins.get("crop_enlarge", "the config"))
        cfg = dataclasses.replace(cfg, crop_enlarge=crop.enlarge)
        train_ds.cfg = test_ds.cfg = cfg
    if note:
        log(note)
    return cfg, {"train_ds": train_ds, "test_ds": test_ds, "crop": crop}


def _note_crop_change(init_ck: dict, init_path: Path, crop: CropRule, log) -> None:
    src_enlarge = float(init_ck["config"].get("crop_enlarge") or 0)
    if src_enlarge and not math.isclose(src_enlarge, crop.enlarge, rel_tol=1e-3):
        log(f"note: {init_path} was trained on crops at enlargement {src_enlarge:g}; this data's crops are "
            f"{crop.enlarge:g}, which the fine-tuned model will use")


def _loaders(cfg: Config, train_ds: LandmarkDataset, test_ds: LandmarkDataset, device: torch.device, ddp: bool,
             world: int) -> dict:
    """Sampler, loaders and steps per epoch."""
    if ddp:
        sampler = DistributedSampler(train_ds, num_replicas=world, rank=dist.get_rank(), shuffle=True,
                                     seed=cfg.seed, drop_last=True)
    else:
        sampler = EpochSampler(len(train_ds), cfg.seed)
    loader_kw = dict(num_workers=cfg.workers, persistent_workers=False, pin_memory=device.type == "cuda",
                     worker_init_fn=worker_ignores_stop_signals)
    train_dl = DataLoader(train_ds, batch_size=cfg.batch_size, sampler=sampler, drop_last=True, **loader_kw)
    test_dl = DataLoader(test_ds, batch_size=max(cfg.batch_size, 32), shuffle=False, **loader_kw)
    if len(train_dl) == 0:
        raise UserError(f"{cfg.data}: {len(train_ds)} training samples is fewer than batch_size {cfg.batch_size}")
    steps = len(train_dl) if not cfg.max_steps_per_epoch else min(len(train_dl), cfg.max_steps_per_epoch)
    return {"sampler": sampler, "train_dl": train_dl, "test_dl": test_dl, "steps_per_epoch": steps}


def _restore(run: Run, state: dict) -> None:
    """Weights, optimizer, schedule, counters and RNG of a resumed run."""
    run.model.load_state_dict(state["model"])
    run.optimizer.load_state_dict(state["optimizer"])
    load_scheduler(run.scheduler, state["scheduler"])
    run.scaler.load_state_dict(state["scaler"])
    run.epoch, run.step, run.best = state["epoch"], state["step"], state["best_nme"]
    run.start_nme = state.get("start_nme")
    run.running = float(state.get("running_loss", 0.0)) if run.step else 0.0
    torch.set_rng_state(state["rng"]["torch"])


def _open_run_folder(run: Run) -> None:
    run.out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(run.out / "config.yaml", _yaml(run.cfg))
    if run.cfg.tensorboard:
        try:
            from torch.utils.tensorboard import SummaryWriter
            run.writer = SummaryWriter(str(run.out / "tb"))
        except ImportError:
            warnings.warn("tensorboard is not installed; skipping TensorBoard logs")


def fine_part_weights(layout: Layout, weight: float) -> torch.Tensor | None:
    """(N,) loss weights of the points' own offsets: `weight` for the eyes, mouth and pupils, 1 elsewhere
    (None when `weight` is 1: the plain loss)."""
    if weight == 1.0:
        return None
    w = torch.ones(layout.num_points)
    for group in ("eyes", "mouth", "pupils"):
        if group in layout.groups:
            w[torch.as_tensor(layout.region_index(group))] = float(weight)
    return w


def inherit_terms(cfg: Config, init_ck: dict, init_path: Path, log: Callable[..., None]) -> Config:
    """`cfg` with the data terms of the model it starts from added to its own (never dropped)."""
    inherited = str(init_ck["config"].get("data_terms") or "")
    terms = combine_terms(inherited, cfg.data_terms)
    if inherited:
        log(f"data terms of {init_path} carry over to this model: {terms}")
    return dataclasses.replace(cfg, data_terms=terms)


def resume_config(run_dir: str | Path, requested: Config | None = None) -> tuple[Config, dict]:
    """The run folder's config and last.pt state; `requested` may change only `RESUME_MAY_CHANGE`.

    A changed key is refused with one line naming it: continuing a run with another learning rate,
    data or network gives a model that is neither run.
    """
    ck_path = Path(run_dir) / "last.pt"
    state = read_checkpoint(ck_path)
    stored = Config.from_dict(state["config"])
    if requested is None:
        return stored, state
    changed = [k for k in (f.name for f in dataclasses.fields(Config))
               if k not in RESUME_MAY_CHANGE and not _same_value(k, getattr(stored, k), getattr(requested, k))]
    if changed:
        what = ", ".join(f"{k} ({getattr(stored, k)!r} -> {getattr(requested, k)!r})" for k in changed)
        raise UserError(f"{run_dir}: a resumed run keeps its config; refusing to change {what} "
                        f"(only {', '.join(RESUME_MAY_CHANGE)} may change; start a new run with --init "
                        f"{Path(run_dir) / 'last.pt'} for the rest)")
    if requested.epochs < state["epoch"]:
        raise UserError(f"{run_dir}: epochs={requested.epochs} is fewer than the {state['epoch']} epochs "
                        "this run has already done")
    return dataclasses.replace(requested, data_terms=stored.data_terms), state  # incl. the inherited terms


def stored_config(run_dir: str | Path) -> Config:
    """The config saved in a run folder's last.pt (the base that `--resume` changes are applied to)."""
    return Config.from_dict(read_checkpoint(Path(run_dir) / "last.pt")["config"])


def _same_value(key: str, a: Any, b: Any) -> bool:
    if key == "data_terms":
        return combine_terms(a, b) == combine_terms(a)  # the run's terms already include what is asked
    if key in _PATH_KEYS and a and b and a != "starter" and b != "starter":
        return Path(a).resolve() == Path(b).resolve()
    if key == "crop_enlarge" and not b:
        return True  # 0 = "from the data": the run already resolved it
    return a == b


def start_processes(device_name: str) -> tuple[torch.device, bool, int]:
    """Device, and the process group when torchrun started us (it sets WORLD_SIZE/RANK/LOCAL_RANK)."""
    device = pick_device(device_name)
    ddp = int(os.environ.get("WORLD_SIZE", "1")) > 1
    if not ddp:
        return device, False, 1
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return device, True, dist.get_world_size()


def pick_device(name: str) -> torch.device:
    if name != "auto":
        require_device(name)   # a GPU that is not there: one line, not a traceback from inside torch
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


class EpochSampler(torch.utils.data.Sampler):
    """Shuffled order that depends only on (seed, epoch); can skip the first batches on resume."""

    def __init__(self, n: int, seed: int) -> None:
        self.n, self.seed, self.epoch, self.skip = n, seed, 0, 0

    def set_epoch(self, epoch: int, skip: int = 0) -> None:
        self.epoch, self.skip = epoch, skip

    def __iter__(self):
        order = np.random.default_rng([self.seed, self.epoch, 7]).permutation(self.n)
        return iter(order[self.skip:].tolist())

    def __len__(self) -> int:
        return max(self.n - self.skip, 0)


def _yaml(cfg: Config) -> str:
    import yaml

    return yaml.safe_dump(cfg.to_dict(), sort_keys=False)


def _append_csv(path: Path, row: dict) -> None:
    """Rewrite the whole CSV atomically (small file), replacing any row of the same epoch."""
    rows = []
    if path.exists():
        with open(path, newline="") as f:
            rows = [r for r in csv.DictReader(f) if int(r["epoch"]) < row["epoch"]]
    rows.append(row)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(row))
    w.writeheader()
    w.writerows(rows)
    atomic_write_text(path, buf.getvalue())




