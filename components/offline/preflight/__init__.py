"""Read-only checks against the real AWS account before `pulumi up` (`make preflight`).

    python -m components.offline.preflight --stack prod [--model-bucket NAME]

Uses boto3's default credential chain and the stack's `aws:region`. Every call is a
Describe/Get/List: nothing is created or changed. Checks, each pass, fail or skipped:

- credentials: STS says who you are;
- availability zones: the region has the configured AZs (or enough of them);
- instance types: every pool's types are offered in every one of those AZs;
- vCPU quotas: the Standard, G and VT, and P families' on-demand and spot quotas cover
  every pool at its maximum size (at the largest listed type);
- Kubernetes version: EKS publishes an AL2023 node AMI for it in the region;
- node AMIs: each pool's pinned `releaseVersion` is a published AMI release;
- add-on versions: each pinned add-on version exists for that Kubernetes version;
- node group sizes: where the stack's node groups already exist, each autoscaled pool's
  new `minSize`/`maxSize` still holds the live desired size (EKS refuses an update that
  would not; the check prints the `aws eks update-nodegroup-config` command that fixes it);
- model object: the model prefix has an object in `--model-bucket` (when given);
- image: the image tag (or digest) is in the ECR repository (when the config names one);
- account room (core/preflight checks below): Elastic IP and VPC quotas left for
  what the stack creates, no leftover `/aws/eks/<name>/cluster` log group, no EKS cluster
  of the same name;
- Helm charts: each pinned chart version is in its repository's index.yaml (HTTPS);
- node AMI release: the whole `releaseVersion` (patch included) is the published one;
- TLS certificate: issued, and in the stack's region.
- image pull: the nodes may pull that image (this account's registry, or a repository
  policy of another account's that lets this one pull);
- deployer access: the identity running `pulumi up` (an assumed-role session resolved to
  its role) will be a cluster admin exactly once: listed in `adminPrincipalArns` or made
  admin by `bootstrapCreatorAdmin`, not both and not neither.

Exit status 1 when a check fails, 2 for a bad stack config.

The checks by concern: `capacity` (room in the account), `releases` (what the config
pins or names exists), `checks` (`Preflight`, credentials and the deployer's access, the
order, `run_checks`), `cli` (`main`); what they share is in `base`. Import from here.
"""

from __future__ import annotations

from components.offline.preflight.base import (
    ACCOUNT_QUOTAS,
    ADDON_NAMES,
    CHART_REPOSITORIES,
    QUOTAS,
    Check,
    format_table,
    node_ami_parameter,
    principal_of,
    quota_class,
)
from components.offline.preflight.checks import Preflight, run_checks
from components.offline.preflight.cli import main

__all__ = [
    "ACCOUNT_QUOTAS",
    "ADDON_NAMES",
    "CHART_REPOSITORIES",
    "QUOTAS",
    "Check",
    "Preflight",
    "format_table",
    "main",
    "node_ami_parameter",
    "principal_of",
    "quota_class",
    "run_checks",
]
