"""Durable state: SQLite (WAL) for records, the blob area for large bodies."""

from sandlot.store.blobs import BlobInfo, BlobStore
from sandlot.store.db import Migration, Store, Table

__all__ = ["BlobInfo", "BlobStore", "Migration", "Store", "Table"]
