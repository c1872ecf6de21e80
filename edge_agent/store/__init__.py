"""The agent's SQLite store: the segment index (segments, gaps, pins, events) and the outbox (clip
jobs and cut clips until the hub has them), and the recorder's narrow port to the index.
"""
