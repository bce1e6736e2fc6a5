"""ckptdb's asynchronous save (store.save(..., blocking=False)) against the stall it is meant to hide.

    PYTHONPATH=build-rel/python .venv/bin/python bench/async_bench.py [--gib 2.1] [--repeat 3] [--dir D]

The state is torch_bench's (bench/torch_bench.py): fp32 parameters of a decoder-only transformer plus
AdamW's two moments, at least --gib GiB of random tensors. One process, one disk (--dir), medians
of --repeat rounds, every contender inside each round:

  stall     how long save(blocking=False) keeps the caller: into a fresh store (its staging memory
            not yet taken, so the capture also faults it in), into a fresh store after
            reserve_staging(state) took that memory ahead, and in steady state (staging touched by
            the save before), against a plain copy of the same bytes into preallocated tensors that
            were written once before (dst.copy_(src) per tensor); and with 1% of the tensors changed
            and skip_unchanged=True, against the same full copy.
  durable   from the call until future.result() returns (hashed, written, synced, committed),
            against a synchronous store.save of the same state into an empty store.
  training  100 steps of fixed compute (a matmul calibrated to ~0.2 s on --compute-threads threads)
            on a 512 MiB state (--train-mib), every tensor changed in place before each checkpoint
            (as an optimizer's steps would have), a checkpoint every 10 steps: total time with no
            checkpoints, with synchronous saves, asynchronous saves and torch.save + fsync, each
            one's overhead over none, and the process CPU time of each (the persist's cores show
            there). Run once per mode (--train-repeat for more). A fifth mode writes the same
            bytes with O_DIRECT (16 MiB writes) from a background thread at each checkpoint and
            does nothing else: what a plain write of the state costs the loop on this disk. Each
            mode also reports the steal time /proc/stat counted while it ran: on a virtual machine
            the host's I/O work for the guest shows up there, not in the process's CPU time (on
            the development VM, 16 MiB O_DIRECT writes stole ~2x what 1 MiB writes did).
  RSS       the peak resident memory an asynchronous save adds (its staging copy included) against
            the state's size (/proc/self/clear_refs resets the peak; VmHWM reads it).

It prints the targets with PASS or FAIL and exits 0 either way (a benchmark measures).
"""

import argparse
import gc
import json
import os
import resource
import shutil
import statistics
import sys
import threading
import time

import torch

import ckptdb

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_bench import GiB, MiB, ODirectWriter, build_state, machine, nested, status_kib  # noqa: E402


def tensors_of(state):
    """Every tensor of a nested state, in a fixed order."""
    out = []

    def walk(v):
        if isinstance(v, torch.Tensor):
            out.append(v)
        elif isinstance(v, dict):
            for x in v.values():
                walk(x)
        elif isinstance(v, (list, tuple)):
            for x in v:
                walk(x)
    walk(state)
    return out


def cpu_seconds():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def reset_peak():
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5\n")  # resets VmHWM to the current RSS (root)


def steal_seconds():
    """The machine's steal time so far (all CPUs): what the hypervisor ran instead of this guest."""
    with open("/proc/stat") as f:
        fields = f.readline().split()
    return int(fields[8]) / os.sysconf("SC_CLK_TCK")


def bump(tensors, value=1e-3):
    """An in-place change of every tensor (an optimizer step's worth of writes)."""
    with torch.no_grad():
        for t in tensors:
            t.add_(value)


class Rounds:
    """Seconds per measurement name, over rounds."""

    def __init__(self):
        self.times = {}

    def add(self, name, seconds):
        self.times.setdefault(name, []).append(seconds)

    def med(self, name):
        return statistics.median(self.times[name])


