"""The container's root filesystem: mounts, devices, pivot_root, and paths resolved inside the root."""
