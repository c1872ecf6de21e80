"""Every byte served is in the custody log, and the log cannot be cut or rewritten unnoticed
(issue 9, defects 5 and 6).

Reproduced through the app over TestClient on a real database and the CLI's entry point:
``Range: bytes=1-`` with ``?download=1`` used to return every byte but the first with no row;
an operator's "view" returned the whole file; deleting the last rows, re-hashing the chain, or
moving an item's owner in the database used to pass ``verify-audit``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from cctv_common.evidence.signing import key_id, load_public_key, verify
from hub.cli import main
from hub.services.checkpoints import Checkpoint
from hub.services.custody import row_hash
from hub.storage.engine import open_database
from hub.storage.sql_session import SqlSession
from tests.support.hub_config import HubFiles, RunningHub, running_hub, write_hub_config
from tests.support.hub_kit import auth, drop_append_only_guards, row_count

pytestmark = pytest.mark.usefixtures("hub_engine")  # SQLite, then PostgreSQL


@pytest.fixture
def files(tmp_path: Path) -> HubFiles:
    return write_hub_config(tmp_path)


@pytest.fixture
def hub(files: HubFiles) -> Iterator[RunningHub]:
    with running_hub(files) as running:
        yield running


def rows(hub: RunningHub, action: str) -> list[dict[str, Any]]:
    found = hub.client.get("/api/audit", auth=auth("auditor")).json()
    return [row for row in found if row["action"] == action]


# Defect 5: every byte served is accounted for.


def test_every_download_request_is_a_row_whatever_its_range(hub: RunningHub) -> None:
    item, data = hub.evidence("pc-one", size=200_000)
    url = f"/api/clips/{item.clip_id}/video?download=1"
    tail = hub.client.get(url, headers={"Range": "bytes=1-"}, auth=auth("pc-one"))
    assert tail.status_code == 206 and tail.content == data[1:]
    assert tail.headers["content-disposition"].startswith("attachment")
    for header in ("bytes=0-99", "bytes=-500"):
        hub.client.get(url, headers={"Range": header}, auth=auth("pc-one"))
    hub.client.get(url, auth=auth("pc-one"))
    details = [row["detail"] for row in rows(hub, "download")]
    assert details == [
        {"what": "video", "first_byte": 1, "bytes": 199_999, "whole": False},
        {"what": "video", "first_byte": 0, "bytes": 100, "whole": False},
        {"what": "video", "first_byte": 199_500, "bytes": 500, "whole": False},
        {"what": "video", "first_byte": 0, "bytes": 200_000, "whole": True},
    ]


def test_an_operator_plays_inline_with_a_view_row_and_gets_no_attachment(hub: RunningHub) -> None:
    item, data = hub.evidence("pc-one")
    url = f"/api/clips/{item.clip_id}/video"
    played = hub.client.get(url, auth=auth("operator"))
    assert played.status_code == 200 and played.content == data
    assert played.headers["content-disposition"].startswith("inline")
    [view] = rows(hub, "view")
    assert (view["actor"], view["subject"]) == ("operator", f"clip:{item.clip_id}")
    refused = hub.client.get(url, params={"download": 1}, auth=auth("operator"))
    assert refused.status_code == 403 and "footage.download" in refused.json()["detail"]
    assert rows(hub, "download") == []


# Defect 6: changes to items are custody events; the log is anchored by signed checkpoints.


def test_hold_reassign_and_delete_are_custody_events(hub: RunningHub, files: HubFiles) -> None:
    item, _ = hub.evidence("pc-one")
    base = f"/api/clips/{item.clip_id}"
    why = {"reason": "CPS file 12/345"}
    hold = {**why, "legal_hold": True}
    assert hub.client.put(f"{base}/hold", json=hold, auth=auth("operator")).status_code == 403
    held = hub.client.put(f"{base}/hold", json={**why, "legal_hold": True}, auth=auth("supervisor"))
    assert held.status_code == 200 and held.json()["legal_hold"] is True
    refused = hub.client.request("DELETE", base, json=why, auth=auth("supervisor"))
    assert refused.status_code == 409 and "legal hold" in refused.json()["detail"]
    assert hub.client.get(base, auth=auth("pc-two")).status_code == 404
    moved = hub.client.put(
        f"{base}/owner", json={**why, "owner": "pc-two"}, auth=auth("supervisor")
    )
    assert moved.status_code == 200 and moved.json()["requested_by"] == "pc-two"
    assert hub.client.get(base, auth=auth("pc-two")).status_code == 200
    assert hub.client.get(base, auth=auth("pc-one")).status_code == 404
    nobody = hub.client.put(
        f"{base}/owner", json={**why, "owner": "nobody"}, auth=auth("supervisor")
    )
    assert nobody.status_code == 422
    hub.client.put(f"{base}/hold", json={**why, "legal_hold": False}, auth=auth("supervisor"))
    deleted = hub.client.request("DELETE", base, json=why, auth=auth("supervisor"))
    assert deleted.status_code == 200 and deleted.json()["deleted_by"] == "supervisor"
    gone = hub.client.get(f"{base}/video", auth=auth("pc-two"))
    assert gone.status_code == 410 and "was deleted" in gone.json()["detail"]
    assert not files.stored_file(item).exists()
    actions = [
        row["action"] for row in hub.client.get(base, auth=auth("supervisor")).json()["custody"]
    ]
    assert actions == ["dispatch", "stored", "hold", "reassign", "release", "delete", "refused"]
    verified = hub.client.get("/api/audit/verify", auth=auth("auditor")).json()
    assert verified == {"ok": True, "first_bad_seq": None, "problems": []}


def test_the_checkpoint_is_signed_by_the_hub_and_offered_for_exports(hub: RunningHub) -> None:
    hub.evidence("pc-one")
    hub.client.get("/api/me", auth=auth("auditor"))  # its login row, before the checkpoint
    response = hub.client.get("/api/audit/checkpoint", auth=auth("pc-one"))
    assert response.status_code == 200
    body = response.json()
    public = load_public_key(body.pop("public_key_pem"))
    assert body["key_id"] == key_id(public) == key_id(hub.context.service.hub_key)
    checkpoint = Checkpoint.parse_line(json.dumps(body))
    verify(public, checkpoint.signed_bytes(), checkpoint.signature)
    head = hub.client.get("/api/audit", auth=auth("auditor")).json()[-1]
    assert (checkpoint.seq, checkpoint.hash) == (head["seq"], head["hash"])
    assert hub.client.get("/api/audit/checkpoint", auth=auth("engineer")).status_code == 403


@pytest.fixture
def history(files: HubFiles) -> HubFiles:
    """A hub that ran: jobs, items, views, downloads (over 20 rows), then stopped cleanly."""
    with running_hub(files) as hub:
        owners = ("pc-one", "pc-two", "pc-one", "pc-two", "pc-one")
        items = [hub.evidence(owner)[0] for owner in owners]
        for item in items:
            for user in ("supervisor", "operator"):
                hub.client.get(f"/api/clips/{item.clip_id}/video", auth=auth(user))
            hub.client.get(f"/api/clips/{item.clip_id}/manifest.json", auth=auth("supervisor"))
    assert count_rows(files) > 25
    return files


def count_rows(files: HubFiles) -> int:
    database = open_database(files.settings)
    try:
        return row_count(database, "audit")
    finally:
        database.close()


def tamper(files: HubFiles, change: Callable[[SqlSession], object]) -> None:
    """What someone with the database's login can do: drop the guards and change rows."""
    database = open_database(files.settings)

    def run(db: SqlSession) -> None:
        drop_append_only_guards(db)
        change(db)

    try:
        database.write(run)
    finally:
        database.close()