def stall_rounds(args, state, tensors, nbytes, d, out):
    """The stall, durable-time and 1%-changed figures, --repeat rounds."""
    dst = [torch.empty_like(t) for t in tensors]
    for a, b in zip(dst, tensors):
        a.copy_(b)  # touched once: the copy below runs into resident memory
    # 1% of the bytes: matrices from the end of the list (the last blocks' weights and moments), as
    # a fine-tune of a few layers; counting vectors and scalars would change next to nothing.
    changed, changed_bytes = [], 0
    for t in reversed(tensors):
        size = t.numel() * t.element_size()
        if t.dim() == 2 and changed_bytes + size <= nbytes / 100:
            changed.append(t)
            changed_bytes += size
    peak_extra = 0
    for r in range(args.repeat):
        t0 = time.perf_counter()
        for a, b in zip(dst, tensors):
            a.copy_(b)
        out.add("copy into touched memory (dst.copy_(src))", time.perf_counter() - t0)
        gc.collect()
        t0 = time.perf_counter()
        fresh = [torch.empty_like(t) for t in tensors]
        for a, b in zip(fresh, tensors):
            a.copy_(b)
        out.add("copy into freshly allocated memory", time.perf_counter() - t0)
        del fresh
        gc.collect()

        path = d(f"async-{r}")
        reset_peak()
        before = status_kib("VmRSS")
        with ckptdb.open(path) as store:
            t0 = time.perf_counter()
            f = store.save(state, step=1, blocking=False)
            out.add("async first save: stall", time.perf_counter() - t0)
            f.result()
            out.add("async first save: until durable", time.perf_counter() - t0)
            peak_extra = max(peak_extra, (status_kib("VmHWM") - before) * 1024)
            bump(tensors)
            t0 = time.perf_counter()
            f = store.save(state, step=2, blocking=False)
            out.add("async steady save: stall", time.perf_counter() - t0)
            f.result()
            out.add("async steady save: until durable", time.perf_counter() - t0)
        shutil.rmtree(path)

        path = d(f"reserved-{r}")
        with ckptdb.open(path) as store:
            store.reserve_staging(state)  # at start-up, before the first checkpoint is due
            bump(tensors)
            t0 = time.perf_counter()
            f = store.save(state, step=1, blocking=False)
            out.add("async first save after reserve_staging: stall", time.perf_counter() - t0)
            f.result()
        shutil.rmtree(path)

        path = d(f"sync-{r}")
        bump(tensors)
        with ckptdb.open(path) as store:
            t0 = time.perf_counter()
            store.save(state, step=1)
            out.add("sync save into an empty store", time.perf_counter() - t0)
        shutil.rmtree(path)

        path = d(f"skip-{r}")
        with ckptdb.open(path) as store:
            store.save(state, step=1, skip_unchanged=True, blocking=False).result()
            bump(changed)
            t0 = time.perf_counter()
            f = store.save(state, step=2, skip_unchanged=True, blocking=False)
            out.add("async save, 1% changed, skip_unchanged: stall", time.perf_counter() - t0)
            info = f.result()
            out.add("async save, 1% changed, skip_unchanged: until durable", time.perf_counter() - t0)
            assert info.new_bytes <= changed_bytes + len(changed) * store.show()["chunk_size"], info
        shutil.rmtree(path)
    del dst
    return len(changed), changed_bytes, peak_extra


def matmul_seconds(n):
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    ts = []
    for _ in range(3):
        t0 = time.perf_counter()
        torch.mm(a, b)
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def calibrate(seconds=0.2):
    """A square fp32 matmul size that takes about `seconds` on this machine (torch's threads), and
    its median time."""
    n, took = 512, matmul_seconds(512)
    while took < seconds / 4 and n < 16384:
        n = int(n * 1.5)
        took = matmul_seconds(n)
    for _ in range(3):  # the time grows as n^3, roughly: refine
        n = max(64, int(n * (seconds / took) ** (1 / 3)))
        took = matmul_seconds(n)
        if abs(took - seconds) < 0.05 * seconds:
            break
    return n, took


BARE_WRITE = "O_DIRECT write in a thread"


