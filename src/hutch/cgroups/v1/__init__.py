"""cgroup v1: one class per controller, each writing its own hierarchy, and the v1 manager."""
