"""Blobs in S3-compatible object storage (AWS, MinIO, Ceph, moto ...)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import anyio
import boto3
from boto3.exceptions import Boto3Error
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from graphmill.blobs.base import CHUNK, BlobStore, shard
from graphmill.errors import BackendUnavailable, BlobStoreUnwritable, BlobUnreadable

# Multipart above 64 MiB: the object appears only when the upload completes.
TRANSFER = TransferConfig(multipart_threshold=64 * 1024**2, multipart_chunksize=64 * 1024**2)

log = logging.getLogger("graphmill.blobs")


class S3BlobStore(BlobStore):
    name = "s3"

    def __init__(
        self,
        url: str,
        staging_dir: Path,
        endpoint_url: str | None = None,
        path_style: bool = False,
        verify_tls: bool = True,
        region: str | None = None,
    ) -> None:
        super().__init__(staging_dir)
        parsed = urlparse(url)
        self.bucket = parsed.netloc
        self.prefix = parsed.path.strip("/")
        self.url = url
        self.client: Any = boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region,
            verify=verify_tls,
            config=Config(
                s3={"addressing_style": "path" if path_style else "auto"},
                retries={"max_attempts": 5, "mode": "standard"},
                connect_timeout=10,
                read_timeout=60,
            ),
        )

    def _key(self, sha256: str) -> str:
        return f"{self.prefix}/{shard(sha256)}" if self.prefix else shard(sha256)

    def location(self, sha256: str) -> str:
        return f"s3://{self.bucket}/{self._key(sha256)}"

    async def _commit(self, staged: Path, sha256: str, size: int) -> str:
        key = self._key(sha256)
        try:
            await anyio.to_thread.run_sync(
                lambda: self.client.upload_file(str(staged), self.bucket, key, Config=TRANSFER)
            )
        except (BotoCoreError, ClientError, Boto3Error) as exc:  # upload_file: S3UploadFailedError
            log.error("cannot write to %s: %s", self.url, exc, extra={"action": "blob.write"})
            raise BlobStoreUnwritable() from exc
        return self.location(sha256)

    async def size(self, sha256: str) -> int:
        try:
            head = await anyio.to_thread.run_sync(
                lambda: self.client.head_object(Bucket=self.bucket, Key=self._key(sha256))
            )
        except (BotoCoreError, ClientError) as exc:
            raise BlobUnreadable(f"blob {sha256} cannot be read: {exc}") from exc
        return int(head["ContentLength"])

    async def read(self, sha256: str, start: int, end: int) -> AsyncIterator[bytes]:
        try:
            response = await anyio.to_thread.run_sync(
                lambda: self.client.get_object(
                    Bucket=self.bucket, Key=self._key(sha256), Range=f"bytes={start}-{end}"
                )
            )
        except (BotoCoreError, ClientError) as exc:
            raise BlobUnreadable(f"blob {sha256} cannot be read: {exc}") from exc
        body = response["Body"]
        try:
            while True:
                chunk = await anyio.to_thread.run_sync(body.read, CHUNK)
                if not chunk:
                    break
                yield chunk
        finally:
            body.close()

    async def delete(self, sha256: str) -> None:
        try:
            await anyio.to_thread.run_sync(
                lambda: self.client.delete_object(Bucket=self.bucket, Key=self._key(sha256))
            )
        except (BotoCoreError, ClientError) as exc:
            raise BackendUnavailable(f"cannot delete from {self.url}: {exc}") from exc

    async def check(self) -> None:
        try:
            await anyio.to_thread.run_sync(lambda: self.client.head_bucket(Bucket=self.bucket))
        except (BotoCoreError, ClientError) as exc:
            raise BackendUnavailable(f"S3 bucket {self.url} unreachable: {exc}") from exc
