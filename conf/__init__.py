"""nos's Hydra configs, shipped in the package as ``nos.conf`` (setup.cfg maps it to this folder)."""
