"""Database tables: tasks and their examples, experiments, runs and their results."""
from django.conf import settings
from django.db import models, transaction
from django.db.models import Count, Exists, F, Max, OuterRef, Q
from django.utils import timezone

from . import defaults
from .defaults import METHOD_CHOICES, METHOD_LABELS  # noqa: F401 - the engine's methods and titles


def versioned_key(kind, table, obj, version, *parts):
    """The one shape of a cache key derived from a row: its kind, table, id, the row's
    created_at (so a reused id after a database reset never meets an old entry), the version
    its writers bump, and what else the payload depends on."""
    stamp = int(obj.created_at.timestamp() * 1e6) if obj.created_at else 0
    return ":".join(str(p) for p in ("lab", kind, *([table] if table else []), obj.pk, stamp, version, *parts))


class Task(models.Model):
    """A task: a prompt template, a kind (classification/generation) and a pool of examples."""

    CLASSIFICATION = "classification"
    GENERATION = "generation"
    KIND_CHOICES = [(CLASSIFICATION, "classification"), (GENERATION, "generation")]
    PARSER_CHOICES = defaults.PARSER_CHOICES

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE)  # created by
    # the team it belongs to (a user's personal space is a team); NULL only for the shared built-in tasks
    team = models.ForeignKey("teams.Team", null=True, blank=True, related_name="tasks", on_delete=models.CASCADE)
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    input_template = models.TextField(default="Text:{x}\nLabel:")
    kind = models.CharField(max_length=20, choices=KIND_CHOICES, default=CLASSIFICATION)
    labels = models.JSONField(default=list, blank=True)
    answer_parser = models.CharField(max_length=10, choices=PARSER_CHOICES, default="plain")
    builtin = models.BooleanField(default=False)
    held_out = models.BooleanField(default=False)
    needs_hub = models.BooleanField(default=False)
    hf_dataset = models.CharField(max_length=200, blank=True)
    source_hash = models.CharField(max_length=64, blank=True)
    # the examples' counts and a version bumped by every change to them, kept by Example's own
    # save/delete and queryset (Task.examples_changed): lists and pages read them instead of
    # counting 100,000 rows per request, and cached renderings of the rows key on the version
    n_pool = models.PositiveIntegerField(default=0, editable=False)
    n_eval = models.PositiveIntegerField(default=0, editable=False)
    examples_version = models.PositiveIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["builtin", "name"]
        constraints = [
            models.UniqueConstraint(fields=["team", "name"], name="task_unique_name_per_team"),
            models.UniqueConstraint(
                fields=["name"], condition=models.Q(owner__isnull=True), name="task_unique_shared_name"
            ),
            models.CheckConstraint(condition=models.Q(team__isnull=False) | models.Q(owner__isnull=True),
                                   name="task_of_a_user_has_a_team"),
        ]

    def __str__(self):
        return self.name

    @property
    def editable(self):
        return self.team_id is not None

    def cache_key(self, kind, *parts):
        """Cache key of something derived from the examples; changes with every change to them
        (examples_version)."""
        return versioned_key(kind, "task", self, self.examples_version, *parts)

    @classmethod
    def examples_changed(cls, task_ids):
        """Recount the examples of these tasks and bump their version, in the writer's
        transaction and with the task's row locked, so two concurrent writers of one task end
        with the count of what both committed (the second recounts after the first commits)."""
        with transaction.atomic():
            for pk in sorted({pk for pk in task_ids if pk is not None}):
                if not list(cls.objects.select_for_update().filter(pk=pk).values_list("pk", flat=True)):
                    continue  # the task itself is being deleted
                c = Example.objects.filter(task_id=pk).aggregate(
                    pool=Count("id", filter=Q(split=Example.POOL)), eval=Count("id", filter=Q(split=Example.EVAL)))
                cls.objects.filter(pk=pk).update(n_pool=c["pool"], n_eval=c["eval"],
                                                 examples_version=F("examples_version") + 1)

    def pool(self):
        return self.examples.filter(split=Example.POOL).order_by("position", "id")

    def to_engine_dict(self):
        """The task as the engine's inline task dict (CONTRACT.md, 'Tasks')."""
        d = {
            "name": self.name,
            "description": self.description,
            "kind": self.kind,
            "input_template": self.input_template,
        }
        if self.kind == self.CLASSIFICATION:
            d["labels"] = list(self.labels or [])
        else:
            d["answer_parser"] = self.answer_parser
        pool, held = [], []
        for ex in self.examples.order_by("position", "id"):
            (held if ex.split == Example.EVAL else pool).append({"input": ex.input, "output": ex.output})
        d["examples"] = pool
        if held:
            d["eval_examples"] = held
        return d

    def to_engine_task(self):
        """The engine's Task for this task, from `to_engine_dict`, without the engine's
        checks: previews and pool sizes work for a task that is still being written."""
        from workers.engine.tasks import Example as EngineExample
        from workers.engine.tasks import Task as EngineTask

        d = self.to_engine_dict()
        return EngineTask(
            name=d["name"], kind=d["kind"], input_template=d["input_template"], description=d["description"],
            examples=[EngineExample(**e) for e in d["examples"]], labels=d.get("labels", []),
            answer_parser=d.get("answer_parser", "plain"),
            eval_examples=[EngineExample(**e) for e in d.get("eval_examples", [])])


