"""In-memory snapshots, findings and a scripted model for the model-generator tests."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from provenfix.jobs.generation.code_model.backend import ChatMessage, UsageStats
from provenfix.jobs.report import (
    Category,
    ChangedFile,
    Finding,
    FindingSource,
    LineRange,
    Severity,
)
from provenfix.jobs.snapshot import FileVersions, Snapshot
from provenfix.jobs.source import parse


def snapshot_of(root: Path, files: Mapping[str, str]) -> Snapshot:
    versions = []
    for path, text in files.items():
        lines = max(1, text.count("\n"))
        change = ChangedFile(path, path, (LineRange(1, lines),), (LineRange(1, lines),))
        versions.append(FileVersions(change, parse(path, text.encode()), None))
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    return Snapshot(root=root, files=tuple(versions), skipped=())


def test_failure(
    path: str, line: int, function: str | None, test: str = "tests/test_m.py::test_it"
) -> Finding:
    return Finding(
        id=f"f-{path}-{line}-{test}",
        source=FindingSource.TESTS,
        rule_id="test-failure",
        category=Category.TEST_FAILURE,
        severity=Severity.ERROR,
        path=path,
        start_line=line,
        end_line=line,
        message=f"`{test}` fails at head (assert 3 == 4).",
        function=function,
        test=test,
    )


test_failure.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


def finding(
    path: str,
    line: int,
    function: str | None,
    *,
    rule: str = "complexity-above-threshold",
    source: FindingSource = FindingSource.RADON,
    fix: str | None = None,
) -> Finding:
    return Finding(
        id=f"f-{rule}-{path}-{line}",
        source=source,
        rule_id=rule,
        category=Category.MAINTAINABILITY,
        severity=Severity.WARNING,
        path=path,
        start_line=line,
        end_line=line,
        message=f"`{function}` has cyclomatic complexity 13 (rank C), above the limit of 10.",
        function=function,
        fix=fix,
    )


class ScriptedModel:
    """A CodeModel that replays canned answers and records what it was asked."""

    def __init__(
        self, answers: Sequence[str], name: str = "scripted", *, prefill: bool = False
    ) -> None:
        self.name = name
        self.prefill = prefill
        self.answers = list(answers)
        self.calls: list[dict[str, object]] = []
        self.stats = UsageStats()

    def complete(
        self,
        messages: Sequence[ChatMessage],
        *,
        samples: int,
        max_new_tokens: int,
        temperature: float,
        deadline_s: float,
        greedy_first: bool = False,
    ) -> list[str]:
        self.calls.append(
            {
                "messages": list(messages),
                "samples": samples,
                "deadline_s": deadline_s,
                "greedy_first": greedy_first,
            }
        )
        begun = messages[-1].content if messages[-1].role == "assistant" else ""
        return [begun + answer for answer in self.answers[:samples]]


class FakeServer:
    """A local server speaking OpenAI's chat-completions protocol. By default choice i of
    request r says `answer t=<temperature> #r.i`; `reply(body, i)` writes the content."""

    def __init__(self, reply: Callable[[dict[str, Any], int], str] | None = None) -> None:
        self.reply = reply
        self.requests: list[tuple[str, dict[str, str], dict[str, Any]]] = []
        self.honor_n = True
        self.status = 200
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append((self.path, dict(self.headers), body))
                if server.status != 200:
                    self.send_response(server.status)
                    self.end_headers()
                    self.wfile.write(b'{"error": "model not found"}')
                    return
                n = body.get("n", 1) if server.honor_n else 1
                answer = {
                    "id": "x",
                    "object": "chat.completion",
                    "choices": [
                        {
                            "index": i,
                            "message": {
                                "role": "assistant",
                                "content": server.reply(body, i)
                                if server.reply
                                else f"answer t={body['temperature']} #{len(server.requests)}.{i}",
                            },
                            "finish_reason": "stop",
                        }
                        for i in range(n)
                    ],
                    "usage": {"prompt_tokens": 10, "completion_tokens": 5 * n},
                }
                data = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> FakeServer:
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
