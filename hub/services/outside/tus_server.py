"""The tus 1.0.0 server's workflow (core, creation, termination, expiration) for upload links.

Every call names the link's token; an upload answers only to the token of its own link (else
404), and a link that has expired or was withdrawn answers 410 and its unfinished uploads are
discarded. Creation checks the declared length against what the link has left before a byte is
written (413). A PATCH continues at the recorded offset only; its bytes are written in blocks,
fsynced, hashed, and only then is the new offset recorded, so a cut connection resumes from a
durable offset (bytes past it are cut off at the next PATCH). The first 4 KiB decide the type:
anything that is not a video or picture the hub takes is refused and deleted at once.

One PATCH at a time per upload, across hub workers: a PATCH claims the upload in the database
at its offset (``patching_by``), renews the claim before each block it writes and moves the
offset by compare-and-set after it, so two workers never write one staging file at once. A
second PATCH in the same process waits its turn (a lock per upload) and then finds the offset
moved (409); on another worker it is answered 423 Locked at once. tus clients answer both by
asking for the offset and resuming. A claim not renewed for ``PATCH_CLAIM_STALE`` (its worker
died) is taken over.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Final

from hub.domain.uploads.links import (
    LinkState,
    UploadLink,
    UploadRefused,
    check_new_file,
    check_usable,
)
from hub.domain.uploads.media import HEAD_BYTES, MediaType, sniff
from hub.domain.uploads.records import OutsideItem, TusState, TusUpload, new_upload_id
from hub.domain.uploads.statement import parse_statement
from hub.domain.uploads.tus import (
    check_content_length,
    check_patch,
    clean_filename,
    parse_length,
    parse_metadata,
)
from hub.services.leases import PROCESS
from hub.services.outside import staging
from hub.services.outside.arrival import Arrival
from hub.services.outside.links import UploadLinkService
from hub.storage.ports import HubStorage, StorageFailure, UnitOfWork

log = logging.getLogger(__name__)

FLUSH_BYTES: Final = 4 * 1024 * 1024
# A PATCH renews its claim before every block (at most FLUSH_BYTES); one silent this long died.
PATCH_CLAIM_STALE: Final = timedelta(seconds=60)
_TAKEN: Final = "another request is sending this upload's bytes; ask for its offset and resume"


@dataclass
class _Receiving:
    """What this process knows of one upload between PATCHes."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    digest: hashlib._Hash | None = None
    hashed: int = -1  # the digest covers bytes [0, hashed)
    head: bytes = b""
    media: MediaType | None = None


@dataclass(frozen=True)
class PatchRequest:
    content_type: str | None
    offset: str | None
    content_length: str | None


