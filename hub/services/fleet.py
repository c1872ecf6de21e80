"""Fleet health for engineers (``GET /api/fleet``, ``/metrics``) and its alerts, mailed to the
engineers once per alert episode.

The rules are pure (``hub.domain.fleet_rules``); this module reads what they need (sites and
their cameras as last reported, each camera's last stored clip and last event), runs the sweep
every ``[alerts] sweep_seconds``, and keeps which alert episodes are open in
``data_dir/alert_episodes.json`` so a restarted hub does not mail the same episode twice. An
episode ends when its condition clears; the next time it holds is a new episode and a new mail.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Final

from cctv_common.clock import iso_utc, utc_now
from cctv_common.files import atomic_write
from hub.domain.fleet_rules import Alert, SiteHealth, fleet_health, new_and_cleared
from hub.domain.records import CameraRecord
from hub.notifications.mailer import Mailer
from hub.notifications.messages import SUBJECT_PREFIX, NotificationStep, RequestMail
from hub.settings import HubSettings
from hub.settings_fleet import AlertSettings
from hub.storage.ports import HubStorage, UnitOfWork

log = logging.getLogger(__name__)

EPISODES_FILE: Final = "alert_episodes.json"
RETRIEVAL_LOOKBACK: Final = timedelta(days=31)


def fleet_mailer(settings: HubSettings) -> Mailer | None:
    """The engineers' own mail queue, when there is a relay and someone to tell."""
    if settings.smtp is None or not settings.alerts.engineer_emails:
        return None
    return Mailer(settings.smtp.mailer_settings())


class FleetService:
    def __init__(
        self,
        storage: HubStorage,
        settings: AlertSettings,
        data_dir: Path,
        *,
        mailer: Mailer | None = None,
        now: Callable[[], datetime] = utc_now,
    ) -> None:
        self._storage = storage
        self._settings = settings
        self._bounds = settings.bounds()
        self._episodes_path = data_dir / EPISODES_FILE
        self._mailer = mailer
        self._now = now
        self._open: set[str] | None = None
        self.mails_sent = 0

    async def fleet(self) -> list[SiteHealth]:
        now = self._now()

        def read(uow: UnitOfWork) -> list[SiteHealth]:
            # Every minute, in every worker: one pass over the cameras and one row per camera,
            # not a scan of every camera per site nor every job of the last month (the memory
            # of each worker grew with the jobs, by the scale benchmark).
            by_site: dict[str, list[CameraRecord]] = defaultdict(list)
            for camera in uow.sites.cameras():
                by_site[camera.site_id].append(camera)
            sites = [(s, by_site.get(s.id, [])) for s in uow.sites.all()]
            return fleet_health(
                sites,
                now=now,
                bounds=self._bounds,
                last_retrievals=uow.jobs.last_stored_by_camera(now - RETRIEVAL_LOOKBACK),
                last_events=uow.camera_events.latest_times(),
            )

        return await self._storage.aread(read)

    # Alert episodes.

    def _load_open(self) -> set[str]:
        try:
            data = json.loads(self._episodes_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return set()
        except (OSError, ValueError) as exc:
            log.warning(
                "alert episodes in %s unreadable (%s): starting afresh", self._episodes_path, exc
            )
            return set()
        return {str(key) for key in data.get("open", [])} if isinstance(data, dict) else set()

    def _save_open(self, keys: set[str]) -> None:
        text = json.dumps({"open": sorted(keys)}, indent=1) + "\n"
        atomic_write(self._episodes_path, text, mode=0o600)

    async def sweep(self) -> list[Alert]:
        """Work out the alerts; mail and log each new episode once; return the alerts now."""
        sites = await self.fleet()
        alerts = [alert for site in sites for alert in site.all_alerts]
        if self._open is None:
            self._open = await asyncio.to_thread(self._load_open)
        started, ended = new_and_cleared(alerts, self._open)
        for alert in started:
            where = f"site {alert.site_id}" + (
                f" camera {alert.camera_id}" if alert.camera_id else ""
            )
            log.warning("ALERT %s: %s: %s", alert.kind.value, where, alert.message)
            self._mail(alert, where)
        for key in ended:
            log.info("alert cleared: %s", key)
        if started or ended:
            self._open = (self._open - ended) | {alert.key for alert in started}
            await asyncio.to_thread(self._save_open, self._open)
        return alerts

    def _mail(self, alert: Alert, where: str) -> None:
        recipients = self._settings.engineer_emails
        if not recipients or self._mailer is None:
            return
        since = f"\nSince: {iso_utc(alert.since)}" if alert.since else ""
        body = (
            f"{where}: {alert.message}{since}\n\n"
            "The engineers' fleet page on the hub shows every site and camera (log in as an"
            " engineer). This mail is sent once per alert episode.\n"
        )
        subject = f"{SUBJECT_PREFIX} {alert.kind.value.replace('_', ' ')}: {where}"
        self._mailer.send(
            RequestMail(
                to=tuple(recipients),
                subject=subject[:200],
                body=body,
                request=alert.key,
                step=NotificationStep.FLEET_ALERT,
            )
        )
        self.mails_sent += 1

    async def run(self) -> None:
        if self._mailer is not None:
            self._mailer.start()
        try:
            while True:
                try:
                    await self.sweep()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("fleet alert sweep failed")
                await asyncio.sleep(self._settings.sweep_seconds)
        finally:
            if self._mailer is not None:
                await asyncio.to_thread(self._mailer.close)
