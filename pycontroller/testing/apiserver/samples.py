"""A minimal valid object of every stored built-in resource, and a change to each of its top-level fields.

:mod:`.gen_resources` writes these to the real kube-apiserver to learn what discovery cannot say:
which top-level fields bump ``metadata.generation``, which finalizers the server adds on create
(admission's ``kubernetes.io/pvc-protection``) and which resources orphan their dependents when
deleted without a propagation policy. The conformance tests create the same objects on both
servers. Namespaced samples carry no namespace (the writer sets it).
"""

from __future__ import annotations

import copy
from typing import Any

__all__ = ["SAMPLES", "Sample", "sample"]

# (body, {top-level field: a JSON merge patch that changes it})
Sample = tuple[dict[str, Any], dict[str, dict[str, Any]]]

_POD_TEMPLATE = {
    "metadata": {"labels": {"app": "gen"}},
    "spec": {"containers": [{"name": "c", "image": "busybox:1.32"}]},
}
_JOB_TEMPLATE = {
    "metadata": {"labels": {"app": "gen"}},
    "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox:1.32"}]},
}
_SELECTOR = {"matchLabels": {"app": "gen"}}
_REPLICAS = {"spec": {"replicas": 3}}
_MIN_READY = {"spec": {"minReadySeconds": 5}}
_CSR = (
    "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURSBSRVFVRVNULS0tLS0KTUlIVU1Id0NBUUF3R2pFWU1CWUdBMVVFQXd3UFoyVn"
    "VMbVY0WVcxd2JHVXVZMjl0TUZrd0V3WUhLb1pJemowQwpBUVlJS29aSXpqMERBUWNEUWdBRThRbEU0YmJKb1JWdWdv"
    "K01WT2RjVUVOK0ZlenFDei9lVm9Gd0hwbnhNNVdKCjE3cU1KelhUd1p5WW1lejM1aVdMa3d3azIyUmVDVGVYYVp0R2"
    "pMSnBTNkFBTUFvR0NDcUdTTTQ5QkFNQ0EwZ0EKTUVVQ0lEaktHbGZYMjhKWFhuREIyallKcVp0dWZrOWJ4SmZSSDBn"
    "SDNXU3hjMzZHQWlFQXE0dHlqNnBaZ3ZtUQpBM2M4SjVLbE5MTGx0dVVmZDlETkcxKzU3bW1vMWlvPQotLS0tLUVORC"
    "BDRVJUSUZJQ0FURSBSRVFVRVNULS0tLS0K"
)
_RULES = [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]
_WEBHOOK = {
    "name": "gen.example.com",
    "clientConfig": {"url": "https://127.0.0.1:9443/hook"},
    "sideEffects": "None",
    "admissionReviewVersions": ["v1"],
}


def _obj(api_version: str, kind: str, name: str = "gen", **fields: Any) -> dict[str, Any]:
    return {"apiVersion": api_version, "kind": kind, "metadata": {"name": name}, **fields}


