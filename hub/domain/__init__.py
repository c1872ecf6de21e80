"""The hub's pure rules: no I/O, no web framework, no database; typed data in, decisions out."""
