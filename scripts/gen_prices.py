"""Regenerate components/core/data/prices.json, the price list the cost estimate reads.

* ``aws`` (credentials needed; ``make prices``): the AWS Price List API (``pricing``,
  us-east-1 endpoint), for every commercial region botocore knows: EC2 on-demand Linux
  shared-tenancy prices of every type of ``instances.json``, and each other price the
  estimate uses. Every value then comes from AWS for its own region::

      python scripts/gen_prices.py aws

* ``snapshot`` (no credentials): EC2 on-demand prices of us-east-1 from
  aws/karpenter-provider-aws ``pkg/providers/pricing/zz_generated.pricing_aws.go``
  (itself generated from the Price List API; its commit and date are recorded); the
  region list from botocore's ``endpoints.json``; every other section of the existing
  file is kept as it is (the us-west-2 prices and rates read off the AWS pricing pages)::

      python scripts/gen_prices.py snapshot --karpenter /path/to/karpenter-provider-aws

Regions without prices of their own fall back, line by line, to ``fallbackRegion``; the
estimate names every line priced that way.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parents[1] / "components" / "core" / "data"
OUT = DATA / "prices.json"
KARPENTER_PRICES = "pkg/providers/pricing/zz_generated.pricing_aws.go"


def commercial_regions() -> dict[str, str]:
    """Region code -> name of the `aws` partition, from botocore's endpoints.json."""
    from botocore.loaders import Loader

    endpoints = Loader().load_data("endpoints")
    aws = next(p for p in endpoints["partitions"] if p["partition"] == "aws")
    return {code: r["description"] for code, r in sorted(aws["regions"].items())}


def _git(repo: Path, *args: str) -> str:
    git_dir = repo / ".git" if (repo / ".git").exists() else repo
    return subprocess.run(
        ["git", "--git-dir", str(git_dir), *args], check=True, capture_output=True, text=True
    ).stdout


def karpenter_us_east_1(repo: Path) -> tuple[dict[str, float], dict[str, str]]:
    commit, date = _git(
        repo, "log", "-1", "--format=%H %cI", "HEAD", "--", KARPENTER_PRICES
    ).split()
    text = _git(repo, "show", f"HEAD:{KARPENTER_PRICES}")
    start = text.index('"us-east-1": {')
    end = text.index("\n\t},", start)
    prices = {
        name: float(price)
        for name, price in re.findall(r'"([a-z0-9-]+\.[a-z0-9-]+)": ([0-9.]+)', text[start:end])
    }
    generated = re.search(r"generated at (\S+)", text)
    source = {
        "repo": "aws/karpenter-provider-aws",
        "path": KARPENTER_PRICES,
        "commit": commit,
        "commitDate": date,
        "generatedAt": generated.group(1) if generated else "",
        "what": "EC2 on-demand Linux price per hour, us-east-1 (Price List API)",
    }
    return prices, source


def snapshot(karpenter: Path, current: dict[str, Any]) -> dict[str, Any]:
    prices, source = karpenter_us_east_1(karpenter)
    instances = json.loads((DATA / "instances.json").read_text())["instanceTypes"]
    document = dict(current)
    regions = dict(document.get("regions", {}))
    for code, name in commercial_regions().items():
        regions.setdefault(code, {})["name"] = name
    regions["us-east-1"] = {
        **regions["us-east-1"],
        "ec2Source": "karpenter",
        "ec2_on_demand_hourly": {t: prices[t] for t in sorted(instances) if t in prices},
    }
    document["regions"] = dict(sorted(regions.items()))
    document["sources"] = {**document.get("sources", {}), "karpenter": source}
    document["date"] = dt.datetime.now(dt.UTC).date().isoformat()
    document["generatedBy"] = "scripts/gen_prices.py snapshot"
    return document


# --------------------------------------------------------------------------- Price List API

