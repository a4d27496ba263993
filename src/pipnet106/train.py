"""Training, top to bottom: config, data, model, optimizer, loop, validation, checkpoint.

Resume is a first-class path: `last.pt` (written atomically after every
epoch, and every `--save-every` steps inside one) holds model, optimizer,
scheduler, epoch, step and RNG state. Data order and augmentation are pure
functions of (seed, epoch, index), so a run killed at any point and resumed
ends with the same weights as an uninterrupted one (on the CPU).

Multi-GPU / multi-process: launch with ``torchrun --nproc_per_node K -m
pipnet106 train ...``; DistributedDataParallel is set up from the environment
(nccl on CUDA, gloo on the CPU).
"""
from __future__ import annotations

import csv
import io
import math
import os
import random
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, DistributedSampler
from tqdm import tqdm

from .checkpoint import check_init_layout, init_from, make_checkpoint, read_checkpoint
from .config import Config, load_config
from .data import LandmarkDataset
from .decode import Decoder
from .errors import UserError
from .evaluate import nme, predict_loader
from .fileio import atomic_torch_save, atomic_write_text
from .layout import get_layout
from .loss import pip_loss
from .meanface import load_meanface, neighbors, reverse_index
from .models import build_model, count_params

STARTER = Path(__file__).parent / "assets" / "starter.pt"


def pick_device(name: str) -> torch.device:
    if name != "auto":
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def resolve_init(init: str) -> Path:
    if init == "starter":
        if not STARTER.is_file():
            raise UserError(f"{STARTER}: the starter model is not installed with this package")
        return STARTER
    return Path(init)


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
        return self.n - self.skip


