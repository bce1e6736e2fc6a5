"""Store.import_safetensors and Store.export_safetensors against the reference library itself
(PyPI safetensors): what it writes imports exactly, and what we export it loads bit-exactly."""

import json
import os
import re
import threading

import pytest
import safetensors
import safetensors.torch
import torch

import ckptdb

# Every dtype both ckptdb and safetensors' torch binding know.
DTYPES = [torch.float64, torch.float32, torch.float16, torch.bfloat16, torch.float8_e4m3fn, torch.float8_e5m2,
          torch.int64, torch.int32, torch.int16, torch.int8, torch.uint64, torch.uint32, torch.uint16, torch.uint8,
          torch.bool]


def random_tensor(dtype, shape, seed):
    """Random bytes reinterpreted as `dtype` (so floats include NaNs and infinities), 0/1 for bool."""
    g = torch.Generator().manual_seed(seed)
    n = 1
    for d in shape:
        n *= d
    if dtype == torch.bool:
        return torch.randint(0, 2, tuple(shape), generator=g).bool()
    size = torch.empty((), dtype=dtype).element_size()
    raw = torch.randint(0, 256, (n * size,), dtype=torch.uint8, generator=g)
    return raw.view(dtype).reshape(tuple(shape)).clone()


def every_kind():
    """A tensor of every dtype, plus 0-d and empty ones of each, and NaNs spelled out."""
    state = {}
    for i, dt in enumerate(DTYPES):
        name = str(dt).removeprefix("torch.")
        state[f"{name}.matrix"] = random_tensor(dt, (3, 5), i)
        state[f"{name}.scalar"] = random_tensor(dt, (), 100 + i)
        state[f"{name}.empty"] = torch.empty((0, 4), dtype=dt)
    state["nan"] = torch.tensor([float("nan"), -float("nan"), float("inf"), -0.0], dtype=torch.float32)
    return state


def same_bits(a, b):
    """Equal dtype, shape and bytes (NaN payloads included, where torch.equal says NaN != NaN)."""
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    return torch.equal(a.reshape(-1).contiguous().view(torch.uint8), b.reshape(-1).contiguous().view(torch.uint8))


def layout(file_bytes):
    """(header length, header entries in order with __metadata__ as a dict, data section)."""
    n = int.from_bytes(file_bytes[:8], "little")
    entries = json.loads(file_bytes[8:8 + n], object_pairs_hook=list)
    entries = [(k, dict(v) if k == "__metadata__" else v) for k, v in entries]
    return n, entries, file_bytes[8 + n:]


def test_files_the_reference_writes_import_exactly(store, tmp_path):
    state = every_kind()
    metadata = {"format": "pt", "note": "caf\u00e9 \"quoted\"\nline"}
    path = tmp_path / "ref.safetensors"
    safetensors.torch.save_file(state, str(path), metadata=metadata)
    info = store.import_safetensors(path, step=12, metrics={"loss": 0.5}, tags=["ref"])
    assert (info.step, info.tensors, info.tags, info.metrics) == (12, len(state), ("ref",), {"loss": 0.5})
    back = store.restore(id=info.id)
    assert sorted(back) == sorted(state)
    for name, t in state.items():
        assert same_bits(back[name], t), name
    assert store.show(id=info.id)["metadata"] == metadata
    # Exported again it is the reference's file: the same header length, tensor entries in the same
    # order, the same data bytes. (Only the order of metadata keys may differ: the reference keeps
    # them in a hash map.)
    store.export_safetensors(tmp_path / "again.safetensors", id=info.id)
    assert layout((tmp_path / "again.safetensors").read_bytes()) == layout(path.read_bytes())


def test_several_files_and_path_kinds_make_one_checkpoint(store, tmp_path):
    a, b = {"a": random_tensor(torch.float32, (4,), 1)}, {"b": random_tensor(torch.int8, (2, 2), 2)}
    safetensors.torch.save_file(a, str(tmp_path / "a.safetensors"), metadata={"part": "1", "run": "r"})
    safetensors.torch.save_file(b, str(tmp_path / "b.safetensors"), metadata={"run": "r"})
    info = store.import_safetensors([tmp_path / "a.safetensors", str(tmp_path / "b.safetensors")], 3,
                                    metadata={"extra": "x"})
    back = store.restore()
    assert info.tensors == 2 and same_bits(back["a"], a["a"]) and same_bits(back["b"], b["b"])
    assert store.show()["metadata"] == {"part": "1", "run": "r", "extra": "x"}
    with pytest.raises(ckptdb.InvalidArgumentError, match="metadata key 'run'"):
        store.import_safetensors(tmp_path / "a.safetensors", 4, metadata={"run": "other"})
    assert len(store.log()) == 1


