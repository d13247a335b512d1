"""The engine: containers run in the foreground, their monitor and the Python API."""
