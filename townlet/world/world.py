"""``World``: the Python face of the kernel. It validates once at the boundary,
then makes one compiled call per tick; observers get read-only views."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from types import MappingProxyType

import numba
import numpy as np

from townlet.config import TownletConfig, config_id
from townlet.config.money import to_minor
from townlet.world import interventions as iv
from townlet.world.actions import N_ACTIONS, Action, Flag
from townlet.world.ahead import Ahead
from townlet.world.errors import (
    AgentNotFound,
    AlreadyPossessed,
    BlockedTile,
    BusyTarget,
    InvalidArgument,
    NotFound,
)
from townlet.world.events import EVENT_DTYPE, EventCode
from townlet.world.geometry import TILE, WALKABLE, origin, outside_door
from townlet.world.jit import INTERPRETED
from townlet.world.kernel import PHASES, PREFETCH_FROM, Run, tick
from townlet.world.levers import Levers
from townlet.world.lifecycle import populate
from townlet.world.params import PERT_KINDS, build_params, kernel_params
from townlet.world.perturb import activate, end_slot
from townlet.world.rng import seed_keys
from townlet.world.shops import restock
from townlet.world.state import (
    FIELDS,
    NEEDS,
    PRICES,
    TOWN_FIELDS,
    UNPLANNED,
    Ctl,
    Ledger,
    State,
    Today,
    allocate,
    kernel_state,
    pert_slots,
    state_from,
)
from townlet.world.ties import TIE_KINDS, tie_mask
from townlet.world.town import generate_town
from townlet.world.validate import check_ranges
from townlet.world.waves import district_rows, far_count, tick_waves, waves_for

__all__ = ["World"]

class World(Levers):
    """A town of ``config.world.town.agents`` agents, deterministic from ``seed``.

    Parameters
    ----------
    config : TownletConfig
        The validated configuration.
    seed : int
        Run seed; with the config it determines every random draw.
    """

    def __init__(self, config: TownletConfig, seed: int = 0) -> None:
        if not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**63:
            raise InvalidArgument(f"seed must be an integer in [0, 2**63), got {seed!r}")
        w = config.world
        self.threads = config.kernel.threads
        if self.threads > numba.config.NUMBA_NUM_THREADS:
            raise InvalidArgument(
                f"kernel.threads is {self.threads} but Numba may start only "
                f"{numba.config.NUMBA_NUM_THREADS} threads here: lower it or set "
                f"NUMBA_NUM_THREADS={self.threads} before starting")
        self.config, self.seed, self.config_id = config, int(seed), config_id(config)
        town = generate_town(w, self.seed)
        n = w.town.agents
        sizes = {"N": n, "K": w.relationships.slots, "W": w.employment.attendance_window,
                     "M": town.obj_type.size, "B": town.bld_kind.size, "D": town.districts,
                     "H": town.tile_kind.shape[0], "X": town.tile_kind.shape[1],
                     "E": 4096 + int(n * w.events_per_agent), "S": len(w.perturbations.events),
                     "P": pert_slots(w.perturbations.max_concurrent, town.districts)}
        s = allocate(sizes)
        for name in TOWN_FIELDS:
            getattr(s, name)[...] = getattr(town, name)
        s.rng_key[:] = seed_keys(self.seed, self.config_id)
        s.price_base[:] = [to_minor(price) for price in w.economy.price_table()]
        s.price_now[:] = s.price_base
        s.ctl[Ctl.EXIT_CAP] = w.employment.daily_exit_cap
        s.ctl[Ctl.RESPAWN_DELAY] = w.lifecycle.respawn_delay_ticks
        s.ctl[Ctl.MORTALITY] = 1
        self._sections_of: State | None = None  # the state tuple _sections was built from
        self._sections: Mapping[str, np.ndarray] = MappingProxyType({})
        self._p = build_params(config, town)
        self._kp = kernel_params(self._p)
        self._s, self._ks = s, kernel_state(s)
        self._ahead: Ahead | None = None  # see copy_ahead
        self._armed: Ahead | None = None  # the last capture's handle, to rearm
        self._idle = self._ks
        ox, oy = origin(town.agent_home, town.blocks_w)
        k = np.arange(n) % w.town.residents_per_home
        populate(self._ks, self._kp, (ox + 1 + k).astype(np.int16), (oy + 5).astype(np.int16),
                 to_minor(w.economy.starting_wallet))
        s.ledger[Ledger.ENDOWMENT] = self._p.treasury_target
        restock(self._ks, self._kp, False)
        s.evt_len[0] = 0
        self._no_actions = np.zeros(0, dtype=np.int8)
        self._migrate = False  # see _tick_mode
        self._waves = waves_for(s, self._p, self.threads) if self.threads > 1 else None
        self._near: bool | None = None  # see step
        self.wave_ticks = 0
        """Ticks of this process whose turns all ran on several threads
        (townlet.world.waves); the others ran some or all in slot order on one."""
        self.wave_rows = 0
        """District rows of this process's ticks that ran on several threads."""
        self.district_rows = district_rows(town.districts, self._p.districts_w)
        """District rows of the town: a tick's rows on the threads are at most this many."""

    def _tick_mode(self) -> int:
        """``tick``'s ``Run`` bits: the parallel phase on more than one thread; the
        per-agent check for undrawn routines only while a loaded state has some;
        prefetching rows ahead in a town of ``PREFETCH_FROM`` slots or more."""
        return ((Run.PARALLEL if self.threads > 1 else 0) | (Run.MIGRATE if self._migrate else 0)
                | (Run.PREFETCH if self.n_agents >= PREFETCH_FROM else 0))

    # ----------------------------------------------------------------- ticking
    @property
    def tick(self) -> int:
        """Ticks processed so far."""
        return int(self._s.clock[0])

    @property
    def n_agents(self) -> int:
        """Agent slots (living or empty)."""
        return int(self._s.agent_alive.shape[0])

    @property
    def alive(self) -> np.ndarray:
        return self.view("agent_alive").view(bool)

    def _begin_batch(self) -> None:
        """Before an intervention writes the state: complete a pending capture, and start
        a new event batch unless the current one is still open (``_new_batch``)."""
        self._settle()
        self._near = None  # an intervention may tie agents far apart or move one far
        self._new_batch()

    def _new_batch(self) -> None:
        """Start a new event batch unless the current one is still open: events of an
        intervention between two steps are reported with the next step's. The flag lives
        in the state, so a snapshot taken between an intervention and the next step
        resumes the same batch."""
        if self._s.evt_stale[0]:
            self._s.evt_len[0] = 0
            self._s.evt_stale[0] = 0

    def step(self, actions: np.ndarray | None = None) -> None:
        """Advance one tick. ``actions``: None (scripted policy for everyone) or an
        integer array of shape (n_agents,) with codes from :class:`Action`."""
        if actions is None:
            acts, use = self._no_actions, False
        else:
            acts, use = self._check_actions(actions), True
        self._new_batch()
        numba.set_num_threads(self.threads)  # per calling thread: set where the tick runs
        if self._waves is None:
            tick(self._ks, self._kp, acts, use, len(PHASES), self._tick_mode())
            self._settle()  # the slot loop took every block of rows; the copier or this
            # thread completes the other groups
        else:
            if self._near is None:  # unknown since an intervention or a slot-order tick
                self._near = far_count(self._ks, self._waves) == 0
            rows = tick_waves(self._ks, self._kp, acts, use, len(PHASES), self._tick_mode(),
                              self._waves, self._near)
            waves = rows == self._waves.progress.shape[0]
            # a wave tick ties only neighbours and moves tame agents a step: still near
            self._near = True if waves else None
            self.wave_ticks += waves
            self.wave_rows += rows
        if self._migrate:  # the living drew their routines; newcomers draw on arrival
            self._migrate = bool((self._s.agent_today[:, Today.WORKS] == UNPLANNED)
                                 [self._s.agent_alive != 0].any())
        self._s.evt_stale[0] = 1

    def _check_actions(self, actions) -> np.ndarray:
        if not isinstance(actions, np.ndarray):
            raise TypeError(f"actions must be a numpy array, got {type(actions).__name__}")
        if actions.dtype.kind not in "iu":
            raise TypeError(f"actions must have an integer dtype, got {actions.dtype}")
        if actions.shape != (self.n_agents,):
            raise ValueError(f"actions must have shape ({self.n_agents},), got {actions.shape}")
        if actions.size and (actions.min() < Action.SCRIPTED or actions.max() >= N_ACTIONS):
            bad = int(actions[(actions < Action.SCRIPTED) | (actions >= N_ACTIONS)][0])
            raise ValueError(f"action codes must be in [-1, {N_ACTIONS - 1}], got {bad}")
        return np.ascontiguousarray(actions, dtype=np.int8)

    # ------------------------------------------------------------------ state
    def sections(self) -> Mapping[str, np.ndarray]:
        """Every state array by name (live: copy what you keep), read-only. The same
        mapping until the arrays are replaced (``load_sections``): it is built from the
        state tuple ``_s`` and rebuilt whenever ``_s`` is another tuple, so a caller
        every tick (the frame writer) neither pays for a new dict nor sees stale arrays."""
        if self._sections_of is not self._s:
            self._sections = MappingProxyType(dict(zip(State._fields, self._s)))
            self._sections_of = self._s
        return self._sections

    def load_sections(self, sections: dict[str, np.ndarray]) -> None:
        """Replace the whole state; raises ValueError naming a mismatching or
        out-of-range section (and leaves the current state untouched)."""
        new = state_from(sections, self._s)
        check_ranges(new, len(self.config.world.jobs), len(self.config.world.affordances),
                     len(self.config.world.perturbations.events))
        self._settle()
        self._s = new
        self._armed = None  # it references the replaced arrays
        self._ks = self._idle = kernel_state(self._s)
        self._near = None
        self._migrate = bool((new.agent_today[:, Today.WORKS] == UNPLANNED).any())

    def copy_ahead(self, frame: Mapping[str, np.ndarray], rows: int,
                   nbytes: int) -> Ahead | None:
        """Start copying the ``AHEAD_FIELDS`` (the agents' rows, objects, shops, exit ring
        and events) into ``frame``'s arrays as they are now, in blocks of ``rows`` agents
        and of about ``nbytes`` for the rest, while the next step runs
        (townlet.world.ahead): run the returned handle's ``run`` on another thread; the
        copy is complete when it returns, and at the latest once the next step has ended
        or an intervention begun. None where the
        tick is not one slot loop (``kernel.threads`` > 1: ``decay_local`` writes every
        row first) or not compiled: copy synchronously there."""
        if self.threads > 1 or INTERPRETED:
            return None
        self._settle()
        last = self._armed
        if last is not None and last.fits(self._s, frame, rows, nbytes):
            last.rearm()
            self._ahead = last
        else:
            self._ahead = self._armed = Ahead(self._s, frame, rows, nbytes)
        self._idle, self._ks = self._ks, self._ahead.ks
        return self._ahead

    def release_capture(self) -> None:
        """Complete a pending copy ahead and drop the handle kept to rearm the next one,
        with its references to the frame's arrays (~470 MB at 1M agents): call once no
        more captures into that frame will come (its autosaver closed)."""
        self._settle()
        self._armed = None

    def _settle(self) -> None:
        """Complete a pending copy ahead on this thread (nothing may write its sections
        before)."""
        if self._ahead is not None:
            self._ahead.finish()
            self._ahead = None
            self._ks = self._idle

    def view(self, name: str) -> np.ndarray:
        """Read-only view of one state array."""
        if name not in State._fields:
            raise KeyError(f"unknown state section {name!r}")
        v = getattr(self._s, name).view()
        v.flags.writeable = False
        return v

    def state_hash(self) -> str:
        """SHA-256 over every state array (names, shapes and bytes)."""
        h = hashlib.sha256()
        for f in FIELDS:
            arr = getattr(self._s, f.name)
            h.update(f"{f.name}{arr.shape}".encode())
            h.update(np.ascontiguousarray(arr).data)
        return h.hexdigest()

    def related(self, kind: str, other: int | None = None) -> np.ndarray:
        """Living agents holding a ``kind`` tie (``townlet.world.ties``), with ``other``
        if given: one bool per agent slot. Raises InvalidArgument / AgentNotFound."""
        if kind not in TIE_KINDS:
            raise InvalidArgument(f"unknown tie kind {kind!r}; kinds: {', '.join(TIE_KINDS)}")
        ties = tie_mask(self.view, self.config.world.relationships, kind)
        if other is not None:
            if not 0 <= other < self.n_agents or not self.alive[other]:
                raise AgentNotFound(f"agent {other} is not alive")
            ties = ties & (self.view("rel_other") == other)
        return ties.any(axis=1) & self.alive

    def events(self) -> np.ndarray:
        """This tick's events as a structured array (a copy)."""
        s = self._s
        n = int(s.evt_len[0])
        out = np.empty(n, dtype=EVENT_DTYPE)
        out["code"], out["tick"] = s.evt_code[:n], self.tick
        out["agent"], out["other"] = s.evt_agent[:n], s.evt_other[:n]
        out["obj"], out["value"] = s.evt_obj[:n], s.evt_value[:n]
        return out

    @property
    def params(self):
        """The compiled config tables the kernel reads."""
        return self._p

    # ---------------------------------------------------------- interventions
    def _agent(self, agent) -> int:
        if not isinstance(agent, (int, np.integer)) or not 0 <= agent < self.n_agents:
            raise AgentNotFound(f"no agent slot {agent!r} (slots 0..{self.n_agents - 1})")
        if not self._s.agent_alive[agent]:
            raise AgentNotFound(f"agent {agent} is not alive")
        return int(agent)

    def _tile(self, x, y) -> tuple[int, int]:
        h, w = self._s.tile_kind.shape
        if not all(isinstance(v, (int, np.integer)) for v in (x, y)):
            raise InvalidArgument(f"tile coordinates must be integers, got ({x!r}, {y!r})")
        if not (0 <= x < w and 0 <= y < h):
            raise BlockedTile(f"tile ({x}, {y}) is off the map ({w}x{h})")
        kind = int(self._s.tile_kind[y, x])
        if kind not in WALKABLE:
            raise BlockedTile(f"tile ({x}, {y}) is a {TILE(kind).name.lower()}")
        return int(x), int(y)

    def spawn(self, x: int | None = None, y: int | None = None) -> int:
        """A newcomer in the first empty slot (at its home's door unless x, y given)."""
        free = np.flatnonzero(self._s.agent_alive == 0)
        if free.size == 0:
            raise BusyTarget("the town is full: every agent slot is occupied")
        i = int(free[0])
        if x is None and y is None:
            x, y = outside_door(int(self._s.agent_home[i]), self._p.blocks_w)
        x, y = self._tile(x, y)
        self._begin_batch()
        iv.spawn(self._ks, self._kp, i, self.tick, x, y)
        return i

    def kill(self, agent: int) -> None:
        """Remove an agent for good (its slot stays empty until a spawn)."""
        i = self._agent(agent)
        self._begin_batch()
        iv.kill(self._ks, self._kp, i, self.tick)

    def teleport(self, agent: int, x: int, y: int) -> None:
        i = self._agent(agent)
        x, y = self._tile(x, y)
        self._begin_batch()
        iv.teleport(self._ks, self._kp, i, self.tick, x, y)

    def set_need(self, agent: int, need: str, value: float) -> None:
        i = self._agent(agent)
        if need not in NEEDS:
            raise InvalidArgument(f"unknown need {need!r} (known: {', '.join(NEEDS)})")
        if not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
            raise InvalidArgument(f"need value must be a number in [0, 1], got {value!r}")
        self._settle()
        self._s.agent_needs[i, NEEDS.index(need)] = value

    def possess(self, agent: int) -> None:
        i = self._agent(agent)
        if self._s.agent_flags[i] & Flag.POSSESSED:
            raise AlreadyPossessed(f"agent {i} is already possessed")
        self._settle()
        self._s.agent_flags[i] |= Flag.POSSESSED
        self._s.agent_possessed_action[i] = Action.WAIT

    def release(self, agent: int) -> None:
        i = self._agent(agent)
        if not self._s.agent_flags[i] & Flag.POSSESSED:
            raise InvalidArgument(f"agent {i} is not possessed")
        self._settle()
        self._s.agent_flags[i] &= ~np.uint8(Flag.POSSESSED)

    def set_possessed_action(self, agent: int, action: int) -> None:
        """The action a possessed agent takes on the next tick."""
        i = self._agent(agent)
        if not self._s.agent_flags[i] & Flag.POSSESSED:
            raise InvalidArgument(f"agent {i} is not possessed")
        if not isinstance(action, (int, np.integer)) or not 0 <= action < N_ACTIONS:
            raise InvalidArgument(f"action must be in [0, {N_ACTIONS - 1}], got {action!r}")
        self._settle()
        self._s.agent_possessed_action[i] = action

    def perturb(self, kind: str, duration: int, magnitude: float | None = None,
                target: int | str | None = None) -> int:
        """Start a perturbation now; returns its event id.

        ``target``: price_spike: a price name or "all"; blackout/outage: a district
        index or None for the whole town; arranged_meet: a district index (default 0).
        """
        if kind not in PERT_KINDS:
            raise InvalidArgument(f"unknown perturbation {kind!r} (known: {', '.join(PERT_KINDS)})")
        if not isinstance(duration, (int, np.integer)) or not 1 <= duration <= 10_000_000:
            raise InvalidArgument(f"duration must be a positive integer, got {duration!r}")
        code = PERT_KINDS.index(kind)
        mag = 1.0 if magnitude is None else magnitude
        if not isinstance(mag, (int, float)) or not 0.0 <= mag <= 100.0:
            raise InvalidArgument(f"magnitude must be a number in [0, 100], got {magnitude!r}")
        t = self._perturb_target(kind, target)
        self._begin_batch()
        eid = activate(self._ks, self._kp, code, -1, int(duration), float(mag), t, self.tick)
        if eid < 0:
            raise BusyTarget(f"cannot start {kind}: no free perturbation slot"
                             + (" or nobody to meet" if kind == "arranged_meet" else ""))
        return int(eid)

    def _perturb_target(self, kind, target) -> int:
        districts = self._s.district_power.shape[0]
        if kind == "price_spike":
            names = ("all",) + PRICES[1:]
            if target is None:
                return 0
            if target not in names:
                raise InvalidArgument(f"price_spike target must be one of {names}, got {target!r}")
            return names.index(target)
        if target is None:
            return -1 if kind != "arranged_meet" else 0
        if not isinstance(target, (int, np.integer)) or not 0 <= target < districts:
            raise InvalidArgument(f"target district must be in [0, {districts - 1}], got {target!r}")
        return int(target)

    def cancel_perturbation(self, event_id: int) -> None:
        for slot in range(self._s.pert_kind.shape[0]):
            if self._s.pert_kind[slot] >= 0 and self._s.pert_id[slot] == event_id:
                self._begin_batch()
                end_slot(self._ks, self._kp, slot, EventCode.PERTURBATION_CANCELLED)
                return
        raise NotFound(f"no active perturbation with id {event_id!r}")

    def set_object_enabled(self, obj: int, enabled: bool) -> None:
        if not isinstance(obj, (int, np.integer)) or not 0 <= obj < self._s.obj_type.size \
                or self._s.obj_type[obj] < 0:
            raise NotFound(f"no object {obj!r}")
        self._begin_batch()
        iv.set_enabled(self._ks, self._kp, int(obj), self.tick, bool(enabled))

