"""``nos-export``: the Hydra app over :func:`nos.export.export` (config ``conf/export.yaml``, schema
:class:`nos.export.ExportOptions`; ``nos-export --help``).

Usage: ``nos-export run_dir=<search run dir> out_dir=<folder> [select=... trial=... weights=... ...]``.
Bad input exits 2 with one line on stderr and nothing written.
"""
from __future__ import annotations

import dataclasses
import logging

import hydra
from omegaconf import DictConfig

from nos.cli.common import CONFIG_PATH, fail, run_app, store_schema, to_object
from nos.export import ExportError, ExportOptions, export

APP = "nos-export"


def _options(cfg: DictConfig) -> ExportOptions:
    return to_object(cfg, ExportOptions)


@hydra.main(config_path=CONFIG_PATH, config_name="export", version_base="1.3")
def _export(cfg: DictConfig) -> None:
    try:
        folders = export(**dataclasses.asdict(_options(cfg)), progress=print)
    except (ExportError, ValueError) as err:
        fail(APP, str(err))
    print(f"{len(folders)} exported; index: {folders[0].parent / 'index.csv'}")


def register() -> None:
    """Register this app's structured-config schemas with Hydra (done by :func:`main`, never at import)."""
    store_schema("export_schema", ExportOptions)


def main() -> None:
    register()
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)  # "torchvision is not installed" notes
    run_app(APP, _export, "export", _options)


if __name__ == "__main__":
    main()