def training(args, d, out):
    """Total and CPU seconds of the simulated training loop per checkpointing mode."""
    params, opt, _, nbytes = build_state(args.train_mib / 1024)
    state = nested(params, opt)
    tensors = tensors_of(state)
    torch.set_num_threads(args.compute_threads or os.cpu_count() or 1)
    size, step_s = calibrate()
    a, b = torch.randn(size, size), torch.randn(size, size)
    modes = ["none", "ckptdb sync save", "ckptdb async save", "torch.save + fsync", BARE_WRITE]
    cpu, stalled, final, steal = {}, {}, {}, {}
    disk = ODirectWriter(nbytes)

    def run(mode, rep):
        path = d(f"train-{mode.split()[0]}-{rep}")
        store = ckptdb.open(path, threads=args.store_threads) if mode.startswith("ckptdb") else None
        os.makedirs(path, exist_ok=True)
        pending = writer = None
        gc.collect()
        st0, c0, t0, in_save = steal_seconds(), cpu_seconds(), time.perf_counter(), 0.0
        for step in range(1, args.steps + 1):
            torch.mm(a, b)
            if step % 10 != 0:
                continue
            bump(tensors, 1e-6)  # what the steps since the last save changed: every tensor (in every mode)
            if mode != "none":
                s = nested(params, opt)
                s0 = time.perf_counter()
                if mode == "ckptdb sync save":
                    store.save(s, step)
                elif mode == "ckptdb async save":
                    pending = store.save(s, step, blocking=False)
                elif mode == BARE_WRITE:
                    if writer is not None:
                        writer.join()  # one write in flight, as one persist is
                    writer = threading.Thread(target=disk, args=(os.path.join(path, f"step-{step}.bin"),))
                    writer.start()
                else:
                    with open(os.path.join(path, f"step-{step}.pt"), "wb") as f:
                        torch.save(s, f)
                        f.flush()
                        os.fsync(f.fileno())
                in_save += time.perf_counter() - s0
        if pending is not None or writer is not None:
            s0 = time.perf_counter()
            pending.result() if pending is not None else writer.join()  # the last one durable before the clock stops
            in_save += time.perf_counter() - s0
            final.setdefault(mode, []).append(time.perf_counter() - s0)
        total = time.perf_counter() - t0
        stalled.setdefault(mode, []).append(in_save)
        cpu.setdefault(mode, []).append(cpu_seconds() - c0)
        steal.setdefault(mode, []).append(steal_seconds() - st0)
        if store is not None:
            store.close()
        shutil.rmtree(path)
        out.add(f"train: {mode}", total)

    # The CPU one save of this state costs with nothing else running (every tensor changed, as in
    # the loop): what a persist must take from the compute's cores, however it is scheduled.
    floor_path = d("train-floor")
    with ckptdb.open(floor_path, threads=args.store_threads) as store:
        store.save(state, 0)
        bump(tensors, 1e-6)
        c0 = cpu_seconds()
        store.save(nested(params, opt), 1)
        cpu["one save, alone"] = [cpu_seconds() - c0]
    shutil.rmtree(floor_path)
    for rep in range(args.train_repeat):
        for mode in modes:
            run(mode, rep)
    t0 = time.perf_counter()
    disk(d("odirect"))
    disk_gbs = disk.nbytes / (time.perf_counter() - t0) / 1e9
    os.remove(d("odirect"))
    med = lambda x: {m: statistics.median(v) for m, v in x.items()}  # noqa: E731
    return size, step_s, nbytes, med(cpu), med(stalled), med(final), med(steal), disk_gbs


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--gib", type=float, default=2.1, help="tensor bytes of the state, GiB")
    p.add_argument("--repeat", type=int, default=3, help="rounds of the stall figures; medians are reported")
    p.add_argument("--train-repeat", type=int, default=1, help="runs of each training-loop mode (medians)")
    p.add_argument("--steps", type=int, default=100, help="steps of the training-loop simulation (a save every 10)")
    p.add_argument("--train-mib", type=float, default=512, help="state size of the training-loop simulation, MiB")
    p.add_argument("--store-threads", type=int, default=0,
                   help="threads of the training loop's store (ckptdb.open(threads=); 0: every core)")
    p.add_argument("--compute-threads", type=int, default=0,
                   help="torch threads of the training loop's matmul (0: every core, as torch's default)")
    p.add_argument("--dir", default="build-rel/async-bench", help="scratch directory on the disk to measure")
    p.add_argument("--json", help="also write every figure to this file")
    args = p.parse_args()
    if args.repeat < 1 or args.train_repeat < 1 or args.gib <= 0 or args.steps < 10:
        p.error("--repeat and --train-repeat must be at least 1, --steps at least 10 and --gib positive")
    torch.set_num_threads(os.cpu_count() or 1)
    shutil.rmtree(args.dir, ignore_errors=True)
    os.makedirs(args.dir)
    d = lambda name: os.path.join(args.dir, name)  # noqa: E731
    print(machine(args.dir))

    params, opt, layers, nbytes = build_state(args.gib)
    state = nested(params, opt)
    tensors = tensors_of(state)
    print(f"state: {layers} transformer blocks, {len(tensors)} tensors, {nbytes / GiB:.2f} GiB fp32 with AdamW "
          f"moments; {args.repeat} rounds, medians")
    out = Rounds()
    n_changed, changed_bytes, peak_extra = stall_rounds(args, state, tensors, nbytes, d, out)
    del params, opt, state, tensors
    gc.collect()
    size, step_s, train_bytes, cpu, stalled, final, steal, disk_gbs = training(args, d, out)
    shutil.rmtree(args.dir, ignore_errors=True)

    print(f"\n1% changed: {n_changed} tensors, {changed_bytes / MiB:.1f} MiB ({100 * changed_bytes / nbytes:.2f}% "
          f"of the bytes); training: {train_bytes / MiB:.0f} MiB state, matmul {size}x{size} "
          f"({step_s:.3f} s) on {torch.get_num_threads()} thread(s), the store on {args.store_threads or 'all'} "
          f"thread(s), {args.train_repeat} run(s) per mode; the disk's "
          f"O_DIRECT write of the training state: {disk_gbs:.2f} GB/s ({train_bytes / 1e9 / disk_gbs:.2f} s, against "
          f"{10 * step_s:.2f} s of compute between saves)")
    print(f"\n{'measurement':<58} {'median s':>9} {'GB/s':>6} {'rounds':>24} {'CPU s':>7}")
    for name, ts in out.times.items():
        mode = name[len("train: "):] if name.startswith("train: ") else None
        moved = train_bytes if mode else (changed_bytes if "1% changed" in name else nbytes)
        rate = "" if mode else f"{moved / out.med(name) / 1e9:6.2f}"
        rounds = " ".join(f"{x:.3f}" for x in ts)
        c = f"{cpu[mode]:7.1f}" if mode else ""
        print(f"{name:<58} {out.med(name):9.3f} {rate:>6} {rounds:>24} {c:>7}")

    copy = out.med("copy into touched memory (dst.copy_(src))")
    base = out.med("train: none")
    over = {m: out.med(f"train: {m}") - base
            for m in ("ckptdb sync save", "ckptdb async save", "torch.save + fsync", BARE_WRITE)}
    print(f"\ntraining overhead over no checkpointing ({args.steps // 10} saves); 'in save calls': time the loop spent inside "
          "save (for async: capture and back-pressure, plus the final result()), the rest is compute slowed down:")
    for m, v in over.items():
        print(f"  {m:<26} +{v:7.2f} s ({100 * v / base:5.1f}%), in save calls {stalled[m]:6.2f} s, "
              f"CPU {cpu[m] - cpu['none']:+.1f} s, steal {steal[m] - steal['none']:+.1f} s")
    print(f"  the {BARE_WRITE!r} run writes the state's bytes and nothing else, in 16 MiB pieces: what a plain "
          f"background write of them costs this loop ({100 * over[BARE_WRITE] / base:.1f}% here; steal is the host's)")
    per_save = cpu["one save, alone"]
    cores = os.cpu_count() or 1
    floor = args.steps // 10 * per_save / cores
    print(f"  one save of this state alone costs {per_save:.2f} s of CPU: with the compute on all {cores} cores, "
          f"{args.steps // 10} persists take at least {floor:.2f} s from it ({100 * floor / base:.1f}% of the loop, "
          f"spread perfectly), which bounds the async overhead from below")
    last = final["ckptdb async save"]
    print(f"  (async: {last:.2f} s of it is the final wait for the last save to become durable; without that "
          f"wait +{over['ckptdb async save'] - last:.2f} s, {100 * (over['ckptdb async save'] - last) / base:.1f}%)")
    ratio = over["ckptdb async save"] / over["ckptdb sync save"] if over["ckptdb sync save"] > 0 else float("inf")
    print(f"  async overhead / sync overhead: {ratio:.2f}; async overhead / the bare write's: "
          f"{over['ckptdb async save'] / over[BARE_WRITE] if over[BARE_WRITE] > 0 else float('inf'):.2f}")
    print(f"durable: async first save {out.med('async first save: until durable'):.2f} s, steady "
          f"{out.med('async steady save: until durable'):.2f} s, sync save {out.med('sync save into an empty store'):.2f} s")
    print(f"peak RSS added by the first async save (staging included): {peak_extra / MiB:.0f} MiB for a "
          f"{nbytes / MiB:.0f} MiB state ({peak_extra / nbytes:.2f}x)")

    # (what, value, limit): PASS when value <= limit.
    checks = [
        ("steady-state stall <= 1.3x a copy into touched memory",
         out.med("async steady save: stall") / copy, 1.3),
        ("first-save stall <= 1.3x a copy into touched memory",
         out.med("async first save: stall") / copy, 1.3),
        ("first-save stall after reserve_staging <= 1.3x a copy into touched memory",
         out.med("async first save after reserve_staging: stall") / copy, 1.3),
        ("1%-changed skip_unchanged stall <= 5% of the full copy",
         out.med("async save, 1% changed, skip_unchanged: stall") / copy, 0.05),
        ("training with async saves <= 5% over no checkpointing",
         over["ckptdb async save"] / base, 0.05),
        ("async overhead <= 1/4 of sync overhead", ratio, 0.25),
        ("async first save durable <= 1.2x the sync save (info)",
         out.med("async first save: until durable") / out.med("sync save into an empty store"), 1.2),
        ("peak RSS added by an async save <= the state + 256 MiB",
         peak_extra / (nbytes + 256 * MiB), 1.0),
    ]
    print(f"\nfirst-save stall against a copy into freshly allocated memory (the same page faults): "
          f"{out.med('async first save: stall') / out.med('copy into freshly allocated memory'):.2f}x")
    print("\ntargets (ratio, limit):")
    for what, value, limit in checks:
        print(f"  {'PASS' if value <= limit else 'FAIL'}  {what}: {value:.3f} (<= {limit:g})")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"state_bytes": nbytes, "times": out.times, "cpu": cpu, "peak_rss_extra": peak_extra}, f,
                      indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
