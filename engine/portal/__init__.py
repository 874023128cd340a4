"""The web portal and the operator console: server-rendered pages on the API service.

Pages use the API's own sign-in, sessions, scoping and audit: a page route takes the
same :func:`engine.api.deps.signed_in` principal (from the portal's cookie) and calls the
same route functions as the JSON API, then renders the answer with Jinja2. Forms post,
redirect and get; a little JavaScript of our own (``static/``) adds live updates and
previews. Nothing here writes a store directly.
"""
