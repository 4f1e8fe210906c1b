"""The monitoring centre: many homes' hubs, one operators' console; family first, then centre."""
