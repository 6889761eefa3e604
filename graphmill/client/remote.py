"""The client over HTTP: a graphmill (or cognee) server's `/api/v1`, with an API key or token."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import ExitStack
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, TypeAdapter

from graphmill.api.dto import (
    ApiKeyRead,
    DataDTO,
    DatasetDTO,
    ForgetPayloadDTO,
    ImprovePayloadDTO,
    PipelineRunInfo,
    RecallPayloadDTO,
    RememberEntryDTO,
    RememberFormDTO,
    RunDTO,
    SearchEnvelopeDTO,
    SearchPayloadDTO,
    SearchVerboseEnvelopeDTO,
    UserRead,
)
from graphmill.client.base import Source
from graphmill.errors import BackendUnavailable, RemoteError, Unauthorized

M = TypeVar("M", bound=BaseModel)
ENVELOPES = TypeAdapter(list[SearchVerboseEnvelopeDTO | SearchEnvelopeDTO])


def _detail(response: httpx.Response) -> str:
    """The server's reason, from any of the error shapes the API answers."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:500] or response.reason_phrase
    if isinstance(body, dict):
        reason = body.get("detail") or body.get("error") or body.get("message")
        if isinstance(reason, list):  # validation errors: name the fields
            return "; ".join(
                f"{'.'.join(str(p) for p in e.get('loc', [])[1:])}: {e.get('msg')}"
                if isinstance(e, dict)
                else str(e)
                for e in reason
            )
        if reason:
            return str(reason)
    return str(body)


