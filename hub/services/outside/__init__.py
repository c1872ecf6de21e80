"""Footage from elsewhere (issue 12 item 6): upload links, the tus server's workflow, what a
finished file becomes (an outside item, "not from a site agent"), and what the export reads."""
