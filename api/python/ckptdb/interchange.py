"""Interchange with other formats, as Store methods: safetensors files and the Hugging Face model
layout (save_pretrained directories). Interchange is mixed into Store (ckptdb.store); it uses the
Store's native handle (_s) and selector resolution (_which)."""

import os

from ckptdb.info import CheckpointInfo


def _strings(metadata):
    """Checkpoint metadata as the native module takes it: str keys and values."""
    return {str(k): str(v) for k, v in (metadata or {}).items()}


_SIZE_UNITS = {"KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12}


def _shard_size(size):
    """save_pretrained's max_shard_size in bytes: an int, or "5GB" as huggingface_hub parses it."""
    if isinstance(size, int) and not isinstance(size, bool):
        n = size
    elif isinstance(size, str) and size.strip()[-2:].upper() in _SIZE_UNITS:
        try:
            n = int(float(size.strip()[:-2]) * _SIZE_UNITS[size.strip()[-2:].upper()])
        except ValueError:
            n = 0
    else:
        n = 0
    if n < 1:
        raise ValueError(f"max_shard_size must be a positive number of bytes or a size such as '5GB', not {size!r}")
    return n


class Interchange:
    """The import and export methods of Store (see ckptdb.store.Store)."""

    # -- safetensors
    def import_safetensors(self, files, step, *, metrics=None, tags=None, metadata=None, progress=None):
        """Saves safetensors files (a path or a list of paths, str or os.PathLike) as one checkpoint
        at `step`, as `ckptdb import` does, and returns its CheckpointInfo. restore() gives it back
        as {name: tensor}. Each file's __metadata__ joins `metadata` in the checkpoint's metadata.

        Every file is read whole and checked before anything is saved. Raises NotFoundError for a
        missing file; InvalidArgumentError for a path that is not a regular file (a FIFO, a
        directory: refused without opening it), for a tensor name in two files, or for a metadata
        key two sources give different values; CorruptionError for a malformed file; IOError when
        reading fails or a file shrinks while it is read. progress: as Store.save's, over the files'
        tensor bytes (the save; the files are read first).
        """
        paths = [files] if isinstance(files, (str, bytes, os.PathLike)) else list(files)
        info = self._s.import_safetensors([os.fsdecode(p) for p in paths], int(step), dict(metrics or {}),
                                          list(tags or []), _strings(metadata), progress)
        return CheckpointInfo._from(info)

    def export_safetensors(self, path, step=None, *, id=None, tag=None, at=None, best=None, progress=None):
        """Writes one checkpoint (default: the head; selectors as in restore) to the safetensors
        file `path`, as `ckptdb export` does: its tensors in saved order and its metadata as
        __metadata__, replacing `path` atomically, reading at most 64 MiB of tensor data at a time.
        Returns the exported checkpoint's CheckpointInfo. Raises NotFoundError for an unknown
        checkpoint, IOError when the file cannot be written (e.g. a missing directory).
        progress: as Store.save's, over the checkpoint's tensor bytes.
        """
        which = self._which(step, id, tag, at, best)
        return CheckpointInfo._from(self._s.export_safetensors(which, os.fsdecode(path), progress))

    # -- the Hugging Face model layout
    def import_hf(self, dir, step, *, metrics=None, tags=None, metadata=None):
        """Saves a save_pretrained directory (model.safetensors, or the shards its
        model.safetensors.index.json names) as one checkpoint at `step`, as `ckptdb import-hf`
        does, and returns its CheckpointInfo. config.json and generation_config.json are kept byte
        for byte as the metadata "hf.config.json" and "hf.generation_config.json" beside `metadata`.

        The whole directory is read and checked before anything is saved. Raises NotFoundError for
        a directory without model.safetensors nor an index, or a missing shard; CorruptionError for
        a malformed index, config or shard, or an index that disagrees with its shards.
        """
        info = self._s.import_hf(os.fsdecode(dir), int(step), dict(metrics or {}), list(tags or []),
                                 _strings(metadata))
        return CheckpointInfo._from(info)

    def export_hf(self, dir, step=None, *, id=None, tag=None, at=None, best=None, max_shard_size="5GB",
                  prefix=None):
        """Writes one checkpoint (default: the head; selectors as in restore) as a directory that
        transformers' from_pretrained loads, as `ckptdb export-hf` does, and returns its
        CheckpointInfo. `dir` must not exist or be empty (AlreadyExistsError otherwise); it appears
        whole or not at all.

        max_shard_size: bytes (int) or a size as save_pretrained takes it ("5GB", "100KB": powers of
        ten); over it the tensors are sharded as save_pretrained shards them. prefix: export only
        the tensors named prefix..., with it stripped ("" for every tensor); None decides: "model."
        when the checkpoint holds model.* and optimizer.* tensors (save_training_state), else "".
        Raises FailedPreconditionError when the checkpoint has no "hf.config.json" metadata.
        """
        return CheckpointInfo._from(self._s.export_hf(self._which(step, id, tag, at, best), os.fsdecode(dir),
                                                      _shard_size(max_shard_size), prefix))