def train(cfg: Config, resume: str | None = None, save_every: int = 0, quiet: bool = False) -> dict:
    # ---- distributed setup (torchrun sets WORLD_SIZE/RANK/LOCAL_RANK) ----
    ddp = int(os.environ.get("WORLD_SIZE", "1")) > 1
    rank = int(os.environ.get("RANK", "0"))
    device = pick_device(cfg.device)
    if ddp:
        local = int(os.environ.get("LOCAL_RANK", "0"))
        if device.type == "cuda":
            device = torch.device("cuda", local)
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    world = dist.get_world_size() if ddp else 1
    master = rank == 0
    log = (lambda *a: print(*a, flush=True)) if (master and not quiet) else (lambda *a: None)

    # ---- resume: the run folder's config wins ----
    out = Path(resume or cfg.out)
    state = None
    if resume:
        ck_path = out / "last.pt"
        state = read_checkpoint(ck_path)
        cfg = Config.from_dict(state["config"])
        log(f"resuming {ck_path} at epoch {state['epoch']} step {state['step']}")
    elif (out / "last.pt").exists():
        raise UserError(f"{out}: run folder already has last.pt (use --resume {out} or another --out)")

    torch.manual_seed(cfg.seed)
    random.seed(cfg.seed)
    np.random.seed(cfg.seed)
    layout = get_layout(cfg.layout)
    if not cfg.data:
        raise UserError("no dataset: pass --data PREPARED_DIR (output of `pipnet106 prepare`)")
    if not Path(cfg.data).is_dir():
        raise UserError(f"{cfg.data}: prepared dataset folder not found (run `pipnet106 prepare` first)")

    # ---- mean face and neighbours (from the checkpoint we fine-tune from, so its heads stay meaningful) ----
    init_path = resolve_init(cfg.init) if (cfg.init and state is None) else None
    init_ck = read_checkpoint(init_path) if init_path else None
    if init_ck is not None:
        check_init_layout(init_ck, cfg, init_path)  # before its mean face is used
    if state is not None:
        meanface = np.asarray(state["meanface"])
    elif init_ck is not None and init_ck["config"]["num_nb"] == cfg.num_nb:
        meanface = np.asarray(init_ck["meanface"])
    else:
        meanface = load_meanface(Path(cfg.data) / "meanface.txt", layout.num_points)
    nb = np.asarray(state["nb"]) if state is not None else neighbors(meanface, cfg.num_nb)

    # ---- data ----
    train_ds = LandmarkDataset(cfg.data, cfg.train_list, cfg, layout, nb, train=True)
    test_ds = LandmarkDataset(cfg.data, cfg.test_list, cfg, layout, nb, train=False)
    if ddp:
        sampler = DistributedSampler(train_ds, num_replicas=world, rank=rank, shuffle=True, seed=cfg.seed,
                                     drop_last=True)
    else:
        sampler = EpochSampler(len(train_ds), cfg.seed)
    loader_kw = dict(num_workers=cfg.workers, persistent_workers=False, pin_memory=device.type == "cuda")
    train_dl = DataLoader(train_ds, batch_size=cfg.batch_size, sampler=sampler, drop_last=True, **loader_kw)
    test_dl = DataLoader(test_ds, batch_size=max(cfg.batch_size, 32), shuffle=False, **loader_kw)
    if len(train_dl) == 0:
        raise UserError(f"{cfg.data}: {len(train_ds)} training samples is fewer than batch_size {cfg.batch_size}")

    # ---- model, optimizer, schedule ----
    model = build_model(cfg).to(device)
    if init_ck is not None:
        log(init_from(model, init_ck, init_path, cfg, nb))
    decoder = Decoder(reverse_index(nb), cfg.num_nb).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, cfg.decay_epochs, cfg.decay_gamma)
    amp = cfg.amp and device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=amp)
    start_epoch, start_step, best = 0, 0, math.inf
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
        start_epoch, start_step, best = state["epoch"], state["step"], state["best_nme"]
        torch.set_rng_state(state["rng"]["torch"])
    if ddp:
        model = torch.nn.parallel.DistributedDataParallel(model)
    steps_per_epoch = len(train_dl) if not cfg.max_steps_per_epoch else min(len(train_dl), cfg.max_steps_per_epoch)
    if master:
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out / "config.yaml", _yaml(cfg))
    log(f"train: {len(train_ds)} images, test: {len(test_ds)}, {cfg.backbone} "
        f"({count_params(model) / 1e6:.2f} M params), input {cfg.input_size}, grid {cfg.input_size // cfg.net_stride}, "
        f"device {device}{f' x{world}' if ddp else ''}, {steps_per_epoch} steps/epoch")

    writer = None
    if cfg.tensorboard and master:
        try:
            from torch.utils.tensorboard import SummaryWriter
            writer = SummaryWriter(str(out / "tb"))
        except ImportError:
            warnings.warn("tensorboard is not installed; skipping TensorBoard logs")

    def save(epoch: int, step: int, name: str = "last.pt", **extra) -> None:
        if not master:
            return
        ck = make_checkpoint(model, cfg, meanface, nb, epoch=epoch, step=step, best_nme=best,
                             optimizer=optimizer.state_dict(), scheduler=scheduler.state_dict(),
                             scaler=scaler.state_dict(), rng={"torch": torch.get_rng_state()}, **extra)
        atomic_torch_save(out / name, ck)

    # ---- loop ----
    history = []
    for epoch in range(start_epoch, cfg.epochs):
        skip = start_step if epoch == start_epoch else 0
        if ddp:
            sampler.set_epoch(epoch)
        else:
            sampler.set_epoch(epoch, skip * cfg.batch_size)
        train_ds.set_epoch(epoch)
        model.train()
        t0, seen = time.time(), 0
        # loss sum of the steps already done in a resumed epoch, so the logged epoch loss is exact
        running = float(state.get("running_loss", 0.0)) if (skip and state is not None) else 0.0
        bar = tqdm(train_dl, total=steps_per_epoch - skip, desc=f"epoch {epoch + 1}/{cfg.epochs}",
                   unit="batch", disable=not master or quiet, leave=False)
        step = skip
        for x, tgt in bar:
            if step >= steps_per_epoch:
                break
            x = x.to(device, non_blocking=True)
            tgt = {k: v.to(device, non_blocking=True) for k, v in tgt.items()}
            with torch.autocast(device.type, dtype=torch.float16, enabled=amp):
                outputs = model(x)
            loss, parts = pip_loss([o.float() for o in outputs], tgt, cfg.cls_weight, cfg.reg_weight)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            step += 1
            seen += x.shape[0] * world
            running += loss.item()
            bar.set_postfix(loss=f"{loss.item():.4f}")
            if save_every and not ddp and step % save_every == 0 and step < steps_per_epoch:
                save(epoch, step, running_loss=running)
        bar.close()
        scheduler.step()
        secs = time.time() - t0
        # ---- validation (every process computes it; cheap and keeps ranks in step) ----
        pred, _, gt = predict_loader(model.module if ddp else model, decoder, test_dl, device, layout)
        val = float(nme(pred, gt, layout, cfg.norm).mean())
        is_best = val < best
        best = min(best, val)
        row = {"epoch": epoch + 1, "loss": running / max(step, 1), "val_nme": val, "best_nme": best,
               "lr": optimizer.param_groups[0]["lr"], "images_per_s": seen / max(secs, 1e-9), "seconds": secs}
        history.append(row)
        if master:
            # last.pt goes last: a kill before it re-runs this epoch, which rewrites the same CSV row
            _append_csv(out / "metrics.csv", row)
            if is_best:
                save(epoch + 1, 0, "best.pt", metrics=row)
            save(epoch + 1, 0)
            if writer:
                for k, v in row.items():
                    writer.add_scalar(k, v, epoch + 1)
        log(f"epoch {epoch + 1}/{cfg.epochs}  loss {row['loss']:.4f}  val NME {val * 100:.3f}%  "
            f"best {best * 100:.3f}%  {row['images_per_s']:.1f} img/s")
    if writer:
        writer.close()
    if ddp:
        dist.barrier()
        dist.destroy_process_group()
    return {"out": str(out), "best_nme": best, "history": history}


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


def register(sub) -> None:
    p = sub.add_parser("train", help="train a PIPNet model on a prepared dataset (resumable)",
                       description="Train PIPNet. Config from --config YAML, overridden by --set key=value.")
    p.add_argument("--config", default=None, help="YAML config (see configs/)")
    p.add_argument("--data", default=None, help="prepared folder (sets data=)")
    p.add_argument("--out", default=None, help="run folder for last.pt, best.pt, metrics.csv (sets out=)")
    p.add_argument("--init", default=None, help="fine-tune from a checkpoint: 'starter' or a path (sets init=)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config value")
    p.add_argument("--resume", default=None, metavar="RUN_DIR", help="continue a run from RUN_DIR/last.pt")
    p.add_argument("--save-every", type=int, default=200, help="also save last.pt every N steps inside an epoch")
    p.set_defaults(func=run)


def run(args) -> int:
    overrides = list(args.set)
    for key in ("data", "out", "init"):
        if getattr(args, key):
            overrides.append(f"{key}={getattr(args, key)}")
    cfg = load_config(args.config, overrides) if not args.resume else Config()
    res = train(cfg, resume=args.resume, save_every=args.save_every)
    if int(os.environ.get("RANK", "0")) == 0:
        print(f"best val NME {res['best_nme'] * 100:.3f}%  -> {res['out']}/best.pt", file=sys.stdout)
    return 0