#: Each rate of the estimate: service code, filters, and the unit conversion to our key's.
#: `usagetype` values carry a region prefix (USW2-NatGateway-Hours), matched by suffix.
RATE_QUERIES: dict[str, tuple[str, dict[str, str], str]] = {
    "eks_cluster_hourly": (
        "AmazonEKS",
        {"operation": "CreateOperation"},
        "AmazonEKS-Hours:perCluster",
    ),
    "eks_extended_support_cluster_hourly": (
        "AmazonEKS",
        {"operation": "ExtendedSupport"},
        "AmazonEKS-Hours:extendedSupport",
    ),
    "nat_gateway_hourly": ("AmazonEC2", {"productFamily": "NAT Gateway"}, "NatGateway-Hours"),
    "nat_gateway_per_gb": ("AmazonEC2", {"productFamily": "NAT Gateway"}, "NatGateway-Bytes"),
    "public_ipv4_hourly": (
        "AmazonVPC",
        {"group": "VPCPublicIPv4Address"},
        "PublicIPv4:InUseAddress",
    ),
    "ebs_gp3_per_gb_month": (
        "AmazonEC2",
        {"volumeApiName": "gp3", "productFamily": "Storage"},
        "EBS:VolumeUsage.gp3",
    ),
    "ebs_gp3_iops_month_above_3000": (
        "AmazonEC2",
        {"volumeApiName": "gp3", "productFamily": "System Operation"},
        "EBS:VolumeP-IOPS.gp3",
    ),
    "ebs_gp3_mibps_month_above_125": (
        "AmazonEC2",
        {"volumeApiName": "gp3", "productFamily": "Provisioned Throughput"},
        "EBS:VolumeP-Throughput.gp3",
    ),
    "interface_endpoint_hourly_per_az": (
        "AmazonVPC",
        {"productFamily": "VpcEndpoint"},
        "VpcEndpoint-Hours",
    ),
    "interface_endpoint_per_gb": (
        "AmazonVPC",
        {"productFamily": "VpcEndpoint"},
        "VpcEndpoint-Bytes",
    ),
    "alb_hourly": ("AWSELB", {"productFamily": "Load Balancer-Application"}, "LoadBalancerUsage"),
    "alb_lcu_hourly": ("AWSELB", {"productFamily": "Load Balancer-Application"}, "LCUUsage"),
    "nlb_hourly": ("AWSELB", {"productFamily": "Load Balancer-Network"}, "LoadBalancerUsage"),
    "nlb_lcu_hourly": ("AWSELB", {"productFamily": "Load Balancer-Network"}, "LCUUsage"),
    "cloudwatch_logs_ingestion_per_gb": (
        "AmazonCloudWatch",
        {"productFamily": "Data Payload"},
        "DataProcessing-Bytes",
    ),
    "cloudwatch_logs_storage_per_gb_month": (
        "AmazonCloudWatch",
        {"productFamily": "Storage Snapshot"},
        "TimedStorage-ByteHrs",
    ),
    "kms_key_month": ("awskms", {"productFamily": "Encryption Key"}, "KMS-Keys"),
    "s3_standard_per_gb_month": (
        "AmazonS3",
        {"storageClass": "General Purpose", "volumeType": "Standard"},
        "TimedStorage-ByteHrs",
    ),
    "ecr_storage_per_gb_month": ("AmazonECR", {}, "TimedStorage-ByteHrs"),
}


#: CloudWatch's per-metric, per-alarm, per-dashboard and per-observation prices, which the
#: Price List queries above do not fetch: a dated table read off the pricing page, which
#: every mode writes into the fallback rates region (a price the API returned wins).
CLOUDWATCH_STATIC: dict[str, Any] = {
    "date": "2026-11-30",
    "region": "us-west-2",
    "source": "https://aws.amazon.com/cloudwatch/pricing/ (US West (Oregon), paid tier, "
    "first band: custom metrics $0.30/metric-month for the first 10,000; standard-resolution "
    "alarms $0.10 per alarm metric-month, a metric-math alarm billed per metric it reads; "
    "dashboards $3.00/dashboard-month; Container Insights with enhanced observability for "
    "EKS $0.21 per million observations). The page was not reachable from the machine that "
    "wrote this table: the observation price is cross-checked against a public design record "
    "that states it verified it on that page on 2026-10-02. The free tier (10 metrics, 10 "
    "alarm metrics, 3 dashboards per account) is not subtracted: it is the account's, not "
    "the stack's.",
    "rates": {
        "cloudwatch_custom_metric_month": 0.30,
        "cloudwatch_alarm_metric_month": 0.10,
        "cloudwatch_dashboard_month": 3.00,
        "cloudwatch_container_insights_per_million_observations": 0.21,
    },
}


def with_static(document: dict[str, Any]) -> dict[str, Any]:
    """The document with `CLOUDWATCH_STATIC` in its region's rates and its source recorded."""
    regions = dict(document.get("regions", {}))
    region = dict(regions.get(CLOUDWATCH_STATIC["region"], {}))
    region["rates"] = {**CLOUDWATCH_STATIC["rates"], **region.get("rates", {})}
    regions[CLOUDWATCH_STATIC["region"]] = region
    sources = dict(document.get("sources", {}))
    sources["cloudwatchStatic"] = {
        "date": CLOUDWATCH_STATIC["date"],
        "region": CLOUDWATCH_STATIC["region"],
        "what": sorted(CLOUDWATCH_STATIC["rates"]),
        "source": CLOUDWATCH_STATIC["source"],
    }
    return {**document, "regions": regions, "sources": sources}


