"""The operator dashboard (``townlet dashboard``): a Textual UI over the telemetry
stream and the console. Needs the ``ui`` extra; never imports the world or numba."""
