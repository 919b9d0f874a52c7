"""The ``world:`` section: the town, its clock, needs, affordances, economy,
jobs, queues, relationships, lifecycle and perturbations.

Every field has a default; together the defaults are the embedded default town
(dumped to ``configs/default.yaml``). Ranges are checked by msgspec at load;
cross-field invariants (feasibility, affordability, supply) live in
``townlet.config.invariants``.
"""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from msgspec import Meta, Struct, field

from townlet.config.money import check_amounts

__all__ = [
    "BODILY_NEEDS", "NEEDS", "NEGLECT_LIMIT_MAX", "OBJECT_TYPES", "PERTURBATION_KINDS", "PRICES",
    "AffordanceSpec", "EconomyConfig", "EmploymentConfig", "JobSpec", "LifecycleConfig",
    "NeedConfig", "NeedsConfig", "NeglectConfig", "ObjectType", "PerturbationKind", "PerturbationSpec",
    "PerturbationsConfig", "PriceName", "PricedItem", "QueueConfig", "RelationshipConfig",
    "RoutinesConfig", "TownConfig", "WorldConfig",
]

Unit = Annotated[float, Meta(ge=0.0, le=1.0)]
NonNeg = Annotated[float, Meta(ge=0.0)]
Ticks = Annotated[int, Meta(ge=0, le=10_000_000)]
PosTicks = Annotated[int, Meta(ge=1, le=10_000_000)]
NEGLECT_LIMIT_MAX = 32_767
"""The longest a need may sit at 0 before its consequence: the state counts those ticks
in 16 bits (``agent_neglect``, ``need_neglect``; townlet.world.state, params)."""
NeglectTicks = Annotated[int, Meta(ge=1, le=NEGLECT_LIMIT_MAX)]
Name = Annotated[str, Meta(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$")]


class _Section(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Strict, immutable config section."""


class NeedConfig(_Section, frozen=True):
    decay: Unit
    """Amount subtracted every tick (needs live in [0, 1], 1 = satisfied)."""
    seek_below: Unit = 0.45
    """The scripted policy starts seeking this need below this value."""
    satisfied_above: Unit = 0.9
    """...and keeps repeating the affordance until it is above this (hysteresis)."""
    critical: Unit = 0.1
    """Below this the agent is in a critical state (reported, and lethal for hunger)."""


class NeedsConfig(_Section, frozen=True):
    """One entry per need; the field order is the need order everywhere (``NEEDS``)."""

    hunger: NeedConfig = NeedConfig(decay=0.0010, seek_below=0.5)
    hygiene: NeedConfig = NeedConfig(decay=0.0005, seek_below=0.4)
    energy: NeedConfig = NeedConfig(decay=0.0005, seek_below=0.3, satisfied_above=0.95)
    social: NeedConfig = NeedConfig(decay=0.0004, seek_below=0.35, satisfied_above=0.7)


NEEDS: tuple[str, ...] = NeedsConfig.__struct_fields__
"""Need names in column order of ``agent_needs`` (the one definition: NeedsConfig's fields)."""
BODILY_NEEDS = tuple(n for n in NEEDS if n != "social")
"""Needs that affordances must restore; ``social`` is restored by company (chats)."""

ObjectType = Literal["bed", "shower", "fridge", "stove", "till", "counter"]
OBJECT_TYPES: tuple[str, ...] = get_args(ObjectType)
"""Object type names; the index is the type code in ``obj_type`` (townlet.world.town.OBJ)."""

PricedItem = Literal["groceries", "cafe_meal", "shower"]
"""What the economy charges for; each is an ``EconomyConfig`` field."""
PriceName = Literal["none", PricedItem]
PRICES: tuple[str, ...] = get_args(PriceName)
"""Price names; the index is the column of ``price_base``/``price_now`` ("none" costs 0)."""

PerturbationKind = Literal["price_spike", "blackout", "outage", "arranged_meet"]
PERTURBATION_KINDS: tuple[str, ...] = get_args(PerturbationKind)
"""Perturbation kinds; the index is the kind code in ``pert_kind``."""


class TownConfig(_Section, frozen=True):
    agents: Annotated[int, Meta(ge=2, le=10_000_000)] = 1000
    """Population; the town is generated to house, feed and employ exactly this many."""
    district_side: Annotated[int, Meta(ge=3, le=16)] = 6
    """A district is a square of district_side^2 building blocks with its own shops and work."""
    residents_per_home: Annotated[int, Meta(ge=1, le=4)] = 4
    """Residents per home; every resident has a bed of their own."""
    workers_per_office: Annotated[int, Meta(ge=1, le=200)] = 25
    """Office capacity; shops employ shop_staff each."""
    shop_staff: Annotated[int, Meta(ge=1, le=50)] = 8
    """Staff employed by each grocer and each cafe."""


class AffordanceSpec(_Section, frozen=True):
    id: Name
    """Unique affordance name."""
    object_type: ObjectType
    """The object it runs on."""
    duration: PosTicks
    """Ticks from start to completion."""
    effects: dict[str, float]
    """Applied once at completion: need name -> delta, or ``food`` -> items gained."""
    price: PriceName = "none"
    """Economy price charged at start (with a funds check) and refunded if it fails."""
    uses_food: Annotated[int, Meta(ge=0, le=10)] = 0
    """Food items taken from the agent at start (refunded if it fails)."""
    uses_stock: Annotated[int, Meta(ge=0, le=100)] = 0
    """Units taken from the object's stock at start (returned if it fails)."""
    preconds: list[str] = []
    """Conditions that must all hold at start (see docs/affordances.md for the grammar)."""
    hooks: dict[Literal["before", "after", "fail"], list[str]] = {}
    """Built-in hooks per stage; all built-in hooks (shared_meal, shower_complete,
    sleep_complete) run at completion, so only ``after`` may list any."""


DEFAULT_AFFORDANCES = (
    AffordanceSpec(id="eat_meal", object_type="fridge", duration=20, uses_food=1,
                   effects={"hunger": 0.55, "energy": 0.02},
                   preconds=["agent.food >= 1"], hooks={"after": ["shared_meal"]}),
    AffordanceSpec(id="cook_meal", object_type="stove", duration=40, uses_food=1,
                   effects={"hunger": 0.75, "energy": -0.02},
                   preconds=["agent.food >= 1", "power_on == true"],
                   hooks={"after": ["shared_meal"]}),
    AffordanceSpec(id="use_shower", object_type="shower", duration=20, price="shower",
                   effects={"hygiene": 0.9, "energy": -0.01},
                   preconds=["water_on == true", "power_on == true"],
                   hooks={"after": ["shower_complete"]}),
    AffordanceSpec(id="rest_sleep", object_type="bed", duration=420,
                   effects={"energy": 0.95}, hooks={"after": ["sleep_complete"]}),
    AffordanceSpec(id="buy_groceries", object_type="till", duration=6, price="groceries",
                   uses_stock=4, effects={"food": 4.0}, preconds=["stock >= 4"]),
    AffordanceSpec(id="eat_out", object_type="counter", duration=25, price="cafe_meal",
                   uses_stock=1, effects={"hunger": 0.6, "social": 0.1},
                   preconds=["stock >= 1", "power_on == true"],
                   hooks={"after": ["shared_meal"]}),
)


class EconomyConfig(_Section, frozen=True):
    groceries: NonNeg = 1.0
    """Price of one grocery purchase (uses_stock items of food)."""
    cafe_meal: NonNeg = 0.6
    """Price of a meal at a cafe counter."""
    shower: NonNeg = 0.05
    """Water bill per shower."""
    grocer_stock: Annotated[int, Meta(ge=0, le=1_000_000)] = 600
    """Food units a grocer holds after its daily delivery."""
    cafe_stock: Annotated[int, Meta(ge=0, le=1_000_000)] = 180
    """Meals a cafe holds after its daily delivery."""
    restock_at: Ticks = 300
    """Time of day (tick of day) when suppliers deliver to every shop."""
    scarcity_markup: Annotated[float, Meta(ge=0.0, le=4.0)] = 0.5
    """A shop's price rises by this share of the town price as its shelves empty: its
    markup is its demand level + scarcity_markup x the share of its delivery sold."""
    demand_markup: Annotated[float, Meta(ge=0.0, le=1.0)] = 0.2
    """At each delivery a shop's demand level is set to 1 + demand_markup x (2 x the
    share of its last delivery it sold - 1): dearer after a busy day, cheaper after a
    quiet one."""
    markup_bounds: tuple[Annotated[float, Meta(ge=0.1, le=10.0)],
                         Annotated[float, Meta(ge=0.1, le=10.0)]] = (0.8, 1.6)
    """[lowest, highest] multiple of the town price a shop charges (demand level and
    markup both stay within it)."""
    starting_wallet: NonNeg = 4.0
    """Money each agent holds at tick 0."""
    treasury_per_agent: NonNeg = 4.0
    """The town treasury's reserve per agent slot: its balance at tick 0 and what the
    daily rent refills it to (the treasury pays wages and starter kits)."""

    def __post_init__(self) -> None:
        check_amounts(self, ("groceries", "cafe_meal", "shower", "starting_wallet"))
        if self.markup_bounds[0] > 1.0 or self.markup_bounds[1] < 1.0:
            raise ValueError(f"markup_bounds = {list(self.markup_bounds)} must hold 1.0 "
                             "(lowest <= 1 <= highest): a quiet shop charges the town price")

    def price_table(self) -> list[float]:
        """The configured price of every name in ``PRICES``, in order ("none" is 0)."""
        return [0.0 if name == "none" else getattr(self, name) for name in PRICES]


class JobSpec(_Section, frozen=True):
    name: Name
    workplace: Literal["office", "grocer", "cafe"]
    start: Ticks
    """Shift start as a tick of day."""
    end: Ticks
    """Shift end (exclusive) as a tick of day; must be after start."""
    wage: NonNeg = 0.006
    """Money per tick worked while present."""
    lateness_penalty: NonNeg = 0.1
    """Charged once per shift when the worker arrives after the grace period."""
    patterns: Annotated[int, Meta(ge=1, le=48)] = 1
    """Staggered shift patterns; each worker is given one at arrival."""
    stagger_ticks: Ticks = 0
    """Pattern k starts and ends k * stagger_ticks after start / end."""

    def __post_init__(self) -> None:
        check_amounts(self, ("wage", "lateness_penalty"))


DEFAULT_JOBS = (
    JobSpec(name="clerk", workplace="office", start=480, end=960, wage=0.006,
            patterns=16, stagger_ticks=12),
    JobSpec(name="grocer", workplace="grocer", start=450, end=930, wage=0.006,
            patterns=6, stagger_ticks=20),
    JobSpec(name="barista", workplace="cafe", start=390, end=870, wage=0.006,
            patterns=6, stagger_ticks=20),
)


class EmploymentConfig(_Section, frozen=True):
    arrival_buffer: Ticks = 60
    """Ticks before a shift when workers set off (and the await_start window)."""
    grace_ticks: Annotated[int, Meta(ge=0, le=120)] = 10
    absent_cutoff: Annotated[int, Meta(ge=0, le=600)] = 120
    """Not having arrived this many ticks into a shift counts as an absence."""
    late_tick_penalty: Unit = 0.0
    absence_penalty: NonNeg = 0.2
    max_absent_shifts: Annotated[int, Meta(ge=1, le=7)] = 3
    """Absences in the rolling 7 days that put a worker in the exit queue."""
    attendance_window: Annotated[int, Meta(ge=1, le=14)] = 3
    daily_exit_cap: Annotated[int, Meta(ge=0, le=1_000_000)] = 2
    """Exits processed per district per day (0 = unlimited): the town-wide cap grows
    with the number of districts."""
    exit_spacing_ticks: Ticks = 120
    """Minimum ticks between two batches of exits (a batch: at most one per district)."""
    days_off: Annotated[int, Meta(ge=0, le=3)] = 1
    """Consecutive days off per 7-day week; each worker's first day off is drawn at arrival."""

    def __post_init__(self) -> None:
        check_amounts(self, ("late_tick_penalty", "absence_penalty"))


class QueueConfig(_Section, frozen=True):
    cooldown_ticks: Ticks = 30
    """After a successful use, the same agent may not reserve the same object for this long."""
    idle_timeout_ticks: PosTicks = 8
    """A holder that does not start within this many ticks loses the reservation."""
    patience_ticks: PosTicks = 90
    """A waiter still queued after this long has a conflict with the holder."""


class RelationshipConfig(_Section, frozen=True):
    slots: Annotated[int, Meta(ge=1, le=16)] = 6
    chat_chance: Unit = 0.05
    """Per tick chance that an idle agent with a neighbour starts a chat."""
    chat_social: Unit = 0.08
    chat_trust: Unit = 0.05
    chat_familiarity: Unit = 0.1
    shared_meal_trust: Unit = 0.1
    shared_meal_familiarity: Unit = 0.2
    handover_trust: Unit = 0.05
    conflict_rivalry: Unit = 0.15
    decay_per_hour: Unit = 0.02
    """Every hour each tie's trust and familiarity move this much toward 0."""
    rivalry_decay_per_hour: Unit = 0.002
    """Every hour each tie's rivalry moves this much toward 0 (slower than it forms)."""
    workplace_rivalry: Unit = 0.1
    """Hourly rivalry between two coworkers side by side on shift, times their summed
    ambition (only when that sum is positive)."""
    copresence_trust: Unit = 0.02
    """Hourly trust gained from standing next to someone who is not a rival."""
    copresence_familiarity: Unit = 0.03
    """Hourly familiarity gained from standing next to someone who is not a rival."""
    avoid_threshold: Unit = 0.7
    """Rivalry at or above which agents refuse to chat and avoid each other's queues."""
    friendship_threshold: Unit = 0.5
    """Trust at or above which a tie counts as a friendship (reports)."""


class RoutinesConfig(_Section, frozen=True):
    """Per-agent traits drawn at arrival and the daily variation of routines."""

    bedtime: Ticks = 1350
    """The town's typical sleep onset (tick of day); chronotypes spread around it."""
    chronotype_spread: Ticks = 150
    """Preferred bedtimes are drawn uniformly within bedtime +/- this."""
    daily_jitter: Ticks = 30
    """Each day bedtime moves by up to +/- this and departure for work up to this earlier."""
    appetite: tuple[NonNeg, NonNeg] = (0.85, 1.15)
    """Inclusive range of the per-agent multiplier of hunger decay."""
    sociability: tuple[NonNeg, NonNeg] = (0.6, 1.4)
    """Inclusive range of the per-agent multiplier of social decay."""
    punctuality: tuple[Ticks, Ticks] = (10, 40)
    """Inclusive range of the spare ticks beyond the walk an agent allows to get to work."""
    overtime: Ticks = 20
    """Workers stay up to this many ticks after their shift ends (drawn daily)."""
    favourite_reach: Ticks = 24
    """An agent's favourite cafe for company is drawn at arrival among its district's cafe
    and the neighbouring districts' cafes at most this many tiles further from its home;
    it goes there while that is at most this much further than its district's cafe."""


class LifecycleConfig(_Section, frozen=True):
    faint_ticks: PosTicks = 30
    """Ticks an agent lies fainted once hunger hits its critical level."""
    death_after_ticks: NeglectTicks = 240
    """Consecutive ticks at hunger 0 that kill."""
    respawn_delay_ticks: Ticks = 10
    starter_wallet: NonNeg = 3.0
    starter_food: Annotated[int, Meta(ge=0, le=100)] = 2
    starter_need: Unit = 0.8
    """Every need of a newcomer starts here."""

    def __post_init__(self) -> None:
        check_amounts(self, ("starter_wallet",))


class NeglectConfig(_Section, frozen=True):
    """What a need left at 0 for long does (hunger's consequences, fainting and death,
    are the lifecycle's). Ticks count while the need sits at 0 and nothing running
    restores it; the count restarts once the need is above 0 again."""

    exhausted_after: NeglectTicks = 120
    """Ticks at energy 0 after which the agent falls asleep where it stands (collapses)."""
    collapse_ticks: PosTicks = 180
    """How long a collapsed agent lies asleep on the spot (it cannot act; a running
    affordance fails and is refunded)."""
    collapse_energy: Unit = 0.3
    """Energy a collapsed agent has when it wakes (a floor is no bed)."""
    unkempt_after: NeglectTicks = 240
    """Ticks at hygiene 0 after which the agent is unkempt until it washes: neighbours
    do not choose it for a chat, and a chat with it costs the partner trust."""
    unkempt_trust: Unit = 0.05
    """Trust a chat partner loses toward an unkempt agent per chat (instead of gaining)."""
    lonely_after: NeglectTicks = 240
    """Ticks at social 0 after which the agent is in low mood until it has company."""
    low_mood_output: Unit = 0.5
    """Share of its wage a worker in low mood earns per tick at work (its output drops)."""


class PerturbationSpec(_Section, frozen=True):
    name: Name
    kind: PerturbationKind
    prob_per_day: NonNeg = 0.0
    """Expected events per day: in each district for blackout, outage and arranged_meet
    (so the town's total grows with it), town-wide for price_spike."""
    cooldown_ticks: Ticks = 0
    """Ticks after an event of this spec ends before it may fire again (per district for
    the district kinds)."""
    duration: tuple[PosTicks, PosTicks] = (60, 120)
    """Inclusive [min, max] duration in ticks."""
    magnitude: tuple[NonNeg, NonNeg] = (1.0, 1.0)
    """price_spike multiplier range; ignored by the other kinds."""
    target: Literal["all", PricedItem] = "all"
    """price_spike: which price rises ("all" = every price); ignored by the other kinds."""


DEFAULT_PERTURBATIONS = (
    PerturbationSpec(name="grocer_prices", kind="price_spike", prob_per_day=0.3,
                     cooldown_ticks=480, duration=(60, 120), magnitude=(1.2, 1.8),
                     target="groceries"),
    PerturbationSpec(name="blackout", kind="blackout", prob_per_day=0.15,
                     cooldown_ticks=720, duration=(20, 60)),
    PerturbationSpec(name="water_outage", kind="outage", prob_per_day=0.1,
                     cooldown_ticks=720, duration=(20, 60)),
    PerturbationSpec(name="meet_rivals", kind="arranged_meet", prob_per_day=0.25,
                     cooldown_ticks=600, duration=(90, 150)),
)


class PerturbationsConfig(_Section, frozen=True):
    max_concurrent: Annotated[int, Meta(ge=0, le=16)] = 2
    """Scheduled events active at once in a district (and price spikes town-wide)."""
    global_cooldown_ticks: Ticks = 240
    """Minimum spacing between two scheduled (random) events of any kind in a district
    (price spikes: town-wide)."""
    events: list[PerturbationSpec] = field(default_factory=lambda: list(DEFAULT_PERTURBATIONS))


class WorldConfig(_Section, frozen=True):
    ticks_per_day: Annotated[int, Meta(ge=60, le=100_000)] = 1440
    """One day length used by every subsystem."""
    town: TownConfig = TownConfig()
    needs: NeedsConfig = NeedsConfig()
    affordances: list[AffordanceSpec] = field(default_factory=lambda: list(DEFAULT_AFFORDANCES))
    economy: EconomyConfig = EconomyConfig()
    jobs: list[JobSpec] = field(default_factory=lambda: list(DEFAULT_JOBS))
    employment: EmploymentConfig = EmploymentConfig()
    queues: QueueConfig = QueueConfig()
    relationships: RelationshipConfig = RelationshipConfig()
    routines: RoutinesConfig = RoutinesConfig()
    lifecycle: LifecycleConfig = LifecycleConfig()
    neglect: NeglectConfig = NeglectConfig()
    perturbations: PerturbationsConfig = PerturbationsConfig()
    events_per_agent: Annotated[float, Meta(ge=0.0, le=16.0)] = 0.25
    """Capacity of the per-tick event buffer per agent (plus a floor of 4096)."""
