"""The one place that turns ``[evidence_store]`` settings into an ``EvidenceStore``.

A filesystem store needs nothing checked. An S3 store is probed: what the bucket offers is logged
at start; settings it cannot honour (no such bucket, credentials refused, Object Lock asked of a
bucket without it) stop the hub with a ``SettingsError``, as any other unusable setting does. A
server that does not answer yet is only a warning: the hub starts, and ingest keeps clips in
staging (and the agents keep theirs) until the store takes them.
"""

from __future__ import annotations

import logging

from hub.settings import HubSettings, SettingsError
from hub.storage.evidence.s3_store import S3EvidenceStore
from hub.storage.evidence.settings import CredentialsError, FilesystemStoreSettings
from hub.storage.evidence.store import EvidenceStore, FilesystemEvidenceStore

log = logging.getLogger(__name__)


def open_evidence_store(settings: HubSettings) -> EvidenceStore:
    chosen = settings.evidence_store
    if isinstance(chosen, FilesystemStoreSettings):
        return FilesystemEvidenceStore(settings.evidence_dir)
    try:
        credentials = chosen.load_credentials()
    except CredentialsError as exc:
        raise SettingsError(
            str(chosen.credentials_file), [f"evidence_store.credentials_file: {exc}"]
        ) from exc
    store = S3EvidenceStore(chosen, credentials)
    report = store.probe()
    log.info("%s", report.summary())
    for warning in report.warnings:
        log.warning("evidence store: %s", warning)
    if report.problems:
        raise SettingsError("evidence_store", [f"evidence_store: {p}" for p in report.problems])
    return store
