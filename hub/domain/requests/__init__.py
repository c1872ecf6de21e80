"""Footage requests (issue 11): the rules from a police request to released, disclosed evidence.

Pure: frozen dataclasses and enums in, decisions and clear refusals out. Storage, routes, pages and
mail live elsewhere and call these. docs/requests.md describes the workflow.
"""
