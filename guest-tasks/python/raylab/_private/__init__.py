"""Names Ray programs import from Ray's internals, where raylab has them."""
