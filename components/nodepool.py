"""NodePool: one EKS managed node group on a launch template we own.

`pulumi_aws.eks.NodeGroup` rather than `pulumi_eks.ManagedNodeGroup`, because the latter
lacks `update_config` (pulumi/pulumi-eks#1147). Every decision (AMI type, user data,
labels, taints, autoscaler tags, IAM policies) comes from a pure function in `core/`;
this module only turns those decisions into resources.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from components.core import amis, iam, userdata
from components.core.config import NodePoolConfig
from components.core.constants import AUTOSCALED_TAG, IMDS_HOP_LIMIT, IMDS_HTTP_TOKENS
from components.core.scheduling import (
    AUTOSCALER_TEMPLATE,
    Scheduling,
    Taint,
    autoscaler_node_template_tags,
    pool_labels,
    pool_scheduling,
    pool_taints,
)
from components.core.tags import POOL_TAG, component_tags, free_tags, stable_tags

__all__ = ["NodePool", "NodePoolArgs"]

#: The Pulumi property path of the desired size, as the engine spells it (camelCase):
#: the Python SDK translates only top-level names in `ignore_changes`.
DESIRED_SIZE_PATH = "scalingConfig.desiredSize"


@dataclass(frozen=True, kw_only=True)
class NodePoolArgs:
    """Inputs of `NodePool`; `from_config` builds them from one `nodePools` entry."""

    pool_name: str
    """The key in `nodePools`: the value of the pool label workloads select on."""
    pool: NodePoolConfig
    cluster_name: pulumi.Input[str]
    kubernetes_version: str
    subnet_ids: Sequence[pulumi.Input[str]]
    """Private subnets only: nodes never get a public address."""
    cluster_security_group_id: pulumi.Input[str]
    """The EKS-created cluster security group, shared by the control plane and nodes."""
    requires: Sequence[pulumi.Resource] = ()
    """Resources the node group must wait for (the cluster's networking add-ons: without
    vpc-cni and kube-proxy a node never becomes Ready)."""
    tags: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_config(
        cls,
        pool_name: str,
        pool: NodePoolConfig,
        *,
        cluster_name: pulumi.Input[str],
        kubernetes_version: str,
        subnet_ids: Sequence[pulumi.Input[str]],
        cluster_security_group_id: pulumi.Input[str],
        requires: Sequence[pulumi.Resource] = (),
        tags: Mapping[str, str],
    ) -> NodePoolArgs:
        return cls(
            pool_name=pool_name,
            pool=pool,
            cluster_name=cluster_name,
            kubernetes_version=kubernetes_version,
            subnet_ids=subnet_ids,
            cluster_security_group_id=cluster_security_group_id,
            requires=requires,
            tags=tags,
        )


def _asg_name(resources: Sequence[aws.eks.outputs.NodeGroupResource]) -> str:
    """The one Auto Scaling group EKS creates for a managed node group."""
    groups = resources[0].autoscaling_groups if resources else None
    name = groups[0].name if groups else None
    if not name:
        raise ValueError(f"the node group reports no Auto Scaling group: {resources!r}")
    return name


def _slug(text: str) -> str:
    """A tag key as a resource-name part: `label/mlops.dev/pool` -> `label-mlops-dev-pool`."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _short_hash(text: str) -> str:
    """Six hex digits that keep two tag keys with the same slug (`a.b`, `a-b`) apart."""
    return hashlib.sha256(text.encode()).hexdigest()[:6]


def _block_devices(pool: NodePoolConfig) -> list[aws.ec2.LaunchTemplateBlockDeviceMappingArgs]:
    """Every volume of a node, encrypted gp3: the data volume sized by the pool, and on
    Bottlerocket also its small OS volume, which would otherwise keep the AMI's defaults."""

    def volume(
        device: str, size: int, iops: int, throughput: int
    ) -> aws.ec2.LaunchTemplateBlockDeviceMappingArgs:
        return aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
            device_name=device,
            ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                volume_type="gp3",
                volume_size=size,
                iops=iops,
                throughput=throughput,
                encrypted="true",
                delete_on_termination="true",
            ),
        )

    devices = [
        volume(
            amis.data_volume_device(pool.os),
            pool.root_volume_gib,
            pool.root_volume.iops,
            pool.root_volume.throughput_mibps,
        )
    ]
    os_device = amis.os_volume_device(pool.os)
    if os_device is not None:
        # gp3's baseline: the OS volume is read at boot and barely after.
        devices.append(volume(os_device, amis.BOTTLEROCKET_OS_VOLUME_GIB, 3000, 125))
    return devices