#: Price List units whose price must be divided to match our keys' units.
_PER_UNIT = {"GiBps-mo": 1024.0}  # gp3 throughput: ours is per MiB/s-month


def on_demand_usd(price_item: dict[str, Any]) -> float | None:
    """The first-tier on-demand USD price of one Price List product (a JSON document)."""
    for term in price_item.get("terms", {}).get("OnDemand", {}).values():
        dimensions = sorted(
            term["priceDimensions"].values(), key=lambda d: float(d.get("beginRange", "0"))
        )
        for dimension in dimensions:
            usd = float(dimension["pricePerUnit"].get("USD", "0"))
            if usd > 0:
                return usd / _PER_UNIT.get(dimension.get("unit", ""), 1.0)
    return None


def _products(client: Any, service: str, filters: dict[str, str]) -> Iterator[dict[str, Any]]:
    terms = [{"Type": "TERM_MATCH", "Field": k, "Value": v} for k, v in filters.items()]
    for page in client.get_paginator("get_products").paginate(
        ServiceCode=service, Filters=terms, FormatVersion="aws_v1"
    ):
        for item in page["PriceList"]:
            yield json.loads(item)


def ec2_prices(client: Any, region: str) -> dict[str, float]:
    filters = {
        "regionCode": region,
        "operatingSystem": "Linux",
        "tenancy": "Shared",
        "preInstalledSw": "NA",
        "capacitystatus": "Used",
        "licenseModel": "No License required",
        "marketoption": "OnDemand",
    }
    prices = {}
    for product in _products(client, "AmazonEC2", filters):
        usd = on_demand_usd(product)
        if usd is not None:
            prices[product["product"]["attributes"]["instanceType"]] = usd
    return prices


def rates(client: Any, region: str) -> dict[str, float]:
    found = {}
    for key, (service, filters, usage_suffix) in RATE_QUERIES.items():
        for product in _products(client, service, {"regionCode": region, **filters}):
            usage = product["product"]["attributes"].get("usagetype", "")
            usd = on_demand_usd(product)
            if usage.endswith(usage_suffix) and usd is not None:
                found[key] = usd
                break
    return found


def from_aws(current: dict[str, Any], client_factory: Callable[[], Any]) -> dict[str, Any]:
    client = client_factory()
    instances = json.loads((DATA / "instances.json").read_text())["instanceTypes"]
    regions: dict[str, Any] = {}
    for code, name in commercial_regions().items():
        ec2 = ec2_prices(client, code)
        regions[code] = {
            "name": name,
            "ec2Source": "aws",
            "ec2_on_demand_hourly": {t: ec2[t] for t in sorted(instances) if t in ec2},
            "ratesSource": "aws",
            "rates": rates(client, code),
        }
        print(f"{code}: {len(regions[code]['ec2_on_demand_hourly'])} types", file=sys.stderr)
    document = dict(current)
    document["regions"] = regions
    document["sources"] = {
        **document.get("sources", {}),
        "aws": {"api": "pricing:GetProducts (us-east-1 endpoint)", "what": "every price"},
    }
    document["date"] = dt.datetime.now(dt.UTC).date().isoformat()
    document["generatedBy"] = "scripts/gen_prices.py aws"
    return document


def write(document: dict[str, Any], out: Path) -> None:
    # One region per block and one price per line: reviewable diffs.
    out.write_text(json.dumps(document, indent=1, sort_keys=False) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=OUT)
    sub = parser.add_subparsers(dest="mode", required=True)
    sub.add_parser("aws", help="from the AWS Price List API (credentials needed)")
    snap = sub.add_parser("snapshot", help="from a local checkout of karpenter-provider-aws")
    snap.add_argument("--karpenter", type=Path, required=True)
    args = parser.parse_args(argv)
    current = json.loads(args.out.read_text()) if args.out.exists() else {}
    if args.mode == "aws":
        import boto3

        document = from_aws(current, lambda: boto3.client("pricing", region_name="us-east-1"))
    else:
        document = snapshot(args.karpenter, current)
    write(with_static(document), args.out)
    priced = sum(1 for r in document["regions"].values() if r.get("ec2_on_demand_hourly"))
    print(f"wrote {args.out}: {priced} regions with EC2 prices of their own", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
