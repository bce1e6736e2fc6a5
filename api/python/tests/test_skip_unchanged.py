"""save(skip_unchanged=True): unchanged tensors reuse their chunks unread; in-place changes never
are skipped; the documented caveat (writes that bypass torch's version counter) is real."""

import numpy as np
import torch


def state():
    torch.manual_seed(0)
    return {"frozen": torch.randn(256, 64), "head": torch.randn(64), "arr": np.arange(10, dtype=np.int32)}


def test_unchanged_tensors_add_nothing_and_restore_exactly(store):
    s = state()
    first = store.save(s, step=1, skip_unchanged=True)
    assert first.new_bytes > 0
    with torch.no_grad():
        s["head"].add_(1.0)
    second = store.save(s, step=2, skip_unchanged=True)
    restored = store.restore()
    assert torch.equal(restored["frozen"], s["frozen"]) and torch.equal(restored["head"], s["head"])
    assert np.array_equal(restored["arr"].numpy(), s["arr"])
    assert second.new_bytes == 64 * 4  # only the changed tensor's chunk is new


def test_an_in_place_change_is_never_skipped(store):
    s = state()
    store.save(s, step=1, skip_unchanged=True)
    for k, change in enumerate([lambda t: t.mul_(2), lambda t: t[3].fill_(7.0), lambda t: t.copy_(torch.ones_like(t)),
                                lambda t: t.view(-1)[5:9].zero_()]):
        with torch.no_grad():
            change(s["frozen"])
        store.save(s, step=2 + k, skip_unchanged=True)
        assert torch.equal(store.restore()["frozen"], s["frozen"]), k


def test_an_optimizer_step_is_seen(store):
    model = torch.nn.Linear(8, 8)
    opt = torch.optim.AdamW(model.parameters(), lr=0.1)
    store.save({"model": model.state_dict(), "opt": opt.state_dict()}, step=0, skip_unchanged=True)
    model(torch.randn(2, 8)).sum().backward()
    opt.step()
    store.save({"model": model.state_dict(), "opt": opt.state_dict()}, step=1, skip_unchanged=True)
    got = store.restore()
    assert torch.equal(got["model"]["weight"], model.weight.detach())
    assert torch.equal(got["opt"]["state"][0]["exp_avg"], opt.state_dict()["state"][0]["exp_avg"])


def test_inference_tensors_and_views_of_one_storage_are_always_read_or_told_apart(store):
    with torch.inference_mode():
        frozen = torch.ones(64)  # no version counter: never skipped
    base = torch.zeros(2, 32)
    s = {"inf": frozen, "row0": base[0], "row1": base[1]}  # one storage, two offsets
    store.save(s, step=1, skip_unchanged=True)
    with torch.inference_mode():
        frozen.mul_(3)
    with torch.no_grad():
        base[1].fill_(5.0)
    info = store.save(s, step=2, skip_unchanged=True)
    back = store.restore()
    assert torch.equal(back["inf"], torch.full((64,), 3.0))
    assert torch.equal(back["row0"], torch.zeros(32)) and torch.equal(back["row1"], torch.full((32,), 5.0))
    assert info.new_bytes == 64 * 4 + 32 * 4  # the inference tensor and the changed row; row0 dedups


def test_another_view_of_the_same_memory_is_read(store):
    square = torch.arange(16, dtype=torch.float32).reshape(4, 4)
    store.save({"w": square}, step=1, skip_unchanged=True)
    store.save({"w": square.t()}, step=2, skip_unchanged=True)  # same address, shape and version; strides differ
    assert torch.equal(store.restore()["w"], square.t())
    store.save({"w": square.view(16)}, step=3, skip_unchanged=True)  # same address and version; shape differs
    assert torch.equal(store.restore()["w"], torch.arange(16, dtype=torch.float32))
    store.save({"w": square.view(torch.int32)}, step=4, skip_unchanged=True)  # only the dtype differs
    back = store.restore()["w"]
    assert back.dtype == torch.int32 and torch.equal(back, square.view(torch.int32))


def test_a_new_tensor_under_the_same_name_is_read(store):
    s = state()
    store.save(s, step=1, skip_unchanged=True)
    s["frozen"] = torch.zeros(256, 64)  # another storage, version 0
    store.save(s, step=2, skip_unchanged=True)
    assert torch.equal(store.restore()["frozen"], torch.zeros(256, 64))


def test_the_documented_caveat_writes_through_data_or_numpy_are_not_seen(store):
    s = state()
    store.save(s, step=1, skip_unchanged=True)
    before = s["frozen"].clone()
    s["frozen"].data[0, 0] = 123.0       # .data bypasses the version counter
    s["frozen"].numpy()[1, 1] = 456.0    # so does a numpy view of the memory
    store.save(s, step=2, skip_unchanged=True)
    assert torch.equal(store.restore()["frozen"], before)  # the old bytes: exactly what the docs warn of
    store.save(s, step=3)  # without the hint every tensor is read
    assert store.restore()["frozen"][0, 0].item() == 123.0


def test_chunks_collected_since_are_read_again(store):
    s = state()
    first = store.save(s, step=1, skip_unchanged=True)
    store.save({"other": torch.ones(3)}, step=2)
    store.rm(id=first.id)
    store.gc()  # reclaims the chunks the remembered lists name
    store.save(s, step=3, skip_unchanged=True)
    assert torch.equal(store.restore()["frozen"], s["frozen"])
    assert store.verify()["damage"] == []


def test_without_the_flag_nothing_is_remembered(store):
    s = state()
    store.save(s, step=1)
    s["frozen"].data[0, 0] = 5.0
    store.save(s, step=2, skip_unchanged=True)  # nothing remembered yet: everything is read
    assert store.restore()["frozen"][0, 0].item() == 5.0
