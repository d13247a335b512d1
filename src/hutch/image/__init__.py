"""Images: references, registry client, content store and layer unpacking (a later issue)."""