class TusServer:
    def __init__(
        self,
        storage: HubStorage,
        links: UploadLinkService,
        arrival: Arrival,
        staging_dir: Path,
        *,
        now: Callable[[], datetime],
    ) -> None:
        self._storage = storage
        self._links = links
        self._arrival = arrival
        self.staging_dir = staging_dir
        self._now = now
        self._receiving: dict[str, _Receiving] = {}
        # The PATCH claims' holder: this server (its lock orders the PATCHes of this process).
        self._claimant = f"{PROCESS}/tus-{secrets.token_hex(3)}"

    def _path(self, upload_id: str) -> Path:
        return staging.staging_path(self.staging_dir, upload_id)

    async def create(
        self, token: str, length_header: str | None, metadata_header: str | None, address: str
    ) -> tuple[TusUpload, UploadLink]:
        link = await self._links.usable(token)
        length = parse_length(length_header, "Upload-Length")
        metadata = parse_metadata(metadata_header)
        statement = parse_statement(metadata.get("statement", b""))
        now = self._now()
        upload = TusUpload(
            id=new_upload_id(),
            link_id=link.id,
            request=link.request,
            filename=clean_filename(metadata.get("filename", b"")),
            declared_type=metadata.get("filetype", b"").decode("utf-8", "replace")[:100],
            statement=statement.as_dict(),
            length=length,
            offset=0,
            state=TusState.RECEIVING,
            created_at=now,
            updated_at=now,
            uploader_ip=address[:100],
        )
        await asyncio.to_thread(staging.create, self._path(upload.id))

        def write(uow: UnitOfWork) -> None:
            check_new_file(link, uow.upload_links.use(link.id), length, now)
            uow.tus_uploads.add(upload)

        try:
            await self._storage.awrite(write)
        except UploadRefused:
            await asyncio.to_thread(staging.discard, self._path(upload.id))
            raise
        log.info(
            "upload %s begun under link %s (request %s): %s, %s bytes, from %s",
            upload.id,
            link.id,
            link.request,
            upload.filename,
            length,
            upload.uploader_ip,
        )
        return upload, link

    async def _own(self, token: str, upload_id: str) -> tuple[TusUpload, UploadLink]:
        link = await self._links.find(token)
        upload = await self._storage.aread(lambda uow: uow.tus_uploads.get(upload_id))
        if link is None or upload is None or upload.link_id != link.id:
            raise UploadRefused(404, "no such upload")
        if upload.state in (TusState.TERMINATED, TusState.DISCARDED):
            raise UploadRefused(410, "this upload was ended; start it again")
        if upload.state is TusState.REFUSED:
            raise UploadRefused(410, upload.error or "this upload was refused")
        if upload.state is TusState.RECEIVING:
            try:
                check_usable(link, self._now())
            except UploadRefused:
                await self._discard(upload, "its link has ended")
                raise
        return upload, link

    async def head(self, token: str, upload_id: str) -> tuple[TusUpload, UploadLink]:
        return await self._own(token, upload_id)

    async def patch(
        self, token: str, upload_id: str, request: PatchRequest, body: AsyncIterator[bytes]
    ) -> TusUpload:
        state = self._receiving.setdefault(upload_id, _Receiving())
        async with state.lock:
            upload, _link = await self._own(token, upload_id)
            if upload.state is TusState.STORED:
                raise UploadRefused(409, "the upload is already complete")
            if upload.offset >= upload.length:
                async with self._claimed(upload):
                    await self._finish(upload, state)  # whole, but not yet stored (a retry)
                return await self._reread(upload_id)
            check_patch(
                content_type=request.content_type,
                offset_header=request.offset,
                offset=upload.offset,
                length=upload.length,
            )
            check_content_length(request.content_length, upload.offset, upload.length)
            async with self._claimed(upload):
                path = self._path(upload_id)
                if state.digest is None or state.hashed != upload.offset:
                    state.digest, state.head = await asyncio.to_thread(
                        staging.rehash, path, upload.offset
                    )
                    state.hashed = upload.offset
                offset = await self._receive(upload, state, path, body)
                if offset >= upload.length:
                    await self._finish(replace(upload, offset=offset), state)
            return await self._reread(upload_id)

    @contextlib.asynccontextmanager
    async def _claimed(self, upload: TusUpload) -> AsyncIterator[None]:
        """This process as the one writing ``upload`` (at its offset) until the block ends."""
        now = self._now()
        stale = now - PATCH_CLAIM_STALE
        if not await self._storage.awrite(
            lambda uow: uow.tus_uploads.claim_patch(
                upload.id, self._claimant, upload.offset, now, stale
            )
        ):
            self._receiving.pop(upload.id, None)  # what this process knows may be old now
            raise UploadRefused(423, _TAKEN)
        try:
            yield
        finally:
            try:
                await self._storage.awrite(
                    lambda uow: uow.tus_uploads.release_patch(upload.id, self._claimant)
                )
            except StorageFailure as exc:  # the claim goes stale and is taken over
                log.warning("upload %s: PATCH claim not released: %s", upload.id, exc)

    async def _advance(self, upload_id: str, offset: int, to: int) -> None:
        """Move the offset from ``offset`` to ``to`` under the claim (``to == offset`` renews
        it before a block is written); 423 when another worker has taken the upload over."""
        now = self._now()
        if not await self._storage.awrite(
            lambda uow: uow.tus_uploads.advance_patch(upload_id, self._claimant, offset, to, now)
        ):
            self._receiving.pop(upload_id, None)
            raise UploadRefused(423, _TAKEN)

    async def _receive(
        self, upload: TusUpload, state: _Receiving, path: Path, body: AsyncIterator[bytes]
    ) -> int:
        offset = upload.offset
        buffer = bytearray()

        async def flush() -> None:
            nonlocal offset
            if not buffer or state.digest is None:
                return
            data = bytes(buffer)
            buffer.clear()
            await self._advance(upload.id, offset, offset)  # still ours: write
            start = offset
            offset = await asyncio.to_thread(staging.append, path, offset, data, state.digest)
            state.hashed = offset
            if len(state.head) < HEAD_BYTES:
                state.head = (state.head + data)[:HEAD_BYTES]
            await self._advance(upload.id, start, offset)
            await self._check_type(upload, state, path, offset)

        try:
            async for chunk in body:
                if offset + len(buffer) + len(chunk) > upload.length:
                    await flush()
                    raise UploadRefused(
                        413, f"more bytes were sent than the upload's length {upload.length}"
                    )
                buffer += chunk
                if len(buffer) >= FLUSH_BYTES:
                    await flush()
        finally:
            # A cut connection ends the body early: keep what arrived (the client resumes).
            await flush()
        return offset

    async def _check_type(
        self, upload: TusUpload, state: _Receiving, path: Path, offset: int
    ) -> None:
        if state.media is not None or offset < min(HEAD_BYTES, upload.length):
            return
        state.media = sniff(state.head)
        if state.media is None:
            self._receiving.pop(upload.id, None)
            raise await self._arrival.not_media(upload, path)

    async def _finish(self, upload: TusUpload, state: _Receiving) -> OutsideItem:
        path = self._path(upload.id)
        if state.digest is not None and state.hashed == upload.length:
            sha256 = state.digest.hexdigest()
        else:
            digest, state.head = await asyncio.to_thread(staging.rehash, path, upload.length)
            sha256 = digest.hexdigest()
        media = state.media or sniff(state.head)
        self._receiving.pop(upload.id, None)
        if media is None:
            raise await self._arrival.not_media(upload, path)
        return await self._arrival.complete(upload, path, media, sha256)

    async def _reread(self, upload_id: str) -> TusUpload:
        found = await self._storage.aread(lambda uow: uow.tus_uploads.get(upload_id))
        if found is None:
            raise UploadRefused(404, "no such upload")
        return found

    async def result(self, token: str, upload_id: str) -> OutsideItem:
        """The outside item a finished upload became (finishing it first if a failure between
        the last byte and the store left it whole but not stored)."""
        state = self._receiving.setdefault(upload_id, _Receiving())
        async with state.lock:
            upload, _link = await self._own(token, upload_id)
            if upload.state is TusState.RECEIVING:
                if upload.offset < upload.length:
                    raise UploadRefused(409, "the upload is not complete yet")
                async with self._claimed(upload):
                    return await self._finish(upload, state)
            self._receiving.pop(upload_id, None)
            item_id = upload.outside_id or ""
            item = await self._storage.aread(lambda uow: uow.outside_items.get(item_id))
            if item is None:
                raise UploadRefused(404, "no such upload")
            return item

    async def terminate(self, token: str, upload_id: str) -> None:
        state = self._receiving.setdefault(upload_id, _Receiving())
        async with state.lock:
            upload, _link = await self._own(token, upload_id)
            if upload.state is not TusState.RECEIVING:
                raise UploadRefused(409, "a finished upload cannot be ended; it is evidence now")
            async with self._claimed(upload):
                await asyncio.to_thread(staging.discard, self._path(upload_id))
                now = self._now()
                await self._storage.awrite(
                    lambda uow: uow.tus_uploads.end(upload_id, TusState.TERMINATED, now)
                )
            self._receiving.pop(upload_id, None)
            log.info("upload %s (%s) cancelled by the uploader", upload_id, upload.filename)

    async def _discard(self, upload: TusUpload, why: str) -> None:
        await asyncio.to_thread(staging.discard, self._path(upload.id))
        now = self._now()
        await self._storage.awrite(
            lambda uow: uow.tus_uploads.end(upload.id, TusState.DISCARDED, now, error=why)
        )
        self._receiving.pop(upload.id, None)
        log.info(
            "unfinished upload %s (%s, %s of %s bytes) discarded: %s",
            upload.id,
            upload.filename,
            upload.offset,
            upload.length,
            why,
        )

    async def sweep(self) -> int:
        """Discard every unfinished upload whose link has ended, and staging files no upload
        owns; how many uploads were discarded."""
        now = self._now()

        def read(uow: UnitOfWork) -> list[tuple[TusUpload, UploadLink | None]]:
            return [(u, uow.upload_links.get(u.link_id)) for u in uow.tus_uploads.receiving()]

        found = await self._storage.aread(read)
        discarded = 0
        for upload, link in found:
            if link is None or link.state(now) is not LinkState.ACTIVE:
                state = self._receiving.setdefault(upload.id, _Receiving())
                async with state.lock:
                    await self._discard(upload, "its link ended before it was finished")
                discarded += 1
        keep = {u.id for u, link in found if link and link.state(now) is LinkState.ACTIVE}
        left = await asyncio.to_thread(staging.orphans, self.staging_dir, keep, now.timestamp())
        for orphan in left:
            await asyncio.to_thread(staging.discard, orphan)
        return discarded
