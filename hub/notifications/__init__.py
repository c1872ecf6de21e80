"""Keeping the requester updated: the mail for each step of a footage request and its sending."""
