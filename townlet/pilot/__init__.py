"""Learned policies in the town: ``townlet run --policy`` (batched inference, anneal from
scripted control), the versioned evaluation suites behind ``townlet eval``, and
``townlet promote``. Needs the ``rl`` extra (torch) for checkpoints.
"""
