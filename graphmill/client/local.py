"""The client in-process: the data folder's services, the same functions the routes call."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

from graphmill.api.add import add_info
from graphmill.api.cognify import cognify_datasets
from graphmill.api.datasets import progress_view
from graphmill.api.dto import (
    ApiKeyRead,
    CognifyPayloadDTO,
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
from graphmill.api.memory import (
    forget_payload,
    improve_payload,
    recall_items,
    remember_uploads,
    store_entry,
)
from graphmill.api.search import answer
from graphmill.api.sessions import session_detail, session_page
from graphmill.auth import users
from graphmill.catalog import data as data_service
from graphmill.catalog import datasets as dataset_service
from graphmill.client.base import Source
from graphmill.config import Settings
from graphmill.errors import UserNotFound
from graphmill.ingest.add import StagedUploads, Upload, add_files
from graphmill.pipelines import ledger, service
from graphmill.pipelines import status as status_view
from graphmill.search.service import SearchService
from graphmill.services import Services, close_services, open_services


class LocalClient:
    """One user's view of a data folder (or the configured store), opened in this process."""

    def __init__(self, services: Services, user: users.UserInfo) -> None:
        self.services = services
        self.user = user
        self._search: SearchService | None = None

    @classmethod
    async def open(
        cls, settings: Settings, *, email: str | None = None, execute: bool = False
    ) -> LocalClient:
        """As the local user, or as the account `email`; `execute`: this process runs the
        cognify runs it starts (else a server or worker on the same store does)."""
        services = await open_services(settings, role="api" if execute else "client")
        try:
            if email is None:
                user = services.local_user or await users.ensure_local_user(services.db)
            else:
                user_id = await users.find_user_id(services.db, email)
                found = await users.get_user(services.db, user_id) if user_id else None
                if found is None:
                    raise UserNotFound(f"No account {email!r} in this store.")
                user = found
        except BaseException:
            await close_services(services)
            raise
        return cls(services, user)

    async def aclose(self) -> None:
        if self._search is not None:
            await self._search.close()
        await close_services(self.services)

    async def me(self) -> UserRead:
        return UserRead.of(self.user)

    async def add(
        self,
        sources: Sequence[Source],
        dataset_name: str | None,
        dataset_id: uuid.UUID | None = None,
        node_set: list[str] | None = None,
    ) -> PipelineRunInfo:
        s = self.services
        with StagedUploads(s.blobs, s.settings.max_upload_bytes) as uploads:
            for source in sources:
                await uploads.stage(Upload(source.name, source.chunks()))
            result = await add_files(
                s.db,
                s.blobs,
                self.user,
                uploads,
                dataset_id=dataset_id,
                dataset_name=dataset_name,
                node_set=node_set,
            )
        return add_info(result, background=False)

    async def cognify(
        self, datasets: Sequence[str], dataset_ids: Sequence[uuid.UUID], background: bool
    ) -> dict[str, PipelineRunInfo]:
        payload = CognifyPayloadDTO(
            datasets=list(datasets) or None,
            dataset_ids=list(dataset_ids) or None,
            run_in_background=background,
        )
        return await cognify_datasets(self.services, self.user, payload)

    def _searcher(self) -> SearchService:
        s = self.services
        if self._search is None:
            self._search = SearchService(s.db, s.tools, s.settings)
        return self._search

    async def search(
        self, payload: SearchPayloadDTO
    ) -> list[SearchEnvelopeDTO | SearchVerboseEnvelopeDTO]:
        s = self.services
        _, envelopes = await answer(self._searcher(), s.settings, self.user, payload)
        return envelopes

    async def remember(self, sources: Sequence[Source], form: RememberFormDTO) -> dict[str, Any]:
        s = self.services
        s.require_embedder()
        with StagedUploads(s.blobs, s.settings.max_upload_bytes) as uploads:
            for source in sources:
                await uploads.stage(Upload(source.name, source.chunks()))
            result = await remember_uploads(s, self.user, uploads, form)
        return result.to_dict()

    async def recall(self, payload: RecallPayloadDTO) -> list[dict[str, Any]]:
        return await recall_items(self._searcher(), self.services, self.user, payload)

    async def forget(self, payload: ForgetPayloadDTO) -> dict[str, Any]:
        return await forget_payload(self.services, self.user, payload)

    async def improve(self, payload: ImprovePayloadDTO) -> dict[str, Any]:
        return (await improve_payload(self.services, self.user, payload)).to_dict()

    async def remember_entry(self, payload: RememberEntryDTO) -> dict[str, Any]:
        return await store_entry(self.services, self.user, payload)

    async def list_sessions(self, range: str, limit: int, offset: int) -> dict[str, Any]:
        return await session_page(self.services, self.user.id, range, limit, offset)

    async def get_session(self, session_id: str) -> dict[str, Any]:
        return await session_detail(self.services, self.user.id, session_id)

    async def list_datasets(self) -> list[DatasetDTO]:
        found = await dataset_service.list_datasets(self.services.db, self.user)
        return [DatasetDTO.of(d) for d in found]

    async def delete_dataset(self, dataset_id: uuid.UUID) -> None:
        s = self.services
        await dataset_service.delete_dataset(s.db, s.blobs, self.user, dataset_id)

    async def list_data(self, dataset_id: uuid.UUID, status: str | None = None) -> list[DataDTO]:
        items = await data_service.list_data(
            self.services.db, self.user, dataset_id, status, ledger.COGNIFY_PIPELINE
        )
        return [DataDTO.of(i) for i in items]

    async def download(self, dataset_id: uuid.UUID, data_id: uuid.UUID) -> AsyncIterator[bytes]:
        s = self.services
        item = await data_service.get_data(s.db, self.user, dataset_id, data_id)
        size = await s.blobs.size(item.content_hash)
        await data_service.record_download(s.db, self.user, item, None)
        async for chunk in s.blobs.read(item.content_hash, 0, size - 1):
            yield chunk

    async def delete_data(self, dataset_id: uuid.UUID, data_id: uuid.UUID) -> None:
        s = self.services
        await data_service.delete_data(s.db, s.blobs, self.user, dataset_id, data_id)

    async def status(self, dataset_ids: Sequence[uuid.UUID] | None) -> dict[str, str]:
        body = await status_view.status_json(
            self.services.db,
            self.user,
            list(dataset_ids) if dataset_ids is not None else None,
            [ledger.COGNIFY_PIPELINE],
        )
        found: dict[str, str] = json.loads(body)
        return found

    async def progress(self, dataset_ids: Sequence[uuid.UUID]) -> dict[str, dict[str, Any]]:
        return await progress_view(self.services, self.user, list(dataset_ids))

    async def list_runs(self, dataset_id: uuid.UUID) -> list[RunDTO]:
        runs = await service.list_runs(self.services.db, self.user, dataset_id)
        return [RunDTO.of(r) for r in runs]

    async def get_run(self, run_id: uuid.UUID) -> RunDTO:
        return RunDTO.of(await service.get_run(self.services.db, self.user, run_id))

    async def cancel_run(self, run_id: uuid.UUID) -> RunDTO:
        return RunDTO.of(await service.cancel(self.services.db, self.user, run_id))

    async def create_user(self, email: str, password: str) -> UserRead:
        return UserRead.of(await users.register_user(self.services.db, email, password))

    async def create_api_key(self, name: str | None) -> ApiKeyRead:
        s = self.services
        key = await users.create_api_key(s.db, self.user.id, name, s.settings.max_api_keys)
        return ApiKeyRead.of(key)

    async def list_api_keys(self) -> list[ApiKeyRead]:
        keys = await users.list_api_keys(self.services.db, self.user.id)
        return [ApiKeyRead.of(k) for k in keys]

    async def revoke_api_key(self, key_id: uuid.UUID) -> None:
        await users.delete_api_key(self.services.db, self.user.id, key_id)
