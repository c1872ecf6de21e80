"""Exhibits for court: export packages that verify offline, and derived items (working copies,
redacted copies). Takes plain inputs (files, manifest bytes, custody rows as dicts) so that it
stands apart from how the hub stores things; ``hub.exhibits.cli`` is the one place that reads
items from the hub.
"""
