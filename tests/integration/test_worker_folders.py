"""Several hub workers on one ``data_dir``: a worker that starts fails only the derived items it
was making and clears only its own work and export folders, not another worker's; the items of
a worker that died and was not started again are failed by the derived sweep."""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cctv_common.clock import utc_now
from hub.domain.derived_items import DerivedItem, DerivedState
from hub.services.derived_items import DerivedItemService, DeriveSettings, _mark
from hub.services.exhibit_export import ExhibitExport, ExportSettings
from hub.services.sites import register_in
from hub.storage.evidence.backends import open_evidence_store
from hub.storage.ports import UnitOfWork
from hub.storage.sqlite.database import HubDatabase
from hub.storage.sqlite.unit_of_work import SqliteStorage
from tests.support.hub_kit import insert_evidence, make_settings, report_status


def add_item(uow: UnitOfWork, *, record: DerivedItem) -> None:
    uow.derived.add(record)


def state_of(uow: UnitOfWork, *, item_id: str) -> DerivedState | None:
    found = uow.derived.get(item_id)
    return None if found is None else found.state


def test_a_starting_worker_leaves_the_other_workers_items_and_folders(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    settings = make_settings(tmp_path / "shared", site_key=key)
    database = HubDatabase(settings.db_path)
    try:
        storage = SqliteStorage(database)
        store = open_evidence_store(settings)
        site = settings.sites[0]
        pem = site.resolved_public_key_pem()
        storage.write(
            lambda uow: register_in(uow, site.site_id, site.name, pem, "config", utc_now())
        )
        report_status(database)
        master = insert_evidence(
            settings, database, key, secrets.token_bytes(10_000), requested_by="pc-one"
        )
        workers = {
            name: DerivedItemService(
                storage,
                store,
                DeriveSettings(settings.data_dir, settings.hub_id, key, name),
                now=utc_now,
            )
            for name in ("w1", "w2")
        }
        made = {}
        for name in workers:
            record = DerivedItem(
                id="DRV-" + secrets.token_hex(16),
                clip_id=master.clip_id,
                source_sha256=master.sha256,
                operation="h264",
                state=DerivedState.WORKING,
                created_by="supervisor",
                created_at=datetime.now(UTC),
                reason="",
                plan={"operation": "h264"},
            )
            storage.write(partial(add_item, record=record))
            _mark(settings.data_dir / "derived-work" / name, record.id)  # as an order does
            made[name] = record.id
        exports = {
            name: ExhibitExport(
                storage,
                store,
                ExportSettings(settings.data_dir, settings.hub_id, key, "{n}", worker=name),
                now=utc_now,
            )
            for name in ("w1", "w2")
        }
        for export in exports.values():
            export.folder.mkdir(parents=True)
            (export.folder / ".R-1.zip").write_bytes(b"being sent")

        # w1 restarts (it died): its item is failed, w2's is still being made.
        assert asyncio.run(workers["w1"].start()) == 1
        states = {name: storage.read(partial(state_of, item_id=i)) for name, i in made.items()}
        assert states == {"w1": DerivedState.FAILED, "w2": DerivedState.WORKING}
        assert (settings.data_dir / "derived-work" / "w2" / f"{made['w2']}.ordered").exists()
        assert not (settings.data_dir / "derived-work" / "w1").exists()

        # w2 dies and is not started again: once it is no longer among the running workers,
        # the derived sweep (on any worker) fails what it was making and clears its folder.
        async def only_w1() -> set[str]:
            return {"w1"}

        async def both() -> set[str]:
            return {"w1", "w2"}

        assert asyncio.run(workers["w1"].fail_orphans(both)) == 0
        assert asyncio.run(workers["w1"].fail_orphans(only_w1)) == 1
        assert storage.read(partial(state_of, item_id=made["w2"])) is DerivedState.FAILED
        assert not (settings.data_dir / "derived-work" / "w2").exists()
        asyncio.run(exports["w1"].start())
        assert not exports["w1"].folder.exists()
        assert (exports["w2"].folder / ".R-1.zip").read_bytes() == b"being sent"
    finally:
        database.close()
