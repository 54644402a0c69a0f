"""Benchmark harness of ddrm-lightning (driven by ``benchmarks/run.py``; see docs/performance.md).

Sections, each writing one CSV (a row per configuration) and a table of ``results.md``:

* ``restore``   — seconds per image of a whole DDRM restoration and of its network forwards alone.
* ``sweep``     — images per second of a ``restore.py`` sweep against the bare restoration loop.
* ``operators`` — V, Vᵀ, U, Uᵀ of every operator at 3×256×256, batch 8, against one CelebA-HQ forward.
* ``noise``     — drawing a batch of per-sample noise.
"""
