"""Nightline's HTTP API (``nightline api``): one FastAPI service for telephony ingest,
the clinician app, the operator desk and practice administration.

``app`` builds the application (``create_api``); ``routers/`` holds one module per
audience; ``deps`` the dependencies every route takes (services, principal, scope);
``security`` the secrets (API keys); ``problems`` the RFC 9457 errors; ``middleware`` the
security headers, body limit and metrics; ``services`` what routes work with.
"""
