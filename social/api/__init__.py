"""The partner API's social resources (channels, conversations, messages, identities), built on ``crm.api``."""