class ExampleQuerySet(models.QuerySet):
    """Every bulk write of examples (bulk_create, update, delete, through any manager or a
    task's `examples`) keeps its tasks' stored counts exact: the one place that rule lives."""

    def _task_ids(self):
        return set(self.order_by().values_list("task_id", flat=True).distinct())

    def bulk_create(self, objs, *args, **kwargs):
        with transaction.atomic(using=self.db):
            objs = super().bulk_create(objs, *args, **kwargs)
            Task.examples_changed({o.task_id for o in objs})
        return objs

    def update(self, **kwargs):
        with transaction.atomic(using=self.db):
            ids = self._task_ids()
            target = kwargs.get("task", kwargs.get("task_id"))  # examples moved to another task
            moved = getattr(target, "pk", target)
            done = super().update(**kwargs)
            Task.examples_changed(ids | {moved})
        return done

    def delete(self):
        with transaction.atomic(using=self.db):
            ids = self._task_ids()
            done = super().delete()
            Task.examples_changed(ids)
        return done

    delete.alters_data = True
    delete.queryset_only = True


class Example(models.Model):
    """One labelled example of a task; split 'pool' (usable for training/demos) or 'eval'."""

    POOL = "pool"
    EVAL = "eval"
    SPLIT_CHOICES = [(POOL, "pool"), (EVAL, "eval")]

    task = models.ForeignKey(Task, related_name="examples", on_delete=models.CASCADE)
    position = models.PositiveIntegerField(default=0)
    split = models.CharField(max_length=8, choices=SPLIT_CHOICES, default=POOL)
    input = models.TextField()
    output = models.TextField()

    class Meta:
        ordering = ["position", "id"]
        # the second index serves the task page's order (one page of 100,000 examples without
        # a sort); Postgres also gets trigram indexes for its search (migration 0011)
        indexes = [models.Index(fields=["task", "split", "position"]),
                   models.Index(fields=["task", "position", "id"], name="lab_example_task_order")]

    objects = ExampleQuerySet.as_manager()

    def __str__(self):
        return f"{self.input[:40]} -> {self.output[:20]}"

    def save(self, *args, **kwargs):
        with transaction.atomic():
            before = Example.objects.filter(pk=self.pk).values_list("task_id", flat=True).first() if self.pk else None
            super().save(*args, **kwargs)
            Task.examples_changed({self.task_id, before})

    def delete(self, *args, **kwargs):
        with transaction.atomic():
            done = super().delete(*args, **kwargs)
            Task.examples_changed({self.task_id})
        return done