SAMPLES: dict[tuple[str, str], Sample] = {
    ("", "configmaps"): (_obj("v1", "ConfigMap", data={"a": "1"}), {"data": {"data": {"a": "2"}}}),
    ("", "endpoints"): (
        _obj("v1", "Endpoints", subsets=[{"addresses": [{"ip": "10.1.0.1"}], "ports": [{"port": 80}]}]),
        {"subsets": {"subsets": [{"addresses": [{"ip": "10.1.0.2"}], "ports": [{"port": 80}]}]}},
    ),
    ("", "events"): (
        _obj(
            "v1",
            "Event",
            involvedObject={"kind": "Pod", "name": "p", "apiVersion": "v1"},
            reason="Gen",
            message="m",
        ),
        {"message": {"message": "n"}},
    ),
    ("", "limitranges"): (
        _obj("v1", "LimitRange", spec={"limits": [{"type": "Container", "max": {"cpu": "1"}}]}),
        {"spec": {"spec": {"limits": [{"type": "Container", "max": {"cpu": "2"}}]}}},
    ),
    ("", "namespaces"): (_obj("v1", "Namespace", "gen-ns"), {}),
    ("", "nodes"): (
        _obj("v1", "Node", spec={"podCIDR": "10.2.0.0/24"}),
        {"spec": {"spec": {"unschedulable": True}}},
    ),
    ("", "persistentvolumeclaims"): (
        _obj(
            "v1",
            "PersistentVolumeClaim",
            spec={"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
        ),
        {},  # spec is immutable (but for the requests of bound claims)
    ),
    ("", "persistentvolumes"): (
        _obj(
            "v1",
            "PersistentVolume",
            spec={
                "capacity": {"storage": "1Gi"},
                "accessModes": ["ReadWriteOnce"],
                "hostPath": {"path": "/tmp/gen"},
            },
        ),
        {"spec": {"spec": {"capacity": {"storage": "2Gi"}}}},
    ),
    ("", "pods"): (
        _obj("v1", "Pod", spec={"containers": [{"name": "c", "image": "busybox:1.32"}]}),
        {"spec": {"spec": {"activeDeadlineSeconds": 30}}},
    ),
    ("", "podtemplates"): (
        _obj("v1", "PodTemplate", template=_POD_TEMPLATE),
        {"template": {"template": {"metadata": {"labels": {"x": "y"}}}}},
    ),
    ("", "replicationcontrollers"): (
        _obj(
            "v1",
            "ReplicationController",
            spec={"replicas": 1, "selector": {"app": "gen"}, "template": _POD_TEMPLATE},
        ),
        {"spec": _REPLICAS},
    ),
    ("", "resourcequotas"): (
        _obj("v1", "ResourceQuota", spec={"hard": {"pods": "10"}}),
        {"spec": {"spec": {"hard": {"pods": "20"}}}},
    ),
    ("", "secrets"): (_obj("v1", "Secret", data={"a": "MQ=="}), {"data": {"data": {"a": "Mg=="}}}),
    ("", "serviceaccounts"): (
        _obj("v1", "ServiceAccount"),
        {"automountServiceAccountToken": {"automountServiceAccountToken": False}},
    ),
    ("", "services"): (
        _obj("v1", "Service", spec={"ports": [{"port": 80}], "selector": {"app": "gen"}}),
        {"spec": {"spec": {"selector": {"app": "other"}}}},
    ),
    ("apiregistration.k8s.io", "apiservices"): (
        _obj(
            "apiregistration.k8s.io/v1",
            "APIService",
            "v1.gen.example.com",
            spec={
                "group": "gen.example.com",
                "version": "v1",
                "groupPriorityMinimum": 100,
                "versionPriority": 100,
                "insecureSkipTLSVerify": True,
                "service": {"namespace": "default", "name": "gen", "port": 443},
            },
        ),
        {"spec": {"spec": {"versionPriority": 50}}},
    ),
    ("apps", "controllerrevisions"): (
        _obj("apps/v1", "ControllerRevision", revision=1, data={"a": 1}),
        {"revision": {"revision": 2}},
    ),
    ("apps", "daemonsets"): (
        _obj("apps/v1", "DaemonSet", spec={"selector": _SELECTOR, "template": _POD_TEMPLATE}),
        {"spec": _MIN_READY},
    ),
    ("apps", "deployments"): (
        _obj("apps/v1", "Deployment", spec={"selector": _SELECTOR, "template": _POD_TEMPLATE}),
        {"spec": _REPLICAS},
    ),
    ("apps", "replicasets"): (
        _obj("apps/v1", "ReplicaSet", spec={"selector": _SELECTOR, "template": _POD_TEMPLATE}),
        {"spec": _REPLICAS},
    ),
    ("apps", "statefulsets"): (
        _obj(
            "apps/v1",
            "StatefulSet",
            spec={"selector": _SELECTOR, "serviceName": "gen", "template": _POD_TEMPLATE},
        ),
        {"spec": _REPLICAS},
    ),
    ("autoscaling", "horizontalpodautoscalers"): (
        _obj(
            "autoscaling/v1",
            "HorizontalPodAutoscaler",
            spec={
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "gen"},
                "maxReplicas": 3,
            },
        ),
        {"spec": {"spec": {"maxReplicas": 4}}},
    ),
    ("batch", "jobs"): (
        _obj("batch/v1", "Job", spec={"template": _JOB_TEMPLATE}),
        {"spec": {"spec": {"activeDeadlineSeconds": 30}}},
    ),
    ("batch", "cronjobs"): (
        _obj(
            "batch/v1beta1",
            "CronJob",
            spec={"schedule": "*/5 * * * *", "jobTemplate": {"spec": {"template": _JOB_TEMPLATE}}},
        ),
        {"spec": {"spec": {"schedule": "*/7 * * * *"}}},
    ),
    ("certificates.k8s.io", "certificatesigningrequests"): (
        _obj(
            "certificates.k8s.io/v1",
            "CertificateSigningRequest",
            spec={
                "request": _CSR,
                "signerName": "example.com/gen",
                "usages": ["digital signature"],
            },
        ),
        {},
    ),
    ("networking.k8s.io", "ingressclasses"): (
        _obj("networking.k8s.io/v1", "IngressClass", spec={"controller": "example.com/gen"}),
        {"spec": {"spec": {"parameters": {"kind": "P", "name": "p"}}}},
    ),
    ("networking.k8s.io", "ingresses"): (
        _obj(
            "networking.k8s.io/v1",
            "Ingress",
            spec={"defaultBackend": {"service": {"name": "gen", "port": {"number": 80}}}},
        ),
        {"spec": {"spec": {"defaultBackend": {"service": {"port": {"number": 81}}}}}},
    ),
    ("networking.k8s.io", "networkpolicies"): (
        _obj("networking.k8s.io/v1", "NetworkPolicy", spec={"podSelector": {}}),
        {"spec": {"spec": {"podSelector": _SELECTOR}}},
    ),
    ("policy", "poddisruptionbudgets"): (
        _obj("policy/v1beta1", "PodDisruptionBudget", spec={"minAvailable": 1, "selector": _SELECTOR}),
        {"spec": {"spec": {"minAvailable": 2}}},
    ),
    ("policy", "podsecuritypolicies"): (
        _obj(
            "policy/v1beta1",
            "PodSecurityPolicy",
            spec={
                "seLinux": {"rule": "RunAsAny"},
                "runAsUser": {"rule": "RunAsAny"},
                "supplementalGroups": {"rule": "RunAsAny"},
                "fsGroup": {"rule": "RunAsAny"},
            },
        ),
        {"spec": {"spec": {"privileged": True}}},
    ),
    ("rbac.authorization.k8s.io", "clusterrolebindings"): (
        _obj(
            "rbac.authorization.k8s.io/v1",
            "ClusterRoleBinding",
            roleRef={"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "gen"},
            subjects=[{"kind": "ServiceAccount", "name": "gen", "namespace": "default"}],
        ),
        {"subjects": {"subjects": [{"kind": "ServiceAccount", "name": "other", "namespace": "default"}]}},
    ),
    ("rbac.authorization.k8s.io", "clusterroles"): (
        _obj("rbac.authorization.k8s.io/v1", "ClusterRole", rules=_RULES),
        {"rules": {"rules": [{**_RULES[0], "verbs": ["list"]}]}},
    ),
    ("rbac.authorization.k8s.io", "rolebindings"): (
        _obj(
            "rbac.authorization.k8s.io/v1",
            "RoleBinding",
            roleRef={"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "gen"},
            subjects=[{"kind": "ServiceAccount", "name": "gen"}],
        ),
        {"subjects": {"subjects": [{"kind": "ServiceAccount", "name": "other"}]}},
    ),
    ("rbac.authorization.k8s.io", "roles"): (
        _obj("rbac.authorization.k8s.io/v1", "Role", rules=_RULES),
        {"rules": {"rules": [{**_RULES[0], "verbs": ["list"]}]}},
    ),
    ("storage.k8s.io", "csidrivers"): (
        _obj("storage.k8s.io/v1", "CSIDriver", "gen.example.com", spec={"attachRequired": True}),
        {},
    ),
    ("storage.k8s.io", "csinodes"): (
        _obj("storage.k8s.io/v1", "CSINode", spec={"drivers": []}),
        {"spec": {"spec": {"drivers": [{"name": "gen.example.com", "nodeID": "n"}]}}},
    ),
    ("storage.k8s.io", "storageclasses"): (
        _obj("storage.k8s.io/v1", "StorageClass", provisioner="example.com/gen"),
        {"allowVolumeExpansion": {"allowVolumeExpansion": True}},
    ),
    ("storage.k8s.io", "volumeattachments"): (
        _obj(
            "storage.k8s.io/v1",
            "VolumeAttachment",
            spec={"attacher": "gen.example.com", "nodeName": "n", "source": {"persistentVolumeName": "pv"}},
        ),
        {},
    ),
    ("admissionregistration.k8s.io", "mutatingwebhookconfigurations"): (
        _obj("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration", webhooks=[_WEBHOOK]),
        {"webhooks": {"webhooks": [{**_WEBHOOK, "timeoutSeconds": 5}]}},
    ),
    ("admissionregistration.k8s.io", "validatingwebhookconfigurations"): (
        _obj("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration", webhooks=[_WEBHOOK]),
        {"webhooks": {"webhooks": [{**_WEBHOOK, "timeoutSeconds": 5}]}},
    ),
    ("apiextensions.k8s.io", "customresourcedefinitions"): (
        _obj(
            "apiextensions.k8s.io/v1",
            "CustomResourceDefinition",
            "gens.gen.example.com",
            spec={
                "group": "gen.example.com",
                "scope": "Namespaced",
                "names": {"plural": "gens", "singular": "gen", "kind": "Gen"},
                "versions": [
                    {
                        "name": "v1",
                        "served": True,
                        "storage": True,
                        "schema": {
                            "openAPIV3Schema": {
                                "type": "object",
                                "x-kubernetes-preserve-unknown-fields": True,
                            }
                        },
                    }
                ],
            },
        ),
        {"spec": {"spec": {"names": {"shortNames": ["gn"]}}}},
    ),
    ("scheduling.k8s.io", "priorityclasses"): (
        _obj("scheduling.k8s.io/v1", "PriorityClass", value=1000),
        {"description": {"description": "d"}},
    ),
    ("coordination.k8s.io", "leases"): (
        _obj("coordination.k8s.io/v1", "Lease", spec={"holderIdentity": "a"}),
        {"spec": {"spec": {"holderIdentity": "b"}}},
    ),
    ("node.k8s.io", "runtimeclasses"): (_obj("node.k8s.io/v1", "RuntimeClass", handler="gen"), {}),
    ("discovery.k8s.io", "endpointslices"): (
        _obj(
            "discovery.k8s.io/v1beta1",
            "EndpointSlice",
            addressType="IPv4",
            endpoints=[{"addresses": ["10.1.0.1"]}],
            ports=[{"port": 80}],
        ),
        {
            "endpoints": {"endpoints": [{"addresses": ["10.1.0.2"]}]},
            "ports": {"ports": [{"port": 81}]},
        },
    ),
    ("flowcontrol.apiserver.k8s.io", "flowschemas"): (
        _obj(
            "flowcontrol.apiserver.k8s.io/v1beta1",
            "FlowSchema",
            spec={"priorityLevelConfiguration": {"name": "gen"}, "matchingPrecedence": 5000},
        ),
        {"spec": {"spec": {"matchingPrecedence": 6000}}},
    ),
    ("flowcontrol.apiserver.k8s.io", "prioritylevelconfigurations"): (
        _obj(
            "flowcontrol.apiserver.k8s.io/v1beta1",
            "PriorityLevelConfiguration",
            spec={
                "type": "Limited",
                "limited": {"assuredConcurrencyShares": 5, "limitResponse": {"type": "Reject"}},
            },
        ),
        {"spec": {"spec": {"limited": {"assuredConcurrencyShares": 6}}}},
    ),
}


def sample(group: str, plural: str, name: str | None = None, namespace: str | None = None) -> dict[str, Any]:
    """A fresh copy of the sample of ``group``/``plural`` (KeyError when there is none)."""
    body = copy.deepcopy(SAMPLES[(group, plural)][0])
    if name is not None:
        body["metadata"]["name"] = name
    if namespace is not None:
        body["metadata"]["namespace"] = namespace
        if "involvedObject" in body:
            body["involvedObject"]["namespace"] = namespace
    return body
