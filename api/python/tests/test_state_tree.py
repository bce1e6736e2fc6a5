"""Whole training states: nesting and non-tensor leaves come back with their exact types, through a
typed state tree, never pickle."""

import math
import struct

import numpy as np
import pytest
import torch

import ckptdb


def test_nesting_and_exact_types_round_trip(store):
    nan_payload = struct.unpack("<d", struct.pack("<Q", 0x7FF8000000ABCDEF))[0]
    state = {
        "model": {"w": torch.randn(3, 3)},
        "counters": {"step": 12, "epoch": 0, "flag": True, "off": False, "none": None},
        "floats": [1.5, -0.0, math.inf, -math.inf, nan_payload, 5e-324],
        "pair": (1, "two", b"\x00\xff three"),
        "int_keys": {0: "zero", 7: [1, (2, 3)], -1: {}},
        "unicode": "módulo 権重 \n\t",
        "empty": [[], (), {}],
        "big": 2**63 - 1, "small": -(2**63),
    }
    store.save(state, step=1)
    back = store.restore()
    assert list(back) == list(state)
    assert torch.equal(back["model"]["w"], state["model"]["w"])
    c = back["counters"]
    assert c == state["counters"]
    assert type(c["flag"]) is bool and type(c["step"]) is int and c["none"] is None
    for got, want in zip(back["floats"], state["floats"]):
        assert struct.pack("<d", got) == struct.pack("<d", want), (got, want)
    assert back["pair"] == state["pair"] and type(back["pair"]) is tuple
    assert type(back["pair"][2]) is bytes
    assert back["int_keys"] == state["int_keys"] and list(back["int_keys"]) == [0, 7, -1]
    assert type(back["int_keys"][7][1]) is tuple
    assert back["unicode"] == state["unicode"]
    assert back["empty"] == [[], (), {}] and type(back["empty"][1]) is tuple
    assert back["big"] == 2**63 - 1 and back["small"] == -(2**63)


def test_tensor_leaves_are_named_by_their_path(store):
    state = {"model": {"fc.weight": torch.ones(2)}, "optim": {"state": {3: {"exp_avg": torch.zeros(2)}}},
             "list": [torch.ones(1), {"x": np.arange(3)}]}
    store.save(state, step=1)
    names = [t["name"] for t in store.show()["tensor_list"]]
    assert names == ["model.fc.weight", "optim.state.3.exp_avg", "list.0", "list.1.x"]
    back = store.restore()
    assert isinstance(back["list"][1]["x"], torch.Tensor)  # arrays come back as tensors
    assert torch.equal(back["list"][1]["x"], torch.arange(3))
    flat = store.restore(select=["optim.state.3.exp_avg"])
    assert list(flat) == ["optim.state.3.exp_avg"]


def _train(model, opt, sched, steps, seed):
    g = torch.Generator().manual_seed(seed)
    losses = []
    for _ in range(steps):
        x = torch.randn(16, 8, generator=g)
        loss = model(x).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
    return losses


@pytest.mark.parametrize("make_opt", [
    lambda p: torch.optim.AdamW(p, lr=1e-2, weight_decay=0.1),
    lambda p: torch.optim.SGD(p, lr=1e-2, momentum=0.9, nesterov=True),
], ids=["adamw", "sgd-momentum"])
def test_optimizer_and_scheduler_state_round_trip_exactly(store, make_opt):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 1))
    opt = make_opt(model.parameters())
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.5)
    _train(model, opt, sched, 5, seed=1)
    store.save({"model": model.state_dict(), "optim": opt.state_dict(), "sched": sched.state_dict()}, step=5)
    after_uninterrupted = _train(model, opt, sched, 5, seed=2)

    torch.manual_seed(123)  # a fresh process would start from other weights
    model2 = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 1))
    opt2 = make_opt(model2.parameters())
    sched2 = torch.optim.lr_scheduler.StepLR(opt2, step_size=3, gamma=0.5)
    state = store.restore()
    assert state["optim"]["param_groups"] == store.restore()["optim"]["param_groups"]
    model2.load_state_dict(state["model"])
    opt2.load_state_dict(state["optim"])
    sched2.load_state_dict(state["sched"])
    assert _train(model2, opt2, sched2, 5, seed=2) == after_uninterrupted
    for a, b in zip(model.parameters(), model2.parameters()):
        assert torch.equal(a, b)