class Experiment(models.Model):
    """A comparison: one model, one train task, several eval tasks, methods x N x seeds."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)  # created (launched) by
    team = models.ForeignKey("teams.Team", related_name="experiments", on_delete=models.CASCADE)
    name = models.CharField(max_length=200, blank=True)
    model_name = models.CharField(max_length=300, default="embedded")
    train_task = models.ForeignKey(Task, related_name="+", on_delete=models.PROTECT)
    eval_tasks = models.ManyToManyField(Task, related_name="+")
    methods = models.JSONField(default=list)
    n_values = models.JSONField(default=list)
    seeds = models.PositiveIntegerField(default=1)
    icl_demos = models.PositiveIntegerField(null=True, blank=True)
    eval_size = models.PositiveIntegerField(default=defaults.EVAL_SIZE)
    adapter_type = models.CharField(max_length=8, default=defaults.ADAPTER_TYPE)
    lora_r = models.PositiveIntegerField(default=defaults.LORA_R)
    lora_alpha = models.PositiveIntegerField(default=defaults.LORA_ALPHA)
    target_modules = models.JSONField(default=list)
    config = models.JSONField(default=dict)
    # the unreadable-text guard's warnings confirmed at launch (services/readability.py)
    warnings = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # bumped (in the same transaction) whenever one of its runs changes state: cached
    # results/history payloads are keyed by it, so a state change invalidates them
    results_version = models.PositiveIntegerField(default=0)
    # the experiment form's idempotency key (ExperimentForm.submit_key): a second POST of the
    # same rendered form finds this experiment instead of creating another
    submit_key = models.CharField(max_length=32, blank=True, default="")

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["owner", "submit_key"], condition=~models.Q(submit_key=""),
                                               name="lab_experiment_submitted_once")]

    def __str__(self):
        return self.name or f"Experiment {self.pk}"

    def state_counts(self):
        """{state: count} of its runs (the list page sets `counts` for all experiments in one query)."""
        counts = getattr(self, "counts", None)
        if counts is not None:
            return counts
        counts = {}
        for state in self.runs.values_list("state", flat=True):
            counts[state] = counts.get(state, 0) + 1
        return counts

    def cache_key(self, kind, *parts):
        """Cache key of a derived payload; changes when a run changes state (results_version)."""
        return versioned_key(kind, None, self, self.results_version, *parts)

    def live_beat(self):
        """None when every run is final (what the runs show no longer changes but with a state
        change, which `cache_key` names); else the runs' latest heartbeat as a number, which
        every progress flush moves (services/events.ProgressRecorder.flush writes it in the
        transaction of its points and event): the version of a running experiment's live
        views (services/cache.by_progress). One query."""
        live = self.runs.aggregate(unfinished=Count("id", filter=~Q(state__in=Run.FINAL_STATES)),
                                   beat=Max("heartbeat_at"))
        if not live["unfinished"]:
            return None
        return live["beat"].timestamp() if live["beat"] else 0


class IllegalTransition(ValueError):
    """A state change that `Run.TRANSITIONS` does not allow (a bug in the caller, never user input)."""


RETRY = "the user retries it"


def _final_states(table):
    """States that only a user's retry leaves: nothing happens to such a run by itself."""
    return tuple(s for s, moves in table.items() if all(why == RETRY for why in moves.values()))


def _states_with_move(table, to=None, why=None):
    """States with a transition to `to` (any target when None) for the reason `why` (any when None)."""
    return tuple(s for s, moves in table.items()
                 if any((to is None or t == to) and (why is None or w == why) for t, w in moves.items()))


def _unfinished_states(table):
    final = _final_states(table)
    return tuple(s for s in table if s not in final)


class RunQuerySet(models.QuerySet):
    def with_flags(self):
        """Runs with `adapter_stored` annotated, so that `has_adapter` (and the snapshot) of a
        whole list costs no query per run."""
        adapters = Artifact.objects.filter(run=OuterRef("pk"), kind=Artifact.ADAPTER)
        return self.annotate(adapter_stored=Exists(adapters))


