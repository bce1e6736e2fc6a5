"""CUDA tensors through the GPU path (a build with CUDA, on a machine with a GPU): saved from device
memory, synchronously and asynchronously, restored into device memory, bit for bit. Skipped where
torch sees no GPU or the module was built without the GPU path; the last test runs everywhere."""

import pytest
import torch

import ckptdb
from ckptdb.torch import load_training_state, save_training_state

from test_tensors import TORCH_DTYPES, random_tensor, raw

gpu = pytest.mark.skipif(not (torch.cuda.is_available() and ckptdb.has_gpu_path),
                         reason="needs a CUDA device and a ckptdb built with the GPU path")


def on_gpu(state):
    return {k: v.cuda() for k, v in state.items()}


@gpu
@pytest.mark.parametrize("dtype", TORCH_DTYPES, ids=str)
def test_every_dtype_saves_from_and_restores_into_the_device(store, dtype):
    host = {"matrix": random_tensor(dtype, (300, 257), 1), "scalar": random_tensor(dtype, (), 2),
            "empty": random_tensor(dtype, (0, 4), 3)}
    store.save(on_gpu(host), step=1)
    for device in ("cuda:0", "cpu"):
        back = store.restore(device=device)
        assert list(back) == list(host)
        for name, t in host.items():
            assert back[name].device.type == torch.device(device).type, name
            assert back[name].dtype == dtype and back[name].shape == t.shape, name
            assert torch.equal(raw(back[name].cpu()), raw(t)), name


@gpu
def test_an_asynchronous_save_keeps_what_the_tensors_held_when_it_returned(tmp_path):
    with ckptdb.open(tmp_path / "s", chunk_size=64 << 10) as store:
        state = {"w": torch.randn(1024, 1024, device="cuda"), "b": torch.randn(4096, device="cuda"),
                 "host": torch.randn(100)}
        want = {k: v.clone().cpu() for k, v in state.items()}
        future = store.save(state, step=1, blocking=False)
        with torch.no_grad():
            for t in state.values():
                t.mul_(3).add_(1)  # on the current stream, right after the call returned
        future.result()
        back = store.restore(device="cuda:0")
        for k in want:
            assert torch.equal(raw(back[k].cpu()), raw(want[k])), k


@gpu
def test_restore_into_cuda_tensors_and_a_mixed_state(store):
    model = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 8)).cuda()
    store.save({"model": model.state_dict(), "cpu_side": torch.arange(10)}, step=1)
    other = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 8)).cuda()
    store.restore_into(other, rename=lambda n: n.removeprefix("model."), strict=False)
    for (n, a), b in zip(model.state_dict().items(), other.state_dict().values()):
        assert torch.equal(a, b), n
    back = store.restore()
    assert torch.equal(back["cpu_side"], torch.arange(10))


@gpu
def test_training_state_resumes_on_the_gpu(store):
    torch.manual_seed(0)
    model = torch.nn.Linear(32, 32).cuda()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    for _ in range(3):
        opt.zero_grad()
        model(torch.randn(8, 32, device="cuda")).square().mean().backward()
        opt.step()
    save_training_state(store, 3, model=model, optimizer=opt)
    model2 = torch.nn.Linear(32, 32).cuda()
    opt2 = torch.optim.AdamW(model2.parameters(), lr=1e-2)
    step, _ = load_training_state(store, model=model2, optimizer=opt2, map_location="cuda")
    assert step == 3
    for a, b in zip(model.parameters(), model2.parameters()):
        assert torch.equal(a, b)
    for a, b in zip(opt.state_dict()["state"].values(), opt2.state_dict()["state"].values()):
        assert all(torch.equal(a[k].cpu(), b[k].cpu()) for k in a)


def test_the_module_says_whether_it_has_the_gpu_path():
    assert isinstance(ckptdb.has_gpu_path, bool)
