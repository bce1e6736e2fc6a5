"""Store.open_checkpoint: lazy reads of one checkpoint, slices that read only their chunks."""

import numpy as np
import pytest
import torch

import ckptdb
from ckptdb import _tensors

CHUNK = 64 << 10  # the smallest chunk size a store allows


@pytest.fixture
def store(tmp_path):
    s = ckptdb.open(tmp_path / "store", chunk_size=CHUNK)
    yield s
    if not s.closed:
        s.close()


def covering_bytes(lo, hi, size):
    """The total length of the chunks that overlap bytes [lo, hi) of a `size`-byte tensor."""
    if hi <= lo:
        return 0
    return sum(min(CHUNK, size - c * CHUNK) for c in range(lo // CHUNK, (hi - 1) // CHUNK + 1))


def state(seed=0):
    g = torch.Generator().manual_seed(seed)
    # emb: 1000 rows of 400 bytes, 400000 bytes in 7 chunks; saved between two other tensors.
    return {"first": torch.randn(10, generator=g), "emb": torch.randn(1000, 100, generator=g),
            "last": torch.randn(3, 3, generator=g)}


def test_get_slice_reads_exactly_the_chunks_that_cover_the_rows(store):
    st = state()
    store.save(st, step=1)
    size = st["emb"].numel() * 4
    with store.open_checkpoint() as ck:
        sl = ck.get_slice("emb")
        for rows in [slice(200, 300), slice(150, 400), slice(-10, None), slice(0, 1), slice(163, 164),
                     slice(0, 1000)]:
            before = ck.bytes_read
            got = sl[rows]
            assert torch.equal(got, st["emb"][rows]), rows
            start, stop, _ = rows.indices(1000)
            assert ck.bytes_read - before == covering_bytes(start * 400, stop * 400, size), rows
        assert ck.bytes_read < 3 * size


def test_a_slice_inside_one_chunk_reads_that_chunk_alone(store):
    st = state()
    store.save(st, step=1)
    with store.open_checkpoint() as ck:
        got = ck.get_slice("emb")[200:300]  # bytes [80000, 120000): inside chunk 1
        assert torch.equal(got, st["emb"][200:300])
        assert (ck.bytes_read, ck.chunks_read) == (CHUNK, 1)


def test_indices_negative_steps_and_further_dims(store):
    st = state()
    store.save(st, step=1)
    emb = st["emb"]
    with store.open_checkpoint() as ck:
        sl = ck.get_slice("emb")
        assert (sl.shape, sl.get_shape(), sl.dtype, sl.get_dtype(), len(sl)) == ((1000, 100), [1000, 100], "F32",
                                                                                 "F32", 1000)
        assert torch.equal(sl[5], emb[5])
        assert torch.equal(sl[-1], emb[-1])
        assert torch.equal(sl[-3:-1], emb[-3:-1])
        assert torch.equal(sl[10:40:7], emb[10:40:7])
        assert torch.equal(sl[10:20, 5:7], emb[10:20, 5:7])
        assert torch.equal(sl[3, 4], emb[3, 4])
        assert torch.equal(sl[7, ..., 2:4], emb[7, ..., 2:4])
        assert torch.equal(sl[...], emb)
        assert sl[20:10].shape == (0, 100)
        assert torch.equal(sl[990:2000], emb[990:])
        with pytest.raises(IndexError, match="index 1000 is out of range for dim 0 of size 1000"):
            sl[1000]
        with pytest.raises(IndexError, match="index -1001"):
            sl[-1001]
        with pytest.raises(ValueError, match="positive steps"):
            sl[::-1]
        with pytest.raises(TypeError, match="dim 0 takes an int or a slice"):
            sl["x"]


def test_get_is_what_restore_gives(store):
    st = state()
    store.save(st, step=1)
    with store.open_checkpoint(step=1) as ck:
        for name in st:
            before = ck.bytes_read
            got = ck.get(name)
            assert got.dtype == st[name].dtype and torch.equal(got, store.restore(select=[name])[name])
            assert ck.bytes_read - before == st[name].numel() * 4
        arr = ck.get("emb", as_numpy=True)
        assert isinstance(arr, np.ndarray) and np.array_equal(arr, st["emb"].numpy())
        rows = ck.get_slice("emb", as_numpy=True)[3:5]
        assert isinstance(rows, np.ndarray) and np.array_equal(rows, st["emb"][3:5].numpy())


def test_every_dtype_reads_back_whole_and_sliced(store):
    g = torch.Generator().manual_seed(3)
    st = {}
    for dt, name in _tensors._TORCH.items():
        if dt.is_floating_point:
            st[name] = torch.randn(300, 7, generator=g).to(dt)
        elif dt == torch.bool:
            st[name] = torch.rand(300, 7, generator=g) > 0.5
        else:
            st[name] = torch.randint(0, 100, (300, 7), generator=g).to(dt)
    store.save(st, step=1)
    raw = lambda t: t.contiguous().view(torch.uint8)  # noqa: E731 - float8 has no torch.equal
    with store.open_checkpoint() as ck:
        assert ck.keys() == list(st)
        for name, t in st.items():
            assert ck.get(name).dtype == t.dtype, name
            assert torch.equal(raw(ck.get(name)), raw(t)), name
            assert ck.get_slice(name).dtype == name
            assert torch.equal(raw(ck.get_slice(name)[17:123]), raw(t[17:123])), name
            assert torch.equal(raw(ck.get_slice(name)[-1]), raw(t[-1])), name


def test_bfloat16_slices_keep_their_values(store):
    t = (torch.arange(40000, dtype=torch.float32) / 7).to(torch.bfloat16).reshape(20000, 2)  # 80000 bytes
    store.save({"w": t}, step=1)
    with store.open_checkpoint() as ck:
        got = ck.get_slice("w")[16384:16400]  # bytes [65536, 65600): chunk 1 only
        assert got.dtype == torch.bfloat16 and torch.equal(got, t[16384:16400])
        assert ck.bytes_read == 80000 - CHUNK


def test_zero_dim_and_empty_tensors(store):
    st = {"scalar": torch.tensor(2.5), "empty": torch.zeros(0, 4), "step": torch.tensor(7, dtype=torch.int64)}
    store.save(st, step=1)
    with store.open_checkpoint() as ck:
        assert ck.get("scalar").item() == 2.5 and ck.get_slice("scalar")[()].item() == 2.5
        assert ck.get_slice("step")[...].item() == 7
        assert ck.get("empty").shape == (0, 4) and ck.get_slice("empty")[0:5].shape == (0, 4)
        assert ck.chunks_read == 3, "scalar's one chunk twice, step's once; nothing for the empty one"
        with pytest.raises(TypeError):
            len(ck.get_slice("scalar"))


def test_keys_metadata_and_info(store):
    first = store.save(state(1), step=5, metrics={"loss": 1.5}, tags=["warm"], metadata={"run": "r1"})
    store.save(state(2), step=6)
    with store.open_checkpoint(tag="warm") as ck:
        assert ck.keys() == ["first", "emb", "last"]
        assert ck.metadata == {"run": "r1"}
        assert ck.info == store.log()[0] and ck.info.id == first.id and ck.info.metrics == {"loss": 1.5}
        assert repr(ck) == f"ckptdb.Checkpoint(id={first.id}, step=5)"
    with store.open_checkpoint() as head:
        assert head.info.step == 6, "no selector: the head"


def test_a_missing_tensor_is_not_found_naming_it(store):
    store.save(state(), step=1)
    with store.open_checkpoint() as ck:
        with pytest.raises(ckptdb.NotFoundError, match="checkpoint 1 \\(step 1\\) has no tensor 'nope'") as e:
            ck.get("nope")
        assert isinstance(e.value, KeyError)
        with pytest.raises(KeyError, match="'nope'"):
            ck.get_slice("nope")
    with pytest.raises(ckptdb.NotFoundError, match="step 9"):
        store.open_checkpoint(step=9)


def test_it_keeps_reading_the_checkpoint_it_opened(store):
    old = state(1)
    store.save(old, step=1)
    with store.open_checkpoint() as ck:  # the head, resolved now
        store.save(state(2), step=2)
        assert ck.info.step == 1
        assert torch.equal(ck.get("emb"), old["emb"])
        assert torch.equal(ck.get_slice("emb")[7:9], old["emb"][7:9])


def test_a_removed_checkpoint_raises_not_found_naming_it(store):
    store.save(state(1), step=1)
    store.save(state(2), step=2)
    with store.open_checkpoint(step=1) as ck:
        ck.get_slice("emb")[0:2]
        store.rm(step=1)
        assert ck.keys() == ["first", "emb", "last"], "what was recorded at open stays"
        with pytest.raises(ckptdb.NotFoundError, match="no checkpoint with id 1"):
            ck.get("emb")
        with pytest.raises(ckptdb.NotFoundError, match="no checkpoint with id 1"):
            ck.get_slice("emb")[0:2]


def test_a_closed_checkpoint_or_store_refuses_reads(store):
    store.save(state(), step=1)
    ck = store.open_checkpoint()
    sl = ck.get_slice("emb")
    with ck:
        pass
    assert ck.closed
    for call in (ck.keys, lambda: ck.metadata, lambda: ck.info, lambda: ck.get("emb"), lambda: sl[0:1]):
        with pytest.raises(ckptdb.FailedPreconditionError, match="is closed"):
            call()
    ck2 = store.open_checkpoint()
    store.close()
    with pytest.raises(ckptdb.FailedPreconditionError, match="is closed"):
        ck2.get("emb")


def test_a_damaged_chunk_outside_the_slice_goes_unread(store, tmp_path):
    st = state()
    store.save(st, step=1)
    store.close()
    # Chunk 5 of emb (bytes [327680, 393216)) in its pack file: flip one byte in its middle.
    emb = st["emb"].reshape(-1).view(torch.uint8).numpy().tobytes()
    needle = emb[5 * CHUNK + 1000:5 * CHUNK + 1064]
    (pack,) = (tmp_path / "store" / "packs").glob("*.pack")
    data = bytearray(pack.read_bytes())
    at = data.find(needle)
    assert at >= 0 and data.find(needle, at + 1) < 0
    data[at] ^= 0x20
    pack.write_bytes(bytes(data))
    with ckptdb.open(tmp_path / "store") as s, s.open_checkpoint() as ck:
        assert torch.equal(ck.get_slice("emb")[0:800], st["emb"][0:800])  # bytes [0, 320000): chunks 0-4
        with pytest.raises(ckptdb.CorruptionError, match="tensor 'emb', chunk 5"):
            ck.get_slice("emb")[800:820]
