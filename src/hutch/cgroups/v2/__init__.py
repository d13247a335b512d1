"""cgroup v2: one class per controller, all writing the one unified directory, and the v2 manager."""
