"""Check runs: created on a commit, updated (status, conclusion, output and annotations,
the buttons kept aside), listed for a ref."""

from __future__ import annotations

import base64
import copy
from typing import Any

from werkzeug.wrappers import Request

from . import gitdata
from .objects import ApiObjects
from .records import Answer, ApiError, CheckRunRecord, Json, Values, now_iso


class ChecksApi(ApiObjects):
    """checks/create, checks/update and checks/list-for-ref."""

    def _op_checks_create(self, request: Request, values: Values, body: Json) -> Answer:
        repo = self._repo(values["owner"], values["repo"])
        if gitdata.rev_parse(repo.path, body["head_sha"]) != body["head_sha"]:
            raise ApiError(
                422,
                "Validation Failed",
                [{"resource": "CheckRun", "code": "invalid", "field": "head_sha"}],
            )
        run_id = self._next_id()
        template = self.contract.component_example("check-run")
        data = self._rewrite(template, {"github/hello-world": repo.full_name})
        api = f"{self.url}/repos/{repo.full_name}/check-runs/{run_id}"
        data.update(
            id=run_id,
            node_id=base64.b64encode(f"08:CheckRun{run_id}".encode()).decode(),
            head_sha=body["head_sha"],
            name=body["name"],
            url=api,
            html_url=f"{self.url}/{repo.full_name}/runs/{run_id}",
            details_url=body.get("details_url", f"{self.url}/apps/{self.app_slug}"),
            external_id=body.get("external_id", ""),
            status="queued",
            conclusion=None,
            started_at=body.get("started_at", now_iso()),
            completed_at=None,
            output={
                "title": None,
                "summary": None,
                "text": None,
                "annotations_count": 0,
                "annotations_url": f"{api}/annotations",
            },
            check_suite={"id": 1},
            app=self._app_object(),
            pull_requests=[],
        )
        run = CheckRunRecord((repo.owner, repo.name, 0), data)
        self._apply_check_run(run, body)
        self._check_runs.append(run)
        return 201, self._check_run_view(run), {}

    def _op_checks_update(self, request: Request, values: Values, body: Json) -> Answer:
        run = next(
            (
                r
                for r in self._check_runs
                if r.key[:2] == (values["owner"], values["repo"])
                and r.data["id"] == values["check_run_id"]
            ),
            None,
        )
        if run is None:
            raise ApiError(404, "Not Found")
        run.updates += 1
        self._apply_check_run(run, body)
        return 200, self._check_run_view(run), {}

    def _apply_check_run(self, run: CheckRunRecord, body: dict[str, Any]) -> None:
        data = run.data
        if "actions" in body:  # not part of GitHub's check-run object: kept aside
            run.actions = copy.deepcopy(body["actions"])
        for key in ("name", "details_url", "external_id", "started_at"):
            if key in body:
                data[key] = body[key]
        if "status" in body:
            data["status"] = body["status"]
        if "conclusion" in body:
            data.update(conclusion=body["conclusion"], status="completed")
        if data["status"] == "completed":
            if data["conclusion"] is None:
                raise ApiError(
                    422,
                    "Validation Failed",
                    [{"resource": "CheckRun", "code": "missing_field", "field": "conclusion"}],
                )
            data["completed_at"] = body.get("completed_at") or data["completed_at"] or now_iso()
        output = body.get("output")
        if output is not None:
            for annotation in output.get("annotations", []):
                if annotation["start_line"] > annotation["end_line"] or (
                    ("start_column" in annotation or "end_column" in annotation)
                    and annotation["start_line"] != annotation["end_line"]
                ):
                    raise ApiError(
                        422,
                        "Validation Failed",
                        [{"resource": "CheckRun", "code": "invalid", "field": "annotations"}],
                    )
            run.annotations += output.get("annotations", [])
            for key in ("title", "summary", "text"):
                if key in output:
                    data["output"][key] = output[key]
            data["output"]["annotations_count"] = len(run.annotations)

    def _op_checks_list_for_ref(self, request: Request, values: Values, body: Json) -> Answer:
        repo = self._repo(values["owner"], values["repo"])
        sha = self._sha(repo, values["ref"])
        runs = [
            r
            for r in self._check_runs
            if r.key[:2] == (repo.owner, repo.name) and r.data["head_sha"] == sha
        ]
        if values.get("check_name"):
            runs = [r for r in runs if r.data["name"] == values["check_name"]]
        if values.get("status"):
            runs = [r for r in runs if r.data["status"] == values["status"]]
        if values.get("filter", "latest") == "latest":
            latest: dict[str, CheckRunRecord] = {}
            for r in runs:
                latest[r.data["name"]] = r
            runs = list(latest.values())
        runs.sort(key=lambda r: -int(r.data["id"]))
        chunk, headers = self._paginate(request, runs, values)
        return (
            200,
            {"total_count": len(runs), "check_runs": [self._check_run_view(r) for r in chunk]},
            headers,
        )
