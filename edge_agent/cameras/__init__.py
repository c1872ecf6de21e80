"""The site's cameras as the agent knows them: ONVIF devices (stream URIs, identity, clock offset,
events, snapshots) and the camera facts that go into a manifest.
"""
