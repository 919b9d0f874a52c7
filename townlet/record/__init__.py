"""The telemetry recorder (`townlet record`) and replay (`townlet replay`); needs the
``ops`` extra (pyarrow)."""