class Run(models.Model):
    """One job: one method at one N with one seed; its live state and heartbeat.

    A run's life is the table TRANSITIONS (from state -> {to state: who moves it}); it is
    the only list of them. `lifecycle.set_state` refuses any move not in it, and the final,
    cancellable and retryable states, the snapshot's can_cancel / can_retry and the API's
    and the page's buttons are derived from it."""

    QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"
    STATE_CHOICES = [(s, s) for s in (QUEUED, RUNNING, DONE, FAILED, CANCELLED)]
    TRANSITIONS = {
        QUEUED: {RUNNING: "a worker claims it (a new attempt token)",
                 CANCELLED: "the user cancels it before it started (or the claim finds the cancel)"},
        RUNNING: {RUNNING: "claimed again: its worker is gone (a new attempt token)",
                  DONE: "its worker finished it",
                  FAILED: "its worker failed, or its worker was lost with no attempt left",
                  CANCELLED: "its worker stopped at the user's cancel",
                  QUEUED: "its worker was lost: queued again while attempts remain"},
        DONE: {},
        FAILED: {QUEUED: RETRY},
        CANCELLED: {QUEUED: RETRY},
    }
    FINAL_STATES = _final_states(TRANSITIONS)
    UNFINISHED_STATES = _unfinished_states(TRANSITIONS)
    RETRYABLE_STATES = _states_with_move(TRANSITIONS, to=QUEUED, why=RETRY)
    CANCELLABLE_STATES = _states_with_move(TRANSITIONS, to=CANCELLED)

    experiment = models.ForeignKey(Experiment, related_name="runs", on_delete=models.CASCADE)
    method = models.CharField(max_length=16)
    n = models.PositiveIntegerField()
    seed = models.IntegerField()
    # the engine's RunKey for this run, as planned once at launch (`workers.engine.plan`);
    # the worker hands it back to the engine as it is (see `engine_key`)
    key = models.JSONField(default=dict)
    state = models.CharField(max_length=12, choices=STATE_CHOICES, default=QUEUED, db_index=True)
    stage = models.CharField(max_length=24, blank=True)
    step = models.IntegerField(default=0)
    total = models.IntegerField(default=0)
    eta_seconds = models.FloatField(null=True, blank=True)
    message = models.TextField(blank=True)
    error = models.TextField(blank=True)
    cancel_requested = models.BooleanField(default=False)
    queue = models.CharField(max_length=16, blank=True)
    celery_task_id = models.CharField(max_length=64, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    queued_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # "host:pid" of the process executing the run, and how many times it was started
    # (a job redelivered after its worker died runs again, up to LAB_MAX_ATTEMPTS)
    worker = models.CharField(max_length=200, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    # the fence: a new token per claim, cleared when the run is taken from its worker (reaped,
    # retried); every write of a worker (progress, results, overlaps, heartbeat, its final
    # state) is made only while the row still holds that worker's token (`attempt_rows`)
    attempt_token = models.UUIDField(null=True, blank=True, editable=False)
    # fraction of the whole run done (all stages and learning-rate trials; engine progress.run_fraction),
    # and what training chose, per stage, as the engine returned it (training_stages; results.py)
    overall_progress = models.FloatField(null=True, blank=True)
    training = models.JSONField(default=list, blank=True)
    # the outbox (services/dispatch.py): a run is created "to dispatch" (NULL) in the same
    # transaction as its experiment; the dispatcher sets this once the executor has its job,
    # and the periodic sweep sends every queued run still NULL after LAB_DISPATCH_GRACE
    dispatched_at = models.DateTimeField(null=True, blank=True)
    # what determined its numbers, recorded by the worker with its results (one flat dict:
    # model revision or weights sha256, dtype, device, library and code versions, template,
    # labels, example digests, every hyperparameter; workers/engine/provenance.py)
    provenance = models.JSONField(default=dict, blank=True)

    objects = RunQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["experiment", "state"]),
                   models.Index(fields=["state", "dispatched_at"], name="lab_run_outbox")]

    def __str__(self):
        return f"{self.method} N={self.n} seed={self.seed}"

    @classmethod
    def check_transition(cls, before, after):
        """IllegalTransition unless TRANSITIONS allows `before` -> `after`."""
        allowed = cls.TRANSITIONS.get(before)
        if allowed is None or after not in allowed:
            targets = ", ".join(allowed or ()) or "nothing (it is final)"
            raise IllegalTransition(f"a run cannot go from {before!r} to {after!r}; from {before!r} it can go to "
                                    f"{targets}")

    def attempt_rows(self):
        """This run's row while it still holds the attempt token this object was read with: a
        worker's writes filter on it (or lock it, `hold_attempt`), so that they are dropped once
        another attempt claimed the run or the reaper took it."""
        return Run.objects.filter(pk=self.pk, attempt_token=self.attempt_token)

    def hold_attempt(self):
        """In a transaction: lock the row and say whether this attempt still owns the run. A claim
        of another attempt waits for the lock, so what is written after True stands until that
        claim (which discards it)."""
        return bool(list(self.attempt_rows().select_for_update().values_list("pk", flat=True)))

    @property
    def final(self):
        return self.state in self.FINAL_STATES

    @property
    def can_cancel(self):
        """A cancel applies (queued: now; running: its worker stops at the next step)."""
        return self.state in self.CANCELLABLE_STATES

    @property
    def can_retry(self):
        return self.state in self.RETRYABLE_STATES

    @property
    def has_adapter(self):
        """A done run that stored an adapter: the download link of the page and the API. Read
        from `adapter_stored` when the queryset annotated it (`Run.objects.with_flags`)."""
        if self.state != self.DONE:
            return False
        stored = getattr(self, "adapter_stored", None)
        if stored is None:
            stored = self.artifacts.filter(kind=Artifact.ADAPTER).exists()
        return stored

    @classmethod
    def for_key(cls, experiment, key, **fields):
        """An unsaved run for one of the engine's planned RunKeys (method, n, seed, ...)."""
        from dataclasses import asdict

        return cls(experiment=experiment, method=key.method, n=int(key.n), seed=int(key.seed), key=asdict(key),
                   **fields)

    def engine_key(self):
        """The stored RunKey, as the engine's planner made it at launch."""
        from workers.engine.plan import RunKey

        if not self.key:
            raise ValueError(f"run {self.pk} has no planned engine key (it was not created by a launch)")
        return RunKey(**self.key)

    @property
    def method_label(self):
        return METHOD_LABELS.get(self.method, self.method)

    @property
    def trains_adapter(self):
        """Whether the engine trains an adapter for this method (it has training stages)."""
        from workers.engine.config import METHOD_STAGES

        return bool(METHOD_STAGES.get(self.method))

    @property
    def progress(self):
        if self.state == self.DONE:
            return 1.0
        if self.overall_progress is not None:
            return self.overall_progress
        return (self.step / self.total) if self.total else 0.0

    def snapshot(self):
        """The JSON the page and the websocket use for this run's state."""
        return {
            "id": self.id,
            "method": self.method,
            "method_label": self.method_label,
            "n": self.n,
            "seed": self.seed,
            "state": self.state,
            "stage": self.stage,
            "step": self.step,
            "total": self.total,
            "progress": round(self.progress, 4),
            "eta_seconds": self.eta_seconds,
            "message": self.message,
            "error": self.error,
            "cancel_requested": self.cancel_requested,
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "training": self.training,
            "attempts": self.attempts,
            # what the page and the API may offer, decided here only (TRANSITIONS, artifacts)
            "final": self.final,
            "can_cancel": self.can_cancel,
            "can_retry": self.can_retry,
            "has_adapter": self.has_adapter,
        }


