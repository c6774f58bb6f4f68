"""Routing write operations and queries. Admin actions, API views and tasks all go through these functions."""
