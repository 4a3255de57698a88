"""pycontroller.record (see the package docs)."""
