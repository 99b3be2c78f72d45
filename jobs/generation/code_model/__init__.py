"""Code-model candidates: backends, the offline model registry, prompting and parsing.

    from provenfix.jobs.generation.code_model.transformers_backend import TransformersModel
    from provenfix.jobs.generation.code_model.generator import ModelRepairGenerator
    model = TransformersModel.from_registry("qwen2.5-coder-1.5b", quantize="int8")
    generator = ModelRepairGenerator(model, samples=4)

The package imports nothing on its own (a web process reads the model's settings
from jobs.generation.code_model.config without the pipeline), and nothing here
imports torch or transformers until a TransformersModel is loaded.
"""
