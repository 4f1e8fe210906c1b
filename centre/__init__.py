"""The monitoring centre: many homes' hubs, one console; family first, then the centre."""
