"""Filing a footage request, and the coverage flags shown while it is typed."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from hub.domain.acl import Role
from hub.domain.job_rules import nvr_spans
from hub.domain.request_records import RequestRecord
from hub.domain.requests.coverage import BufferSpan, CameraCoverage, request_coverage
from hub.domain.requests.request import CameraChoice, CameraRef, IncidentWindow
from hub.domain.requests.validation import (
    CameraCatalogue,
    RequestDraft,
    RequestRefused,
    check_request,
)
from hub.notifications.messages import NotificationStep
from hub.services.custody import CustodyAction
from hub.services.requests.context import RequestInvalid, Workflow, subject
from hub.storage.ports import UnitOfWork

log = logging.getLogger(__name__)


def catalogue_in(uow: UnitOfWork) -> CameraCatalogue:
    return CameraCatalogue(
        cameras=frozenset(CameraRef(c.site_id, c.camera_id) for c in uow.sites.cameras())
    )


def spans_in(
    uow: UnitOfWork, cameras: Sequence[CameraChoice]
) -> dict[CameraChoice, list[BufferSpan] | None]:
    spans: dict[CameraChoice, list[BufferSpan] | None] = {}
    for choice in cameras:
        camera = (
            uow.sites.camera(choice.site_id, choice.camera_id)
            if isinstance(choice, CameraRef)
            else None
        )
        if camera is None:
            spans[choice] = None
            continue
        held = [BufferSpan(start, end, label) for label, start, end in nvr_spans(camera)]
        if camera.buffer_start is not None and camera.buffer_end is not None:
            held.insert(0, BufferSpan(camera.buffer_start, camera.buffer_end))
        # A camera that has said nothing of its buffer and has no NVR span is not known.
        spans[choice] = held if held or camera.buffer_start is not None else None
    return spans


class Filing:
    def __init__(self, flow: Workflow) -> None:
        self._flow = flow

    async def coverage(
        self, cameras: Sequence[CameraChoice], window: IncidentWindow
    ) -> tuple[tuple[CameraCoverage, ...], dict[CameraChoice, list[BufferSpan] | None]]:
        spans = await self._flow.storage.aread(lambda uow: spans_in(uow, cameras))
        return request_coverage(cameras, window, spans), spans

    async def file(self, draft: RequestDraft, *, requested_by: str, filed_by: str) -> RequestRecord:
        """Check, number and store the request with its custody row; ``RequestInvalid`` lists
        every problem. The caller then tries the auto-approval rules."""
        flow = self._flow
        now = flow.now()
        catalogue = await flow.storage.aread(catalogue_in)
        try:
            request = check_request(
                draft,
                catalogue=catalogue,
                requested_by=requested_by,
                filed_by=filed_by,
                now=now,
                limits=flow.settings.limits,
            )
        except RequestRefused as exc:
            raise RequestInvalid("; ".join(exc.problems)) from exc

        def insert(uow: UnitOfWork) -> RequestRecord:
            owner = uow.users.get(requested_by)
            if owner is None or owner.disabled or owner.role is not Role.POLICE:
                raise RequestInvalid(f"there is no active police user {requested_by!r}")
            for name in request.colleagues:
                colleague = uow.users.get(name)
                if colleague is None or colleague.disabled:
                    raise RequestInvalid(f"colleague {name!r} is not an active hub user")
            reference = uow.requests.next_reference(now.year)
            uow.requests.add(reference, request)
            uow.custody.append(
                filed_by,
                CustodyAction.REQUEST_FILED,
                subject(reference),
                {
                    "requested_by": requested_by,
                    "urgency": request.urgency.value,
                    "cameras": [camera.label for camera in request.cameras],
                    "window_start": request.window.start.isoformat(),
                    "window_end": request.window.end.isoformat(),
                    "police_reference": request.police_reference,
                    "ripa": request.ripa,
                },
                at=now,
            )
            record = uow.requests.get(reference)
            assert record is not None
            return record

        record = await flow.storage.awrite(insert)
        log.info(
            "request %s filed by %s for %s (%s, %d camera(s))",
            record.reference,
            filed_by,
            requested_by,
            request.urgency.value,
            len(request.cameras),
        )
        await flow.mail.send(NotificationStep.RECEIVED, record, now)
        return record
