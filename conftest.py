"""Root conftest: pytest-scyllabench itself is loaded through its pytest11 entry point.

Deployment and workload profiles live in fixtures/ (YAML, no Python); benchmark suites in
benchmarks/; the plugin's own tests in tests/.
"""
