"""Content-addressed blob store: uploads are kept once under the SHA-256 of their bytes."""

from __future__ import annotations

from graphmill.blobs.base import BlobRef, BlobStore, Staged
from graphmill.blobs.local import LocalBlobStore
from graphmill.config import Settings

__all__ = ["BlobRef", "BlobStore", "LocalBlobStore", "Staged", "open_blob_store"]


def open_blob_store(settings: Settings) -> BlobStore:
    """The blob store the settings ask for."""
    staging = settings.data_dir / "staging"
    if settings.blob_url:
        # Imported here: boto3 costs ~0.1 s of start-up, for every process on local blobs.
        from graphmill.blobs.s3 import S3BlobStore

        return S3BlobStore(
            settings.blob_url,
            staging_dir=staging,
            endpoint_url=settings.s3_endpoint_url,
            path_style=settings.s3_path_style,
            verify_tls=settings.s3_verify_tls,
            region=settings.s3_region,
        )
    return LocalBlobStore(settings.data_dir / "blobs", staging_dir=staging)
