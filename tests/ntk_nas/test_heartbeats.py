"""A trial whose worker died before its first heartbeat is failed like any other stale trial."""

from __future__ import annotations

import time

import optuna

from ntk_nas import study as plugin

HEARTBEAT = 1  # seconds; the grace period is twice that
PAST_GRACE = 2 * HEARTBEAT + 1.5  # seconds; SQLite keeps heartbeats to the second
STATES = ("RUNNING", "FAIL", "WAITING", "COMPLETE")
RUNNING, FAIL, WAITING, COMPLETE = (optuna.trial.TrialState[s] for s in STATES)


def _study(tmp_path, heartbeat: int | None = HEARTBEAT) -> optuna.Study:
    url = f"sqlite:///{tmp_path / 'study.db'}"
    storage = plugin.open_storage(url, heartbeat_interval=heartbeat)
    return optuna.create_study(study_name="s", storage=storage, load_if_exists=True)


def _states_after_stale_check(tmp_path) -> list[optuna.trial.TrialState]:
    study = _study(tmp_path)
    with plugin._known_experimental():
        optuna.storages.fail_stale_trials(study)
    return [t.state for t in study.trials]


def test_trial_killed_before_its_first_heartbeat_is_failed_after_the_grace_period(tmp_path):
    # Without heartbeats the storage creates a trial with none, as a worker killed between
    # `study.ask` and its heartbeat thread's first beat leaves it.
    _study(tmp_path, heartbeat=None).ask()
    assert _states_after_stale_check(tmp_path) == [RUNNING]
    time.sleep(PAST_GRACE)
    assert _states_after_stale_check(tmp_path) == [FAIL, WAITING]  # failed, and its retry


def test_a_running_trial_beats_as_soon_as_it_starts(tmp_path):
    study = _study(tmp_path)  # as `study.optimize` reaches it: through Optuna's cache
    storage, study_id = study._storage, study._study_id
    trial_id = storage.create_new_trial(study_id)  # no heartbeat thread: the storage beat once
    assert storage._get_stale_trial_ids(study_id) == []
    time.sleep(PAST_GRACE)
    assert storage._get_stale_trial_ids(study_id) == [trial_id]


def test_a_retried_trial_beats_as_soon_as_it_runs(tmp_path):
    study = _study(tmp_path)  # as `study.optimize` reaches it: through Optuna's cache
    storage, study_id = study._storage, study._study_id
    trial_id = storage.create_new_trial(study_id, optuna.trial.create_trial(state=WAITING))
    time.sleep(PAST_GRACE)
    assert storage.set_trial_state_values(trial_id, RUNNING)
    assert storage._get_stale_trial_ids(study_id) == []


def test_search_fails_and_reruns_the_trial_of_a_dead_worker_before_it_starts(tmp_path):
    import ntk_nas

    url = f"sqlite:///{tmp_path / 'study.db'}"
    dead = optuna.create_study(study_name="s", storage=url, direction="maximize")
    dead.ask()  # its worker was killed before the first heartbeat
    time.sleep(PAST_GRACE)
    found = ntk_nas.search(
        "nb201",
        "params",
        "gaussian:8,8,3",
        2,
        storage=url,
        study_name="s",
        heartbeat_interval=HEARTBEAT,
        batch_size=4,
        build_options={"C": 4, "N": 1},
        show_progress=False,
    )
    assert [t.state for t in found.trials] == [FAIL, COMPLETE, COMPLETE]
