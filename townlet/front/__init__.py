"""The console front process: the operator console's public side, run beside the town.

``townlet run`` starts it (``townlet console-front``, supervised like the publisher). It
owns the CURVE ROUTER socket, the ZAP handler, decoding and validation, roles, rate limits,
the replay cache and the audit log, answers ``status``, ``health`` and the other off-tick
commands from the simulation's per-tick summary, and forwards admitted requests to the
simulation over an owner-only ``ipc://`` link (:mod:`townlet.console.link`).
"""
