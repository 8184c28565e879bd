"""An RDB storage whose heartbeats also cover a worker killed before its trial's first beat."""

from __future__ import annotations

import datetime
from collections.abc import Sequence

import optuna
from optuna.storages._rdb import models
from optuna.trial import FrozenTrial, TrialState


class HeartbeatStorage(optuna.storages.RDBStorage):
    """`optuna.storages.RDBStorage` with no trial left running by a worker that died early.

    Optuna records a trial's first heartbeat from a thread that starts after `study.ask`, and
    its stale check skips trials without one: a worker killed in between leaves a trial that
    stays RUNNING for ever. Here a trial gets its first heartbeat as soon as it runs, and a
    running trial with none at all is stale once it is older than the grace period.
    """

    def _create_new_trial(
        self, study_id: int, template_trial: FrozenTrial | None = None
    ) -> FrozenTrial:  # what both `create_new_trial` and Optuna's cache over a storage call
        trial = super()._create_new_trial(study_id, template_trial)
        if trial.state == TrialState.RUNNING:
            self.record_heartbeat(trial._trial_id)
        return trial

    def set_trial_state_values(
        self, trial_id: int, state: TrialState, values: Sequence[float] | None = None
    ) -> bool:
        changed = super().set_trial_state_values(trial_id, state, values)
        if changed and state == TrialState.RUNNING:  # a waiting (e.g. retried) trial starts
            self.record_heartbeat(trial_id)
        return changed

    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        stale = super()._get_stale_trial_ids(study_id)
        return stale + self._trials_without_heartbeat(study_id)

    def _trials_without_heartbeat(self, study_id: int) -> list[int]:
        """Running trials older than the grace period that never recorded a heartbeat.

        Their age is read on this process's clock in UTC, as workers write `datetime_start`.
        """
        assert self.grace_period is not None
        session = self.scoped_session()
        try:
            rows = (
                session.query(models.TrialModel.trial_id, models.TrialModel._datetime_start_utc)
                .outerjoin(models.TrialModel.heartbeats)
                .filter(models.TrialModel.study_id == study_id)
                .filter(models.TrialModel.state == TrialState.RUNNING)
                .filter(models.TrialHeartbeatModel.trial_heartbeat_id.is_(None))
                .all()
            )
        finally:
            session.close()
        now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
        oldest = now - datetime.timedelta(seconds=self.grace_period)
        return [trial_id for trial_id, start in rows if start is not None and start < oldest]
