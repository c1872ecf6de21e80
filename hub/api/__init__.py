"""The hub's REST API (OpenAPI at ``/docs``): one router per resource under ``routes/``."""
