"""Lightning's default checkpointing (torch.save .ckpt files) against CkptdbCheckpointIO, on the
GPT-2 of bench/hf_trainer_bench.py wrapped in a LightningModule.

    PYTHONPATH=build-rel/python .venv/bin/python bench/lightning_trainer_bench.py [--n-embd 768 --n-layer 12]
        [--checkpoints 20] [--limit 3] [--dir D]

ModelCheckpoint(every_n_train_steps=1, save_top_k=--limit, monitor="train_loss") after every
step; Lightning's own top-k rotation deletes files (default) or the plugin removes checkpoints
from the store. Modes: default (TorchCheckpointIO: torch.save, not fsynced), ckptdb and
ckptdb-async (CkptdbCheckpointIO(async_save=True)). The time per checkpoint is measured around
trainer.save_checkpoint (building the checkpoint dict and writing it, the same dict for each mode)
plus the removal of the checkpoint it rotated out; the disk after the run is du of the checkpoint
directory and of the store.
"""

import argparse
import os
import shutil
import statistics
import sys
import time

import lightning.pytorch as pl
import torch
from transformers import GPT2Config, GPT2LMHeadModel

from ckptdb.integrations.lightning import CkptdbCheckpointIO

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hf_trainer_bench import Batches, du, machine, report  # noqa: E402


MODES = ("default", "ckptdb", "ckptdb-async")


class GPT2Module(pl.LightningModule):
    def __init__(self, config):
        super().__init__()
        self.model = GPT2LMHeadModel(config)

    def training_step(self, batch, _):
        loss = self.model(input_ids=batch["input_ids"], labels=batch["labels"]).loss
        self.log("train_loss", loss)
        return loss

    def configure_optimizers(self):
        return torch.optim.AdamW(self.parameters(), lr=5e-5)


def run(mode, workdir, config, checkpoints, limit, seq):
    ckpt_dir = os.path.join(workdir, f"lightning-{mode}")
    store = os.path.join(workdir, f"lightning-store-{mode}")
    shutil.rmtree(ckpt_dir, ignore_errors=True)
    shutil.rmtree(store, ignore_errors=True)
    torch.manual_seed(0)
    module = GPT2Module(config)
    plugins = [CkptdbCheckpointIO(store, async_save=(mode == "ckptdb-async"))] if mode != "default" else []
    checkpoint = pl.callbacks.ModelCheckpoint(dirpath=ckpt_dir, every_n_train_steps=1, save_top_k=limit,
                                              monitor="train_loss", mode="min")
    trainer = pl.Trainer(max_steps=checkpoints, accelerator="cpu", logger=False, enable_progress_bar=False,
                         enable_model_summary=False, callbacks=[checkpoint], plugins=plugins)
    # Per step: the save and the removal of the checkpoint it rotated out (the plugin's removal
    # waits for the commit of an asynchronous save, so the two belong together).
    per_step = {}

    def charge(name, obj):
        original = getattr(obj, name)

        def wrapper(*a, **kw):
            t = time.perf_counter()
            try:
                return original(*a, **kw)
            finally:
                per_step[trainer.global_step] = per_step.get(trainer.global_step, 0.0) + time.perf_counter() - t
        setattr(obj, name, wrapper)
    charge("save_checkpoint", trainer)
    charge("remove_checkpoint", trainer.strategy)
    loader = torch.utils.data.DataLoader(Batches(checkpoints, seq, config.vocab_size), batch_size=1)
    start = time.perf_counter()
    trainer.fit(module, loader)  # the plugin's teardown, at the end of fit, waits for the last commit
    total = time.perf_counter() - start
    times = [per_step[k] for k in sorted(per_step)]
    disk = (du(ckpt_dir) if os.path.exists(ckpt_dir) else 0) + (du(store) if os.path.exists(store) else 0)
    return {"mode": f"lightning-{mode}", "saves": len(times), "first_s": times[0],
            "median_s": statistics.median(times[1:] or times), "train_s": total, "disk": disk}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n-embd", type=int, default=768)
    p.add_argument("--n-layer", type=int, default=12)
    p.add_argument("--checkpoints", type=int, default=20)
    p.add_argument("--limit", type=int, default=3)
    p.add_argument("--seq", type=int, default=32)
    p.add_argument("--dir", default="bench-lightning")
    a = p.parse_args()
    config = GPT2Config(n_embd=a.n_embd, n_layer=a.n_layer, n_head=max(1, a.n_embd // 64), n_positions=max(64, a.seq))
    os.makedirs(a.dir, exist_ok=True)
    print(f"machine: {machine()}; disk: {os.path.abspath(a.dir)}")
    report([run(m, a.dir, config, a.checkpoints, a.limit, a.seq) for m in MODES], None)


if __name__ == "__main__":
    main()
