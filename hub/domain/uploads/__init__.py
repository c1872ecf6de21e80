"""Footage from elsewhere (issue 12 item 6): upload links, the tus protocol's rules, what a file
is by its content, and the uploader's statement. Pure: no I/O, no framework."""
