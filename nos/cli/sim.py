"""``nos-sim``: the Hydra app over :func:`nos.sim.simulate` (config in ``conf/sim.yaml``).

Usage: ``nos-sim [network=... variant=... | arch=arch.json | records=layers.json]
[hardware=<conf/hardware/*>] [hardware.rows=128 ...] [tech.mac_pj=0.5 ...] [model=paper] [output=json]``.
Prints a per-layer table and totals, energy and area included (or one JSON object with
``output=json``). Bad input exits 2 with one line on stderr.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import hydra
from omegaconf import DictConfig

from nos import zoo
from nos.arch import Arch
from nos.cli.common import CONFIG_PATH, fail, run_app, store_schema, to_object
from nos.export import read_record
from nos.run.config import HardwareSchema
from nos.sim import Hardware, LayerTable, SimResult, Tech, simulate

APP = "nos-sim"
OUTPUTS = ("table", "json")


@dataclass
class SimConfig:
    """``conf/sim.yaml``: what to simulate on which array."""

    network: str = "mobilenet_v2"  # a zoo network (nos-zoo lists them) ...
    variant: str = "baseline"  # ... and its variant
    arch: Optional[str] = None  # or an arch.json (overrides network)
    records: Optional[str] = None  # or a JSON list of layer records (overrides network and arch)
    input_size: Optional[int] = None  # image size for network/arch; None: the arch's own
    model: str = "scalesim"  # scalesim | paper | paper_era
    output: str = "table"  # table | json
    hardware: Any = field(default_factory=dict)  # nos.sim.Hardware fields (conf/hardware/)
    tech: Any = field(default_factory=dict)  # nos.sim.Tech fields (conf/tech/), checked by Tech.from_dict


def _read_json(path: str, what: str) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except OSError as err:
        raise ValueError(f"{what}: cannot read {path}: {err.strerror}") from None
    except json.JSONDecodeError as err:
        raise ValueError(f"{what}: {path} is not valid JSON ({err.msg} at line {err.lineno})") from None


def _workload(cfg: SimConfig) -> tuple[str, Arch | LayerTable]:
    """(name, what to simulate) from the config's records / arch / network keys."""
    if cfg.records is not None:
        return Path(cfg.records).stem, LayerTable.from_records(_read_json(cfg.records, "records"))
    if cfg.arch is not None:
        arch = Arch.from_dict(read_record(cfg.arch)["arch"])  # a nos-export arch.json or a plain Arch JSON
        return arch.name, arch
    return f"{cfg.network}/{cfg.variant}", zoo.get(cfg.network, cfg.variant)


def format_table(name: str, result: SimResult) -> str:
    """The per-layer table and totals of a one-network, one-config result, as text."""
    header = (f"{'#':>3} {'layer':<22} {'kind':<9} {'ifmap':>9} {'filter':>6} {'C':>5} {'M':>5} {'s':>1} "
              f"{'g':>4} {'cycles':>10} {'util':>6} {'DRAM words':>11} {'mem cyc':>9} {'energy uJ':>10}")
    lines = [header, "-" * len(header)]
    for i, r in enumerate(result.layer_records()):
        lines.append(f"{i:>3} {r['name'][:22]:<22} {r['kind']:<9} {r['ifmap_h']:>4}x{r['ifmap_w']:<4} "
                     f"{r['filter_h']:>2}x{r['filter_w']:<3} {r['channels']:>5} {r['num_filters']:>5} {r['stride']:>1} "
                     f"{r['groups']:>4} {r['cycles']:>10,} {r['utilization']:>6.1%} "
                     f"{r['dram_ifmap_reads'] + r['dram_filter_reads'] + r['dram_ofmap_writes']:>11,} "
                     f"{r['memory_cycles']:>9,} {r['energy_pj'] / 1e6:>10.3f}")
    s = result.summary()
    hw = result.hardware[0]
    lines += ["", f"{name} on {hw.rows}x{hw.cols} {hw.dataflow}{' +FuSe' if hw.fuse else ''}, {hw.fold} folds, "
                  f"{hw.drain} drain, {hw.memory} memory, model {s['model']}",
              f"compute cycles   {s['total_cycles']:>14,}   ({s['latency_ms']:.4f} ms at {hw.clock_mhz:g} MHz)",
              f"memory cycles    {s['memory_cycles']:>14,}   ({s['dram_words']:,} DRAM words at "
              f"{hw.dram_words_per_cycle:g} words/cycle)",
              f"roofline cycles  {s['roofline_cycles']:>14,}   ({s['roofline_latency_ms']:.4f} ms)",
              f"utilization      {s['utilization']:>14.2%}   ({s['macs']:,} MACs)",
              "by kind          " + ", ".join(f"{kind} {cycles:,}" for kind, cycles in s["breakdown"].items()),
              f"energy           {s['energy_pj'] / 1e6:>14,.1f} uJ  ("
              + ", ".join(f"{part} {pj / 1e6:,.1f}" for part, pj in s["energy_breakdown"].items()) + ")",
              f"area             {s['area_mm2']:>14,.2f} mm^2"]
    return "\n".join(lines)


def _prepare(cfg: DictConfig) -> tuple[SimConfig, Hardware, Tech]:
    c = to_object(cfg, SimConfig)
    if c.output not in OUTPUTS:
        raise ValueError(f"output: unknown output {c.output!r} (allowed: {', '.join(OUTPUTS)})")
    return c, Hardware.from_dict(dataclasses.asdict(c.hardware)), Tech.from_dict(c.tech)


@hydra.main(config_path=CONFIG_PATH, config_name="sim", version_base="1.3")
def _sim(cfg: DictConfig) -> None:
    try:
        c, hardware, tech = _prepare(cfg)
        name, workload = _workload(c)
        result = simulate(workload, hardware, model=c.model, input_size=c.input_size, tech=tech)
        if c.output == "json":
            text = json.dumps({"network": name, **result.summary(), "per_layer": result.layer_records()})
        else:
            text = format_table(name, result)
    except (ValueError, TypeError) as err:
        fail(APP, str(err))
    print(text)


def register() -> None:
    """Register this app's structured-config schemas with Hydra (done by :func:`main`, never at import)."""
    store_schema("sim_schema", SimConfig, {"hardware": HardwareSchema})


def main() -> None:
    register()
    run_app(APP, _sim, "sim", _prepare)


if __name__ == "__main__":
    main()
