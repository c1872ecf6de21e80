"""Retrieval from existing NVRs: ONVIF Profile G recording search and replay, and vendor
playback URLs, into the same signed evidence format as a ring-buffer clip.

Modules, from the wire up:

- `rtsp_messages`: RTSP URLs, answers, errors and Digest/Basic authentication (pure).
- `rtsp`: a small asyncio RTSP client over TCP (requests, limits, keep-alive).
- `interleaved`: the byte stream after PLAY split into frames and RTSP messages (pure).
- `sdp`: the video track of a DESCRIBE answer.
- `rtp`: RTP packets and the ONVIF replay header extension (0xABAC: NTP time, C/E/D/T flags).
- `depacketize`: H.264 / H.265 RTP payloads into access units; losses counted, never passed on.
- `replay`: one replay session (Require: onvif-replay, Range: clock=, Rate-Control, Frames),
  access units spooled to disk with the NVR's frame times.
- `mux`: the access units into one MP4 by stream copy.
- `gaps`: the clip's gaps with their causes.
- `retrieve`: `search_nvr` and `retrieve_from_nvr`, the calls the CLI (and later the agent) use.

The ONVIF operations (FindRecordings, GetReplayUri, ...) live with the others in
`edge_agent.onvif`.
"""
