"""Settings a component applies and a policy rule checks, named once for both.

A rule that spelled these out itself could drift from what the components deploy; here
the component (`components/cluster.py`, `components/nodepool.py`) and the rule
(`components/core/policies/`) import the same name.
"""

from __future__ import annotations

__all__ = [
    "CONTROL_PLANE_LOG_TYPES",
    "IMDS_HOP_LIMIT",
    "IMDS_HTTP_TOKENS",
    "LOAD_BALANCER_TAG",
]

#: All five EKS control-plane log types; the cluster sends every one to CloudWatch.
CONTROL_PLANE_LOG_TYPES: tuple[str, ...] = (
    "api",
    "audit",
    "authenticator",
    "controllerManager",
    "scheduler",
)

#: `metadataOptions.httpTokens` of every node: IMDSv2 session tokens only.
IMDS_HTTP_TOKENS = "required"

#: `metadataOptions.httpPutResponseHopLimit` of a node: pods cannot reach the node role
#: (a pool's `allowPodImdsAccess` raises it to 2, and the rule then says so).
IMDS_HOP_LIMIT = 1

#: Tag that marks a security group (or rule) as a load balancer's: 80/443 may be open.
LOAD_BALANCER_TAG: tuple[str, str] = ("mlops:purpose", "load-balancer")
