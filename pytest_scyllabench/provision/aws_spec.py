"""What to create on EC2: the typed model of the ``aws`` profile section, its offline
validation and the cost estimate.

Plain frozen dataclasses with defaults, so that the profile schema can parse them like every
other section. :func:`validate` checks everything that can be checked without AWS and names the
field path of each problem (relative to the ``aws`` section: ``servers.ami``); what only AWS
knows (the AMIs exist, the instance types are offered in the zone) is checked by the
provisioner before it creates anything.
"""

from __future__ import annotations

import ipaddress
import math
import re
from dataclasses import dataclass
from typing import Literal

from pytest_scyllabench.execute.ssh_options import USER_RULE, is_user_name

Market = Literal["on-demand", "spot"]
AddressKind = Literal["public", "private"]

#: The roles of a deployment, in the order they are created.
ROLES: tuple[str, ...] = ("servers", "loaders", "monitor")

_AMI = re.compile(r"^ami-[0-9a-f]{8,17}$")
_RUN_ID = re.compile(r"^[a-z0-9][a-z0-9-]{2,40}$")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")


def is_run_id(text: str) -> bool:
    """Whether ``text`` is a run id (it names directories: no ``/``, no ``..``)."""
    return _RUN_ID.fullmatch(text) is not None


@dataclass(frozen=True)
class RoleSpec:
    """The instances of one role: how many, of which type, from which image."""

    instance_type: str
    count: int
    #: Image id (``ami-...``), which must exist in the region; no default, images are regional.
    ami: str = ""
    #: Size of the root volume (gp3), in GB.
    disk_gb: int = 100
    #: ``spot`` instances cost less and may be reclaimed; good for loaders, not for servers.
    market: Market = "on-demand"


@dataclass(frozen=True)
class AwsSpec:
    """An EC2 deployment: where, what, who may reach it, and how long it may live."""

    region: str = "us-east-1"
    #: Availability zone of every instance; empty for ``<region>a``.
    zone: str = ""
    servers: RoleSpec = RoleSpec("i4i.large", 3)
    loaders: RoleSpec = RoleSpec("c6i.2xlarge", 1, market="spot")
    #: Prometheus host; none by default.
    monitor: RoleSpec = RoleSpec("t3.large", 0)
    #: Login user of the AMIs (``ubuntu`` on Ubuntu images, ``ec2-user`` on Amazon Linux).
    ssh_user: str = "ubuntu"
    #: The network allowed to reach SSH (22) and CQL (9042), ``OPERATOR_PORTS``, as a CIDR
    #: (``203.0.113.5/32``). Required: there is no detection, and ``0.0.0.0/0`` is refused.
    operator_cidr: str = ""
    #: Who to ask about these instances; written in the ``owner`` tag. Required.
    owner: str = ""
    #: Hours after which ``scyllabench aws sweep`` may delete the run (the ``expiry`` tag).
    expiry_hours: float = 8.0
    #: Reuse the instances of an earlier run (found by their run-id tag) instead of creating.
    run_id: str = ""
    #: Private key of a reused run; default: the ``key.pem`` its first session wrote in the
    #: cache, ``<cache>/aws/<run id>/key.pem`` (set this when the cache is another one).
    key_file: str = ""
    #: Address the executors connect to: the public one, or the private one (from inside the
    #: VPC, through a VPN or a bastion).
    address: AddressKind = "public"
    #: EC2 endpoint, for moto or localstack; empty for AWS itself.
    endpoint_url: str = ""
    #: Seconds allowed for the instances to run and answer SSH.
    boot_timeout: float = 600.0
    #: Keep the instances after the session (for a later ``run_id``); never the default.
    keep: bool = False
    #: Directory on the instances for the database's and the loaders' files.
    workdir: str = "/var/tmp/pytest-scyllabench"
    #: Python of the loader instances, with pytest-scyllabench installed (built-in loader).
    loader_python: str = "python3"
    #: Seconds allowed for one remote command (an install, a configuration step).
    command_timeout: float = 600.0

    @property
    def availability_zone(self) -> str:
        return self.zone or f"{self.region}a"

    def roles(self) -> tuple[tuple[str, RoleSpec], ...]:
        """``(role name, spec)`` of every role with at least one instance, in creation order."""
        return tuple((name, getattr(self, name)) for name in ROLES if getattr(self, name).count)


