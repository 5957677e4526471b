"""Routers of our own API, composed in `app.main`."""
