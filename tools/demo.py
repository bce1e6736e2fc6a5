"""The quick start's main job: a PyTorch run that is SIGKILLed mid-training, resumes from ckptdb in a
new process, and ends bit-identical to a run that was never interrupted.

    .venv/bin/python tools/demo.py --store DIR [--steps 200 --every 10 --cli build/ckptdb]

It trains a two-layer transformer (AdamW, dropout, a cosine schedule, a shuffled DataLoader over
synthetic data) with ckptdb.CheckpointManager, in child processes of itself:
  1. an uninterrupted run of --steps steps (its own store);
  2. a run into DIR that the parent SIGKILLs at a random step between 40% and 80% of the way,
     whatever it is doing then (possibly in the middle of a save);
  3. a new process that resumes from DIR's head and finishes.
Then it compares the two finished runs: parameters, optimizer state, the next draws of every
random generator and the whole loss sequence must be equal bit for bit. It prints `ckptdb log
--graph` and `ckptdb du` of DIR, and exits 1 if anything differs.

`--child` runs one training process (what the parent spawns; the tests spawn it too).
"""

import argparse
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile

import numpy as np
import torch

import ckptdb
from ckptdb.torch import RngState

VOCAB, SEQ, D_MODEL = 64, 16, 64


class TinyTransformer(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = torch.nn.Embedding(VOCAB, D_MODEL)
        self.pos = torch.nn.Parameter(torch.zeros(SEQ, D_MODEL))
        layer = torch.nn.TransformerEncoderLayer(D_MODEL, nhead=4, dim_feedforward=128, dropout=0.1,
                                                 batch_first=True)
        self.encoder = torch.nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False)
        self.out = torch.nn.Linear(D_MODEL, VOCAB)

    def forward(self, x):
        return self.out(self.encoder(self.embed(x) + self.pos))


def synthetic_data():
    """Sequences whose next token is a fixed function of the current one, so the loss falls."""
    g = torch.Generator().manual_seed(1234)
    x = torch.randint(0, VOCAB, (512, SEQ), generator=g)
    return torch.utils.data.TensorDataset(x, (x * 7 + 3) % VOCAB)


class Trainer:
    """Everything a run is: model, optimizer, schedule, data order and its place in the epoch."""

    def __init__(self, steps):
        torch.manual_seed(0)
        random.seed(0)
        np.random.seed(0)
        self.model = TinyTransformer()
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=3e-3, weight_decay=0.01)
        self.sched = torch.optim.lr_scheduler.CosineAnnealingLR(self.opt, T_max=steps)
        self.loader_gen = torch.Generator().manual_seed(42)
        self.loader = torch.utils.data.DataLoader(synthetic_data(), batch_size=32, shuffle=True,
                                                  generator=self.loader_gen)
        self.step, self.epoch, self.batch, self.losses = 0, 0, 0, []
        self.epoch_start = self.loader_gen.get_state()  # replaying it rebuilds this epoch's order
        self.batches = iter(self.loader)

    def state(self):
        return {"model": self.model, "optimizer": self.opt, "scheduler": self.sched, "rng": RngState(),
                "data": {"epoch": self.epoch, "batch": self.batch, "epoch_start": self.epoch_start},
                "step": self.step, "losses": self.losses}

    def resume(self, restored):
        self.step, self.losses = restored["step"], list(restored["losses"])
        data = restored["data"]
        self.epoch, self.batch, self.epoch_start = data["epoch"], data["batch"], data["epoch_start"]
        self.loader_gen.set_state(self.epoch_start)
        self.batches = iter(self.loader)
        for _ in range(self.batch):  # synthetic data: skipping is cheap (a StatefulDataLoader avoids it)
            next(self.batches)

    def train_step(self):
        try:
            x, y = next(self.batches)
        except StopIteration:
            self.epoch, self.batch = self.epoch + 1, 0
            self.epoch_start = self.loader_gen.get_state()
            self.batches = iter(self.loader)
            x, y = next(self.batches)
        self.model.train()
        loss = torch.nn.functional.cross_entropy(self.model(x).reshape(-1, VOCAB), y.reshape(-1))
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        self.sched.step()
        self.step, self.batch = self.step + 1, self.batch + 1
        self.losses.append(loss.item())
        return loss.item()

    def fingerprint(self):
        """What must match bit for bit: every tensor's bytes, every other value, the loss sequence
        and the next draws of each generator."""
        return {"model": _digest(self.model.state_dict()), "optimizer": _digest(self.opt.state_dict()),
                "scheduler": _digest(self.sched.state_dict()), "losses": [v.hex() for v in self.losses],
                "draws": [_digest(torch.rand(4)), random.random().hex(), float(np.random.rand()).hex(),
                          _digest(torch.randn(3, generator=self.loader_gen))]}


