"""Control groups: layout detection, one manager per layout, one class per controller."""
