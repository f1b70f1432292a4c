"""The built-in loader, run as its own process: ``python -m pytest_scyllabench.loader``.

Modules: :mod:`.cli` (arguments), :mod:`.workload` (op mix, values, CQL), :mod:`.keys`
(key distributions), :mod:`.drivers` (CQL driver adapters), :mod:`.schedule` (open and
closed loops), :mod:`.recorder` (HDR histograms and the interval log), :mod:`.phases`
(schema, populate and run, progress and summary).
"""
