"""pycontroller.leaderelection (see the package docs)."""
