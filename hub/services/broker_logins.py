"""The broker's password file, rewritten by the hub, and the broker told to reread it.

Why a password file and not Mosquitto's dynamic security plugin: the ACL never changes (one
``pattern`` rule set keyed on the username, checked against ``ACL_RULES`` by a test), so a site
is exactly one line in the password file; the hub's database stays the one record of who may
connect (the file is rebuilt from it in full each time); and Debian 12's Mosquitto 2.0.11
rereads both files on SIGHUP and at once disconnects every connected client whose login is no
longer valid (measured: about 20 ms), which is what revocation needs. The plugin would need an
admin login, its own JSON state that the broker rewrites, and ``mosquitto_ctrl``.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
from collections.abc import Mapping
from typing import Final

from cctv_common.files import atomic_write
from hub.domain.broker_logins import passwd_text, password_hash
from hub.settings_enrollment import EnrollmentSettings

log = logging.getLogger(__name__)

RELOAD_TIMEOUT_SECONDS: Final = 30.0


class BrokerReloadError(RuntimeError):
    """The password file was written but the broker could not be told to reread it."""


class BrokerLogins:
    """Writes ``broker_dir/passwd`` (0600) and makes the broker reload it."""

    def __init__(self, settings: EnrollmentSettings, hub_user: str, hub_password: str) -> None:
        self._settings = settings
        self._hub_user = hub_user
        self._hub_password = hub_password

    def write(self, site_hashes: Mapping[str, str]) -> None:
        """Replace the password file: the hub's login plus each site's (site id -> hash)."""
        if self._hub_user in site_hashes:
            raise ValueError(f"a site cannot be called {self._hub_user!r}: that is the hub's login")
        hashes = {**site_hashes, self._hub_user: password_hash(self._hub_password)}
        atomic_write(self._settings.passwd_path, passwd_text(hashes), mode=0o600)

    def reload(self) -> None:
        """SIGHUP to the broker's pid (or ``reload_command``); BrokerReloadError if impossible."""
        command = self._settings.reload_command
        if command:
            try:
                result = subprocess.run(
                    list(command), capture_output=True, timeout=RELOAD_TIMEOUT_SECONDS, check=False
                )
            except (OSError, subprocess.TimeoutExpired) as exc:
                raise BrokerReloadError(f"broker reload command failed: {exc}") from exc
            if result.returncode != 0:
                raise BrokerReloadError(
                    f"broker reload command exited {result.returncode}: "
                    f"{result.stderr.decode(errors='replace').strip()[:300]}"
                )
            return
        pid_path = self._settings.pid_path
        try:
            pid = int(pid_path.read_text(encoding="ascii").strip())
            os.kill(pid, signal.SIGHUP)
        except (OSError, ValueError) as exc:
            raise BrokerReloadError(
                f"cannot signal the broker (pid file {pid_path}): {exc}; the password file is"
                " written and the broker reads it when it starts"
            ) from exc
        log.info("broker pid %s told to reread its password file", pid)
