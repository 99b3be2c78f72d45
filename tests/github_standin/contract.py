"""GitHub's REST contract (the OpenAPI 3.0.3 subset vendored in tests/fixtures/github-contract) as
JSON Schema validators, a route table and example bodies.

OpenAPI 3.0 schemas are not JSON Schema: `nullable: true` becomes a "null" type
(and a None in an `enum`), `discriminator` is dropped (the `oneOf` stays), and
local `$ref`s resolve against the document. Request bodies are checked strictly:
an object schema that lists `properties` rejects properties it does not list,
so a misspelt field is a violation instead of silently ignored.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import jsonschema

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CONTRACT_DIR = PROJECT_ROOT / "tests" / "fixtures" / "github-contract"
REST_SUBSET = CONTRACT_DIR / "rest-subset.json"
WEBHOOKS_DIR = CONTRACT_DIR / "webhooks"

Json = Any

FORMATS = jsonschema.FormatChecker()


@FORMATS.checks("date-time", raises=ValueError)
def _is_date_time(value: object) -> bool:
    if isinstance(value, str):
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    return True


@FORMATS.checks("uri", raises=ValueError)
def _is_uri(value: object) -> bool:
    return not isinstance(value, str) or bool(urlparse(value).scheme)


def to_json_schema(node: Json, *, strict: bool = False, spec: Json = None) -> Json:
    """Convert an OpenAPI 3.0 schema to JSON Schema (draft 4 semantics).

    With `spec`, local $refs are inlined (request schemas, which are small and not
    recursive); `strict` then closes every object schema that lists properties.
    """
    return _convert(node, strict=strict, spec=spec, seen=())


def _convert(node: Json, *, strict: bool, spec: Json, seen: tuple[str, ...]) -> Json:
    if isinstance(node, list):
        return [_convert(v, strict=strict, spec=spec, seen=seen) for v in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        ref = node["$ref"]
        if spec is None:
            return {"$ref": ref}
        if ref in seen:
            raise ValueError(f"recursive $ref {ref} cannot be inlined")
        return _convert(resolve_ref(spec, ref), strict=strict, spec=spec, seen=(*seen, ref))
    out: dict[str, Json] = {}
    for key, value in node.items():
        if key in ("discriminator", "example", "examples", "nullable", "xml", "externalDocs"):
            continue
        if key == "properties" and isinstance(value, dict):
            out[key] = {
                name: _convert(v, strict=strict, spec=spec, seen=seen) for name, v in value.items()
            }
        elif key in ("oneOf", "anyOf", "allOf"):
            # branches only add constraints; closing them would reject the parent's fields
            out[key] = [_convert(v, strict=False, spec=spec, seen=seen) for v in value]
        elif key in ("items", "additionalProperties", "not") and isinstance(value, dict):
            out[key] = _convert(value, strict=strict, spec=spec, seen=seen)
        else:
            out[key] = value
    if strict and "properties" in out and "additionalProperties" not in out:
        out["additionalProperties"] = False
    if node.get("nullable") is True:
        if "type" in out:
            types = out["type"] if isinstance(out["type"], list) else [out["type"]]
            out["type"] = [*types, "null"] if "null" not in types else types
            if "enum" in out and None not in out["enum"]:
                out["enum"] = [*out["enum"], None]
        else:
            return {"anyOf": [out, {"type": "null"}]}
    return out


def resolve_ref(spec: Json, ref: str) -> Json:
    if not ref.startswith("#/"):
        raise ValueError(f"only local $refs are supported: {ref}")
    node = spec
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def deref(spec: Json, node: Json) -> Json:
    while isinstance(node, dict) and "$ref" in node:
        node = resolve_ref(spec, node["$ref"])
    return node


@dataclass(frozen=True)
class Parameter:
    name: str
    location: str  # path, query, header
    required: bool
    schema: Json


@dataclass
class Operation:
    method: str
    template: str
    operation_id: str
    parameters: tuple[Parameter, ...]
    body_schema: Json | None
    body_required: bool
    responses: Mapping[str, Json]  # status -> response object (resolved)
    spec: Json = field(repr=False)
    pattern: re.Pattern[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        regex = ""
        for part in re.split(r"(\{[^}]+\})", self.template):
            if part.startswith("{"):
                name = part[1:-1]
                # a contents path spans slashes; every other parameter is one segment
                regex += f"(?P<{name}>.+)" if name == "path" else f"(?P<{name}>[^/]+)"
            else:
                regex += re.escape(part)
        self.pattern = re.compile(f"^{regex}$")

    @property
    def literal_segments(self) -> int:
        return sum(1 for s in self.template.split("/") if s and not s.startswith("{"))

    @cached_property
    def body_validator(self) -> jsonschema.protocols.Validator | None:
        if self.body_schema is None:
            return None
        schema = to_json_schema(self.body_schema, strict=True, spec=self.spec)
        return jsonschema.Draft4Validator(schema, format_checker=FORMATS)

    def response_schema(self, status: int, content_type: str = "application/json") -> Json:
        response = self.responses.get(str(status))
        if response is None:
            return None
        media = deref(self.spec, response).get("content", {}).get(content_type)
        return None if media is None else media.get("schema")

    def response_examples(
        self, status: int, content_type: str = "application/json"
    ) -> dict[str, Json]:
        response = self.responses.get(str(status))
        if response is None:
            return {}
        media = deref(self.spec, response).get("content", {}).get(content_type, {})
        return {
            name: copy.deepcopy(deref(self.spec, ex).get("value"))
            for name, ex in media.get("examples", {}).items()
        }


class Contract:
    """The operations of rest-subset.json, matched by method and path."""

    def __init__(self, spec_path: Path = REST_SUBSET) -> None:
        self.spec: Json = json.loads(spec_path.read_text(encoding="utf-8"))
        converted = {
            name: to_json_schema(schema)
            for name, schema in self.spec["components"]["schemas"].items()
        }
        # responses validate with refs resolved against this root document
        self._root: Json = {"components": {"schemas": converted}}
        self._response_validators: dict[str, jsonschema.protocols.Validator] = {}
        self.operations: list[Operation] = []
        for template, item in self.spec["paths"].items():
            shared = item.get("parameters", [])
            for method, op in item.items():
                if method == "parameters":
                    continue
                params = tuple(
                    Parameter(p["name"], p["in"], bool(p.get("required")), p.get("schema", {}))
                    for p in (deref(self.spec, raw) for raw in [*shared, *op.get("parameters", [])])
                )
                body = op.get("requestBody")
                body_schema, body_required = None, False
                if body is not None:
                    body = deref(self.spec, body)
                    body_schema = body["content"]["application/json"]["schema"]
                    body_required = bool(body.get("required"))
                self.operations.append(
                    Operation(
                        method=method.upper(),
                        template=template,
                        operation_id=op["operationId"],
                        parameters=params,
                        body_schema=body_schema,
                        body_required=body_required,
                        responses={
                            code: deref(self.spec, r) for code, r in op["responses"].items()
                        },
                        spec=self.spec,
                    )
                )
        # literal segments win over parameters: /pulls/comments/{id} before /pulls/{n}/...
        self.operations.sort(key=lambda o: -o.literal_segments)

    def __iter__(self) -> Iterator[Operation]:
        return iter(self.operations)

    def by_id(self, operation_id: str) -> Operation:
        for op in self.operations:
            if op.operation_id == operation_id:
                return op
        raise KeyError(operation_id)

    def match(self, method: str, path: str) -> tuple[Operation | None, dict[str, str], bool]:
        """(operation, path parameters, whether the path exists for another method)."""
        path_known = False
        for op in self.operations:
            m = op.pattern.match(path)
            if m is None:
                continue
            if op.method == method:
                return op, m.groupdict(), True
            path_known = True
        return None, {}, path_known

    def validate_response(self, op: Operation, status: int, body: Json) -> list[str]:
        schema = op.response_schema(status)
        if schema is None:
            return []
        key = f"{op.operation_id} {status}"
        validator = self._response_validators.get(key)
        if validator is None:
            root = {**to_json_schema(schema), **self._root}
            validator = jsonschema.Draft4Validator(root, format_checker=FORMATS)
            self._response_validators[key] = validator
        return [_describe(e) for e in validator.iter_errors(body)]

    def component_example(self, name: str) -> Json:
        return copy.deepcopy(self.spec["components"]["examples"][name]["value"])


def validate_parameter(param: Parameter, raw: str) -> tuple[Json, str | None]:
    """Parse a path or query value by its schema; (value, error)."""
    schema = param.schema
    kind = schema.get("type", "string")
    value: Json = raw
    if kind == "integer":
        if not re.fullmatch(r"-?\d+", raw):
            return raw, f"{param.location} parameter {param.name}={raw!r} is not an integer"
        value = int(raw)
    elif kind == "boolean":
        if raw not in ("true", "false"):
            return raw, f"{param.location} parameter {param.name}={raw!r} is not a boolean"
        value = raw == "true"
    errors = list(
        jsonschema.Draft4Validator(to_json_schema(schema), format_checker=FORMATS).iter_errors(
            value
        )
    )
    if errors:
        return value, f"{param.location} parameter {param.name}={raw!r}: {errors[0].message}"
    return value, None


def body_errors(op: Operation, body: Json) -> list[str]:
    validator = op.body_validator
    if validator is None:
        return []
    return [_describe(e) for e in validator.iter_errors(body)]


def _describe(error: jsonschema.ValidationError) -> str:
    where = "/".join(str(p) for p in error.absolute_path) or "(root)"
    if len(error.message) <= 200:
        return f"{where}: {error.message}"
    rule = json.dumps(error.validator_value, default=str)
    rule = rule if len(rule) <= 80 else rule[:80] + "…"
    return f"{where}: fails {error.validator} {rule} (value {json.dumps(error.instance)[:100]}…)"
