"""The container lifecycle: its state directory and status, and one module per runtime verb."""
