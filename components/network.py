"""Network: the VPC, its public and private subnets, NAT, routes and endpoints.

The CIDRs come from `core.subnets.plan_subnets` (pure, AZ-keyed); this module only
turns that plan into resources.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import get_args

import pulumi
import pulumi_aws as aws

from components.core import iam
from components.core.config import InterfaceEndpoint, NatStrategy, NetworkConfig
from components.core.subnets import AzSubnets, nat_gateway_azs, nat_gateway_for, plan_subnets
from components.core.tags import component_tags

__all__ = ["Network", "NetworkArgs"]

INTERFACE_ENDPOINTS: tuple[str, ...] = get_args(InterfaceEndpoint)

#: A resource's tags from its name suffix, plus extra ones.
_Tags = Callable[..., dict[str, str]]


@dataclass(frozen=True, kw_only=True)
class NetworkArgs:
    """Inputs of `Network`; `from_config` builds them from the stack config."""

    vpc_cidr: str
    az_count: int = 3
    availability_zones: Sequence[str] | None = None
    """Explicit AZ names; when None, the first `az_count` AZs the region offers."""
    nat_strategy: NatStrategy = "one-per-az"
    private_subnet_prefix: int
    public_subnet_prefix: int
    enable_interface_endpoints: bool = False
    interface_endpoints: Sequence[str] = INTERFACE_ENDPOINTS
    enable_flow_logs: bool = False
    flow_log_retention_days: int = 30
    cluster_name: str | None = None
    """The EKS cluster that will use the subnets: adds `kubernetes.io/cluster/<name>`."""
    tags: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_config(
        cls, config: NetworkConfig, *, cluster_name: str | None, tags: Mapping[str, str]
    ) -> NetworkArgs:
        return cls(
            vpc_cidr=config.vpc_cidr,
            az_count=config.az_count,
            availability_zones=config.availability_zones,
            nat_strategy=config.nat_strategy,
            private_subnet_prefix=config.private_prefix,
            public_subnet_prefix=config.public_prefix,
            enable_interface_endpoints=config.enable_interface_endpoints,
            interface_endpoints=config.interface_endpoints,
            enable_flow_logs=config.enable_flow_logs,
            flow_log_retention_days=config.flow_log_retention_days,
            cluster_name=cluster_name,
            tags=tags,
        )


class Network(pulumi.ComponentResource):
    """A VPC laid out for EKS: private subnets for nodes, public ones for load balancers."""

    vpc_id: pulumi.Output[str]
    """The VPC's id."""
    vpc_cidr: str
    """The VPC's CIDR block."""
    azs: list[str]
    """The AZs in use, in plan order."""
    private_subnet_ids: dict[str, pulumi.Output[str]]
    """Private subnet id by AZ name."""
    public_subnet_ids: dict[str, pulumi.Output[str]]
    """Public subnet id by AZ name."""
    private_subnet_cidrs: list[str]
    """Private subnet CIDRs in AZ order (plain strings from the plan)."""
    public_subnet_cidrs: list[str]
    """Public subnet CIDRs in AZ order (plain strings from the plan)."""
    nat_gateway_ids: list[pulumi.Output[str]]
    """The NAT gateways' ids (none with `nat_strategy="none"`): the dashboard's NAT bytes."""

    def __init__(
        self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlops:network:Network", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        def tags(suffix: str | None = None, **extra: str) -> dict[str, str]:
            resource_name = f"{name}-{suffix}" if suffix else name
            return {**component_tags(args.tags, "network", name=resource_name), **extra}

        azs = self._azs(args)
        plan = plan_subnets(
            args.vpc_cidr,
            azs,
            private_prefix=args.private_subnet_prefix,
            public_prefix=args.public_subnet_prefix,
        )
        vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=args.vpc_cidr,
            enable_dns_support=True,
            enable_dns_hostnames=True,
            tags=tags("vpc"),
            opts=child,
        )
        igw = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=vpc.id, tags=tags("igw"), opts=child)
        public_subnets, private_subnets = self._subnets(name, args, tags, plan, vpc, igw)
        private_route_tables = self._nat_and_routes(
            name, args, tags, azs, vpc, igw, public_subnets, private_subnets
        )
        region = aws.get_region(opts=pulumi.InvokeOptions(parent=self)).region
        aws.ec2.VpcEndpoint(
            f"{name}-s3",
            vpc_id=vpc.id,
            service_name=self._endpoint_service(region, "s3", "Gateway"),
            vpc_endpoint_type="Gateway",
            route_table_ids=[rt.id for rt in private_route_tables],
            tags=tags("s3"),
            opts=child,
        )
        if args.enable_interface_endpoints:
            self._interface_endpoints(name, args, tags, region, vpc, private_subnets)
        if args.enable_flow_logs:
            self._flow_logs(name, args, tags, region, vpc)

        self.vpc_id = vpc.id
        self.vpc_cidr = args.vpc_cidr
        self.azs = azs
        self.private_subnet_ids = {az: s.id for az, s in private_subnets.items()}
        self.public_subnet_ids = {az: s.id for az, s in public_subnets.items()}
        self.private_subnet_cidrs = [str(slot.private) for slot in plan]
        self.public_subnet_cidrs = [str(slot.public) for slot in plan]
        self.register_outputs(
            {
                "vpcId": self.vpc_id,
                "privateSubnetIds": self.private_subnet_ids,
                "publicSubnetIds": self.public_subnet_ids,
            }
        )

    def _azs(self, args: NetworkArgs) -> list[str]:
        """The configured AZs, else the first `az_count` real AZs of the region, by name."""
        azs = list(args.availability_zones or [])
        if azs:
            return azs
        # Opted-in Local and Wavelength Zones are listed too, and sort first
        # (`us-west-2-lax-1a` < `us-west-2a`); EKS and NAT need real AZs.
        offered = aws.get_availability_zones(
            state="available",
            filters=[
                aws.GetAvailabilityZonesFilterArgs(name="zone-type", values=["availability-zone"])
            ],
            opts=pulumi.InvokeOptions(parent=self),
        ).names
        if len(offered) < args.az_count:
            raise pulumi.RunError(
                f"network.azCount is {args.az_count} but the region offers {len(offered)} AZs"
            )
        return sorted(offered)[: args.az_count]

    def _subnets(
        self,
        name: str,
        args: NetworkArgs,
        tags: _Tags,
        plan: Sequence[AzSubnets],
        vpc: aws.ec2.Vpc,
        igw: aws.ec2.InternetGateway,
    ) -> tuple[dict[str, aws.ec2.Subnet], dict[str, aws.ec2.Subnet]]:
        """The public route table to the internet gateway, and each AZ's two subnets."""
        child = pulumi.ResourceOptions(parent=self)
        cluster_tag = (
            {f"kubernetes.io/cluster/{args.cluster_name}": "shared"} if args.cluster_name else {}
        )
        public_rt = aws.ec2.RouteTable(
            f"{name}-public", vpc_id=vpc.id, tags=tags("public"), opts=child
        )
        aws.ec2.Route(
            f"{name}-public-default",
            route_table_id=public_rt.id,
            destination_cidr_block="0.0.0.0/0",
            gateway_id=igw.id,
            opts=child,
        )
        public_subnets: dict[str, aws.ec2.Subnet] = {}
        private_subnets: dict[str, aws.ec2.Subnet] = {}
        for slot in plan:
            public_subnets[slot.az] = aws.ec2.Subnet(
                f"{name}-public-{slot.az}",
                vpc_id=vpc.id,
                cidr_block=str(slot.public),
                availability_zone=slot.az,
                # Nodes never live here; only load balancers and NAT gateways, which get
                # their addresses explicitly, so nothing is given a public IP by default.
                map_public_ip_on_launch=False,
                tags=tags(f"public-{slot.az}", **{"kubernetes.io/role/elb": "1"}, **cluster_tag),
                opts=child,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-public-{slot.az}",
                subnet_id=public_subnets[slot.az].id,
                route_table_id=public_rt.id,
                opts=child,
            )
            private_subnets[slot.az] = aws.ec2.Subnet(
                f"{name}-private-{slot.az}",
                vpc_id=vpc.id,
                cidr_block=str(slot.private),
                availability_zone=slot.az,
                map_public_ip_on_launch=False,
                tags=tags(
                    f"private-{slot.az}",
                    **{"kubernetes.io/role/internal-elb": "1"},
                    **cluster_tag,
                ),
                opts=child,
            )
        return public_subnets, private_subnets

    def _nat_and_routes(
        self,
        name: str,
        args: NetworkArgs,
        tags: _Tags,
        azs: list[str],
        vpc: aws.ec2.Vpc,
        igw: aws.ec2.InternetGateway,
        public_subnets: Mapping[str, aws.ec2.Subnet],
        private_subnets: Mapping[str, aws.ec2.Subnet],
    ) -> list[aws.ec2.RouteTable]:
        """The NAT gateways of the strategy, and each AZ's private route table to its NAT."""
        child = pulumi.ResourceOptions(parent=self)
        nat_gateways: dict[str, aws.ec2.NatGateway] = {}
        for az in nat_gateway_azs(azs, args.nat_strategy):
            eip = aws.ec2.Eip(f"{name}-nat-{az}", domain="vpc", tags=tags(f"nat-{az}"), opts=child)
            nat_gateways[az] = aws.ec2.NatGateway(
                f"{name}-nat-{az}",
                allocation_id=eip.id,
                subnet_id=public_subnets[az].id,
                tags=tags(f"nat-{az}"),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[igw]),
            )
        self.nat_gateway_ids = [gateway.id for gateway in nat_gateways.values()]
        private_route_tables: list[aws.ec2.RouteTable] = []
        for az in azs:
            # One route table per AZ, whatever the NAT strategy, so that switching from
            # `single` to `one-per-az` changes a route and never re-associates a subnet.
            route_table = aws.ec2.RouteTable(
                f"{name}-private-{az}", vpc_id=vpc.id, tags=tags(f"private-{az}"), opts=child
            )
            private_route_tables.append(route_table)
            aws.ec2.RouteTableAssociation(
                f"{name}-private-{az}",
                subnet_id=private_subnets[az].id,
                route_table_id=route_table.id,
                opts=child,
            )
            nat_az = nat_gateway_for(az, azs, args.nat_strategy)
            if nat_az is not None:
                aws.ec2.Route(
                    f"{name}-private-{az}-default",
                    route_table_id=route_table.id,
                    destination_cidr_block="0.0.0.0/0",
                    nat_gateway_id=nat_gateways[nat_az].id,
                    opts=child,
                )
        return private_route_tables

    def _endpoint_service(self, region: str, service: str, kind: str) -> str:
        """The region's own name of an endpoint service, asked for by either form.

        Not always `com.amazonaws.<region>.<service>`: in China many are
        `cn.com.amazonaws.<region>.<service>` and some are not (aws-cdk#16139,
        terraform-provider-aws#17640; the data source's `service=` assumes the first form).
        """
        return aws.ec2.get_vpc_endpoint_service(
            service_type=kind,
            filters=[
                aws.ec2.GetVpcEndpointServiceFilterArgs(
                    name="service-name",
                    values=[
                        f"{prefix}.{region}.{service}"
                        for prefix in ("com.amazonaws", "cn.com.amazonaws")
                    ],
                )
            ],
            opts=pulumi.InvokeOptions(parent=self),
        ).service_name

    def _interface_endpoints(
        self,
        name: str,
        args: NetworkArgs,
        tags: _Tags,
        region: str,
        vpc: aws.ec2.Vpc,
        private_subnets: Mapping[str, aws.ec2.Subnet],
    ) -> None:
        """Interface endpoints in the private subnets, behind a group admitting HTTPS."""
        child = pulumi.ResourceOptions(parent=self)
        endpoint_sg = aws.ec2.SecurityGroup(
            f"{name}-endpoints",
            vpc_id=vpc.id,
            description="HTTPS from inside the VPC to the interface endpoints",
            tags=tags("endpoints"),
            opts=child,
        )
        aws.vpc.SecurityGroupIngressRule(
            f"{name}-endpoints-https",
            security_group_id=endpoint_sg.id,
            ip_protocol="tcp",
            from_port=443,
            to_port=443,
            cidr_ipv4=args.vpc_cidr,
            description="HTTPS from the VPC",
            tags=tags("endpoints-https"),
            opts=child,
        )
        for service in args.interface_endpoints:
            aws.ec2.VpcEndpoint(
                f"{name}-{service.replace('.', '-')}",
                vpc_id=vpc.id,
                service_name=self._endpoint_service(region, service, "Interface"),
                vpc_endpoint_type="Interface",
                private_dns_enabled=True,
                subnet_ids=[s.id for s in private_subnets.values()],
                security_group_ids=[endpoint_sg.id],
                tags=tags(service.replace(".", "-")),
                opts=child,
            )

    def _flow_logs(
        self, name: str, args: NetworkArgs, tags: _Tags, region: str, vpc: aws.ec2.Vpc
    ) -> None:
        """The VPC's flow logs into a log group, written through a role only they assume."""
        child = pulumi.ResourceOptions(parent=self)
        invoke = pulumi.InvokeOptions(parent=self)
        account_id = aws.get_caller_identity(opts=invoke).account_id
        key = aws.kms.Key(
            f"{name}-flow-logs",
            description="Encryption of the VPC's flow logs",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            policy=iam.to_json(
                iam.log_key_policy(
                    account_id,
                    region=region,
                    partition=aws.get_partition(opts=invoke).partition,
                )
            ),
            tags=tags("flow-logs"),
            opts=child,
        )
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-flow-logs",
            retention_in_days=args.flow_log_retention_days,
            kms_key_id=key.arn,
            tags=tags("flow-logs"),
            opts=child,
        )
        role = aws.iam.Role(
            f"{name}-flow-logs",
            assume_role_policy=iam.to_json(
                iam.service_trust("vpc-flow-logs.amazonaws.com", source_account=account_id)
            ),
            tags=tags("flow-logs"),
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-flow-logs",
            role=role.id,
            policy=log_group.arn.apply(lambda arn: iam.to_json(iam.flow_logs_write(arn))),
            opts=child,
        )
        aws.ec2.FlowLog(
            f"{name}-flow-logs",
            vpc_id=vpc.id,
            traffic_type="ALL",
            log_destination_type="cloud-watch-logs",
            log_destination=log_group.arn,
            iam_role_arn=role.arn,
            max_aggregation_interval=60,
            tags=tags("flow-logs"),
            opts=child,
        )
