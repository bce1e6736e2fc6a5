"""The Hugging Face Trainer's own checkpointing against ckptdb's CkptdbCallback, on one disk.

    PYTHONPATH=build-rel/python .venv/bin/python bench/hf_trainer_bench.py [--n-embd 768 --n-layer 12]
        [--checkpoints 20] [--limit 3] [--dir D] [--lightning]

With --lightning the same run then compares Lightning's default checkpointing with
CkptdbCheckpointIO on the same GPT-2 (bench/lightning_trainer_bench.py).

A real GPT-2 (GPT2LMHeadModel from a config, random weights, nothing downloaded), every parameter
trained with AdamW, so the training state (weights plus two moments, fp32) is 12 bytes a parameter:
the default 124M-parameter shape is 1.4 GiB. Each mode trains `--checkpoints` steps on a synthetic
batch and saves after every step with save_total_limit=--limit:

  hf          the Trainer's checkpoint-N/ directories (safetensors model, torch.save optimizer,
              scheduler, RNG, trainer_state.json), rotated by deleting directories. Not fsynced:
              the Trainer leaves the bytes in the page cache.
  ckptdb      CkptdbCallback, synchronous: hashed, written, fsynced and committed before training
              continues, rotated by the store's retention in the save's commit.
  ckptdb-async CkptdbCallback(async_save=True): training waits only for the capture.

Per mode it reports the time the Trainer spends saving per checkpoint (median and first, measured
around the Trainer's _save_checkpoint and around the callback's save) and the disk used after the
last checkpoint (du of the output directory or of the store; the store's retention has run).
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time

import torch
from transformers import GPT2Config, GPT2LMHeadModel, Trainer, TrainingArguments

from ckptdb.integrations.transformers import CkptdbCallback

GiB = 1 << 30


class Batches(torch.utils.data.Dataset):
    def __init__(self, n, seq, vocab):
        self.ids = torch.randint(0, vocab, (n, seq), generator=torch.Generator().manual_seed(0))

    def __len__(self):
        return len(self.ids)

    def __getitem__(self, i):
        return {"input_ids": self.ids[i], "labels": self.ids[i]}


def du(path):
    return int(subprocess.run(["du", "-sb", str(path)], capture_output=True, text=True, check=True).stdout.split()[0])


def timed(obj, name, record):
    """Wraps obj.name so that each call's seconds go to record(seconds)."""
    original = getattr(obj, name)

    def wrapper(*a, **kw):
        t = time.perf_counter()
        try:
            return original(*a, **kw)
        finally:
            record(time.perf_counter() - t)
    setattr(obj, name, wrapper)


def fresh(*paths):
    """Empties the mode's directories and seeds torch, so every mode starts from the same weights."""
    for p in paths:
        shutil.rmtree(p, ignore_errors=True)
    torch.manual_seed(0)
    return paths


def run(mode, workdir, config, checkpoints, limit, seq):
    out, store = fresh(os.path.join(workdir, f"out-{mode}"), os.path.join(workdir, f"store-{mode}"))
    model = GPT2LMHeadModel(config)
    args = TrainingArguments(output_dir=out, max_steps=checkpoints, per_device_train_batch_size=1,
                             save_strategy="steps", save_steps=1, save_total_limit=limit, logging_steps=1,
                             use_cpu=True, report_to=[], disable_tqdm=True, seed=0)
    times, callbacks, cb = [], [], None
    if mode != "hf":
        cb = CkptdbCallback(store, async_save=(mode == "ckptdb-async"))
        callbacks.append(cb)
        timed(cb, "_save", times.append)
    trainer = Trainer(model=model, args=args, train_dataset=Batches(checkpoints, seq, config.vocab_size),
                      callbacks=callbacks)
    if mode == "hf":
        timed(trainer, "_save_checkpoint", times.append)
    start = time.perf_counter()
    trainer.train()
    if cb is not None:
        cb.close()
    total = time.perf_counter() - start
    disk = du(out) + (du(store) if cb is not None else 0)
    return {"mode": mode, "saves": len(times), "first_s": times[0], "median_s": statistics.median(times[1:] or times),
            "train_s": total, "disk": disk}


def machine():
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    return f"{os.cpu_count()} cores ({cpu}), torch {torch.__version__}"


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n-embd", type=int, default=768)
    p.add_argument("--n-layer", type=int, default=12)
    p.add_argument("--checkpoints", type=int, default=20)
    p.add_argument("--limit", type=int, default=3)
    p.add_argument("--seq", type=int, default=32)
    p.add_argument("--dir", default="bench-hf")
    p.add_argument("--modes", default="hf,ckptdb,ckptdb-async", help='the Trainer modes to run ("" for none)')
    p.add_argument("--lightning", action="store_true", help="also Lightning's default against CkptdbCheckpointIO")
    a = p.parse_args()
    config = GPT2Config(n_embd=a.n_embd, n_layer=a.n_layer, n_head=max(1, a.n_embd // 64), n_positions=max(64, a.seq))
    params = sum(t.numel() for t in GPT2LMHeadModel(config).parameters())
    os.makedirs(a.dir, exist_ok=True)
    print(f"machine: {machine()}; disk: {os.path.abspath(a.dir)}")
    print(f"GPT-2 n_embd={a.n_embd} n_layer={a.n_layer}: {params / 1e6:.1f}M parameters, training state "
          f"{params * 12 / GiB:.2f} GiB (fp32 weights + AdamW moments); {a.checkpoints} checkpoints, "
          f"save_total_limit={a.limit}")
    rows = [run(m, a.dir, config, a.checkpoints, a.limit, a.seq) for m in a.modes.split(",") if m]
    if rows:
        report(rows, rows[0])
    if a.lightning:
        from lightning_trainer_bench import MODES, run as run_lightning
        report([run_lightning(m, a.dir, config, a.checkpoints, a.limit, a.seq) for m in MODES], None)


def report(rows, base):
    """One line per mode; the ratios are against `base` (default: the first row), measured in the
    same run on the same disk."""
    base = base or rows[0]
    print(f"{'mode':<18} {'save/ckpt median':>17} {'first':>8} {'ratio':>7} {'train total':>12} {'disk after':>11} "
          f"{'ratio':>7}   (ratios vs {base['mode']})")
    for r in rows:
        print(f"{r['mode']:<18} {r['median_s']:>15.3f} s {r['first_s']:>6.2f} s {r['median_s'] / base['median_s']:>6.2f}x "
              f"{r['train_s']:>10.1f} s {r['disk'] / GiB:>7.2f} GiB {r['disk'] / base['disk']:>6.2f}x")


if __name__ == "__main__":
    main()
