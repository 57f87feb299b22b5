"""The Optuna side of a search: storages, the study, a thin ask/tell adapter and trial read-back.

Trials are asked in batches (:func:`ask`), so candidates proposed together are evaluated
together, and told back with their :class:`~nos.search.record.Evaluation` (:func:`tell`), which
is stored as one user attribute. :func:`record_of` turns a stored trial back into a
:class:`~nos.search.record.TrialRecord`.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import time
import warnings
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import optuna
import sqlalchemy
from optuna.storages.journal import BaseJournalBackend
from optuna.trial import FrozenTrial, TrialState

from nos.arch import Arch
from nos.search.objectives import Evaluator, Objectives
from nos.search.record import (RECORD_ATTR, REFERENCE_ATTR, WORKER_ATTR, Evaluation, RecordError,
                               Training, TrialRecord, operators)
from nos.search.space import Genome, SearchSpace, candidate_key

CONFIG_ATTR = "nos_config"  # study user attribute: the configuration that defines the objectives
OPERATORS_ATTR, PROXY_LABEL_ATTR = "operators", "proxy_label"  # trial user attributes for people (optuna-dashboard)


def worker_id() -> str:
    """``host:pid`` of the calling process (computed when asked: a forked worker gets its own)."""
    return f"{socket.gethostname()}:{os.getpid()}"


class JournalFile(BaseJournalBackend):
    """Optuna's journal in a file, written and read through Optuna's public backend interface
    (:class:`~optuna.storages.journal.BaseJournalBackend`), durable once per batch.

    The file is the one Optuna's own ``JournalFileBackend`` writes (one JSON log per line), so
    Optuna and optuna-dashboard read it. Optuna's backend fsyncs every line and takes its lock
    by creating and removing a lock file; a search writes about twenty lines per trial, which
    costs most of a trial's time on a shared disk (3-5x slower, measured in
    ``experiments/results/search_throughput.md``). Here a write holds an ``flock`` on the file
    (one system call; the kernel releases it if the writer dies) and is appended and flushed
    to the operating system, so every other process sees it at once and a killed worker loses
    nothing; :meth:`sync` makes the file durable against a machine crash, and the search calls
    it after every batch. A read continues where the last one ended (a line still being
    written is read next time).
    """

    def __init__(self, path: str | Path):
        self.path = str(path)
        open(self.path, "ab").close()
        self._lines = 0  # complete lines read so far ...
        self._offset = 0  # ... and the byte where the next one starts

    def read_logs(self, log_number_from: int) -> Iterator[dict[str, Any]]:
        if log_number_from < self._lines:  # asked for logs read before: read the file again
            self._lines, self._offset = 0, 0
        size = os.stat(self.path).st_size
        if size == self._offset:
            return iter(())
        with open(self.path, "rb") as f:
            f.seek(self._offset)
            data = f.read(size - self._offset)
        end = data.rfind(b"\n") + 1  # what follows the last newline is still being written
        logs = []
        for line in data[:end].splitlines():
            if self._lines >= log_number_from:
                logs.append(json.loads(line))
            self._lines += 1
        self._offset += end
        return iter(logs)

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        text = "".join(json.dumps(log, separators=(",", ":")) + "\n" for log in logs)
        with open(self.path, "ab") as f:  # O_APPEND: one write lands whole at the end
            fcntl.flock(f, fcntl.LOCK_EX)  # released by the close; per open file, so safe across fork
            f.write(text.encode("utf-8"))

    def sync(self) -> None:
        """Make the file durable (fsync)."""
        fd = os.open(self.path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class JournalFileStorage(optuna.storages.JournalStorage):
    """A :class:`~optuna.storages.JournalStorage` on a :class:`JournalFile`, with :meth:`sync`."""

    def __init__(self, path: str | Path):
        self.file = JournalFile(path)
        super().__init__(self.file)

    def sync(self) -> None:
        self.file.sync()


def journal_storage(path: str | Path) -> JournalFileStorage:
    """A journal-file storage at ``path`` (its folder must exist)."""
    path = Path(path)
    if not path.parent.is_dir():
        raise ValueError(f"storage.path: folder {str(path.parent)!r} does not exist")
    return JournalFileStorage(path)


def rdb_storage(url: str) -> optuna.storages.RDBStorage:
    """An RDB storage (PostgreSQL, MySQL, SQLite URL) with a heartbeat, so a trial whose worker
    died is marked failed and retried once by the next worker (Optuna's
    RetryHeartbeatStaleTrialCallback). Errors name ``storage.url`` and say why it is unusable."""
    for attempt in range(3):
        try:
            with warnings.catch_warnings():  # the heartbeat arguments are marked experimental
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return optuna.storages.RDBStorage(
                    url, heartbeat_interval=10, grace_period=30,
                    heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=1),
                    engine_kwargs={"connect_args": {"connect_timeout": 10}} if url.startswith("postgresql") else {})
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError):
            time.sleep(0.5 * (attempt + 1))  # workers starting together race to create the tables
        except Exception as err:  # sqlalchemy raises many kinds; all mean "unusable storage"
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise ValueError(f"storage.url: cannot open {url!r}: {first}") from None
    raise ValueError(f"storage.url: cannot open {url!r}: its tables could not be created")


def make_storage(url: str | None = None, path: str | Path | None = None) -> optuna.storages.BaseStorage:
    """The study storage: ``url`` is an Optuna storage URL (``postgresql+psycopg2://...``,
    ``sqlite:///...``) or ``journal:<path>``; without a url, the journal file ``path``."""
    if url is None:
        if path is None:
            raise ValueError("storage: give storage.url or storage.path")
        return journal_storage(path)
    if not isinstance(url, str) or not url.strip():
        raise ValueError(f"storage.url: expected a storage URL, got {url!r}")
    if url.startswith("journal:"):
        return journal_storage(url[len("journal:"):])
    return rdb_storage(url)


def sync(storage: optuna.storages.BaseStorage) -> None:
    """Make what this process wrote durable (journal files; databases commit per write)."""
    if isinstance(storage, JournalFileStorage):
        storage.sync()


def open_study(name: str, storage: optuna.storages.BaseStorage, sampler: optuna.samplers.BaseSampler,
               objectives: Objectives) -> optuna.Study:
    """Create the study, or resume the one of this name in the storage (same objectives)."""
    study = optuna.create_study(study_name=name, storage=storage, sampler=sampler,
                                directions=objectives.directions, load_if_exists=True)
    if len(study.directions) != len(objectives.directions):
        raise ValueError(f"study_name: study {name!r} exists with {len(study.directions)} objective(s); "
                         f"search.objective={objectives.mode} needs {len(objectives.directions)}")
    if study.metric_names != objectives.names:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(objectives.names)
    return study


def ask(study: optuna.Study, space: SearchSpace, count: int, worker: str,
        pending: list[optuna.Trial]) -> list[tuple[optuna.Trial, Genome]]:
    """``count`` new trials and their genomes, proposed together by the study's sampler; each
    trial is appended to ``pending`` as soon as it exists (so an interrupted caller can fail it)."""
    asked = []
    for _ in range(count):
        trial = study.ask()
        pending.append(trial)
        trial.set_user_attr(WORKER_ATTR, worker)
        asked.append((trial, space.suggest(trial)))
    return asked


def tell(study: optuna.Study, trial: optuna.Trial, arch: Arch, key: str, evaluation: Evaluation,
         objectives: Objectives, cached_from: int | None = None) -> FrozenTrial:
    """Store ``evaluation`` in the trial (one user attribute), set its constraints, complete it;
    returns the finished trial. For people reading the study (optuna-dashboard), the trial also
    carries its operators, one letter per block, and the proxy's label as attributes. ``key``:
    the candidate's :func:`~nos.search.space.candidate_key`."""
    trial.set_user_attr(RECORD_ATTR, {**evaluation.to_dict(), "arch": arch.to_json(indent=None), "key": key,
                                      "cached_from": cached_from})
    trial.set_user_attr(OPERATORS_ATTR, operators(arch))
    trial.set_user_attr(PROXY_LABEL_ATTR, evaluation.proxy_label)
    for name, value in evaluation.constraints.items():
        trial.set_constraint(name, value)
    return study.tell(trial, objectives.values(evaluation))


def step(study: optuna.Study, space: SearchSpace, evaluator: Evaluator, objectives: Objectives, count: int,
         worker: str, pending: list[optuna.Trial], earlier: Mapping[str, int]) -> list[tuple[TrialRecord, str]]:
    """One batch of the search: ask ``count`` trials, evaluate their candidates together (one
    simulator call over every (architecture, array) pair), tell every result. Returns each
    finished trial's record and candidate key.

    ``pending`` holds the trials asked and not yet told (an interrupted caller fails them);
    ``earlier`` maps candidate keys to the earliest trial with that candidate (``cached_from``)."""
    asked = ask(study, space, count, worker, pending)
    candidates = [space.candidate(genome) for _, genome in asked]
    archs, arrays = [a for a, _ in candidates], [h for _, h in candidates]
    done = []
    for (trial, _), arch, array, evaluation in zip(asked, archs, arrays, evaluator.evaluate(archs, arrays)):
        key = candidate_key(arch, array)
        frozen = tell(study, trial, arch, key, evaluation, objectives, earlier.get(key))
        pending.remove(trial)
        done.append((record_of(frozen, arch), key))
    return done


def record_of(trial: FrozenTrial, arch: Arch | None = None) -> TrialRecord:
    """The :class:`TrialRecord` of a stored trial (``arch``: the already parsed architecture)."""
    attrs = trial.user_attrs
    stored = attrs.get(RECORD_ATTR)
    evaluation = None
    if isinstance(stored, dict):
        where = f"trial {trial.number}"
        evaluation = Evaluation.from_dict(stored, where)
        if arch is None:
            try:
                arch = Arch.from_json(stored["arch"])
            except (KeyError, ValueError) as err:
                raise RecordError(f"{where}.arch: {err}") from None
    duration = trial.duration.total_seconds() if trial.duration is not None else None
    return TrialRecord(
        number=trial.number, state=trial.state.name, genome=dict(trial.params), arch=arch, evaluation=evaluation,
        reference=attrs.get(REFERENCE_ATTR),
        datetime_start=trial.datetime_start.isoformat(timespec="seconds") if trial.datetime_start else None,
        duration_s=duration, cached_from=stored.get("cached_from") if isinstance(stored, dict) else None,
        worker=attrs.get(WORKER_ATTR))


TRAINED_ATTR = "trained:"  # study user attribute prefix: "trained:<trial number>" -> Training dict


def record_training(study: optuna.Study, number: int, training: Training) -> None:
    """Store trial ``number``'s stand-alone training in the study (a finished trial's own
    attributes are read-only, so it is a study attribute), replacing an earlier one."""
    study.set_user_attr(f"{TRAINED_ATTR}{number}", training.to_dict())


def trainings(study: optuna.Study) -> dict[int, Training]:
    """Every stored :class:`Training` of ``study``, by trial number."""
    return {int(key[len(TRAINED_ATTR):]): Training.from_dict(value, f"study {key}")
            for key, value in study.user_attrs.items() if key.startswith(TRAINED_ATTR)}


def stored_key(trial: FrozenTrial) -> str | None:
    """The candidate key a completed trial stored, if any."""
    stored = trial.user_attrs.get(RECORD_ATTR)
    return stored.get("key") if isinstance(stored, dict) else None


def _alive(worker: str) -> bool:
    """Whether the process ``host:pid`` still runs (processes on other hosts count as alive)."""
    host, _, pid = worker.rpartition(":")
    if host != socket.gethostname():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError):
        return True
    return True


