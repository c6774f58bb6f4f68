"""CRM write operations. Admin actions, API views, imports and tasks all go through these functions."""
