"""The rules engine: schema (validation), compiler (closures), context (one message's facts), actions, trace.

``routing.services.rules`` is the entry point; nothing here is called by other apps directly.
"""
