"""hutch-runtime: runc's command line over the lifecycle verbs of hutch.oci."""
