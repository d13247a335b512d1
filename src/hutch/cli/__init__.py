"""The docker-like `hutch` command line."""
