"""Restoring a GPU-resident training state: ckptdb against torch.load(map_location="cuda") and
safetensors.torch.load_file(device="cuda"), on the GPU machine (issue 12, item 7, last line).

    PYTHONPATH=BUILD/python python3 bench/gpu_restore_bench.py --dir D [--gb 16]

The state is bench/gpu_save_main.cc's: per layer a bf16 weight and fp32 master weight, exp_avg and
exp_avg_sq of 4096 x 4096, random, on cuda:0, about --gb GB. Each saver writes it to D (then
fsync), drops the file's pages from the page cache where the kernel allows (posix_fadvise
DONTNEED; ckptdb writes its packs with O_DIRECT, so they are not cached), and the restore into GPU
memory is timed to the last byte on the device (torch.cuda.synchronize). The files are deleted
between contenders, so D needs only ~1.1x the state free. ckptdb's lines are printed only when
the module imports and was built with the GPU path (ckptdb.has_gpu_path). Exits 0 either way.
"""

import argparse
import os
import shutil
import time

import torch


def state(gb):
    n = 4096 * 4096
    layers = max(1, int(gb * 1e9 // (n * 14)))
    g = torch.Generator(device="cuda").manual_seed(1)
    out = {}
    for i in range(layers):
        out[f"layer{i}.weight"] = torch.randn(4096, 4096, device="cuda", generator=g).to(torch.bfloat16)
        for k in ("master", "exp_avg", "exp_avg_sq"):
            out[f"layer{i}.{k}"] = torch.randn(4096, 4096, device="cuda", generator=g)
    return out


def drop(path):
    """Drops the file's pages from the page cache (True if the kernel accepted it)."""
    try:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)
        return True
    except (OSError, AttributeError):
        return False


def timed(fn):
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    out = fn()
    torch.cuda.synchronize()
    return time.perf_counter() - t0, out


def same(a, b):
    return all(torch.equal(a[k].view(torch.uint8) if a[k].dtype == torch.bfloat16 else a[k],
                           b[k].view(torch.uint8) if b[k].dtype == torch.bfloat16 else b[k]) for k in a)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--gb", type=float, default=16.0)
    args = ap.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    s = state(args.gb)
    total = sum(t.numel() * t.element_size() for t in s.values())
    print(f"device: {torch.cuda.get_device_name(0)}; torch {torch.__version__}; state {len(s)} tensors, "
          f"{total / 1e9:.2f} GB on cuda:0")
    results = {}

    from safetensors.torch import load_file, save_file
    baselines = [
        ("torch.load(map_location='cuda')", "state.pt", "torch.save", lambda p: torch.save(s, p),
         lambda p: torch.load(p, map_location="cuda", weights_only=True)),
        ("safetensors load_file(device='cuda')", "state.safetensors", "safetensors save_file",
         lambda p: save_file(s, p), lambda p: load_file(p, device="cuda")),
    ]
    for name, file, saver, save, load in baselines:
        path = os.path.join(args.dir, file)
        t_save, _ = timed(lambda: save(path))
        dropped = drop(path)
        t, back = timed(lambda: load(path))
        assert same(s, back)
        del back
        results[name] = t
        print(f"{saver} {t_save:.2f} s; page cache dropped: {dropped}")
        os.remove(path)

    try:
        import ckptdb
        have = ckptdb.has_gpu_path
    except ImportError as e:
        have, why = False, str(e)
    else:
        why = "built without the GPU path"
    if have:
        store_dir = os.path.join(args.dir, "ckptdb-store")
        with ckptdb.open(store_dir) as store:
            t_stall, fut = timed(lambda: store.save(s, step=1, blocking=False))
            t_durable, _ = timed(fut.result)
            t, back = timed(lambda: store.restore(device="cuda:0"))
            assert same(s, back)
            del back
            results["ckptdb restore(device='cuda:0')"] = t
            print(f"ckptdb save(blocking=False): stall {t_stall:.3f} s, durable after {t_stall + t_durable:.2f} s")
        shutil.rmtree(store_dir)
    else:
        print(f"ckptdb: not measured ({why})")
    base = results["torch.load(map_location='cuda')"]
    for name, t in results.items():
        print(f"{name:40s} {t:7.2f} s  {total / t / 1e9:6.1f} GB/s  {t / base:5.2f}x torch.load")


if __name__ == "__main__":
    main()