def recover_stale_trials(study: optuna.Study, storage: optuna.storages.BaseStorage) -> list[int]:
    """Mark RUNNING trials whose worker process died as FAIL and retry each one's choices once.

    Storages with a heartbeat (RDB) do this themselves; for the journal file, which has no
    heartbeat, every trial records its worker as ``host:pid`` and a worker starting on the
    same host checks that the process is gone. Returns the trial numbers marked failed.
    """
    if isinstance(storage, optuna.storages.RDBStorage):
        return []
    study_id = storage.get_study_id_from_name(study.study_name)
    failed = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        worker = t.user_attrs.get(WORKER_ATTR)
        if worker is None or _alive(worker):
            continue
        trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, t.number)
        try:
            storage.set_trial_state_values(trial_id, TrialState.FAIL)
        except optuna.exceptions.UpdateFinishedTrialError:
            continue  # another worker recovered it first
        failed.append(t.number)
        if "retry_of" not in t.user_attrs and t.params:
            retry = {"retry_of": t.number}
            if REFERENCE_ATTR in t.user_attrs:
                retry[REFERENCE_ATTR] = t.user_attrs[REFERENCE_ATTR]
            study.enqueue_trial(t.params, user_attrs=retry, skip_if_exists=False)
    return failed


def fail(study: optuna.Study, trials: Sequence[optuna.Trial]) -> None:
    """Mark trials that were asked but never told as failed (an interrupted or broken batch)."""
    for trial in trials:
        with contextlib.suppress(optuna.exceptions.UpdateFinishedTrialError, ValueError, RuntimeError):
            study.tell(trial, state=TrialState.FAIL)
