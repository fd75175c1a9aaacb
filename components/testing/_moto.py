"""The moto backing of `PlatformMocks(moto=True)`: EC2 and IAM resources made in moto too."""

from __future__ import annotations

from typing import Any

__all__ = ["MotoBacking"]


class MotoBacking:
    """Creates the EC2 and IAM resources in moto too, so AWS's validation runs offline."""

    def __init__(self, region: str) -> None:
        import boto3
        from moto import mock_aws

        self._mock = mock_aws()
        self._mock.start()
        self.ec2 = boto3.client(
            "ec2", region_name=region, aws_access_key_id="testing", aws_secret_access_key="testing"
        )
        self.iam = boto3.client(
            "iam", region_name=region, aws_access_key_id="testing", aws_secret_access_key="testing"
        )
        self._ids: dict[str, str] = {}

    def stop(self) -> None:
        self._mock.stop()

    def create(self, typ: str, physical: str, inputs: dict[str, Any]) -> str | None:
        """Create the resource in moto and return its id, or None for types not backed."""
        if typ == "aws:ec2/vpc:Vpc":
            return str(self.ec2.create_vpc(CidrBlock=inputs["cidrBlock"])["Vpc"]["VpcId"])
        if typ == "aws:ec2/subnet:Subnet":
            return self.ec2.create_subnet(
                VpcId=inputs["vpcId"],
                CidrBlock=inputs["cidrBlock"],
                AvailabilityZone=inputs["availabilityZone"],
            )["Subnet"]["SubnetId"]
        if typ == "aws:ec2/routeTable:RouteTable":
            return self.ec2.create_route_table(VpcId=inputs["vpcId"])["RouteTable"]["RouteTableId"]
        if typ == "aws:ec2/securityGroup:SecurityGroup":
            return self.ec2.create_security_group(
                GroupName=physical,
                Description=inputs.get("description", "Managed by Pulumi"),
                VpcId=inputs["vpcId"],
            )["GroupId"]
        if typ == "aws:ec2/launchTemplate:LaunchTemplate":
            data: dict[str, Any] = {}
            if "userData" in inputs:
                data["UserData"] = inputs["userData"]
            if "metadataOptions" in inputs:
                md = inputs["metadataOptions"]
                data["MetadataOptions"] = {
                    "HttpTokens": md.get("httpTokens", "optional"),
                    "HttpPutResponseHopLimit": md.get("httpPutResponseHopLimit", 1),
                }
            return self.ec2.create_launch_template(
                LaunchTemplateName=physical,
                LaunchTemplateData=data,  # type: ignore[arg-type]
            )["LaunchTemplate"]["LaunchTemplateId"]
        if typ == "aws:iam/role:Role":
            self.iam.create_role(
                RoleName=physical, AssumeRolePolicyDocument=inputs["assumeRolePolicy"]
            )
            # moto validates a trust policy on update only; re-applying it runs AWS's rules.
            self.iam.update_assume_role_policy(
                RoleName=physical, PolicyDocument=inputs["assumeRolePolicy"]
            )
            return physical
        if typ == "aws:iam/policy:Policy":
            return self.iam.create_policy(PolicyName=physical, PolicyDocument=inputs["policy"])[
                "Policy"
            ]["Arn"]
        if typ == "aws:iam/rolePolicy:RolePolicy":
            role = str(inputs["role"])
            self.iam.put_role_policy(
                RoleName=role, PolicyName=physical, PolicyDocument=inputs["policy"]
            )
            return f"{role}:{physical}"
        return None
