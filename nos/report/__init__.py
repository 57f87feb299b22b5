"""Reports of a search: files a user opens without nos (JSON, CSV) and TensorBoard events."""