def _digest(value):
    h = hashlib.sha256()

    def walk(v):
        if isinstance(v, torch.Tensor):
            t = v.detach().contiguous()
            h.update(f"T{t.dtype}{tuple(t.shape)}".encode())
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
        elif isinstance(v, dict):
            for k, x in v.items():
                h.update(f"K{k!r}".encode())
                walk(x)
        elif isinstance(v, (list, tuple)):
            h.update(f"L{type(v).__name__}{len(v)}".encode())
            for x in v:
                walk(x)
        else:
            h.update(f"V{type(v).__name__}{v!r}".encode())

    walk(value)
    return h.hexdigest()


def run_child(args):
    """One training process: resumes from the store's head if it has one, trains to --steps."""
    torch.set_num_threads(1)  # the same kernels and reduction order in every process
    trainer = Trainer(args.steps)
    with ckptdb.CheckpointManager(args.store, save_interval_steps=args.every, max_to_keep=3,
                                  keep_every_steps=args.steps // 4 or None, keep_best=("loss", "min")) as mgr:
        if mgr.latest_step() is not None:
            trainer.resume(mgr.restore(state=trainer.state()))
            print(f"resumed at step {trainer.step}", flush=True)
        while trainer.step < args.steps:
            loss = trainer.train_step()
            if mgr.save(trainer.step, trainer.state(), metrics={"loss": loss}):
                print(f"saved step {trainer.step} loss {loss:.4f}", flush=True)
                if trainer.step == args.kill_after_save:
                    os.kill(os.getpid(), signal.SIGKILL)
            print(f"step {trainer.step}", flush=True)
        mgr.wait_until_finished()
    if args.result:
        with open(args.result, "w") as f:
            json.dump(trainer.fingerprint(), f)


def child_command(store, steps, every, result=None, kill_after_save=None):
    cmd = [sys.executable, os.path.abspath(__file__), "--child", "--store", str(store), "--steps", str(steps),
           "--every", str(every)]
    if result:
        cmd += ["--result", str(result)]
    if kill_after_save is not None:
        cmd += ["--kill-after-save", str(kill_after_save)]
    return cmd


def killed_run(store, steps, every, kill_at):
    """Runs a child into `store` and SIGKILLs it as soon as it reports step `kill_at`."""
    child = subprocess.Popen(child_command(store, steps, every), stdout=subprocess.PIPE, text=True)
    for line in child.stdout:
        if line.startswith("saved"):
            print("  " + line.rstrip())
        if line.strip() == f"step {kill_at}":
            child.send_signal(signal.SIGKILL)
            break
    child.wait()
    return child.returncode


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--store", help="the store of the interrupted run (default: a fresh temporary one)")
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--every", type=int, default=10, help="save every N steps")
    p.add_argument("--cli", default="build/ckptdb", help="the ckptdb command, for log --graph and du")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--result", help=argparse.SUPPRESS)
    p.add_argument("--kill-after-save", type=int, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.steps < 10 or args.every < 1:
        p.error("--steps must be at least 10 and --every at least 1")
    if args.child:
        return run_child(args)

    work = tempfile.mkdtemp(prefix="ckptdb-demo-")
    store = args.store or os.path.join(work, "store")
    if os.path.exists(store):
        p.error(f"--store {store} exists: give a new directory")
    try:
        print(f"1. uninterrupted run, {args.steps} steps")
        subprocess.run(child_command(os.path.join(work, "reference"), args.steps, args.every,
                                     os.path.join(work, "reference.json")), check=True, stdout=subprocess.DEVNULL)
        kill_at = random.SystemRandom().randint(args.steps * 2 // 5, args.steps * 4 // 5)
        print(f"2. the same run into {store}, SIGKILLed at step {kill_at}")
        code = killed_run(store, args.steps, args.every, kill_at)
        print(f"   killed (exit status {code})")
        print("3. a new process resumes from the store's head")
        resumed = subprocess.run(child_command(store, args.steps, args.every, os.path.join(work, "resumed.json")),
                                 check=True, stdout=subprocess.PIPE, text=True)
        print("".join("  " + line + "\n" for line in resumed.stdout.splitlines() if not line.startswith("step")),
              end="")
        with open(os.path.join(work, "reference.json")) as a, open(os.path.join(work, "resumed.json")) as b:
            ref, got = json.load(a), json.load(b)
        diffs = [k for k in ref if ref[k] != got[k]]
        print()
        subprocess.run([args.cli, "log", "--graph", store], check=True)
        print()
        subprocess.run([args.cli, "du", store], check=True)
        print()
        if diffs:
            print(f"FAILED: the resumed run differs from the uninterrupted one in: {', '.join(diffs)}")
            return 1
        print(f"OK: parameters, optimizer state, schedule, RNG draws and all {len(ref['losses'])} losses of the "
              "resumed run are bit-identical to the uninterrupted run's")
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)  # the reference run; --store DIR stays for browsing


if __name__ == "__main__":
    sys.exit(main())
