"""pycontroller.workqueue (see the package docs)."""
