"""Lightning checkpointing: ModelCheckpoint's default torch.save .ckpt files vs CkptdbCheckpointIO.

    PYTHONPATH=build/python .venv/bin/python bench/lightning_bench.py --mib 1024 --steps 40 --every 5 \\
        --top-k 2 --dir build/lightning-bench

Trains the same MLP (a stack of `layers` hidden x hidden Linear layers, Adam, so weights plus the two
moments are ~3x the parameters; --mib sizes that state) twice: once with Lightning's default
TorchCheckpointIO, once with CkptdbCheckpointIO, each with ModelCheckpoint(every_n_train_steps=every,
save_top_k, monitor="train_loss"). It reports the time of every save as the Trainer sees it (the
checkpoint_io.save_checkpoint call inside strategy.save_checkpoint, which is where training stalls),
the total time of the removals ModelCheckpoint's rotation makes (remove_checkpoint; with async_save
a removal first waits for the save before it to commit), the whole fit's wall time
and the disk used afterwards (du of the .ckpt directory vs the store's directory, after one gc).
"""

import argparse
import math
import os
import shutil
import statistics
import subprocess
import time

import torch
import lightning as L

import ckptdb
from lightning.pytorch.callbacks import ModelCheckpoint
from torch.utils.data import DataLoader, TensorDataset

from ckptdb.integrations.lightning import CkptdbCheckpointIO
from lightning.pytorch.plugins.io import TorchCheckpointIO


class Mlp(L.LightningModule):
    def __init__(self, hidden, layers):
        super().__init__()
        self.net = torch.nn.Sequential(*[torch.nn.Linear(hidden, hidden) for _ in range(layers)])

    def training_step(self, batch, batch_idx):
        (x,) = batch
        loss = self.net(x).pow(2).mean()
        self.log("train_loss", loss)
        return loss

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=1e-4)


def _timed(io, times, rm_times):
    """Wraps io.save_checkpoint and io.remove_checkpoint so each call's wall time is appended to
    `times` and `rm_times` (an asynchronous save's wait for its commit may land in the removal)."""
    save, remove = io.save_checkpoint, io.remove_checkpoint

    def save_checkpoint(checkpoint, path, storage_options=None):
        t0 = time.perf_counter()
        save(checkpoint, path, storage_options=storage_options)
        times.append(time.perf_counter() - t0)

    def remove_checkpoint(path):
        t0 = time.perf_counter()
        remove(path)
        rm_times.append(time.perf_counter() - t0)

    io.save_checkpoint, io.remove_checkpoint = save_checkpoint, remove_checkpoint
    return io


def _du(path):
    """Bytes the directory takes on disk (du -sb counts apparent sizes; -s --block-size=1 blocks)."""
    out = subprocess.run(["du", "-s", "--block-size=1", str(path)], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[0])


def _train(io, names, root, hidden, layers, steps, every, save_top_k):
    torch.manual_seed(0)
    data = DataLoader(TensorDataset(torch.randn(max(steps, 1) * 4, hidden)), batch_size=4)
    mc = ModelCheckpoint(dirpath=names, every_n_train_steps=every, save_top_k=save_top_k, monitor="train_loss")
    t = L.Trainer(max_steps=steps, accelerator="cpu", devices=1, logger=False, enable_progress_bar=False,
                  enable_model_summary=False, default_root_dir=root, callbacks=[mc], plugins=[io],
                  num_sanity_val_steps=0, limit_val_batches=0)
    t0 = time.perf_counter()
    t.fit(Mlp(hidden, layers), data)
    return time.perf_counter() - t0, mc


def run(workdir, hidden, layers, steps, every, save_top_k, async_save=True):
    """Both runs in `workdir` (emptied first); returns {"torch": {...}, "ckptdb": {...}} with save
    times (s), disk bytes and the checkpoints kept, and prints a table. async_save adds a third run,
    "ckptdb-async": CkptdbCheckpointIO(async_save=True), whose save time is the capture alone unless a
    removal right after it waits for its commit."""
    shutil.rmtree(workdir, ignore_errors=True)
    os.makedirs(workdir)
    params = layers * (hidden * hidden + hidden)
    results = {}
    for name in ("torch", "ckptdb") + (("ckptdb-async",) if async_save else ()):
        times, rm_times = [], []
        names, root = os.path.join(workdir, name, "names"), os.path.join(workdir, name, "root")
        store_dir = os.path.join(workdir, name, "store")
        io = _timed(TorchCheckpointIO() if name == "torch" else
                    CkptdbCheckpointIO(store_dir, async_save=name == "ckptdb-async"), times, rm_times)
        wall, mc = _train(io, names, root, hidden, layers, steps, every, save_top_k)
        if name == "torch":
            disk, kept = _du(names), len([f for f in os.listdir(names) if f.endswith(".ckpt")])
        else:
            with ckptdb.open(store_dir) as s:  # the plugin's teardown closed it
                s.gc()  # what a background collection reaches, made explicit so the figure is stable
                kept = len(s.log())
            disk = _du(store_dir)
            assert not os.path.exists(names) or not any(f.endswith(".ckpt") for f in os.listdir(names))
        results[name] = {"save_s": times, "remove_s": rm_times, "disk_bytes": disk, "kept": kept, "fit_s": wall,
                         "lightning_kept": len(mc.best_k_models)}
    state_mib = params * 4 * 3 / 2**20
    print(f"MLP {layers} x {hidden}^2: {params / 1e6:.1f} M params, weights + Adam ~{state_mib:.0f} MiB; "
          f"{steps} steps, a save every {every}, save_top_k={save_top_k}")
    print(f"{'checkpoint_io':<14}{'saves':>6}{'first s':>9}{'median s':>10}{'max s':>8}{'total s':>9}"
          f"{'rm s':>7}{'fit s':>8}{'kept':>6}{'disk MiB':>10}")
    for name, r in results.items():
        t = r["save_s"] or [math.nan]
        print(f"{name:<14}{len(r['save_s']):>6}{t[0]:>9.3f}{statistics.median(t):>10.3f}{max(t):>8.3f}"
              f"{sum(t):>9.2f}{sum(r['remove_s']):>7.2f}{r['fit_s']:>8.1f}{r['kept']:>6}{r['disk_bytes'] / 2**20:>10.1f}")
    return results


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mib", type=float, default=1024, help="weights + Adam state size in MiB (default 1024)")
    ap.add_argument("--layers", type=int, default=8, help="Linear layers (hidden is derived from --mib)")
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--every", type=int, default=5, help="every_n_train_steps")
    ap.add_argument("--top-k", type=int, default=2, help="ModelCheckpoint save_top_k")
    ap.add_argument("--dir", default="build/lightning-bench")
    ap.add_argument("--no-async", action="store_true", help="skip the async_save=True run")
    a = ap.parse_args()
    hidden = max(8, int(math.sqrt(a.mib * 2**20 / (12 * a.layers))))  # 3 fp32 copies of layers*hidden^2
    run(a.dir, hidden, a.layers, a.steps, a.every, a.top_k, async_save=not a.no_async)


if __name__ == "__main__":
    main()
