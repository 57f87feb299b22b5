"""A search run end to end, above the search, the reports and the export: :class:`Run` owns a
run directory (create or resume the study, score the paper's variants, run trials with a
progress line, stop cleanly, keep the reports current); :class:`RunConfig` is its input."""
from nos.run.config import RunConfig
from nos.run.run import Outcome, Run

__all__ = ["Outcome", "Run", "RunConfig"]
