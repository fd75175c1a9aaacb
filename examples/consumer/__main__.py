"""A consumer stack: its own config, one imported component."""

import pulumi

from components.network import Network, NetworkArgs

config = pulumi.Config()
network = Network(
    "sandbox",
    NetworkArgs(
        vpc_cidr=config.require("vpcCidr"),
        az_count=config.require_int("azCount"),
        nat_strategy="none",
        private_subnet_prefix=23,
        public_subnet_prefix=25,
        tags={"team": "research"},
    ),
)
pulumi.export("vpcId", network.vpc_id)
pulumi.export("privateSubnetIds", network.private_subnet_ids)
