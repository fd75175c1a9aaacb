"""What the stack pins and names exists: the Kubernetes version's AMIs, add-on and chart
versions, the model object, the image (and that the nodes may pull it), the certificate."""

from __future__ import annotations

import json

from components.core.config import ModelServiceConfig
from components.offline.preflight.base import (
    ADDON_NAMES,
    CHART_REPOSITORIES,
    ECR_REPOSITORY,
    EKS_AMI_PARAMETER,
    Check,
    CheckContext,
    allows_pull,
    camel,
    error_text,
    node_ami_parameter,
)

__all__ = ["ReleaseChecks"]


class ReleaseChecks(CheckContext):
    """The checks of what the config pins or names."""

    def kubernetes_version(self) -> Check:
        version = self.config.cluster.kubernetes_version
        name = (
            f"{EKS_AMI_PARAMETER}/{version}/amazon-linux-2023/x86_64/standard/recommended/image_id"
        )
        try:
            ami = self.client("ssm").get_parameter(Name=name)["Parameter"]["Value"]
        except Exception as exc:  # noqa: BLE001
            return Check(
                "Kubernetes version",
                "fail",
                f"no EKS AL2023 AMI for {version} in {self.region} ({error_text(exc)})",
            )
        return Check("Kubernetes version", "pass", f"{version}: recommended node AMI {ami}")

    def node_amis(self) -> list[Check]:
        """Each pool's pinned `releaseVersion` names a published EKS node AMI."""
        version = self.config.cluster.kubernetes_version
        ssm = self.client("ssm")
        checks = []
        for name, pool in self.config.node_pools.items():
            parameter = node_ami_parameter(
                version, pool.os, pool.architecture, pool.is_gpu, pool.release_version
            )
            label = f"node AMI: pool {name}"
            try:
                ami = ssm.get_parameter(Name=parameter)["Parameter"]["Value"]
            except Exception as exc:  # noqa: BLE001
                checks.append(
                    Check(
                        label,
                        "fail",
                        f"releaseVersion {pool.release_version}: no {parameter} "
                        f"({error_text(exc)})",
                    )
                )
                continue
            published = self._published_release(parameter, pool.os)
            if published is not None and published != pool.release_version:
                checks.append(
                    Check(
                        label,
                        "fail",
                        f"nodePools.{name}.releaseVersion {pool.release_version}: that AMI "
                        f"({ami}) is release {published}; pin {published}",
                    )
                )
                continue
            checks.append(Check(label, "pass", f"releaseVersion {pool.release_version} is {ami}"))
        return checks

    def _published_release(self, parameter: str, os: str) -> str | None:
        """The release version EKS publishes beside an AL2023 image id (the whole value,
        patch included); None where there is none to compare (Bottlerocket's path holds it)."""
        if os != "al2023":
            return None
        name = parameter.removesuffix("/image_id") + "/release_version"
        try:
            return str(self.client("ssm").get_parameter(Name=name)["Parameter"]["Value"])
        except Exception:  # noqa: BLE001 (older trees lack it: the date check stands)
            return None

    def addon_versions(self) -> list[Check]:
        version = self.config.cluster.kubernetes_version
        eks = self.client("eks")
        pinned = self.config.cluster.addons.model_dump()
        checks = []
        for field, addon in ADDON_NAMES.items():
            want = pinned[field]
            label = f"add-on {addon}"
            try:
                response = eks.describe_addon_versions(addonName=addon, kubernetesVersion=version)
            except Exception as exc:  # noqa: BLE001
                checks.append(Check(label, "fail", f"cannot list versions ({error_text(exc)})"))
                continue
            available = [
                v["addonVersion"]
                for a in response.get("addons", [])
                for v in a.get("addonVersions", [])
            ]
            if want in available:
                checks.append(Check(label, "pass", f"{want} exists for Kubernetes {version}"))
            else:
                newest = ", ".join(available[:3]) or "none"
                checks.append(
                    Check(
                        label,
                        "fail",
                        f"cluster.addons.{camel(field)} {want} is not offered for "
                        f"Kubernetes {version} (newest: {newest})",
                    )
                )
        return checks

    def charts(self) -> list[Check]:
        """Each pinned chart version is listed in its repository's index.yaml."""
        import yaml

        cluster = self.config.cluster
        service = self.config.service
        used = {
            "clusterAutoscaler": cluster.cluster_autoscaler,
            "nvidiaDevicePlugin": cluster.nvidia_device_plugin,
            "awsLoadBalancerController": cluster.aws_load_balancer_controller,
        }
        needed = {
            "clusterAutoscaler": True,
            "nvidiaDevicePlugin": any(
                p.is_gpu and p.os == "al2023" for p in self.config.node_pools.values()
            ),
            "awsLoadBalancerController": service is not None and service.exposure != "cluster-ip",
        }
        checks = []
        for key, chart in used.items():
            if not chart.enabled or not needed[key]:
                continue
            name, _ = CHART_REPOSITORIES[key]
            url = self.chart_repositories[key].rstrip("/") + "/index.yaml"
            label = f"chart {name}"
            try:
                index = yaml.safe_load(self.fetch(url))
            except Exception as exc:  # noqa: BLE001
                checks.append(Check(label, "fail", f"cannot read {url} ({error_text(exc)})"))
                continue
            entries = (index or {}).get("entries", {}).get(name, [])
            versions = [str(e.get("version")) for e in entries if isinstance(e, dict)]
            if chart.version in versions:
                checks.append(Check(label, "pass", f"{chart.version} is in {url}"))
            else:
                checks.append(
                    Check(
                        label,
                        "fail",
                        f"cluster.{key}.version {chart.version} is not in {url} "
                        f"(newest: {', '.join(versions[:3]) or 'none'})",
                    )
                )
        return checks

    def model_object(self) -> Check:
        service = self.config.service
        if service is None:
            return Check("model object", "skipped", "no service in this stack")
        if self.model_bucket is None:
            return Check(
                "model object",
                "skipped",
                "the bucket is created by this stack; pass --model-bucket to check one",
            )
        prefix = service.model_prefix.rstrip("/") + "/"
        try:
            listed = self.client("s3").list_objects_v2(
                Bucket=self.model_bucket, Prefix=prefix, MaxKeys=1
            )
        except Exception as exc:  # noqa: BLE001
            return Check("model object", "fail", f"s3://{self.model_bucket}: {error_text(exc)}")
        if listed.get("KeyCount", 0) == 0:
            return Check("model object", "fail", f"nothing under s3://{self.model_bucket}/{prefix}")
        return Check("model object", "pass", f"s3://{self.model_bucket}/{prefix} has objects")

    def image(self) -> Check:
        found = self._ecr_image(
            "image",
            built="service.image.repository not set: `pulumi up` builds serving/Dockerfile "
            "and pushes it to the stack's own ECR repository (needs Docker with buildx)",
            not_ecr="is not an ECR repository",
        )
        if isinstance(found, Check):
            return found
        service, repository, registry, name = found
        # The config pins an existing image by digest (core/config/service.py, ImageRef).
        image_id = (
            {"imageDigest": service.image.digest}
            if service.image.digest
            else {"imageTag": str(service.image.tag)}
        )
        try:
            # registryId: the repository may be another account's (shared images).
            self.client("ecr").describe_images(
                registryId=registry, repositoryName=name, imageIds=[image_id]
            )
        except Exception as exc:  # noqa: BLE001
            return Check("image", "fail", f"{repository} {image_id}: {error_text(exc)}")
        return Check("image", "pass", f"{repository} has {next(iter(image_id.values()))}")

    def certificate(self) -> Check:
        service = self.config.service
        if service is None or service.tls_certificate_arn is None:
            return Check("TLS certificate", "skipped", "no service.tlsCertificateArn")
        arn = service.tls_certificate_arn
        if arn.split(":")[3] != self.region:
            return Check(
                "TLS certificate",
                "fail",
                f"service.tlsCertificateArn {arn} is not in {self.region}",
            )
        try:
            described = self.client("acm").describe_certificate(CertificateArn=arn)["Certificate"]
        except Exception as exc:  # noqa: BLE001
            return Check(
                "TLS certificate", "fail", f"service.tlsCertificateArn {arn}: {error_text(exc)}"
            )
        status = described.get("Status")
        if status != "ISSUED":
            return Check(
                "TLS certificate",
                "fail",
                f"service.tlsCertificateArn {arn} is {status}, not ISSUED: the HTTPS listener "
                "would be refused",
            )
        return Check("TLS certificate", "pass", f"{arn} is issued")

    def image_pull(self) -> Check:
        """The nodes can pull the existing image the config names.

        The node role (AmazonEC2ContainerRegistryReadOnly) pulls from its own account's
        registries; another account's repository must allow it in its repository policy
        (ECR user guide, "Private repository policy examples": allow another account to
        pull, with `ecr:BatchGetImage` and `ecr:GetDownloadUrlForLayer`).
        """
        label = "image pull"
        found = self._ecr_image(
            label,
            built="the image is built into the stack's own repository",
            not_ecr="is not in ECR: make sure the nodes can pull it",
        )
        if isinstance(found, Check):
            return found
        _, repository, registry, name = found
        account = str(self.client("sts").get_caller_identity()["Account"])
        if registry == account:
            return Check(label, "pass", f"{repository} is in this account ({account})")
        try:
            text = self.client("ecr").get_repository_policy(
                registryId=registry, repositoryName=name
            )["policyText"]
        except Exception as exc:  # noqa: BLE001
            return Check(
                label,
                "fail",
                f"{repository} is in account {registry}, not {account}, and its repository "
                f"policy cannot be read ({error_text(exc)}): it must allow ecr:BatchGetImage and "
                f"ecr:GetDownloadUrlForLayer to arn:aws:iam::{account}:root",
            )
        if allows_pull(json.loads(text), account):
            return Check(
                label, "pass", f"{repository}: its repository policy lets account {account} pull"
            )
        return Check(
            label,
            "fail",
            f"{repository} is in account {registry} and its repository policy does not let "
            f"account {account} pull: add a statement allowing ecr:BatchGetImage and "
            f"ecr:GetDownloadUrlForLayer to arn:aws:iam::{account}:root",
        )

    def _ecr_image(
        self, label: str, *, built: str, not_ecr: str
    ) -> Check | tuple[ModelServiceConfig, str, str, str]:
        """(service, repository URL, registry account, repository name) of the existing
        image the config names; else the skipped check: `built` when the stack builds its
        own image, `not_ecr` (after the URL) when the image is not in ECR."""
        service = self.config.service
        if service is None or service.image.repository is None:
            return Check(label, "skipped", built)
        repository = service.image.repository
        match = ECR_REPOSITORY.match(repository)
        if match is None:
            return Check(label, "skipped", f"{repository} {not_ecr}")
        return service, repository, match.group(1), match.group(3)
