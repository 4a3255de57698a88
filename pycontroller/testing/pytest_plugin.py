"""pytest plugin (entry point ``pycontroller``): fixtures for testing operators. Filled in by the testing issue."""