class NodePool(pulumi.ComponentResource):
    """A managed node group: launch template, node role, labels, taints, autoscaler tags."""

    pool_name: str
    """The pool's name (its `mlops.dev/pool` label value)."""
    scheduling: Scheduling
    """Node selector and tolerations a pod needs to land on this pool."""
    ami_type: str
    """The EKS AMI type (`AL2023_x86_64_NVIDIA`, ...)."""
    is_gpu: bool
    """Whether the pool's nodes carry NVIDIA GPUs."""
    needs_device_plugin: bool
    """GPU pool whose AMI does not run the NVIDIA device plugin itself (AL2023)."""
    node_group: aws.eks.NodeGroup
    """The managed node group (depend on it to wait for nodes)."""
    node_group_name: pulumi.Output[str]
    """The node group's name."""
    node_role_arn: pulumi.Output[str]
    """The IAM role of the nodes."""
    launch_template_id: pulumi.Output[str]
    """The launch template's id."""
    asg_name: pulumi.Output[str]
    """The node group's Auto Scaling group (EKS names it): the dashboard's nodes per pool."""
    asg_tags: list[aws.autoscaling.Tag]
    """Tags put on the node group's Auto Scaling group (the user's, propagated to new
    instances; the autoscaler's discovery and scale-from-zero template tags)."""

    def __init__(
        self, name: str, args: NodePoolArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlops:nodepool:NodePool", name, None, opts)
        pool = args.pool
        # Not every account is in `aws`: China and GovCloud ARNs start aws-cn, aws-us-gov.
        partition = aws.get_partition(opts=pulumi.InvokeOptions(parent=self)).partition
        try:
            ami_type = amis.ami_type(pool.os, pool.architecture, pool.accelerator)
            release_version = amis.check_release_version(
                pool.os, args.kubernetes_version, pool.release_version
            )
        except ValueError as exc:
            raise pulumi.RunError(f"nodePools.{args.pool_name}: {exc}") from None

        def tags(suffix: str | None = None) -> dict[str, str]:
            return {
                **component_tags(
                    args.tags, "nodepool", name=f"{name}-{suffix}" if suffix else name
                ),
                POOL_TAG: args.pool_name,
            }

        role, attachments = self._node_role(name, args, tags, partition)
        launch_template = self._launch_template(name, args, tags)

        labels = pool_labels(args.pool_name, pool)
        taints = pool_taints(pool)
        update = (
            aws.eks.NodeGroupUpdateConfigArgs(
                max_unavailable_percentage=pool.max_unavailable_percentage
            )
            if pool.max_unavailable_percentage is not None
            else aws.eks.NodeGroupUpdateConfigArgs(max_unavailable=pool.max_unavailable or 1)
        )
        node_group = aws.eks.NodeGroup(
            f"{name}-ng",
            cluster_name=args.cluster_name,
            node_role_arn=role.arn,
            subnet_ids=list(args.subnet_ids),
            ami_type=ami_type,
            release_version=release_version,
            version=args.kubernetes_version,
            capacity_type=pool.capacity_type,
            instance_types=list(pool.instance_types),
            scaling_config=aws.eks.NodeGroupScalingConfigArgs(
                min_size=pool.min_size,
                desired_size=pool.initial_desired_size,
                max_size=pool.max_size,
            ),
            update_config=update,
            node_repair_config=aws.eks.NodeGroupNodeRepairConfigArgs(enabled=True),
            launch_template=aws.eks.NodeGroupLaunchTemplateArgs(
                id=launch_template.id,
                version=launch_template.latest_version.apply(str),
            ),
            labels=labels,
            taints=[
                aws.eks.NodeGroupTaintArgs(key=t.key, value=t.value, effect=t.eks_effect)
                for t in taints
            ],
            tags=tags("ng"),
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[*attachments, *args.requires],
                # cluster-autoscaler owns the size once the group exists; without this
                # every `pulumi up` would reset it to the configured desired size.
                ignore_changes=[DESIRED_SIZE_PATH] if pool.autoscaled else None,
            ),
        )

        self.asg_name = node_group.resources.apply(_asg_name)
        self.asg_tags = self._asg_tags(name, args, self.asg_name, labels, taints)

        self.pool_name = args.pool_name
        self.scheduling = pool_scheduling(args.pool_name, pool)
        self.ami_type = ami_type
        self.is_gpu = pool.is_gpu
        self.needs_device_plugin = pool.is_gpu and not amis.runs_nvidia_device_plugin(
            pool.os, pool.accelerator
        )
        self.node_group = node_group
        self.node_group_name = node_group.node_group_name
        self.node_role_arn = role.arn
        self.launch_template_id = launch_template.id
        self.register_outputs(
            {
                "nodeGroupName": self.node_group_name,
                "nodeRoleArn": self.node_role_arn,
                "launchTemplateId": self.launch_template_id,
                "nodeSelector": self.scheduling.node_selector,
                "tolerations": self.scheduling.tolerations,
            }
        )

    def _node_role(
        self, name: str, args: NodePoolArgs, tags: Callable[[str], dict[str, str]], partition: str
    ) -> tuple[aws.iam.Role, list[aws.iam.RolePolicyAttachment]]:
        """The nodes' role and its managed policies (SSM only where the pool asks)."""
        pool = args.pool
        role = aws.iam.Role(
            f"{name}-node",
            assume_role_policy=iam.to_json(iam.service_trust("ec2.amazonaws.com")),
            description=f"Nodes of pool {args.pool_name}",
            tags=tags("node"),
            opts=pulumi.ResourceOptions(parent=self),
        )
        attachments = [
            aws.iam.RolePolicyAttachment(
                f"{name}-node-{policy.rsplit('/', 1)[-1]}",
                role=role.name,
                policy_arn=iam.managed_policy_arn(policy, partition=partition),
                opts=pulumi.ResourceOptions(parent=self),
            )
            for policy in iam.node_policy_names(enable_ssm=pool.enable_ssm)
        ]
        return role, attachments

    def _launch_template(
        self, name: str, args: NodePoolArgs, tags: Callable[[str], dict[str, str]]
    ) -> aws.ec2.LaunchTemplate:
        """IMDSv2 with hop limit 1, encrypted gp3 root, no public IP, the OS's user data."""
        pool = args.pool
        document = userdata.render_user_data(
            pool.os,
            userdata.kubelet_settings_for(
                capacity_type=pool.capacity_type, accelerator=pool.accelerator
            ),
        )
        # Stable keys only: a changed tag specification is a new template version, which
        # the node group follows and rolls every node for. The user's own tags reach the
        # instances through the Auto Scaling group instead (below).
        instance_tags = stable_tags(tags("node"))
        return aws.ec2.LaunchTemplate(
            f"{name}-lt",
            description=f"Nodes of pool {args.pool_name}",
            update_default_version=True,
            metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
                http_endpoint="enabled",
                http_tokens=IMDS_HTTP_TOKENS,
                # 1: a pod's packets die one hop out, so pods cannot reach the node's
                # role through IMDS; 2 only where the pool explicitly allows it.
                http_put_response_hop_limit=2 if pool.allow_pod_imds_access else IMDS_HOP_LIMIT,
                instance_metadata_tags="disabled",
            ),
            block_device_mappings=_block_devices(pool),
            monitoring=aws.ec2.LaunchTemplateMonitoringArgs(enabled=True),
            network_interfaces=[
                aws.ec2.LaunchTemplateNetworkInterfaceArgs(
                    device_index=0,
                    associate_public_ip_address="false",
                    delete_on_termination="true",
                    security_groups=[args.cluster_security_group_id],
                )
            ],
            tag_specifications=[
                aws.ec2.LaunchTemplateTagSpecificationArgs(resource_type=kind, tags=instance_tags)
                for kind in ("instance", "volume", "network-interface")
            ],
            user_data=userdata.encode(document) if document is not None else None,
            tags=stable_tags(tags("lt")),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _asg_tags(
        self,
        name: str,
        args: NodePoolArgs,
        asg_name: pulumi.Output[str],
        labels: dict[str, str],
        taints: list[Taint],
    ) -> list[aws.autoscaling.Tag]:
        """Tags on the node group's Auto Scaling group: the user's, and cluster-autoscaler's."""
        pool = args.pool

        def asg_tag(suffix: str, key: str, value: str, *, propagate: bool) -> aws.autoscaling.Tag:
            return aws.autoscaling.Tag(
                f"{name}-{suffix}",
                autoscaling_group_name=asg_name,
                tag=aws.autoscaling.TagTagArgs(key=key, value=value, propagate_at_launch=propagate),
                opts=pulumi.ResourceOptions(parent=self),
            )

        # The user's tags, on the instances the group launches from now on: an Auto
        # Scaling group tag changes no launch template, so editing one rolls nothing
        # (running nodes keep their old values until replaced). Node group tags are not
        # propagated by EKS ("Managed node groups": tags "aren't propagated to any other
        # resources associated with the node group"), hence the ASG.
        asg_tags = [
            asg_tag(f"tag-{_slug(key)}-{_short_hash(key)}", key, value, propagate=True)
            for key, value in sorted(free_tags(args.tags).items())
        ]
        if pool.autoscaled:
            asg_tags.append(asg_tag("autoscaled", *AUTOSCALED_TAG, propagate=False))
        if pool.autoscaled and pool.min_size == 0:
            for key, value in autoscaler_node_template_tags(
                labels, taints, gpus=pool.gpus_per_node
            ).items():
                slug = _slug(key.removeprefix(AUTOSCALER_TEMPLATE + "/"))
                asg_tags.append(asg_tag(f"template-{slug}", key, value, propagate=False))
        return asg_tags