def verify_audit(files: HubFiles, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["verify-audit", "--config", str(files.config)])
    out = capsys.readouterr()
    return code, out.out + out.err


def test_an_untouched_history_verifies(
    history: HubFiles, capsys: pytest.CaptureFixture[str]
) -> None:
    code, said = verify_audit(history, capsys)
    assert code == 0, said
    assert "0 row(s) after it not yet anchored" in said  # the shutdown checkpoint
    assert "every evidence item and job row agrees" in said


@pytest.mark.parametrize("cut", [1, 20])
def test_deleting_the_last_rows_is_detected(
    history: HubFiles, capsys: pytest.CaptureFixture[str], cut: int
) -> None:
    tamper(
        history,
        lambda db: db.execute(
            "DELETE FROM audit WHERE seq > (SELECT MAX(seq) FROM audit) - ?", [cut]
        ),
    )
    code, said = verify_audit(history, capsys)
    assert code == 1
    assert "is gone: the log was cut" in said, said


def test_editing_and_rehashing_the_chain_is_detected(
    history: HubFiles, capsys: pytest.CaptureFixture[str]
) -> None:
    def rewrite(db: SqlSession) -> None:
        raw = list(db.query("SELECT * FROM audit ORDER BY seq"))
        prev = raw[4]["prev_hash"]
        for row in raw[4:]:  # row 5 says someone else viewed; every later hash recomputed
            actor = "someone-else" if row["seq"] == 5 else row["actor"]
            digest = row_hash(
                row["seq"], row["at"], actor, row["action"], row["subject"],
                json.loads(row["detail"]), prev,
            )  # fmt: skip
            db.execute(
                "UPDATE audit SET actor = ?, prev_hash = ?, hash = ? WHERE seq = ?",
                [actor, prev, digest, row["seq"]],
            )
            prev = digest

    tamper(history, rewrite)
    code, said = verify_audit(history, capsys)
    assert code == 1
    assert "the log was rewritten" in said, said
    assert "breaks at row" not in said  # the chain itself is consistent: only the anchor shows it


