"""Room for the stack: AZs, instance offerings, vCPU and account quotas, leftovers of an
earlier cluster, and the live sizes of node groups that already exist."""

from __future__ import annotations

from typing import Any

from components.core.scheduling import POOL_LABEL
from components.core.subnets import nat_gateway_count
from components.offline.preflight.base import (
    ACCOUNT_QUOTAS,
    QUOTAS,
    Check,
    CheckContext,
    error_text,
    quota_class,
)

__all__ = ["CapacityChecks"]


class CapacityChecks(CheckContext):
    """The checks of what the account has room for."""

    def availability_zones(self) -> Check:
        zones = self.client("ec2").describe_availability_zones(
            Filters=[
                {"Name": "state", "Values": ["available"]},
                # Local and Wavelength Zones are listed too once opted in; EKS needs AZs.
                {"Name": "zone-type", "Values": ["availability-zone"]},
            ]
        )["AvailabilityZones"]
        offered = sorted(z["ZoneName"] for z in zones)
        wanted = self.config.network.availability_zones
        if wanted:
            missing = [az for az in wanted if az not in offered]
            if missing:
                return Check(
                    "availability zones",
                    "fail",
                    f"network.availabilityZones {missing} not available in {self.region} "
                    f"(available: {offered})",
                )
            return Check("availability zones", "pass", f"{', '.join(wanted)} available")
        count = self.config.network.az_count
        if len(offered) < count:
            return Check(
                "availability zones",
                "fail",
                f"network.azCount is {count} but {self.region} has {len(offered)}: {offered}",
            )
        self.azs = offered[:count]
        return Check("availability zones", "pass", f"using {', '.join(self.azs)} (first {count})")

    def instance_types(self) -> list[Check]:
        if not self.azs:
            return [Check("instance types", "skipped", "no availability zones to check")]
        types = sorted({t for pool in self.config.node_pools.values() for t in pool.instance_types})
        pages = (
            self.client("ec2")
            .get_paginator("describe_instance_type_offerings")
            .paginate(
                LocationType="availability-zone",
                Filters=[
                    {"Name": "instance-type", "Values": types},
                    {"Name": "location", "Values": self.azs},
                ],
            )
        )
        offered = {
            (o["InstanceType"], o["Location"])
            for page in pages
            for o in page["InstanceTypeOfferings"]
        }
        checks = []
        for name, pool in self.config.node_pools.items():
            missing = [
                f"{t} in {az}"
                for t in pool.instance_types
                for az in self.azs
                if (t, az) not in offered
            ]
            label = f"instance types: pool {name}"
            if missing:
                checks.append(Check(label, "fail", f"not offered: {', '.join(missing)}"))
            else:
                checks.append(Check(label, "pass", f"{', '.join(pool.instance_types)} in every AZ"))
        return checks

    def vcpu_quotas(self) -> list[Check]:
        types = sorted({t for pool in self.config.node_pools.values() for t in pool.instance_types})
        described = self.client("ec2").describe_instance_types(InstanceTypes=types)["InstanceTypes"]
        vcpus = {t["InstanceType"]: int(t["VCpuInfo"]["DefaultVCpus"]) for t in described}
        needed: dict[tuple[str, str], int] = {}
        pools: dict[tuple[str, str], list[str]] = {}
        for name, pool in self.config.node_pools.items():
            for cls in sorted({quota_class(t) for t in pool.instance_types}, key=str):
                if cls is None:
                    continue
                listed = [t for t in pool.instance_types if quota_class(t) == cls]
                largest = max(vcpus.get(t, 0) for t in listed)
                key: tuple[str, str] = (cls, str(pool.capacity_type))
                needed[key] = needed.get(key, 0) + pool.max_size * largest
                pools.setdefault(key, []).append(
                    f"nodePools.{name}.maxSize {pool.max_size}×{largest}"
                )
        quotas = self.client("service-quotas")
        checks = []
        for key in sorted(needed):
            code, title = QUOTAS[key]
            label = f"vCPU quota {code}"
            try:
                value = quotas.get_service_quota(ServiceCode="ec2", QuotaCode=code)["Quota"][
                    "Value"
                ]
            except Exception as exc:  # noqa: BLE001 (reported as the check's failure)
                checks.append(Check(label, "fail", f"{title}: cannot read it ({error_text(exc)})"))
                continue
            need = needed[key]
            detail = (
                f"{title}: need {need} vCPUs at max size ({', '.join(pools[key])}), "
                f"quota {value:g} (running instances count against it too)"
            )
            checks.append(Check(label, "pass" if value >= need else "fail", detail))
        return checks

    def account_quotas(self) -> list[Check]:
        """Elastic IPs (one per NAT gateway) and VPCs left under their quotas."""
        network = self.config.network
        nat = nat_gateway_count(network.az_count, network.nat_strategy)
        ec2 = self.client("ec2")
        wanted = {
            "eip": (nat, len(ec2.describe_addresses().get("Addresses", []))),
            "vpc": (1, len(ec2.describe_vpcs().get("Vpcs", []))),
        }
        checks = []
        for key, (new, used) in wanted.items():
            if not new:
                continue
            service, code, title = ACCOUNT_QUOTAS[key]
            label = f"quota {title}"
            try:
                value = self.client("service-quotas").get_service_quota(
                    ServiceCode=service, QuotaCode=code
                )["Quota"]["Value"]
            except Exception as exc:  # noqa: BLE001
                checks.append(Check(label, "fail", f"{code}: cannot read it ({error_text(exc)})"))
                continue
            why = (
                f"network.natStrategy {network.nat_strategy!r} needs {new}"
                if key == "eip"
                else "the stack creates 1"
            )
            detail = f"{code}: {used} in use, {why}, quota {value:g}"
            checks.append(Check(label, "pass" if used + new <= value else "fail", detail))
        return checks

    def leftovers(self) -> list[Check]:
        """A log group or cluster of the same name makes CreateCluster or CreateLogGroup fail."""
        name = self.config.cluster.name
        group = f"/aws/eks/{name}/cluster"
        groups = self.client("logs").describe_log_groups(logGroupNamePrefix=group)["logGroups"]
        checks = []
        if any(g.get("logGroupName") == group for g in groups):
            checks.append(
                Check(
                    "leftover log group",
                    "fail",
                    f"{group} exists (left by an earlier cluster named {name!r}): the stack "
                    "creates it, so delete it or choose another cluster.name",
                )
            )
        else:
            checks.append(Check("leftover log group", "pass", f"no {group}"))
        try:
            self.client("eks").describe_cluster(name=name)
        except Exception as exc:  # noqa: BLE001
            if "ResourceNotFound" not in error_text(exc):
                checks.append(Check("cluster name", "fail", f"cannot check it ({error_text(exc)})"))
            else:
                checks.append(Check("cluster name", "pass", f"no EKS cluster named {name!r}"))
            return checks
        checks.append(
            Check(
                "cluster name",
                "fail",
                f"cluster.name {name!r}: an EKS cluster of that name already exists in "
                f"{self.region}",
            )
        )
        return checks

    def node_group_sizes(self) -> list[Check]:
        """Each existing autoscaled pool's new min/max against the live desired size.

        The node group's `desiredSize` is in `ignore_changes` once cluster-autoscaler owns
        it, so an update sends the new min and max with the desired size Pulumi last
        recorded; EKS refuses min > desired or desired > max (UpdateNodegroupConfig:
        "Minimum capacity N can't be greater than desired size M"). Fixing the live group
        first, then `pulumi up --refresh` (so the recorded size is the fixed one), makes
        the change in one update. Node groups are auto-named: each is found by the pool
        label (`mlops.dev/pool`) the stack puts on it.
        """
        eks = self.client("eks")
        cluster = self.config.cluster.name
        try:
            eks.describe_cluster(name=cluster)
        except Exception as exc:
            if "ResourceNotFound" in error_text(exc):
                return [Check("node group sizes", "skipped", f"cluster {cluster} not created yet")]
            raise
        names = [
            name
            for page in eks.get_paginator("list_nodegroups").paginate(clusterName=cluster)
            for name in page.get("nodegroups", [])
        ]
        live: dict[str, dict[str, Any]] = {}
        for name in names:
            group = eks.describe_nodegroup(clusterName=cluster, nodegroupName=name)["nodegroup"]
            pool = group.get("labels", {}).get(POOL_LABEL)
            if pool is not None:
                live[pool] = group
        checks = []
        for pool_name, pool in self.config.node_pools.items():
            label = f"node group size: pool {pool_name}"
            group = live.get(pool_name)
            if group is None:
                checks.append(
                    Check(
                        label,
                        "pass",
                        f"no node group yet in {cluster}: created with "
                        f"{pool.min_size}/{pool.initial_desired_size}/{pool.max_size}",
                    )
                )
                continue
            scaling = group["scalingConfig"]
            desired = int(scaling["desiredSize"])
            if not pool.autoscaled or pool.min_size <= desired <= pool.max_size:
                checks.append(
                    Check(
                        label,
                        "pass",
                        f"{group['nodegroupName']}: live desired size {desired}, new "
                        f"min/max {pool.min_size}/{pool.max_size}",
                    )
                )
                continue
            fixed = min(max(desired, pool.min_size), pool.max_size)
            command = (
                f"aws eks update-nodegroup-config --region {self.region} "
                f"--cluster-name {cluster} --nodegroup-name {group['nodegroupName']} "
                f"--scaling-config minSize={pool.min_size},maxSize={pool.max_size},"
                f"desiredSize={fixed}"
            )
            checks.append(
                Check(
                    label,
                    "fail",
                    f"live desired size {desired} is outside the new minSize/maxSize "
                    f"{pool.min_size}/{pool.max_size}, which EKS refuses; run `{command}`, "
                    "then `pulumi up --refresh`",
                )
            )
        return checks
