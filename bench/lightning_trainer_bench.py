"""Lightning's default checkpointing (torch.save .ckpt files) against CkptdbCheckpointIO, on the
GPT-2 of bench/hf_trainer_bench.py wrapped in a LightningModule.

    PYTHONPATH=build-rel/python .venv/bin/python bench/hf_trainer_bench.py --lightning [--modes ""] ...

(run by hf_trainer_bench.py, with its flags, in the same run as the Trainer's modes).

ModelCheckpoint(every_n_train_steps=1, save_top_k=--limit, monitor="train_loss") after every
step; Lightning's own top-k rotation deletes files (default) or the plugin removes checkpoints
from the store. Modes: default (TorchCheckpointIO: torch.save, not fsynced), ckptdb and
ckptdb-async (CkptdbCheckpointIO(async_save=True)). The time per checkpoint is measured around
trainer.save_checkpoint (building the checkpoint dict and writing it, the same dict for each mode)
plus the removal of the checkpoint it rotated out; the disk after the run is du of the checkpoint
directory and of the store.
"""

import os
import statistics
import sys
import time

import lightning.pytorch as pl
import torch
from transformers import GPT2LMHeadModel

from ckptdb.integrations.lightning import CkptdbCheckpointIO

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hf_trainer_bench import Batches, du, fresh, timed  # noqa: E402


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
    ckpt_dir, store = fresh(os.path.join(workdir, f"lightning-{mode}"), os.path.join(workdir, f"lightning-store-{mode}"))
    module = GPT2Module(config)
    plugins = [CkptdbCheckpointIO(store, async_save=(mode == "ckptdb-async"))] if mode != "default" else []
    checkpoint = pl.callbacks.ModelCheckpoint(dirpath=ckpt_dir, every_n_train_steps=1, save_top_k=limit,
                                              monitor="train_loss", mode="min")
    trainer = pl.Trainer(max_steps=checkpoints, accelerator="cpu", logger=False, enable_progress_bar=False,
                         enable_model_summary=False, callbacks=[checkpoint], plugins=plugins)
    # Per step: the save and the removal of the checkpoint it rotated out (the plugin's removal
    # waits for the commit of an asynchronous save, so the two belong together).
    per_step = {}

    def charge(seconds):
        per_step[trainer.global_step] = per_step.get(trainer.global_step, 0.0) + seconds
    timed(trainer, "save_checkpoint", charge)
    timed(trainer.strategy, "remove_checkpoint", charge)
    loader = torch.utils.data.DataLoader(Batches(checkpoints, seq, config.vocab_size), batch_size=1)
    start = time.perf_counter()
    trainer.fit(module, loader)  # the plugin's teardown, at the end of fit, waits for the last commit
    total = time.perf_counter() - start
    times = [per_step[k] for k in sorted(per_step)]
    disk = (du(ckpt_dir) if os.path.exists(ckpt_dir) else 0) + (du(store) if os.path.exists(store) else 0)
    return {"mode": f"lightning-{mode}", "saves": len(times), "first_s": times[0],
            "median_s": statistics.median(times[1:] or times), "train_s": total, "disk": disk}

