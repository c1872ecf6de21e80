"""Derived items: copies the hub makes from a master exhibit (never replacing it).

``h264`` a court-playable H.264 copy; ``timestamp`` a copy with the date and time burnt in;
``redact`` a copy with faces (OpenCV's Haar cascade, tracked across frames) and given boxes
blurred. Each has its own manifest naming the source's SHA-256 and the operation with its
parameters, signed by the hub key: these are made at the hub, not at the site.
"""
