"""pycontroller.cache (see the package docs)."""