def _form_value(value: Any) -> Any:
    """A form field as the server parses it: lists repeat the field, booleans are `true`."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, list) else str(value)


class RemoteClient:
    """One account on a server, by API key (`X-Api-Key`) or login token (`Bearer`)."""

    def __init__(
        self,
        url: str,
        *,
        api_key: str | None = None,
        token: str | None = None,
        timeout: float = 300.0,
    ) -> None:
        headers = {}
        if api_key:
            headers["X-Api-Key"] = api_key
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.http = httpx.AsyncClient(
            base_url=url.rstrip("/") + "/api/v1", headers=headers, timeout=timeout
        )

    async def aclose(self) -> None:
        await self.http.aclose()

    async def _call(
        self, method: str, path: str, accept: tuple[int, ...] = (), **kwargs: Any
    ) -> httpx.Response:
        try:
            response = await self.http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise BackendUnavailable(f"Cannot reach {self.http.base_url}: {exc}") from exc
        if response.status_code == 401:
            raise Unauthorized(
                f"The server refused the credentials ({_detail(response)}): give an API key "
                "(--api-key or GRAPHMILL_API_KEY) or a token (--token or GRAPHMILL_TOKEN)."
            )
        if response.is_error and response.status_code not in accept:
            raise RemoteError(response.status_code, _detail(response))
        return response

    async def _model(self, model: type[M], method: str, path: str, **kw: Any) -> M:
        return model.model_validate((await self._call(method, path, **kw)).json())

    async def _models(self, model: type[M], method: str, path: str, **kw: Any) -> list[M]:
        return [model.model_validate(x) for x in (await self._call(method, path, **kw)).json()]

    async def me(self) -> UserRead:
        return await self._model(UserRead, "GET", "/users/me")

    async def add(
        self,
        sources: Sequence[Source],
        dataset_name: str | None,
        dataset_id: uuid.UUID | None = None,
        node_set: list[str] | None = None,
    ) -> PipelineRunInfo:
        form: dict[str, Any] = {}
        if dataset_name:
            form["datasetName"] = dataset_name
        if dataset_id:
            form["datasetId"] = str(dataset_id)
        if node_set:
            form["node_set"] = node_set
        with ExitStack() as stack:
            files = [("data", (s.name, stack.enter_context(s.open()))) for s in sources]
            return await self._model(PipelineRunInfo, "POST", "/add", data=form, files=files)

    async def cognify(
        self, datasets: Sequence[str], dataset_ids: Sequence[uuid.UUID], background: bool
    ) -> dict[str, PipelineRunInfo]:
        body = {
            "datasets": list(datasets) or None,
            "datasetIds": [str(d) for d in dataset_ids] or None,
            "runInBackground": background,
        }
        found = (await self._call("POST", "/cognify", json=body)).json()
        return {k: PipelineRunInfo.model_validate(v) for k, v in found.items()}

    async def search(
        self, payload: SearchPayloadDTO
    ) -> list[SearchEnvelopeDTO | SearchVerboseEnvelopeDTO]:
        body = payload.model_dump(mode="json", by_alias=True, exclude_none=True)
        found = ENVELOPES.validate_python((await self._call("POST", "/search", json=body)).json())
        return list(found)

    async def remember(self, sources: Sequence[Source], form: RememberFormDTO) -> dict[str, Any]:
        fields = form.model_dump(mode="json", by_alias=True, exclude_none=True)
        form_data = {k: _form_value(v) for k, v in fields.items()}
        with ExitStack() as stack:
            files = [("data", (s.name, stack.enter_context(s.open()))) for s in sources]
            # 409 is an errored run: cognee's RememberResult, answered as it is in-process
            response = await self._call(
                "POST", "/remember", accept=(409,), data=form_data, files=files
            )
        found: dict[str, Any] = response.json()
        return found

    async def recall(self, payload: RecallPayloadDTO) -> list[dict[str, Any]]:
        body = payload.model_dump(mode="json", by_alias=True, exclude_none=True)
        body.setdefault("searchType", None)  # null: "choose for me", as cognee
        found: list[dict[str, Any]] = (await self._call("POST", "/recall", json=body)).json()
        return found

    async def forget(self, payload: ForgetPayloadDTO) -> dict[str, Any]:
        body = payload.model_dump(mode="json", exclude_none=True)
        found: dict[str, Any] = (await self._call("POST", "/forget", json=body)).json()
        return found

    async def improve(self, payload: ImprovePayloadDTO) -> dict[str, Any]:
        body = payload.model_dump(mode="json", exclude_none=True)
        # 409 is an errored improve: cognee's ImproveResult, answered as it is in-process
        found: dict[str, Any] = (
            await self._call("POST", "/improve", accept=(409,), json=body)
        ).json()
        return found

    async def remember_entry(self, payload: RememberEntryDTO) -> dict[str, Any]:
        body = payload.model_dump(mode="json", exclude_none=True)
        found: dict[str, Any] = (await self._call("POST", "/remember/entry", json=body)).json()
        return found

    async def list_sessions(self, range: str, limit: int, offset: int) -> dict[str, Any]:
        params = {"range": range, "limit": limit, "offset": offset}
        found: dict[str, Any] = (await self._call("GET", "/sessions", params=params)).json()
        return found

    async def get_session(self, session_id: str) -> dict[str, Any]:
        path = f"/sessions/{quote(session_id, safe='')}"
        found: dict[str, Any] = (await self._call("GET", path)).json()
        return found

    async def list_datasets(self) -> list[DatasetDTO]:
        return await self._models(DatasetDTO, "GET", "/datasets")

    async def delete_dataset(self, dataset_id: uuid.UUID) -> None:
        await self._call("DELETE", f"/datasets/{dataset_id}")

    async def list_data(self, dataset_id: uuid.UUID, status: str | None = None) -> list[DataDTO]:
        params = {"status": status} if status else {}
        return await self._models(DataDTO, "GET", f"/datasets/{dataset_id}/data", params=params)

    async def download(self, dataset_id: uuid.UUID, data_id: uuid.UUID) -> AsyncIterator[bytes]:
        path = f"/datasets/{dataset_id}/data/{data_id}/raw"
        async with self.http.stream("GET", path) as response:
            if response.is_error:
                await response.aread()
                raise RemoteError(response.status_code, _detail(response))
            async for chunk in response.aiter_bytes():
                yield chunk

    async def delete_data(self, dataset_id: uuid.UUID, data_id: uuid.UUID) -> None:
        await self._call("DELETE", f"/datasets/{dataset_id}/data/{data_id}")

    async def status(self, dataset_ids: Sequence[uuid.UUID] | None) -> dict[str, str]:
        params = {"dataset": [str(d) for d in dataset_ids]} if dataset_ids else {}
        found: dict[str, str] = (await self._call("GET", "/datasets/status", params=params)).json()
        return found

    async def progress(self, dataset_ids: Sequence[uuid.UUID]) -> dict[str, dict[str, Any]]:
        params = {"dataset": [str(d) for d in dataset_ids]}
        found: dict[str, dict[str, Any]] = (
            await self._call("GET", "/datasets/status/progress", params=params)
        ).json()
        return found

    async def list_runs(self, dataset_id: uuid.UUID) -> list[RunDTO]:
        return await self._models(RunDTO, "GET", f"/datasets/{dataset_id}/runs")

    async def get_run(self, run_id: uuid.UUID) -> RunDTO:
        return await self._model(RunDTO, "GET", f"/runs/{run_id}")

    async def cancel_run(self, run_id: uuid.UUID) -> RunDTO:
        return await self._model(RunDTO, "POST", f"/runs/{run_id}/cancel")

    async def create_user(self, email: str, password: str) -> UserRead:
        body = {"email": email, "password": password}
        return await self._model(UserRead, "POST", "/auth/register", json=body)

    async def create_api_key(self, name: str | None) -> ApiKeyRead:
        return await self._model(ApiKeyRead, "POST", "/auth/api-keys", json={"name": name})

    async def list_api_keys(self) -> list[ApiKeyRead]:
        return await self._models(ApiKeyRead, "GET", "/auth/api-keys")

    async def revoke_api_key(self, key_id: uuid.UUID) -> None:
        await self._call("DELETE", f"/auth/api-keys/{key_id}")