@dataclass(frozen=True)
class Problem:
    """One invalid field: its path in the ``aws`` section and what is wrong."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def validate(spec: AwsSpec) -> list[Problem]:
    """Every problem found without asking AWS; empty when the spec is usable."""
    problems: list[Problem] = []

    def bad(path: str, message: str) -> None:
        problems.append(Problem(path, message))

    if not _REGION.match(spec.region):
        bad("region", f"not a region name: {spec.region!r} (like us-east-1)")
    if spec.zone and not (spec.zone.startswith(spec.region) and len(spec.zone) > len(spec.region)):
        bad("zone", f"{spec.zone!r} is not a zone of region {spec.region!r} (like "
                    f"{spec.region}a)")
    for name in ROLES:
        problems.extend(_validate_role(name, getattr(spec, name)))
    if spec.servers.count < 1:
        bad("servers.count", "at least one server is needed")
    if spec.loaders.count < 1:
        bad("loaders.count", "at least one loader is needed")
    if spec.monitor.count > 1:
        bad("monitor.count", f"must be 0 or 1, got {spec.monitor.count}")
    if not is_user_name(spec.ssh_user):
        bad("ssh_user", f"not a user name ({USER_RULE}): {spec.ssh_user[:60]!r}")
    cidr_problem = _cidr_problem(spec.operator_cidr)
    if cidr_problem:
        bad("operator_cidr", cidr_problem)
    if not spec.owner.strip():
        bad("owner", "required: who to ask about these instances (written in their owner tag)")
    if not (math.isfinite(spec.expiry_hours) and 0 < spec.expiry_hours <= 24 * 14):
        bad("expiry_hours", f"must be more than 0 and at most 336 (14 days), got "
                            f"{spec.expiry_hours}")
    if spec.run_id and not is_run_id(spec.run_id):
        bad("run_id", f"not a run id: {spec.run_id!r} (lower-case letters, digits and -)")
    if spec.key_file and not spec.run_id:
        bad("key_file", "only used to reuse a run (with run_id)")
    if spec.endpoint_url and not spec.endpoint_url.startswith(("http://", "https://")):
        bad("endpoint_url", f"must be an http:// or https:// URL, got {spec.endpoint_url!r}")
    if not (math.isfinite(spec.boot_timeout) and spec.boot_timeout > 0):
        bad("boot_timeout", f"must be a positive number of seconds, got {spec.boot_timeout}")
    return problems


def _validate_role(name: str, role: RoleSpec) -> list[Problem]:
    problems: list[Problem] = []
    if role.count < 0:
        problems.append(Problem(f"{name}.count", f"must be >= 0, got {role.count}"))
    if role.count == 0:
        return problems
    if not role.ami:
        problems.append(Problem(f"{name}.ami", "required: an image id of the region "
                                               "(ami-...); images differ between regions"))
    elif not _AMI.match(role.ami):
        problems.append(Problem(f"{name}.ami", f"not an image id: {role.ami!r} (ami-...)"))
    if not re.match(r"^[a-z][a-z0-9-]*\.[a-z0-9]+$", role.instance_type):
        problems.append(Problem(f"{name}.instance_type",
                                f"not an instance type: {role.instance_type!r}"))
    if not 8 <= role.disk_gb <= 16384:
        problems.append(Problem(f"{name}.disk_gb",
                                f"must be between 8 and 16384 GB, got {role.disk_gb}"))
    if role.market not in ("on-demand", "spot"):
        problems.append(Problem(f"{name}.market",
                                f"must be on-demand or spot, got {role.market!r}"))
    return problems


def _cidr_problem(text: str) -> str:
    if not text.strip():
        return ("required: the network you connect from, as a CIDR (203.0.113.5/32); "
                "it is the only source allowed to reach SSH, CQL and Prometheus")
    try:
        network = ipaddress.ip_network(text.strip(), strict=True)
    except ValueError as exc:
        return f"not a CIDR: {text!r} ({exc})"
    if network.version != 4:
        return "only IPv4 networks are supported"
    if network.prefixlen < 8:
        return f"{text} is open to too much of the internet (at most a /8)"
    return ""


# --- cost -----------------------------------------------------------------------------------

#: On-demand Linux prices in US dollars per hour, us-east-1, mid-2024. An estimate: prices
#: differ by region and change; spot prices vary by the hour and are bounded here by these.
ON_DEMAND_USD_PER_HOUR: dict[str, float] = {
    "t3.medium": 0.0416, "t3.large": 0.0832, "t3.xlarge": 0.1664, "t3.2xlarge": 0.3328,
    "m5.large": 0.096, "m5.xlarge": 0.192, "m5.2xlarge": 0.384, "m5.4xlarge": 0.768,
    "m6i.large": 0.096, "m6i.xlarge": 0.192, "m6i.2xlarge": 0.384, "m6i.4xlarge": 0.768,
    "c5.large": 0.085, "c5.xlarge": 0.17, "c5.2xlarge": 0.34, "c5.4xlarge": 0.68,
    "c6i.large": 0.085, "c6i.xlarge": 0.17, "c6i.2xlarge": 0.34, "c6i.4xlarge": 0.68,
    "c7i.large": 0.08925, "c7i.xlarge": 0.1785, "c7i.2xlarge": 0.357, "c7i.4xlarge": 0.714,
    "r5.large": 0.126, "r5.xlarge": 0.252, "r5.2xlarge": 0.504,
    "r6i.large": 0.126, "r6i.xlarge": 0.252, "r6i.2xlarge": 0.504,
    "i3.large": 0.156, "i3.xlarge": 0.312, "i3.2xlarge": 0.624, "i3.4xlarge": 1.248,
    "i3en.large": 0.226, "i3en.xlarge": 0.452, "i3en.2xlarge": 0.904, "i3en.3xlarge": 1.356,
    "i4i.large": 0.172, "i4i.xlarge": 0.343, "i4i.2xlarge": 0.686, "i4i.4xlarge": 1.373,
}
#: gp3 storage, US dollars per GB-month (730 hours).
GP3_USD_PER_GB_MONTH = 0.08


@dataclass(frozen=True)
class CostLine:
    """The estimated hourly cost of one role; ``None`` when its instance type is unknown."""

    role: str
    count: int
    instance_type: str
    market: Market
    each: float | None

    @property
    def total(self) -> float | None:
        return None if self.each is None else self.each * self.count


@dataclass(frozen=True)
class CostEstimate:
    """The estimated cost per hour of a whole deployment (instances and root volumes)."""

    lines: tuple[CostLine, ...]

    @property
    def total(self) -> float | None:
        """The sum, or ``None`` when any role's price is unknown."""
        totals = [line.total for line in self.lines]
        return None if any(t is None for t in totals) else sum(t for t in totals if t)

    def text(self) -> str:
        """A few lines for the terminal, labelled as an estimate."""
        rows = ["estimated cost per hour (an estimate from a built-in table of us-east-1 "
                "on-demand prices, not a quote; spot prices are at most these):"]
        for line in self.lines:
            price = ("unknown (instance type not in the table)" if line.each is None
                     else f"${line.each:.3f}/h each, ${line.each * line.count:.3f}/h")
            bound = "at most " if line.market == "spot" and line.each is not None else ""
            rows.append(f"  {line.role:<8} {line.count} x {line.instance_type:<12} "
                        f"{line.market:<9} {bound}{price}")
        total = self.total
        bound = "at most " if self._any_spot() else ""
        if total is None:
            unknown = [line.role for line in self.lines if line.each is None]
            known = sum(line.each * line.count for line in self.lines if line.each is not None)
            rows.append(f"  total    unknown (${known:.3f}/h without {', '.join(unknown)})")
        else:
            rows.append(f"  total    {bound}${total:.3f}/h")
        return "\n".join(rows)

    def _any_spot(self) -> bool:
        return any(line.market == "spot" for line in self.lines)


def estimate_cost(spec: AwsSpec) -> CostEstimate:
    """The estimated hourly cost of ``spec``'s instances and their root volumes."""
    lines = []
    for name, role in spec.roles():
        price = ON_DEMAND_USD_PER_HOUR.get(role.instance_type)
        each = None if price is None else price + role.disk_gb * GP3_USD_PER_GB_MONTH / 730
        lines.append(CostLine(name, role.count, role.instance_type, role.market, each))
    return CostEstimate(tuple(lines))
