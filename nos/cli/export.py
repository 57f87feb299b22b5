"""``nos-export``: the Hydra app over :func:`nos.export.export` (config in ``conf/export.yaml``).

Usage: ``nos-export run_dir=<search run dir> out_dir=<folder> [select=... trial=... ...]``.
Bad input exits 2 with one line on stderr and nothing written.
"""
from __future__ import annotations

import logging

import hydra
from omegaconf import DictConfig

from nos.cli.common import CONF_DIR, fail, run_app
from nos.export import export


@hydra.main(config_path=CONF_DIR, config_name="export", version_base="1.3")
def _export(cfg: DictConfig) -> None:
    try:
        folders = export(cfg.run_dir, cfg.out_dir, storage=cfg.storage_url, study_name=cfg.study_name,
                         select=cfg.select, trial=cfg.trial, min_proxy=cfg.min_proxy,
                         max_latency_ms=cfg.max_latency_ms, max_latency_cycles=cfg.max_latency_cycles,
                         checkpoint=cfg.checkpoint, onnx=cfg.onnx, seed=cfg.seed)
    except ValueError as err:
        fail("nos-export", str(err))
    for folder in folders:
        print(folder)
    print(f"index: {folders[0].parent / 'index.csv'}")


def main() -> None:
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)  # "torchvision is not installed" notes
    run_app(_export)


if __name__ == "__main__":
    main()
