"""The portal's page routes, one module per part of the portal."""
