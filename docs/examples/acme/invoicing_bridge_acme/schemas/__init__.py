"""Acme Books payloads to the neutral model (``read``) and back (``write``)."""
