"""Writers of a run's reports, all taking :class:`~nos.search.record.TrialRecord` values: files a
user opens without nos (JSON, CSV, markdown, PNG) and TensorBoard events."""