def test_moving_an_items_owner_in_the_database_is_detected(
    history: HubFiles, capsys: pytest.CaptureFixture[str]
) -> None:
    tamper(
        history,
        lambda db: db.execute(
            "UPDATE evidence_items SET requested_by = 'pc-two' WHERE requested_by = 'pc-one'"
        ),
    )
    code, said = verify_audit(history, capsys)
    assert code == 1
    assert "belongs to pc-two in the database, but the custody log gives it to pc-one" in said


@pytest.mark.parametrize(
    ("statement", "says"),
    [
        ("UPDATE evidence_items SET legal_hold = 1", "on legal hold in the database"),
        (
            "UPDATE evidence_items SET deleted_at = '2024-01-01T00:00:00.000000Z'",
            "is deleted in the database, but the custody log says kept",
        ),
        (
            "DELETE FROM evidence_items WHERE clip_id = (SELECT MIN(clip_id) FROM evidence_items)",
            "but its evidence item row is gone",
        ),
        ("UPDATE jobs SET requested_by = 'pc-two'", "but the custody log says"),
        ("UPDATE evidence_items SET sha256 = '00' || substr(sha256, 3)", "but it was stored with"),
    ],
)
def test_other_edits_of_item_and_job_rows_are_detected(
    history: HubFiles, capsys: pytest.CaptureFixture[str], statement: str, says: str
) -> None:
    tamper(history, lambda db: db.execute(statement))
    code, said = verify_audit(history, capsys)
    assert code == 1 and says in said, said


def test_a_forged_or_missing_checkpoint_file_is_detected(
    history: HubFiles, capsys: pytest.CaptureFixture[str]
) -> None:
    path = history.settings.checkpoint_path
    lines = path.read_text(encoding="utf-8").splitlines()
    last = json.loads(lines[-1])
    forged = dict(last, seq=last["seq"] + 5)  # claims rows that were never written
    path.write_text("\n".join([*lines, json.dumps(forged)]) + "\n", encoding="utf-8")
    code, said = verify_audit(history, capsys)
    assert code == 1 and "is forged" in said
    path.unlink()
    code, said = verify_audit(history, capsys)
    assert code == 1 and "the end of the log is not anchored" in said


def test_the_checkpoint_file_is_private_and_append_only_lines(history: HubFiles) -> None:
    path = history.settings.checkpoint_path
    assert path.stat().st_mode & 0o777 == 0o600
    parsed = [Checkpoint.parse_line(line) for line in path.read_text().splitlines()]
    assert [c.seq for c in parsed] == sorted(c.seq for c in parsed)
    assert parsed[-1].seq == count_rows(history)


def test_a_checkpoint_path_elsewhere_is_used(tmp_path: Path) -> None:
    elsewhere = tmp_path / "other-disk" / "custody.jsonl"
    files = write_hub_config(tmp_path, audit={"checkpoint_path": str(elsewhere)})
    with running_hub(files) as hub:
        hub.evidence("pc-one")
    assert files.settings.checkpoint_path == elsewhere and elsewhere.exists()
    assert not (files.settings.data_dir / "custody-checkpoints.jsonl").exists()