class RunEvent(models.Model):
    """A persisted progress or state event (throttled to ~2 per second per run)."""

    run = models.ForeignKey(Run, related_name="events", on_delete=models.CASCADE)
    created_at = models.DateTimeField(default=timezone.now)
    kind = models.CharField(max_length=12, default="progress")  # progress | state
    stage = models.CharField(max_length=24, blank=True)
    step = models.IntegerField(default=0)
    total = models.IntegerField(default=0)
    values = models.JSONField(default=dict, blank=True)
    message = models.TextField(blank=True)
    # set on the state event that records a dead attempt (its worker was lost): that attempt's number
    lost_attempt = models.PositiveSmallIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["id"]


class MetricPoint(models.Model):
    """One point of a loss series (every point is kept; charts downsample)."""

    run = models.ForeignKey(Run, related_name="points", on_delete=models.CASCADE)
    series = models.CharField(max_length=32)  # e.g. "sft/loss"
    step = models.IntegerField()
    value = models.FloatField()

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["run", "series", "step"])]


class EvalResult(models.Model):
    """The metrics of one run on one evaluation task."""

    run = models.ForeignKey(Run, related_name="results", on_delete=models.CASCADE)
    eval_task = models.ForeignKey(Task, null=True, blank=True, related_name="+", on_delete=models.SET_NULL)
    eval_task_name = models.CharField(max_length=120)
    accuracy = models.FloatField(null=True)
    ece = models.FloatField(null=True)
    ece_equal_mass = models.FloatField(null=True)
    brier = models.FloatField(null=True)
    nll = models.FloatField(null=True)
    mean_similarity = models.FloatField(null=True)
    n_layers = models.IntegerField(null=True)
    reliability = models.JSONField(default=list)
    timings = models.JSONField(default=dict)

    class Meta:
        ordering = ["id"]


