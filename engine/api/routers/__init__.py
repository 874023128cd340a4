"""One router module per audience of the API (ingest, app, desk, admin, usage), plus health."""
