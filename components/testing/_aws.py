"""AWS's formats the mocks answer in: ids, ARNs, partitions, stable hashes."""

from __future__ import annotations

import hashlib

__all__ = [
    "ACCOUNT_ID",
    "ARN_FORMATS",
    "ID_PREFIX",
    "LOAD_BALANCER_LOOKUPS",
    "partition_of",
    "stable_hex",
]

#: The account every mocked ARN, registry and caller identity carries.
ACCOUNT_ID = "123456789012"


def partition_of(region: str) -> tuple[str, str]:
    """(partition, DNS suffix) of a region: aws-cn for `cn-*`, aws-us-gov for `us-gov-*`."""
    if region.startswith("cn-"):
        return "aws-cn", "amazonaws.com.cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov", "amazonaws.com"
    return "aws", "amazonaws.com"


LOAD_BALANCER_LOOKUPS = (
    "aws:lb/getLoadBalancer:getLoadBalancer",
    "aws:lb/getTargetGroup:getTargetGroup",
)


def stable_hex(*parts: str, length: int = 17) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:length]


# Prefixes of EC2-style ids, by resource type.
ID_PREFIX = {
    "aws:ec2/vpc:Vpc": "vpc-0",
    "aws:ec2/subnet:Subnet": "subnet-0",
    "aws:ec2/internetGateway:InternetGateway": "igw-0",
    "aws:ec2/natGateway:NatGateway": "nat-0",
    "aws:ec2/eip:Eip": "eipalloc-0",
    "aws:ec2/routeTable:RouteTable": "rtb-0",
    "aws:ec2/routeTableAssociation:RouteTableAssociation": "rtbassoc-0",
    "aws:ec2/route:Route": "r-rtb-0",
    "aws:ec2/securityGroup:SecurityGroup": "sg-0",
    "aws:ec2/vpcEndpoint:VpcEndpoint": "vpce-0",
    "aws:ec2/flowLog:FlowLog": "fl-0",
    "aws:ec2/launchTemplate:LaunchTemplate": "lt-0",
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": "sgr-0",
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": "sgr-0",
}

# Resource types whose ARN service and resource part we know, for realistic `arn` outputs.
ARN_FORMATS = {
    "aws:iam/role:Role": ("iam", "role/{name}", True),
    "aws:iam/policy:Policy": ("iam", "policy/{name}", True),
    "aws:iam/openIdConnectProvider:OpenIdConnectProvider": (
        "iam",
        "oidc-provider/oidc.eks.{region}.{suffix}/id/{hex}",
        True,
    ),
    "aws:kms/key:Key": ("kms", "key/{uuid}", False),
    "aws:cloudwatch/logGroup:LogGroup": ("logs", "log-group:{name}", False),
    "aws:s3/bucket:Bucket": ("s3", "{name}", True),
    "aws:s3/bucketV2:BucketV2": ("s3", "{name}", True),
    "aws:ecr/repository:Repository": ("ecr", "repository/{name}", False),
    "aws:eks/nodeGroup:NodeGroup": ("eks", "nodegroup/{cluster}/{name}/{uuid}", False),
    "aws:eks/addon:Addon": ("eks", "addon/{cluster}/{name}/{uuid}", False),
    "aws:eks/accessEntry:AccessEntry": ("eks", "access-entry/{cluster}/{uuid}", False),
    "aws:ec2/vpc:Vpc": ("ec2", "vpc/{id}", False),
    "aws:ec2/subnet:Subnet": ("ec2", "subnet/{id}", False),
    "aws:ec2/securityGroup:SecurityGroup": ("ec2", "security-group/{id}", False),
    "aws:ec2/launchTemplate:LaunchTemplate": ("ec2", "launch-template/{id}", False),
    "aws:sns/topic:Topic": ("sns", "{name}", False),
    "aws:cloudwatch/metricAlarm:MetricAlarm": ("cloudwatch", "alarm:{name}", False),
    "aws:cloudwatch/dashboard:Dashboard": ("cloudwatch", "dashboard/{name}", True),
    "aws:budgets/budget:Budget": ("budgets", "budget/{name}", True),
}
