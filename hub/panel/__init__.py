"""The hub's wired panel: GPIO buttons in, incidents onto the status light."""
