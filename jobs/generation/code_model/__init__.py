"""Code-model candidates: backends, the offline model registry, prompting and parsing.

    from jobs.generation.code_model import ModelRepairGenerator, TransformersModel
    model = TransformersModel.from_registry("qwen2.5-coder-1.5b", quantize="int8")
    generator = ModelRepairGenerator(model, samples=4)

Nothing here imports torch or transformers until a TransformersModel is loaded.
"""

from jobs.generation.code_model.backend import (
    ChatMessage,
    CodeModel,
    ModelError,
    ModelUnavailable,
    UsageStats,
)
from jobs.generation.code_model.generator import ModelRepairGenerator
from jobs.generation.code_model.openai_backend import OpenAICompatibleModel
from jobs.generation.code_model.prompt import Note, Target
from jobs.generation.code_model.registry import (
    DEFAULT_MODEL,
    REGISTRY,
    ModelIntegrityError,
    default_cache_dir,
    ensure_local_model,
)
from jobs.generation.code_model.transformers_backend import TransformersModel

__all__ = [
    "DEFAULT_MODEL",
    "REGISTRY",
    "ChatMessage",
    "CodeModel",
    "ModelError",
    "ModelIntegrityError",
    "ModelRepairGenerator",
    "ModelUnavailable",
    "Note",
    "OpenAICompatibleModel",
    "Target",
    "TransformersModel",
    "UsageStats",
    "default_cache_dir",
    "ensure_local_model",
]
