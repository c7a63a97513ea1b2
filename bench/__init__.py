"""alertd benchmarks: ``make bench`` (``python -m bench.run``) writes ``bench/results.md``.

Everything runs on loopback against the built-in EM simulator. Timings are reported, never
asserted: a goal that is not met is written down as such and the run still exits 0.
"""
