"""Regenerate components/core/data/instances.json, the EC2 instance facts the core reads.

Two ways, same output format:

* ``aws`` (credentials needed): ``ec2:DescribeInstanceTypes``, paginated, in one region.
  vCPUs, memory, architecture, GPUs and accelerators, ENIs and IPv4 addresses per ENI all
  come from that one call::

      python scripts/gen_catalog.py aws --region us-east-1

* ``snapshot`` (no credentials): from maintained public data that is itself generated
  from ``DescribeInstanceTypes``; pass local git checkouts of the repositories, and the
  commit and commit date of each file read are recorded in the JSON::

      python scripts/gen_catalog.py snapshot \\
          --karpenter /path/to/aws/karpenter-provider-aws \\
          --eks-ami /path/to/awslabs/amazon-eks-ami \\
          --autoscaler /path/to/kubernetes/autoscaler

  - vCPUs, memory (MiB), architecture, GPU count/manufacturer/name and accelerator
    count/manufacturer/name: the labels of aws/karpenter-provider-aws
    ``website/content/en/preview/reference/instance-types.md`` (generated from
    DescribeInstanceTypes by ``hack/docs/instancetypes_gen``).
  - ENIs and IPv4 addresses per ENI: awslabs/amazon-eks-ami
    ``nodeadm/internal/kubelet/instance-info.jsonl`` (what nodeadm's max-pods uses).
  - Types the Karpenter page lacks but the EKS AMI knows: vCPUs, memory, architecture
    from kubernetes/autoscaler ``cluster-autoscaler/cloudprovider/aws/ec2_instance_types.go``
    when it has them and they carry no accelerator (that table counts GPUs but not
    their maker); the entry's ``source`` says so.

Only data (numbers, names) is read from those files; none of their code is used.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parents[1] / "components" / "core" / "data" / "instances.json"

KARPENTER_DOC = "website/content/en/preview/reference/instance-types.md"
EKS_AMI_INFO = "nodeadm/internal/kubelet/instance-info.jsonl"
AUTOSCALER_TABLE = "cluster-autoscaler/cloudprovider/aws/ec2_instance_types.go"

#: macOS hosts and bare-metal-as-a-service types cannot be EKS nodes (no EKS AMI).
_NOT_EKS = re.compile(r"^(mac|bmn-)")

FIELDS = {
    "vcpus": "default vCPUs (DescribeInstanceTypes VCpuInfo.DefaultVCpus)",
    "memoryMib": "memory in MiB (MemoryInfo.SizeInMiB)",
    "architecture": "x86_64 or arm64 (ProcessorInfo.SupportedArchitectures)",
    "gpus": "GPU count (GpuInfo.Gpus[].Count); 0 for fractional-GPU types (g6f, gr6f)",
    "accelerator": (
        "none | nvidia | amd (GpuInfo manufacturer) | neuron (AWS Inferentia/Trainium) | "
        "qualcomm (InferenceAcceleratorInfo / NeuronInfo manufacturer)"
    ),
    "acceleratorName": "GPU or accelerator model, lowercase (a10g, h100, inferentia2)",
    "acceleratorCount": "GPUs or accelerator devices per instance",
    "maxEnis": "network interfaces (NetworkInfo.MaximumNetworkInterfaces, default card)",
    "ipv4PerEni": "IPv4 addresses per interface (NetworkInfo.Ipv4AddressesPerInterface)",
}


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "--git-dir", str(_git_dir(repo)), *args],
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def _git_dir(repo: Path) -> Path:
    return repo / ".git" if (repo / ".git").exists() else repo


def _read(repo: Path, path: str, name: str) -> tuple[str, dict[str, str]]:
    commit, date = _git(repo, "log", "-1", "--format=%H %cI", "HEAD", "--", path).split()
    source = {"repo": name, "path": path, "commit": commit, "commitDate": date}
    return _git(repo, "show", f"HEAD:{path}"), source


def _accelerator(gpu_maker: str | None, accel_maker: str | None) -> str:
    if gpu_maker:
        return gpu_maker  # nvidia, amd
    if accel_maker == "aws":
        return "neuron"
    return accel_maker or "none"


def _karpenter_types(text: str) -> dict[str, dict[str, str]]:
    types: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for line in text.splitlines():
        heading = re.match(r"^### `([^`]+)`", line)
        if heading:
            current = types.setdefault(heading.group(1), {})
            continue
        row = re.match(r"^ \|([^|]+)\|([^|]*)\|$", line)
        if row and current is not None:
            current[row.group(1)] = row.group(2)
    return types


def _autoscaler_types(text: str) -> dict[str, dict[str, Any]]:
    block = re.compile(
        r'"(?P<name>[^"]+)":\s*\{\s*InstanceType:\s*"[^"]+",\s*VCPU:\s*(?P<vcpu>\d+),\s*'
        r'MemoryMb:\s*(?P<mem>\d+),\s*GPU:\s*(?P<gpu>\d+),\s*Architecture:\s*"(?P<arch>[^"]+)"'
    )
    return {
        m["name"]: {
            "vcpus": int(m["vcpu"]),
            "memoryMib": int(m["mem"]),
            "gpus": int(m["gpu"]),
            "architecture": "arm64" if m["arch"] == "arm64" else "x86_64",
        }
        for m in block.finditer(text)
    }


def snapshot(karpenter: Path, eks_ami: Path, autoscaler: Path | None) -> dict[str, Any]:
    doc, karpenter_source = _read(karpenter, KARPENTER_DOC, "aws/karpenter-provider-aws")
    info_text, eks_source = _read(eks_ami, EKS_AMI_INFO, "awslabs/amazon-eks-ami")
    enis = {}
    for line in info_text.splitlines():
        if line.strip():
            row = json.loads(line)
            enis[row["instanceType"]] = (row["defaultMaxENIs"], row["ipv4AddressesPerInterface"])
    sources = {"karpenter": karpenter_source, "eksAmi": eks_source}

    types: dict[str, dict[str, Any]] = {}
    for name, labels in _karpenter_types(doc).items():
        if name not in enis:
            continue  # no max-pods data: nodeadm could not size the node
        gpu_maker = labels.get("karpenter.k8s.aws/instance-gpu-manufacturer")
        accel_maker = labels.get("karpenter.k8s.aws/instance-accelerator-manufacturer")
        count = labels.get("karpenter.k8s.aws/instance-gpu-count") or labels.get(
            "karpenter.k8s.aws/instance-accelerator-count", "0"
        )
        accel_name = labels.get("karpenter.k8s.aws/instance-gpu-name") or labels.get(
            "karpenter.k8s.aws/instance-accelerator-name"
        )
        types[name] = {
            "vcpus": int(labels["karpenter.k8s.aws/instance-cpu"]),
            "memoryMib": int(labels["karpenter.k8s.aws/instance-memory"]),
            "architecture": "arm64" if labels["kubernetes.io/arch"] == "arm64" else "x86_64",
            "gpus": int(labels.get("karpenter.k8s.aws/instance-gpu-count", "0")),
            "accelerator": _accelerator(gpu_maker, accel_maker),
            "acceleratorName": accel_name,
            "acceleratorCount": int(count),
            "maxEnis": enis[name][0],
            "ipv4PerEni": enis[name][1],
        }

    if autoscaler is not None:
        table, ca_source = _read(autoscaler, AUTOSCALER_TABLE, "kubernetes/autoscaler")
        sources["clusterAutoscaler"] = ca_source
        ca = _autoscaler_types(table)
        for name in sorted(set(enis) - set(types)):
            row = ca.get(name)
            if row is None or row["gpus"] or _NOT_EKS.match(name):
                continue
            types[name] = {
                **{k: row[k] for k in ("vcpus", "memoryMib", "architecture")},
                "gpus": 0,
                "accelerator": "none",
                "acceleratorName": None,
                "acceleratorCount": 0,
                "maxEnis": enis[name][0],
                "ipv4PerEni": enis[name][1],
                "source": "clusterAutoscaler (vcpus, memoryMib, architecture) + eksAmi",
            }
    return _document(types, sources, "scripts/gen_catalog.py snapshot")


def from_aws(region: str) -> dict[str, Any]:  # pragma: no cover - needs credentials
    import boto3

    ec2 = boto3.client("ec2", region_name=region)
    types: dict[str, dict[str, Any]] = {}
    for page in ec2.get_paginator("describe_instance_types").paginate():
        for it in page["InstanceTypes"]:
            name = it["InstanceType"]
            if _NOT_EKS.match(name):
                continue
            archs = it["ProcessorInfo"]["SupportedArchitectures"]
            gpus = it.get("GpuInfo", {}).get("Gpus", [])
            neuron = it.get("NeuronInfo", {}).get("NeuronDevices", [])
            inference = it.get("InferenceAcceleratorInfo", {}).get("Accelerators", [])
            if gpus:
                accelerator = gpus[0]["Manufacturer"].lower()
                accel_name, count = gpus[0]["Name"].lower(), sum(g["Count"] for g in gpus)
            elif neuron:
                accelerator, accel_name = "neuron", neuron[0]["Name"].lower()
                count = sum(d["Count"] for d in neuron)
            elif inference:
                accelerator = inference[0]["Manufacturer"].lower()
                accel_name, count = inference[0]["Name"].lower(), sum(a["Count"] for a in inference)
            else:
                accelerator, accel_name, count = "none", None, 0
            types[name] = {
                "vcpus": it["VCpuInfo"]["DefaultVCpus"],
                "memoryMib": it["MemoryInfo"]["SizeInMiB"],
                "architecture": "arm64" if "arm64" in archs else "x86_64",
                "gpus": sum(g["Count"] for g in gpus),
                "accelerator": accelerator,
                "acceleratorName": accel_name,
                "acceleratorCount": count,
                "maxEnis": it["NetworkInfo"]["MaximumNetworkInterfaces"],
                "ipv4PerEni": it["NetworkInfo"]["Ipv4AddressesPerInterface"],
            }
    sources = {"aws": {"api": "ec2:DescribeInstanceTypes", "region": region}}
    return _document(types, sources, f"scripts/gen_catalog.py aws --region {region}")


def _document(
    types: dict[str, dict[str, Any]], sources: dict[str, Any], command: str
) -> dict[str, Any]:
    return {
        "date": dt.datetime.now(dt.UTC).date().isoformat(),
        "generatedBy": command,
        "sources": sources,
        "fields": FIELDS,
        "maxPods": "maxEnis * (ipv4PerEni - 1) + 2, the EKS AMI's formula without prefix "
        "delegation (computed by components/core/catalog.py)",
        "instanceTypes": dict(sorted(types.items())),
    }


def write(document: dict[str, Any], out: Path) -> None:
    # One type per line: reviewable diffs, and a file small enough to ship.
    rows = document.pop("instanceTypes")
    head = json.dumps(document, indent=2)[:-2]
    body = ",\n".join(
        f"    {json.dumps(name)}: {json.dumps(row, separators=(', ', ': '))}"
        for name, row in rows.items()
    )
    out.write_text(f'{head},\n  "instanceTypes": {{\n{body}\n  }}\n}}\n')


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="mode", required=True)
    aws = sub.add_parser("aws", help="from ec2:DescribeInstanceTypes (credentials needed)")
    aws.add_argument("--region", default="us-east-1")
    snap = sub.add_parser("snapshot", help="from local checkouts of the public sources")
    snap.add_argument("--karpenter", type=Path, required=True)
    snap.add_argument("--eks-ami", type=Path, required=True)
    snap.add_argument("--autoscaler", type=Path)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    if args.mode == "aws":
        document = from_aws(args.region)
    else:
        document = snapshot(args.karpenter, args.eks_ami, args.autoscaler)
    count = len(document["instanceTypes"])
    write(document, args.out)
    print(f"wrote {count} instance types to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