def test_every_export_loads_with_the_reference_bit_exactly(store, tmp_path):
    state = every_kind()
    store.save(state, step=7, metadata={"format": "pt", "k": "v\u2713"})
    path = tmp_path / "out.safetensors"
    info = store.export_safetensors(path)
    assert (info.step, info.tensors) == (7, len(state))
    loaded = safetensors.torch.load_file(str(path))
    assert sorted(loaded) == sorted(state)
    for name, t in state.items():
        assert same_bits(loaded[name], t), name
    with safetensors.safe_open(str(path), framework="pt") as f:
        assert f.metadata() == {"format": "pt", "k": "v\u2713"}
        assert sorted(f.keys()) == sorted(state)
        for name, t in state.items():
            assert same_bits(f.get_tensor(name), t), name


def test_export_without_metadata_and_with_selectors(store, tmp_path):
    first, second = {"w": random_tensor(torch.float16, (8,), 1)}, {"w": random_tensor(torch.float16, (8,), 2)}
    store.save(first, step=1, tags=["one"])
    store.save(second, step=2)
    for kwargs, want in (({}, second), ({"step": 1}, first), ({"tag": "one"}, first), ({"id": 2}, second)):
        path = tmp_path / "sel.safetensors"
        store.export_safetensors(path, **kwargs)
        with safetensors.safe_open(str(path), framework="pt") as f:
            assert f.metadata() is None  # no __metadata__ when the checkpoint has none
            assert same_bits(f.get_tensor("w"), want["w"]), kwargs


def test_a_fifo_is_refused_without_blocking(store, tmp_path):
    fifo = tmp_path / "pipe.safetensors"
    os.mkfifo(fifo)
    outcome = []

    def run():
        try:
            store.import_safetensors(fifo, 1)
        except Exception as e:  # noqa: BLE001 - the test inspects it
            outcome.append(e)

    t = threading.Thread(target=run)
    t.start()
    t.join(timeout=20)
    if t.is_alive():  # release the blocked open so the suite ends, then fail
        os.close(os.open(fifo, os.O_RDWR | os.O_NONBLOCK))
        t.join()
        pytest.fail("import_safetensors of a FIFO blocked")
    assert len(outcome) == 1 and isinstance(outcome[0], ckptdb.InvalidArgumentError)
    assert isinstance(outcome[0], ValueError) and "is a FIFO, not a regular file" in str(outcome[0])
    assert str(fifo) in str(outcome[0])
    assert store.log() == []


def test_bad_inputs_raise_the_matching_error_classes(store, tmp_path):
    missing = tmp_path / "absent.safetensors"
    with pytest.raises(ckptdb.NotFoundError, match="absent.safetensors") as e:
        store.import_safetensors(missing, 1)
    assert isinstance(e.value, KeyError)
    with pytest.raises(ckptdb.InvalidArgumentError, match="is a directory"):
        store.import_safetensors(tmp_path, 1)
    good = tmp_path / "good.safetensors"
    safetensors.torch.save_file({"x": torch.ones(16)}, str(good))
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(good.read_bytes()[:-5])
    with pytest.raises(ckptdb.CorruptionError, match="cut.safetensors"):
        store.import_safetensors(cut, 1)
    # A dtype the reference knows and ckptdb does not is refused by name, not misread.
    c64 = tmp_path / "c64.safetensors"
    safetensors.torch.save_file({"z": torch.zeros(2, dtype=torch.complex64)}, str(c64))
    with pytest.raises(ckptdb.CorruptionError, match="unknown dtype 'C64'"):
        store.import_safetensors(c64, 1)
    assert store.log() == []
    store.import_safetensors(good, 1)
    nowhere = tmp_path / "no" / "dir" / "x.safetensors"
    with pytest.raises(ckptdb.IOError, match=re.escape(str(nowhere))) as e:
        store.export_safetensors(nowhere)
    assert isinstance(e.value, OSError)
    with pytest.raises(ckptdb.NotFoundError):
        store.export_safetensors(tmp_path / "x.safetensors", step=99)
    assert not (tmp_path / "x.safetensors").exists()
