"""A stand-in for the issue 11 request routes, for the browser tests of the pages ONLY while the
hub's real routes (the backend's) are missing: the JSON of /work/wt/briefs/i11-contract.md from an
in-memory store, mounted on the real hub app (real login, sessions, sites and clips).

When the real routes land, the tests drop ``mount_stub`` and drive the hub itself; nothing in
hub/static knows this module exists.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.responses import PlainTextResponse

from hub.api.deps import CurrentUser
from hub.api.routes.sites import _all_sites
from hub.domain import acl
from hub.domain.acl import Role

Json = dict[str, Any]

LANDING: Final = {
    Role.POLICE: "#requests",
    Role.SUPERVISOR: "#decisions",
    Role.OPERATOR: "#fulfil",
    Role.ENGINEER: "#sites",
    Role.AUDITOR: "#custody",
}
# The contract's new permissions, by role (what the backend adds to hub/domain/acl.py).
NEW_PERMISSIONS: Final[dict[Role, dict[str, str]]] = {
    Role.POLICE: {"requests.create": "own", "requests.read": "own"},
    Role.OPERATOR: {"requests.create": "all", "requests.read": "all", "requests.fulfil": "all"},
    Role.SUPERVISOR: {
        "requests.read": "all",
        "requests.decide": "all",
        "requests.fulfil": "all",
        "requests.release": "all",
        "users.manage": "all",
        "dashboard.read": "all",
    },
    Role.AUDITOR: {"dashboard.read": "all"},
    Role.ENGINEER: {},
}
PROFILES: Final[dict[str, Json]] = {
    "pc-one": {
        "display_name": "Jane Smith",
        "force": "Cleveland Police",
        "rank": "DC",
        "collar_number": "4521",
        "email": "jane.smith@cleveland.police.uk",
    },
}
LABELS: Final = {"submitted": "awaiting a decision", "partly_approved": "partly approved"}


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def refuse(status: int, message: str) -> HTTPException:
    return HTTPException(status, message)


@dataclass
class RequestsStub:
    """The store behind the stub routes; tests call its methods to move time along."""

    requests: dict[str, Json] = field(default_factory=dict)
    disclosures: list[Json] = field(default_factory=list)
    users: list[Json] = field(default_factory=list)
    custody: list[Json] = field(default_factory=list)
    clip_for: dict[str, str] = field(default_factory=dict)  # "site/camera" -> a real clip id
    numbers: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    jobs: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def log(self, actor: str, action: str, subject: str) -> None:
        seq = len(self.custody) + 1
        self.custody.append(
            {
                "seq": seq,
                "at": iso(datetime.now(UTC)),
                "actor": actor,
                "action": action,
                "subject": subject,
            }
        )

    def step(self, request: Json, what: str, by: str) -> None:
        request["timeline"].append({"at": iso(datetime.now(UTC)), "what": what, "by": by})
        self.log(by, what.split(":")[0].lower().replace(" ", "_")[:32], request["id"])

    def set_state(self, request: Json, state: str) -> None:
        request["state"] = state
        request["state_label"] = LABELS.get(state, state.replace("_", " "))

    def file(self, body: Json, requested_by: str, filed_by: str) -> Json:
        number = next(self.numbers)
        now = datetime.now(UTC)
        request: Json = {
            **{
                k: body.get(k, "")
                for k in (
                    "force",
                    "officer_name",
                    "rank",
                    "collar_number",
                    "contact",
                    "crime_reference",
                    "offence",
                    "lawful_basis",
                    "notes",
                )
            },
            "id": f"R-{now.year}-{number:04d}",
            "urgency": body.get("urgency") or "routine",
            "window_start": body["window_start"],
            "window_end": body["window_end"],
            "cameras": [{**c, "camera_name": c["camera_id"]} for c in body.get("cameras", [])],
            "ripa": bool(body.get("ripa")),
            "colleagues": list(body.get("colleagues") or []),
            "requested_by": requested_by,
            "filed_by": filed_by,
            "created_at": iso(now),
            "decided_at": None,
            "decision": None,
            "holds": [],
            "jobs": [],
            "items": [],
            "released_at": None,
            "releases": [],
            "retention": None,
            "outcome": None,
            "timeline": [],
        }
        self.set_state(request, "submitted")
        self.requests[request["id"]] = request
        self.step(request, "Received", filed_by)
        return request

    def approve(self, request: Json, by: str, cameras: list[Json] | None = None) -> None:
        now = iso(datetime.now(UTC))
        request["decision"] = {
            "outcome": "approve",
            "by": by,
            "reason": "",
            "window_start": request["window_start"],
            "window_end": request["window_end"],
            "cameras": cameras or request["cameras"],
            "rule": None,
        }
        request["decided_at"] = now
        self.set_state(request, "approved")
        self.step(request, "Approved", by)
        for camera in cameras or request["cameras"]:
            request["holds"].append(
                {
                    "id": f"H-{len(request['holds']) + 1}",
                    **camera,
                    "window_start": request["window_start"],
                    "window_end": request["window_end"],
                    "placed_at": now,
                    "edge_confirmed_at": now,
                    "lifted_at": None,
                }
            )
            self.add_job(request, camera)
        self.set_state(request, "fulfilling")
        self.step(request, "Footage secured on hold at the site", "hub")

    def add_job(self, request: Json, camera: Json, percent: int = 0) -> Json:
        job = {
            "job_id": f"job-{next(self.jobs)}",
            "site_id": camera["site_id"],
            "camera_id": camera["camera_id"],
            "start": request["window_start"],
            "end": request["window_end"],
            "state": "uploading",
            "ended": False,
            "percent": percent,
            "estimate_seconds_left": 95,
            "error": None,
            "clip_id": None,
            "delivery": None,
        }
        request["jobs"].append(job)
        return job

    def finish(self, request_id: str, failed: str | None = None) -> None:
        """Every job stored and verified (or the camera ``failed`` refused with a reason)."""
        request = self.requests[request_id]
        for job in request["jobs"]:
            if job["ended"]:
                continue
            key = f"{job['site_id']}/{job['camera_id']}"
            job.update(ended=True, percent=100, estimate_seconds_left=None)
            if key == failed:
                job.update(
                    state="failed",
                    error="the site no longer holds 06:00-06:20: "
                    "the camera was offline (power cut) and recorded nothing",
                )
                continue
            clip_id = self.clip_for.get(key, f"clip-{job['job_id']}")
            job.update(
                state="stored",
                clip_id=clip_id,
                delivery={"complete": True, "summary": "all 30 min", "gaps": []},
            )
            request["items"].append(
                {
                    "clip_id": clip_id,
                    "site_id": job["site_id"],
                    "camera_id": job["camera_id"],
                    "sha256": "9f2c" + clip_id.encode().hex().ljust(60, "0")[:60],
                    "verified": True,
                    "exhibit_ref": None,
                    "delivery": job["delivery"],
                }
            )
        latest = {(j["site_id"], j["camera_id"]): j["state"] for j in request["jobs"]}
        if all(state == "stored" for state in latest.values()):
            self.set_state(request, "ready")
            self.step(request, "Ready: every clip stored and verified", "hub")

    def release(self, request: Json, recipients: list[Json], purpose: str, by: str) -> None:
        now = iso(datetime.now(UTC))
        for recipient in recipients:
            number = f"D-{datetime.now(UTC).year}-{len(self.disclosures) + 1:04d}"
            self.disclosures.append(
                {
                    "number": number,
                    "released_at": now,
                    "request_id": request["id"],
                    "recipient": recipient["name"],
                    "organisation": recipient["organisation"],
                    "purpose": purpose,
                    "lawful_basis": request["lawful_basis"],
                    "items": [
                        {"clip_id": i["clip_id"], "sha256": i["sha256"]} for i in request["items"]
                    ],
                }
            )
            request["releases"].append(
                {
                    "disclosure_number": number,
                    "recipient": recipient["name"],
                    "organisation": recipient["organisation"],
                    "released_at": now,
                }
            )
        request["released_at"] = now
        self.set_state(request, "released")
        self.step(request, "Released", by)


def _summary(request: Json) -> Json:
    keep = (
        "id",
        "state",
        "state_label",
        "urgency",
        "crime_reference",
        "offence",
        "window_start",
        "window_end",
        "cameras",
        "created_at",
        "requested_by",
        "ripa",
        "officer_name",
        "force",
    )
    return {k: request[k] for k in keep}


def _visible(stub: RequestsStub, user: CurrentUser, request_id: str) -> Json:
    request = stub.requests.get(request_id)
    if request is None:
        raise refuse(404, f"no request {request_id}")
    if user.role is Role.POLICE and user.username not in (
        request["requested_by"],
        *request["colleagues"],
    ):
        raise refuse(404, f"no request {request_id}")
    if user.role in (Role.ENGINEER, Role.AUDITOR):
        raise refuse(403, f"the {user.role.value} role may not read requests")
    return request


def _only(user: CurrentUser, *roles: Role) -> None:
    if user.role not in roles:
        raise refuse(403, f"the {user.role.value} role may not do that")


def build_router(stub: RequestsStub) -> APIRouter:
    router = APIRouter()

    @router.get("/api/session")
    async def session(user: CurrentUser) -> Json:
        permissions = {**acl.permissions(user.role), **NEW_PERMISSIONS[user.role]}
        if user.role is Role.POLICE:
            permissions["jobs.create"] = "none"
        return {
            "user": user.username,
            "role": user.role.value,
            "permissions": permissions,
            "landing": LANDING[user.role],
            **PROFILES.get(user.username, {}),
        }

    @router.post("/api/requests", status_code=201)
    async def file(body: Json, user: CurrentUser) -> Json:
        _only(user, Role.POLICE, Role.OPERATOR)
        for name in ("crime_reference", "offence", "window_start", "window_end"):
            if not body.get(name):
                raise refuse(422, f"the request needs {name.replace('_', ' ')}")
        if not body.get("cameras"):
            raise refuse(422, "the request needs at least one camera")
        owner = body.pop("on_behalf_of", None) if user.role is Role.OPERATOR else user.username
        if not owner:
            raise refuse(422, "say which police user the request is for (on_behalf_of)")
        return stub.file(body, owner, user.username)

    @router.post("/api/requests/preview-coverage")
    async def preview(body: Json, request: Request, user: CurrentUser) -> Json:
        sites = {s["site_id"]: s for s in (await _sites(request))}
        out = []
        for camera in body.get("cameras", []):
            held = next(
                (
                    c
                    for c in sites.get(camera["site_id"], {}).get("cameras", [])
                    if c["camera_id"] == camera["camera_id"]
                ),
                None,
            )
            start = held and held.get("buffer_start")
            warning = None
            if start and body.get("window_start") and start > body["window_start"]:
                gone = datetime.fromisoformat(start) - datetime.fromisoformat(body["window_start"])
                local = datetime.fromisoformat(start).astimezone().strftime("%H:%M")
                warning = (
                    f"{camera['camera_id']} holds footage from {local} only: "
                    f"{int(gone.total_seconds() // 60)} min of the window are gone"
                )
            out.append(
                {
                    **camera,
                    "camera_name": camera["camera_id"],
                    "buffer_start": start,
                    "buffer_end": held and held.get("buffer_end"),
                    "warning": warning,
                }
            )
        return {"cameras": out}

    @router.get("/api/requests")
    async def listing(user: CurrentUser, state: str = "", mine: str = "") -> Json:
        _only(user, Role.POLICE, Role.OPERATOR, Role.SUPERVISOR)
        found = [
            r
            for r in stub.requests.values()
            if (not state or r["state"] == state)
            and (
                user.role is not Role.POLICE
                or user.username in (r["requested_by"], *r["colleagues"])
            )
        ]
        return {"requests": [_summary(r) for r in reversed(found)]}

    @router.get("/api/requests/{request_id}")
    async def one(request_id: str, user: CurrentUser) -> Json:
        return _visible(stub, user, request_id)

    @router.post("/api/requests/{request_id}/decision")
    async def decide(request_id: str, body: Json, user: CurrentUser) -> Json:
        _only(user, Role.SUPERVISOR)
        request = _visible(stub, user, request_id)
        if request["state"] != "submitted":
            raise refuse(
                409,
                f"request {request_id} is {request['state_label']}; it is not awaiting a decision",
            )
        outcome = body.get("outcome")
        if outcome in ("decline", "approve_part") and not (body.get("reason") or "").strip():
            raise refuse(422, "a decline or a part approval needs a reason")
        if outcome == "decline":
            request["decision"] = {
                "outcome": "decline",
                "by": user.username,
                "reason": body["reason"],
                "rule": None,
            }
            stub.set_state(request, "declined")
            stub.step(request, f"Declined: {body['reason']}", user.username)
        else:
            stub.approve(request, user.username, body.get("cameras"))
        return request

    @router.post("/api/requests/{request_id}/jobs/{job_id}/rerun")
    async def rerun(request_id: str, job_id: str, user: CurrentUser) -> Json:
        _only(user, Role.OPERATOR, Role.SUPERVISOR)
        request = _visible(stub, user, request_id)
        old = next(j for j in request["jobs"] if j["job_id"] == job_id)
        stub.add_job(request, {"site_id": old["site_id"], "camera_id": old["camera_id"]})
        stub.set_state(request, "fulfilling")
        stub.step(request, f"Re-run {old['camera_id']}", user.username)
        return request

    @router.post("/api/requests/{request_id}/cameras/{site_id}/{camera_id}/extend")
    async def extend(
        request_id: str, site_id: str, camera_id: str, body: Json, user: CurrentUser
    ) -> Json:
        _only(user, Role.OPERATOR, Role.SUPERVISOR)
        request = _visible(stub, user, request_id)
        job = stub.add_job(request, {"site_id": site_id, "camera_id": camera_id})
        job.update(start=body["window_start"], end=body["window_end"])
        stub.step(request, f"Extended {camera_id}", user.username)
        return job

    @router.post("/api/requests/{request_id}/release")
    async def release(request_id: str, body: Json, user: CurrentUser) -> Json:
        _only(user, Role.SUPERVISOR)
        request = _visible(stub, user, request_id)
        if request["state"] != "ready":
            raise refuse(
                409,
                f"request {request_id} is {request['state_label']}: not every "
                "item is stored and verified",
            )
        stub.release(request, body["recipients"], body["purpose"], user.username)
        return request

    @router.post("/api/requests/{request_id}/outcome")
    async def outcome(request_id: str, body: Json, user: CurrentUser) -> Json:
        request = _visible(stub, user, request_id)
        request["outcome"] = {"outcome": body["outcome"], "note": body.get("note", "")}
        stub.step(request, f"Outcome: {body['outcome']}", user.username)
        return request

    @router.post("/api/requests/{request_id}/retention")
    async def retention(request_id: str, body: Json, user: CurrentUser) -> Json:
        _only(user, Role.SUPERVISOR)
        request = _visible(stub, user, request_id)
        request["retention"] = {
            "category": body["category"],
            "review_at": body.get("review_at"),
            "delete_after": iso(datetime.now(UTC) + timedelta(days=31)),
        }
        stub.step(request, f"Retention: {body['category']}", user.username)
        return request

    @router.delete("/api/requests/{request_id}/items/{clip_id}")
    async def delete_item(request_id: str, clip_id: str, body: Json, user: CurrentUser) -> Json:
        _only(user, Role.SUPERVISOR)
        request = _visible(stub, user, request_id)
        if len((body.get("reason") or "").strip()) < 10:
            raise refuse(422, "say why the item is deleted (10 characters or more)")
        for item in request["items"]:
            if item["clip_id"] == clip_id:
                item["deleted_at"] = iso(datetime.now(UTC))
        stub.step(request, f"Deleted {clip_id}: {body['reason']}", user.username)
        return request

    @router.get("/api/disclosures")
    async def disclosures(user: CurrentUser) -> Json:
        _only(user, Role.SUPERVISOR, Role.AUDITOR)
        return {"entries": stub.disclosures}

    @router.get("/api/disclosures.csv", response_class=PlainTextResponse)
    async def disclosures_csv(user: CurrentUser) -> str:
        _only(user, Role.SUPERVISOR, Role.AUDITOR)
        rows = ["number,released_at,request_id,recipient,organisation,purpose"]
        rows += [
            ",".join(
                str(e[k])
                for k in (
                    "number",
                    "released_at",
                    "request_id",
                    "recipient",
                    "organisation",
                    "purpose",
                )
            )
            for e in stub.disclosures
        ]
        return "\n".join(rows) + "\n"

    @router.get("/api/retention/due")
    async def due(user: CurrentUser) -> Json:
        _only(user, Role.SUPERVISOR)
        released = [r for r in stub.requests.values() if r["state"] == "released"]
        return {
            "due_for_deletion": [
                {
                    "request_id": r["id"],
                    "label": r["id"],
                    "due_at": r["released_at"],
                    "why": "no further action: 31 days after release",
                }
                for r in released[:1]
            ],
            "due_for_review": [],
            "held_past_date": [],
        }

    @router.get("/api/dashboard")
    async def dashboard(user: CurrentUser) -> Json:
        _only(user, Role.SUPERVISOR, Role.AUDITOR)
        return DASHBOARD

    @router.get("/api/users")
    async def users(user: CurrentUser) -> Json:
        _only(user, Role.SUPERVISOR)
        return {"users": stub.users}

    @router.post("/api/users", status_code=201)
    async def add_user(body: Json, user: CurrentUser) -> Json:
        _only(user, Role.SUPERVISOR)
        if len(body.get("password", "")) < 12:
            raise refuse(422, "the password needs 12 characters or more")
        made = {k: v for k, v in body.items() if k != "password"} | {"disabled": False}
        stub.users.append(made)
        stub.log(user.username, "user_added", body["username"])
        return made

    @router.post("/api/users/{username}/disable")
    async def disable(username: str, user: CurrentUser) -> Json:
        _only(user, Role.SUPERVISOR)
        for one in stub.users:
            if one["username"] == username:
                one["disabled"] = True
        return {"ok": True}

    @router.get("/api/custody")
    async def custody(request: Request, user: CurrentUser) -> list[Json]:
        _only(user, Role.SUPERVISOR, Role.AUDITOR)
        item = request.query_params.get("item", "")
        who = request.query_params.get("user", "")
        action = request.query_params.get("action", "")
        return [
            row
            for row in reversed(stub.custody)
            if item in row["subject"] and who in row["actor"] and action in row["action"]
        ]

    return router


async def _sites(request: Request) -> list[Json]:
    hub = request.app.state.hub
    found = await hub.database.aread(_all_sites)
    return [site.model_dump(mode="json") for site in found]


DASHBOARD: Final[Json] = {
    "per_month": [
        {"month": m, "requests": r, "released": d, "declined": x}
        for m, r, d, x in [
            ("2025-09", 98, 85, 6),
            ("2025-10", 112, 97, 8),
            ("2025-11", 104, 90, 5),
            ("2025-12", 121, 101, 9),
            ("2026-01", 109, 96, 4),
            ("2026-02", 117, 99, 7),
        ]
    ],
    "per_district": [
        {"district": d, "requests": n}
        for d, n in [
            ("Middlesbrough", 241),
            ("Stockton", 188),
            ("Hartlepool", 132),
            ("Redcar & Cleveland", 97),
            ("British Transport Police", 36),
            ("Licensing", 17),
        ]
    ],
    "turnaround": {
        "to_approval": {"median_h": 2.5, "p90_h": 19.0},
        "to_release": {"median_h": 27.0, "p90_h": 96.0},
    },
    "outcomes": {"further_enquiries": 211, "charge": 148, "nfa": 233, "other": 40},
    "declined": [
        {"reason": "No lawful basis given", "count": 14},
        {"reason": "Window longer than the incident needs", "count": 11},
        {"reason": "Footage already overwritten", "count": 9},
        {"reason": "Not a council camera", "count": 5},
    ],
    "ripa": 23,
}


def mount_stub(app: FastAPI, stub: RequestsStub) -> None:
    """Add the stub routes in front of the hub's own (so GET /api/session answers)."""
    before = len(app.router.routes)
    app.include_router(build_router(stub))
    added = app.router.routes[before:]
    app.router.routes[:] = added + app.router.routes[:before]


