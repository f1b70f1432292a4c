"""Integration tests run real components: Java 17, Maven, Cassandra nodes, the loader."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))


from moto_server import moto_url  # noqa: F401  (the moto_url fixture, for the AWS tests)