class LayerSimilarity(models.Model):
    """Per-layer similarity of a run's activations to the base model with ICL demos."""

    result = models.ForeignKey(EvalResult, related_name="layers", on_delete=models.CASCADE)
    layer = models.IntegerField()
    cosine = models.FloatField(null=True)
    cka = models.FloatField(null=True)

    class Meta:
        ordering = ["layer"]


class Prediction(models.Model):
    """One evaluation example's prediction by one run."""

    result = models.ForeignKey(EvalResult, related_name="predictions", on_delete=models.CASCADE)
    index = models.IntegerField()
    input = models.TextField(blank=True)
    gold = models.TextField()
    predicted = models.TextField()
    confidence = models.FloatField(null=True)
    correct = models.BooleanField()
    label_probs = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["index"]
        indexes = [models.Index(fields=["result", "index"])]


class Artifact(models.Model):
    """A file a run wrote under MEDIA_ROOT, with its checksum."""

    ADAPTER = "adapter"  # the kind of a trained adapter's files (the download, the overlaps)

    run = models.ForeignKey(Run, related_name="artifacts", on_delete=models.CASCADE)
    kind = models.CharField(max_length=32)
    path = models.CharField(max_length=500)  # relative to MEDIA_ROOT
    sha256 = models.CharField(max_length=64)
    size = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)


class AdapterOverlap(models.Model):
    """How much the LoRA subspaces of two runs' adapters coincide: two methods of one
    experiment trained at the same N with the same seed (`workers.engine.similarity.
    lora_subspace_overlap`: per module ||U_a^T U_b||_F^2 / r over the top-r left singular
    vectors of lora_B; 1 = identical subspaces, 0 = orthogonal, `random` = the chance level
    r / out of two random subspaces). Computed by the worker when a run finishes
    (`services/overlaps.py`); deleted with either run or when either is started again."""

    experiment = models.ForeignKey(Experiment, related_name="adapter_overlaps", on_delete=models.CASCADE)
    run_a = models.ForeignKey(Run, related_name="+", on_delete=models.CASCADE)
    run_b = models.ForeignKey(Run, related_name="+", on_delete=models.CASCADE)
    n = models.PositiveIntegerField()
    seed = models.IntegerField()
    method_a = models.CharField(max_length=16)
    method_b = models.CharField(max_length=16)
    mean = models.FloatField()
    random = models.FloatField(null=True, blank=True)
    per_module = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["run_a", "run_b"], name="lab_adapter_overlap_pair")]

    def __str__(self):
        return f"{self.method_a} vs {self.method_b} N={self.n} seed={self.seed}: {self.mean:.3f}"


class PoolSnapshot(models.Model):
    """A task as the engine receives it (`Task.to_engine_dict`: template, labels, every
    example), frozen when an experiment was launched and stored once, keyed by the SHA-256 of
    its canonical JSON. Experiments that use the same task content share one row; an
    experiment's config holds only the reference (`services/snapshots.py`), and the worker
    resolves it. Editing the task later makes a new snapshot for later launches and never
    changes what a past experiment reads."""

    digest = models.CharField(max_length=64, primary_key=True)
    task = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"{self.task.get('name', '?')} @ {self.digest[:12]}"
