"""Live view: one shared forwarding connection per camera (source), the aiortc track that sends its
H.264 untouched (track), the per-viewer peer connections (service) and their MQTT signalling.
"""
