"""The one base of every image error: the command line turns any of them into one line and exit 125."""


class ImageError(Exception):
    """A reference, registry, store, unpack or pull failure, with a message for the user."""
