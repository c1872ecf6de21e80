"""The SQL behind the hub's records, one module per table family, gathered under one name.

Every function takes a ``sqlite_utils.Database`` and runs inside ``HubDatabase.read``/``write``
(writes in the caller's transaction).
"""

from __future__ import annotations

from hub.domain.records import (
    CameraRecord,
    ClipJob,
    EvidenceItem,
    NotFound,
    SiteRecord,
    UploadRecord,
    UserRecord,
)
from hub.storage.sqlite.evidence_rows import (
    evidence_for_job,
    get_evidence,
    insert_evidence,
    list_evidence,
)
from hub.storage.sqlite.job_rows import (
    get_job,
    insert_job,
    jobs_ended_since,
    list_jobs,
    open_jobs,
    update_job,
)
from hub.storage.sqlite.rows import (
    DEFAULT_LIST_LIMIT,
    db_time,
    json_text,
    opt_time,
    parse_db_time,
)
from hub.storage.sqlite.site_rows import (
    apply_site_status,
    get_camera,
    get_site,
    list_cameras,
    list_sites,
    register_site,
)
from hub.storage.sqlite.upload_rows import (
    get_upload,
    put_upload,
    set_upload_held,
    set_upload_state,
    uploads_in_state,
)
from hub.storage.sqlite.user_rows import (
    create_session,
    delete_session,
    get_user,
    session_user,
    sync_config_users,
)

__all__ = [
    "DEFAULT_LIST_LIMIT",
    "CameraRecord",
    "ClipJob",
    "EvidenceItem",
    "NotFound",
    "SiteRecord",
    "UploadRecord",
    "UserRecord",
    "apply_site_status",
    "create_session",
    "db_time",
    "delete_session",
    "evidence_for_job",
    "get_camera",
    "get_evidence",
    "get_job",
    "get_site",
    "get_upload",
    "get_user",
    "insert_evidence",
    "insert_job",
    "jobs_ended_since",
    "json_text",
    "list_cameras",
    "list_evidence",
    "list_jobs",
    "list_sites",
    "open_jobs",
    "opt_time",
    "parse_db_time",
    "put_upload",
    "register_site",
    "session_user",
    "set_upload_held",
    "set_upload_state",
    "sync_config_users",
    "update_job",
    "uploads_in_state",
]
