"""OCI runtime-spec: the config model, the container init and the runtime CLI."""