def seed_examples(stub: RequestsStub, site_id: str, cameras: tuple[str, ...]) -> None:
    """Requests in every state a page shows, filed by pc-one, for screenshots."""
    now = datetime.now(UTC)

    def body(offence: str, urgency: str, hours_ago: float, *picked: str) -> Json:
        start = now - timedelta(hours=hours_ago)
        return {
            "force": "Cleveland Police",
            "officer_name": "Jane Smith",
            "rank": "DC",
            "collar_number": "4521",
            "contact": "jane.smith@cleveland.police.uk",
            "crime_reference": f"CR/0{int(hours_ago * 1000):05d}/26",
            "offence": offence,
            "lawful_basis": "dpa2018-part3-s35",
            "urgency": urgency,
            "window_start": iso(start),
            "window_end": iso(start + timedelta(minutes=30)),
            "cameras": [{"site_id": site_id, "camera_id": c} for c in picked],
            "notes": "Male in a red jacket, outside the bank.",
            "ripa": urgency == "priority",
            "colleagues": ["pc-two"],
        }

    stub.file(body("Theft from a shop", "routine", 30, cameras[1]), "pc-one", "pc-one")
    stub.file(
        body(
            "Missing person, last seen at the bus station",
            "threat_to_life",
            3,
            cameras[0],
            cameras[2],
        ),
        "pc-one",
        "pc-one",
    )
    going = stub.file(
        body("Criminal damage to a bus shelter", "priority", 20, cameras[0], cameras[1]),
        "pc-one",
        "operator",
    )
    stub.approve(going, "supervisor")
    going["jobs"][0].update(percent=64, estimate_seconds_left=50)
    going["jobs"][1].update(
        state="failed",
        ended=True,
        percent=0,
        estimate_seconds_left=None,
        error="the site no longer holds this window: overwritten at 04:10",
    )
    ready = stub.file(
        body("Assault occasioning ABH", "routine", 40, cameras[0]), "pc-one", "pc-one"
    )
    stub.approve(ready, "supervisor")
    stub.finish(ready["id"])
    stub.release(
        ready,
        [{"name": "DC Jane Smith 4521", "organisation": "Cleveland Police"}],
        "Investigation of assault occasioning ABH (CR/040000/26)",
        "supervisor",
    )
    robbery = stub.file(body("Robbery", "priority", 44, cameras[2]), "pc-two", "pc-two")
    stub.approve(robbery, "supervisor")
    stub.finish(robbery["id"])
    declined = stub.file(body("Parking dispute", "routine", 50, cameras[1]), "pc-one", "pc-one")
    declined["decision"] = {
        "outcome": "decline",
        "by": "supervisor",
        "rule": None,
        "reason": "A civil matter: no lawful basis for disclosure",
    }
    stub.set_state(declined, "declined")
    stub.step(declined, "Declined: a civil matter", "supervisor")
    stub.users.extend(
        [
            {
                "username": "pc-one",
                "role": "police",
                "display_name": "Jane Smith",
                "email": "jane.smith@cleveland.police.uk",
                "force": "Cleveland Police",
                "collar_number": "4521",
                "disabled": False,
            },
            {
                "username": "operator",
                "role": "operator",
                "display_name": "Sam Patel",
                "email": "cctv.control@council.gov.uk",
                "disabled": False,
            },
            {
                "username": "supervisor",
                "role": "supervisor",
                "display_name": "Alex Jones (DPO)",
                "email": "dpo@council.gov.uk",
                "disabled": False,
            },
            {
                "username": "old-op",
                "role": "operator",
                "display_name": "Former operator",
                "email": "",
                "disabled": True,
            },
        ]
    )
