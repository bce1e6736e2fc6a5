"""ckptdb underneath the trainers people already run. Each submodule imports its library lazily:
importing ckptdb never needs transformers or lightning.

    ckptdb.integrations.transformers   Hugging Face Trainer: CkptdbCallback
    ckptdb.integrations.lightning      PyTorch Lightning: CkptdbCheckpointIO
"""
