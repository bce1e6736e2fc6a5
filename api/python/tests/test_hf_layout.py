"""Store.import_hf and Store.export_hf against transformers itself: what save_pretrained writes
imports as one checkpoint, and what we export from_pretrained loads bit for bit (a tiny random GPT-2,
nothing downloaded)."""

import json
import os

import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel

import ckptdb
from ckptdb.torch import save_training_state


@pytest.fixture
def model():
    torch.manual_seed(0)
    return GPT2LMHeadModel(GPT2Config(n_layer=2, n_embd=64, n_head=2, vocab_size=128, n_positions=64)).eval()


def assert_same_model(loaded, want):
    """Every state_dict tensor equal bit for bit, with its dtype, and lm_head still tied to wte."""
    got, ref = loaded.state_dict(), want.state_dict()
    assert list(got) == list(ref)
    for name, t in ref.items():
        assert got[name].dtype == t.dtype, name
        assert torch.equal(got[name], t), name
    assert loaded.lm_head.weight.data_ptr() == loaded.transformer.wte.weight.data_ptr()


def files(d):
    return sorted(os.listdir(d))


@pytest.mark.parametrize("sharded", [False, True])
def test_save_pretrained_round_trips(store, model, tmp_path, sharded):
    src = tmp_path / "src"
    model.save_pretrained(src, **({"max_shard_size": "100KB"} if sharded else {}))
    info = store.import_hf(src, 7, metrics={"loss": 1.5}, tags=["hf"])
    assert info.step == 7 and info.tags == ("hf",)
    with store.open_checkpoint(step=7) as ck:
        assert ck.metadata["hf.config.json"] == (src / "config.json").read_text()
        assert ck.metadata["hf.generation_config.json"] == (src / "generation_config.json").read_text()
        # save_pretrained drops lm_head.weight, the alias of transformer.wte.weight.
        assert "lm_head.weight" not in ck.keys() and "transformer.wte.weight" in ck.keys()

    out = tmp_path / "out"
    store.export_hf(out, step=7, max_shard_size="100KB" if sharded else "5GB")
    if sharded:
        index = json.loads((out / "model.safetensors.index.json").read_text())
        shards = sorted(set(index["weight_map"].values()))
        assert len(shards) >= 3 and shards == [f"model-{i:05d}-of-{len(shards):05d}.safetensors"
                                               for i in range(1, len(shards) + 1)]
        assert files(out) == sorted(shards + ["config.json", "generation_config.json", "model.safetensors.index.json"])
        assert index["metadata"]["total_size"] == sum(t.numel() * t.element_size()
                                                      for n, t in model.state_dict().items() if n != "lm_head.weight")
    else:
        assert files(out) == ["config.json", "generation_config.json", "model.safetensors"]
        # Unsharded, the whole file comes back byte for byte: same order, same header, {"format": "pt"}.
        assert (out / "model.safetensors").read_bytes() == (src / "model.safetensors").read_bytes()
    for name in ("config.json", "generation_config.json"):
        assert (out / name).read_bytes() == (src / name).read_bytes()
    assert_same_model(GPT2LMHeadModel.from_pretrained(out), model)


def test_shard_metadata_is_format_pt(store, model, tmp_path):
    from safetensors import safe_open
    model.save_pretrained(tmp_path / "src")
    store.import_hf(tmp_path / "src", 1)
    store.export_hf(tmp_path / "out", max_shard_size=100_000)
    for name in files(tmp_path / "out"):
        if name.endswith(".safetensors"):
            with safe_open(str(tmp_path / "out" / name), "pt") as f:
                assert f.metadata() == {"format": "pt"}


def test_training_state_exports_the_model(store, model, tmp_path):
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model.train()
    model(torch.randint(0, 128, (2, 16)), labels=torch.randint(0, 128, (2, 16))).loss.backward()
    opt.step()
    model.eval()
    save_training_state(store, 3, model=model, optimizer=opt, metadata={"hf.config.json": model.config.to_json_string()})
    with store.open_checkpoint(step=3) as ck:
        assert any(k.startswith("optimizer.") for k in ck.keys())

    store.export_hf(tmp_path / "out", step=3)  # prefix auto: model. taken and stripped
    assert files(tmp_path / "out") == ["config.json", "model.safetensors"]
    from safetensors import safe_open
    with safe_open(str(tmp_path / "out" / "model.safetensors"), "pt") as f:
        # state_dict() names the tied weight twice; both are exported, and from_pretrained re-ties them.
        assert set(f.keys()) == set(model.state_dict()) and "lm_head.weight" in f.keys()
    assert_same_model(GPT2LMHeadModel.from_pretrained(tmp_path / "out"), model)
    store.export_hf(tmp_path / "explicit", step=3, prefix="model.")
    assert_same_model(GPT2LMHeadModel.from_pretrained(tmp_path / "explicit"), model)


def test_errors_change_nothing(store, model, tmp_path):
    model.save_pretrained(tmp_path / "src")
    store.import_hf(tmp_path / "src", 1)
    before = store.log()

    (tmp_path / "empty").mkdir()
    with pytest.raises(ckptdb.NotFoundError, match="model.safetensors"):
        store.import_hf(tmp_path / "empty", 2)
    (tmp_path / "src" / "config.json").write_text("{not json")
    with pytest.raises(ckptdb.CorruptionError, match="config.json"):
        store.import_hf(tmp_path / "src", 2)
    assert store.log() == before

    full = tmp_path / "full"
    full.mkdir()
    (full / "keep").write_text("mine")
    with pytest.raises(ckptdb.AlreadyExistsError, match="not empty"):
        store.export_hf(full)
    assert files(full) == ["keep"]
    with pytest.raises(ValueError, match="max_shard_size"):
        store.export_hf(tmp_path / "o", max_shard_size="5 parsecs")
    with pytest.raises(ckptdb.InvalidArgumentError, match="encoder"):
        store.export_hf(tmp_path / "o", prefix="encoder.")
    assert not (tmp_path / "o").exists()
    assert sorted(os.listdir(tmp_path)) == ["empty", "full", "src", "store"]
