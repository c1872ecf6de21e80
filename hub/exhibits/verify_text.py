"""VERIFY.txt: how to check the package without the hub, in plain words and exact commands."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cctv_common.clock import iso_utc
from hub.exhibits.inputs import PackageRequest


def verify_text(
    request: PackageRequest, exhibits: Sequence[dict[str, Any]], hub_key_id: str
) -> str:
    listing = "\n".join(
        f"  {e['reference']:<16} {e['kind']:<8} {e['sha256']}  {e['clip']}" for e in exhibits
    )
    return f"""\
EVIDENCE EXPORT PACKAGE {request.package_id}
Exported {iso_utc(request.created_at)} by {request.created_by} from hub {request.hub_id}.
Footage request: {request.request_reference or "-"}

EXHIBITS (reference, kind, SHA-256, file)
{listing}

The hub signed this package with key id {hub_key_id} (the first 16 hex digits of the SHA-256 of
the raw Ed25519 public key in hub_key.pem). Compare it with the key id your force publishes for
its hub: a package signed by another key is not from that hub.

WHAT IS CHECKED
 1. package.json lists every file with its size and SHA-256; package.sig is its Ed25519
    signature by the hub key.
 2. Every file is present with that size and SHA-256, and nothing else is in the package.
 3. Each master exhibit's manifest.json was signed at the site (manifest.sig, site_key.pem) and
    gives the SHA-256 of clip.mp4. Each derived item's manifest was signed by the hub and names
    the SHA-256 of the master it was made from. Footage from elsewhere (kind "outside", NOT
    FROM A SITE AGENT: uploaded by a council department, a business or the public) is the file
    exactly as it arrived, with the uploader's statement (statement.json) and the receipt the
    hub signed when it arrived (receipt.json, receipt.sig), naming the file's SHA-256.
 4. Each custody row's hash is the SHA-256 of the row's other fields, and rows in sequence chain.

THREE WAYS TO CHECK (no hub, no network, nothing to install)
 A. Python 3.11 or later (standard library only):
        python3 verify.py .              (in the unzipped folder)
        python3 verify.py PACKAGE.zip    (on the zip itself)
        python3 verify.py . --hub-key-id {hub_key_id}
    It prints PASS or FAIL for every check and names any file, exhibit or custody row that
    fails; the exit status is 0 only when everything passes.
 B. A web browser (Chrome/Edge 137+, Firefox 129+, Safari 17+): unzip the package, open
    verify.html, and choose the unzipped folder. It checks the same things with the browser's
    own SHA-256 and Ed25519 (WebCrypto), offline, and plays each clip with its camera, time
    window and camera clock offset beside it.
 C. By hand, with common tools:
        sha256sum exhibits/*/clip.mp4       compare with package.json and each manifest.json
        base64 -d package.sig > package.sig.bin
        openssl pkeyutl -verify -pubin -inkey hub_key.pem -rawin -in package.json \\
            -sigfile package.sig.bin
    and the same for each exhibit's manifest.json, manifest.sig and site_key.pem.

The masters are the recordings as the camera made them: copied from the camera's stream without
re-encoding, hashed and signed at the site, checked by the hub when stored, and copied into this
package byte for byte. continuity_statement.pdf says who retrieved what, from which camera, when,
with which hashes; each exhibit's audit_trail.pdf lists every custody event of that item.
"""
