"""The hub's configuration: the TOML file, its sections, validated at start."""
