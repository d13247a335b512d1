"""Thin ctypes wrappers over the Linux syscalls and /proc files that the standard library lacks."""
