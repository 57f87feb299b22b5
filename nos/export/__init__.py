"""Export of chosen architectures: folders a user can take anywhere, and loading them back.

``export(run_dir, out_dir)`` writes one folder per chosen trial (``arch.json``, standalone
``model.py``, ``model.pt2`` and, when asked, ``model.onnx``, ``README.md``) and ``index.csv``;
``load(path)`` rebuilds the network from such a folder or an arch JSON file.
See ``docs/export.md``.
"""
from nos.export.exporter import ExportOptions, export, folder_name, write_index
from nos.export.folder import FORMATS, SCHEMA, WEIGHT_MODES, load, read_record, write_export
from nos.export.runs import ExportError, SearchRun, read_run, read_study, select
from nos.export.source import model_source

__all__ = ["FORMATS", "SCHEMA", "WEIGHT_MODES", "ExportError", "ExportOptions", "SearchRun", "export", "folder_name",
           "load",
           "model_source", "read_record", "read_run", "read_study", "select", "write_export", "write_index"]
