"""Tensors through the store: every dtype torch and the store share, odd shapes and layouts,
numpy in and out, bit for bit."""

import numpy as np
import pytest
import torch

import ckptdb


def raw(t):
    """The tensor's bytes, for bit-exact comparison whatever its dtype (NaN payloads included)."""
    return t.detach().contiguous().reshape(-1).view(torch.uint8)


TORCH_DTYPES = [torch.float64, torch.float32, torch.float16, torch.bfloat16, torch.float8_e4m3fn,
                torch.float8_e5m2, torch.int64, torch.int32, torch.int16, torch.int8, torch.uint64,
                torch.uint32, torch.uint16, torch.uint8, torch.bool]


def random_tensor(dtype, shape, seed):
    g = torch.Generator().manual_seed(seed)
    n = int(np.prod(shape)) if shape else 1
    bytes_ = torch.randint(0, 256, (n * dtype.itemsize,), dtype=torch.uint8, generator=g)
    if dtype == torch.bool:
        bytes_ = bytes_ % 2
    return bytes_.view(dtype).reshape(shape)


@pytest.mark.parametrize("dtype", TORCH_DTYPES, ids=str)
def test_every_dtype_round_trips_bit_exactly(store, dtype):
    state = {"matrix": random_tensor(dtype, (37, 5), 1), "scalar": random_tensor(dtype, (), 2),
             "empty": random_tensor(dtype, (0, 4), 3)}
    store.save(state, step=1)
    back = store.restore()
    assert list(back) == list(state)
    for name, t in state.items():
        assert back[name].dtype == dtype and back[name].shape == t.shape, name
        assert torch.equal(raw(back[name]), raw(t)), name


def test_float_special_values_and_nan_payloads_survive(store):
    bits = torch.tensor([0x7FC00001, 0xFFC00000, 0x7F800000, 0xFF800000, 0x80000000, 0x00000001],
                        dtype=torch.int64).to(torch.int32)
    t = bits.view(torch.float32)
    store.save({"f": t}, step=1)
    assert torch.equal(store.restore()["f"].view(torch.int32), bits)


def test_non_contiguous_and_sliced_tensors_save_their_values(store):
    base = torch.randn(6, 8)
    state = {"transposed": base.t(), "strided": base[::2, 1::3], "offset": base[3:, 2:]}
    store.save(state, step=1)
    back = store.restore()
    for name, t in state.items():
        assert torch.equal(back[name], t), name
        assert back[name].is_contiguous()


def test_long_and_unicode_names(store):
    names = ["x" * 5000, "módulo.capa.権重", "a/b\\c d\te"]
    store.save({n: torch.full((3,), float(i)) for i, n in enumerate(names)}, step=1)
    assert list(store.restore()) == names


def test_numpy_arrays_in_and_out(store):
    arrays = {"f64": np.random.default_rng(0).standard_normal((4, 3)), "u32": np.arange(10, dtype=np.uint32),
              "b": np.array([True, False, True]), "nc": np.arange(20, dtype=np.int16).reshape(4, 5)[:, ::2]}
    store.save(arrays, step=1)
    back = store.restore(as_numpy=True)
    for name, a in arrays.items():
        assert isinstance(back[name], np.ndarray)
        assert back[name].dtype == a.dtype and back[name].shape == a.shape
        np.testing.assert_array_equal(back[name], a)


def test_as_numpy_refuses_bfloat16_naming_it(store):
    store.save({"h": torch.ones(3, dtype=torch.bfloat16)}, step=1)
    with pytest.raises(TypeError, match="'h' is BF16, which numpy has no dtype for"):
        store.restore(as_numpy=True)


def test_restored_tensors_own_their_memory(store):
    t = torch.arange(100, dtype=torch.float32)
    store.save({"t": t}, step=1)
    a, b = store.restore()["t"], store.restore()["t"]
    a += 1
    assert torch.equal(b, t), "two restores share no memory"
    del a
    assert torch.equal(b, t)


def test_restored_tensors_are_ordinary_torch_tensors(store):
    # Allocated by torch (as torch.load's are), not wrapped around store memory: storage that torch
    # owns can be resized, which a tensor over foreign (DLPack) memory refuses.
    store.save({"big": torch.arange(1 << 19, dtype=torch.float32), "small": torch.ones(3)}, step=1)
    back = store.restore()
    for name, t in back.items():
        t.resize_(t.numel() + 1000)  # raises "Trying to resize storage that is not resizable" otherwise
        assert t.numel() > 1000, name
    arrays = store.restore(as_numpy=True)
    assert all(a.flags.owndata for a in arrays.values()), "numpy arrays own their memory"


def test_a_grad_tensor_and_a_parameter_save_their_data(store):
    p = torch.nn.Parameter(torch.randn(3, 3))
    store.save({"p": p, "g": p * 2}, step=1)
    back = store.restore()
    assert torch.equal(back["p"], p.detach()) and not back["p"].requires_grad


def test_unsupported_values_raise_type_error_naming_them(store):
    with pytest.raises(TypeError, match=r"state\['optim'\]\['state'\]\[3\]\['foo'\]: cannot save a set"):
        store.save({"w": torch.ones(2), "optim": {"state": {3: {"foo": {1, 2}}}}}, step=1)
    with pytest.raises(TypeError, match="complex"):
        store.save({"c": torch.ones(2, dtype=torch.complex64)}, step=1)
    with pytest.raises(ValueError, match=r"state\['big'\]: int 1180591620717411303424 does not fit in 64 bits"):
        store.save({"big": 2**70}, step=1)
    with pytest.raises(TypeError, match="dict keys must be str or int"):
        store.save({(1, 2): torch.ones(1)}, step=1)
    with pytest.raises(ValueError, match="also named 'a.b'"):
        store.save({"a.b": torch.ones(1), "a": {"b": torch.zeros(1)}}, step=1)
    assert store.log() == [], "a refused save stores nothing"


def test_error_paths_spell_list_indexes_int_keys_and_str_keys_as_python_would(store):
    bad = {"opt": [{"w": torch.ones(1)}, ({7: {"x": [None, object()]}},)]}
    with pytest.raises(TypeError, match=r"^state\['opt'\]\[1\]\[0\]\[7\]\['x'\]\[1\]: cannot save a object "):
        store.save(bad, step=1)
    with pytest.raises(ValueError, match=r"^state\[0\]\[\"it's\"\]: int -1180591620717411303424 does not fit"):
        store.save([{"it's": -2**70}], step=1)
    with pytest.raises(TypeError, match=r"^state\['a'\]: dict keys must be str or int, not float \(1.5\)"):
        store.save({"a": {1.5: torch.ones(1)}}, step=1)
    assert store.log() == []


def test_a_tensor_subclass_is_a_tensor_leaf(store):
    class Tagged(torch.Tensor):  # not one of the exact types the encoder knows without asking
        pass

    t = torch.arange(6, dtype=torch.int16).as_subclass(Tagged)
    store.save({"t": t, "nested": [t.reshape(2, 3).as_subclass(Tagged)]}, step=1)
    back = store.restore()
    assert torch.equal(back["t"], torch.arange(6, dtype=torch.int16))
    assert torch.equal(back["nested"][0], torch.arange(6, dtype=torch.int16).reshape(2, 3))
