"""Snapshots for the hub's camera picker (never evidence), and their MQTT signalling."""
