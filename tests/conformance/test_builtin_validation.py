"""Validation (the real 422 causes) and the defaults users read back, for the kinds operators create most.

Every expectation here was read from kube-apiserver 1.20 and holds on both servers.
"""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from pycontroller.client import RestClient
from pycontroller.errors import InvalidError

from ._support import unique

CONTAINER = {"name": "c", "image": "busybox:1.32"}
POD = {"metadata": {"labels": {"app": "x"}}, "spec": {"containers": [CONTAINER]}}
JOB_POD = {"spec": {"restartPolicy": "Never", "containers": [CONTAINER]}}
RBAC = "rbac.authorization.k8s.io/v1"


def _collection(api_version: str, plural: str, namespace: str | None) -> str:
    base = f"/apis/{api_version}" if "/" in api_version else f"/api/{api_version}"
    return f"{base}/namespaces/{namespace}/{plural}" if namespace else f"{base}/{plural}"


async def create(
    client: RestClient, api_version: str, kind: str, plural: str, namespace: str | None, **fields: Any
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": unique(kind.lower())}
    if namespace:
        meta["namespace"] = namespace
    body = {"apiVersion": api_version, "kind": kind, "metadata": meta, **fields}
    result: dict[str, Any] = await client.request(
        "POST", _collection(api_version, plural, namespace), body=body
    )
    return result


async def refused(
    client: RestClient, api_version: str, kind: str, plural: str, namespace: str | None, **fields: Any
) -> tuple[str, list[tuple[str, str, str]]]:
    """The message (with the object's name replaced by NAME) and (reason, field, message) causes."""
    with pytest.raises(InvalidError) as failure:
        await create(client, api_version, kind, plural, namespace, **fields)
    error = failure.value
    name = error.details["name"]
    causes = [(c["reason"], c["field"], c["message"]) for c in error.details["causes"]]
    return error.message.replace(f'"{name}"', "NAME"), causes


# -- batch ---------------------------------------------------------------------------------------------


async def test_a_job_needs_containers_and_a_restart_policy(rest_client: RestClient, namespace: str) -> None:
    message, causes = await refused(rest_client, "batch/v1", "Job", "jobs", namespace, spec={})
    assert message == (
        "Job.batch NAME is invalid: [spec.template.spec.containers: Required value, "
        'spec.template.spec.restartPolicy: Required value: valid values: "OnFailure", "Never"]'
    )
    assert causes[1] == (
        "FieldValueRequired",
        "spec.template.spec.restartPolicy",
        'Required value: valid values: "OnFailure", "Never"',
    )
    _, causes = await refused(
        rest_client, "batch/v1", "Job", "jobs", namespace, spec={"parallelism": -1, "template": JOB_POD}
    )
    assert causes == [
        ("FieldValueInvalid", "spec.parallelism", "Invalid value: -1: must be greater than or equal to 0")
    ]


async def test_a_job_gets_parallelism_completions_backoff_limit_and_a_generated_selector(
    rest_client: RestClient, namespace: str
) -> None:
    job = await create(
        rest_client,
        "batch/v1",
        "Job",
        "jobs",
        namespace,
        spec={"template": {"metadata": {"labels": {"app": "x"}}, **JOB_POD}},
    )
    uid, name = job["metadata"]["uid"], job["metadata"]["name"]
    spec = job["spec"]
    assert (spec["parallelism"], spec["completions"], spec["backoffLimit"]) == (1, 1, 6)
    assert spec["selector"] == {"matchLabels": {"controller-uid": uid}}
    labels = {"app": "x", "controller-uid": uid, "job-name": name}
    assert spec["template"]["metadata"]["labels"] == labels
    assert job["metadata"]["labels"] == labels
    assert "generation" not in job["metadata"]
    assert job["status"] == {}
    pod = spec["template"]["spec"]
    assert (pod["dnsPolicy"], pod["terminationGracePeriodSeconds"], pod["schedulerName"]) == (
        "ClusterFirst",
        30,
        "default-scheduler",
    )
    only_completions = await create(
        rest_client, "batch/v1", "Job", "jobs", namespace, spec={"completions": 3, "template": JOB_POD}
    )
    assert (only_completions["spec"]["parallelism"], only_completions["spec"]["completions"]) == (1, 3)
    only_parallelism = await create(
        rest_client, "batch/v1", "Job", "jobs", namespace, spec={"parallelism": 2, "template": JOB_POD}
    )
    assert only_parallelism["spec"]["parallelism"] == 2
    assert "completions" not in only_parallelism["spec"]


async def test_a_cronjob_needs_a_schedule_and_gets_its_policies(
    rest_client: RestClient, namespace: str
) -> None:
    message, _ = await refused(rest_client, "batch/v1beta1", "CronJob", "cronjobs", namespace, spec={})
    assert message == (
        "CronJob.batch NAME is invalid: [spec.schedule: Required value, "
        "spec.jobTemplate.spec.template.spec.containers: Required value, "
        'spec.jobTemplate.spec.template.spec.restartPolicy: Required value: valid values: "OnFailure", "Never"]'
    )
    cronjob = await create(
        rest_client,
        "batch/v1beta1",
        "CronJob",
        "cronjobs",
        namespace,
        spec={"schedule": "*/5 * * * *", "jobTemplate": {"spec": {"template": JOB_POD}}},
    )
    spec = cronjob["spec"]
    assert (spec["concurrencyPolicy"], spec["suspend"]) == ("Allow", False)
    assert (spec["successfulJobsHistoryLimit"], spec["failedJobsHistoryLimit"]) == (3, 1)
    assert spec["jobTemplate"]["metadata"] == {"creationTimestamp": None}
    assert "parallelism" not in spec["jobTemplate"]["spec"]  # not defaulted inside a CronJob
    assert cronjob["status"] == {}


# -- apps ----------------------------------------------------------------------------------------------


async def test_a_statefulset_needs_a_matching_selector_and_gets_its_policies(
    rest_client: RestClient, namespace: str
) -> None:
    message, _ = await refused(rest_client, "apps/v1", "StatefulSet", "statefulsets", namespace, spec={})
    assert message == (
        "StatefulSet.apps NAME is invalid: [spec.selector: Required value, spec.template.metadata.labels: "
        "Invalid value: map[string]string(nil): `selector` does not match template `labels`]"
    )
    sts = await create(
        rest_client,
        "apps/v1",
        "StatefulSet",
        "statefulsets",
        namespace,
        spec={"selector": {"matchLabels": {"app": "x"}}, "template": POD},
    )
    spec = sts["spec"]
    assert spec["replicas"] == 1
    assert spec["podManagementPolicy"] == "OrderedReady"
    assert spec["updateStrategy"] == {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}
    assert spec["revisionHistoryLimit"] == 10
    assert spec["serviceName"] == ""
    assert sts["status"] == {"replicas": 0}
    assert sts["metadata"]["generation"] == 1
    on_delete = await create(
        rest_client,
        "apps/v1",
        "StatefulSet",
        "statefulsets",
        namespace,
        spec={
            "selector": {"matchLabels": {"app": "x"}},
            "template": POD,
            "updateStrategy": {"type": "OnDelete"},
            "podManagementPolicy": "Parallel",
        },
    )
    assert on_delete["spec"]["updateStrategy"] == {"type": "OnDelete"}
    assert on_delete["spec"]["podManagementPolicy"] == "Parallel"


async def test_a_daemonset_needs_images_and_gets_its_update_strategy(
    rest_client: RestClient, namespace: str
) -> None:
    message, _ = await refused(rest_client, "apps/v1", "DaemonSet", "daemonsets", namespace, spec={})
    assert message == (
        "DaemonSet.apps NAME is invalid: [spec.template.metadata.labels: Invalid value: map[string]string(nil): "
        "`selector` does not match template `labels`, spec.template.spec.containers: Required value]"
    )
    no_image = {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c"}]}}
    _, causes = await refused(
        rest_client,
        "apps/v1",
        "DaemonSet",
        "daemonsets",
        namespace,
        spec={"selector": {"matchLabels": {"a": "b"}}, "template": no_image},
    )
    assert causes == [("FieldValueRequired", "spec.template.spec.containers[0].image", "Required value")]
    ds = await create(
        rest_client,
        "apps/v1",
        "DaemonSet",
        "daemonsets",
        namespace,
        spec={"selector": {"matchLabels": {"app": "x"}}, "template": POD},
    )
    assert ds["spec"]["updateStrategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}}
    assert ds["spec"]["revisionHistoryLimit"] == 10
    assert ds["metadata"]["annotations"] == {"deprecated.daemonset.template.generation": "1"}
    assert ds["status"] == {
        "currentNumberScheduled": 0,
        "numberMisscheduled": 0,
        "desiredNumberScheduled": 0,
        "numberReady": 0,
    }


# -- services ------------------------------------------------------------------------------------------


async def test_a_service_needs_ports_in_range(rest_client: RestClient, namespace: str) -> None:
    message, causes = await refused(rest_client, "v1", "Service", "services", namespace, spec={})
    assert message == "Service NAME is invalid: spec.ports: Required value"
    assert causes == [("FieldValueRequired", "spec.ports", "Required value")]
    _, causes = await refused(
        rest_client, "v1", "Service", "services", namespace, spec={"ports": [{"targetPort": 80}]}
    )
    assert causes == [
        (
            "FieldValueInvalid",
            "spec.ports[0].port",
            "Invalid value: 0: must be between 1 and 65535, inclusive",
        )
    ]


async def test_a_service_gets_its_type_affinity_and_a_cluster_ip_from_the_service_range(
    rest_client: RestClient, namespace: str
) -> None:
    svc = await create(rest_client, "v1", "Service", "services", namespace, spec={"ports": [{"port": 80}]})
    spec = svc["spec"]
    assert (spec["type"], spec["sessionAffinity"]) == ("ClusterIP", "None")
    assert spec["ports"] == [{"protocol": "TCP", "port": 80, "targetPort": 80}]
    assert ipaddress.ip_address(spec["clusterIP"]) in ipaddress.ip_network("10.0.0.0/24")
    assert spec["clusterIP"] != "10.0.0.1"  # the kubernetes service's
    assert spec["clusterIPs"] == [spec["clusterIP"]]
    assert svc["status"] == {"loadBalancer": {}}
    assert "externalTrafficPolicy" not in spec
    other = await create(rest_client, "v1", "Service", "services", namespace, spec={"ports": [{"port": 80}]})
    assert other["spec"]["clusterIP"] != spec["clusterIP"]
    path = f"/api/v1/namespaces/{namespace}/services/{svc['metadata']['name']}"
    without_ip = {**svc, "spec": {"ports": [{"port": 81}]}}
    with pytest.raises(InvalidError) as unset:
        await rest_client.request("PUT", path, body=without_ip)
    assert unset.value.details["causes"] == [
        {
            "reason": "FieldValueInvalid",
            "message": "Invalid value: []string(nil): primary clusterIP can not be unset",
            "field": "spec.clusterIPs[0]",
        }
    ]


async def test_node_port_headless_and_external_name_services(rest_client: RestClient, namespace: str) -> None:
    node_port = await create(
        rest_client,
        "v1",
        "Service",
        "services",
        namespace,
        spec={"type": "NodePort", "ports": [{"port": 80, "targetPort": 8080}]},
    )
    port = node_port["spec"]["ports"][0]
    assert 30000 <= port["nodePort"] <= 32767
    assert port["targetPort"] == 8080
    assert node_port["spec"]["externalTrafficPolicy"] == "Cluster"
    headless = await create(
        rest_client,
        "v1",
        "Service",
        "services",
        namespace,
        spec={"clusterIP": "None", "ports": [{"port": 80}]},
    )
    assert headless["spec"]["clusterIPs"] == ["None"]
    external = await create(
        rest_client,
        "v1",
        "Service",
        "services",
        namespace,
        spec={"type": "ExternalName", "externalName": "example.com"},
    )
    assert external["spec"] == {
        "type": "ExternalName",
        "sessionAffinity": "None",
        "externalName": "example.com",
    }


async def test_a_service_account_is_stored_as_given(rest_client: RestClient, namespace: str) -> None:
    account = await create(rest_client, "v1", "ServiceAccount", "serviceaccounts", namespace)
    assert set(account) == {"kind", "apiVersion", "metadata"}


# -- rbac ----------------------------------------------------------------------------------------------


async def test_rbac_rules_need_verbs_and_empty_rules_read_back_as_null(
    rest_client: RestClient, namespace: str
) -> None:
    _, causes = await refused(
        rest_client, RBAC, "Role", "roles", namespace, rules=[{"apiGroups": [""], "resources": ["pods"]}]
    )
    assert causes == [
        ("FieldValueRequired", "rules[0].verbs", "Required value: verbs must contain at least one value")
    ]
    role = await create(rest_client, RBAC, "Role", "roles", namespace)
    assert role["rules"] is None
    cluster_role = await create(rest_client, RBAC, "ClusterRole", "clusterroles", None)
    try:
        assert cluster_role["rules"] is None
    finally:
        await rest_client.request("DELETE", f"/apis/{RBAC}/clusterroles/{cluster_role['metadata']['name']}")


async def test_bindings_need_a_role_ref_and_known_subject_kinds(
    rest_client: RestClient, namespace: str
) -> None:
    message, _ = await refused(rest_client, RBAC, "RoleBinding", "rolebindings", namespace)
    assert message == (
        'RoleBinding.rbac.authorization.k8s.io NAME is invalid: [roleRef.kind: Unsupported value: "": '
        'supported values: "Role", "ClusterRole", roleRef.name: Required value]'
    )
    message, _ = await refused(rest_client, RBAC, "ClusterRoleBinding", "clusterrolebindings", None)
    assert message == (
        'ClusterRoleBinding.rbac.authorization.k8s.io NAME is invalid: [roleRef.kind: Unsupported value: "": '
        'supported values: "ClusterRole", roleRef.name: Required value]'
    )
    ref = {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r"}
    _, causes = await refused(
        rest_client,
        RBAC,
        "RoleBinding",
        "rolebindings",
        namespace,
        roleRef=ref,
        subjects=[{"kind": "Robot", "name": "x"}, {"kind": "Group", "name": ""}],
    )
    assert causes == [
        (
            "FieldValueNotSupported",
            "subjects[0].kind",
            'Unsupported value: "Robot": supported values: "ServiceAccount", "User", "Group"',
        ),
        ("FieldValueRequired", "subjects[1].name", "Required value"),
    ]
    binding = await create(
        rest_client,
        RBAC,
        "RoleBinding",
        "rolebindings",
        namespace,
        roleRef=ref,
        subjects=[{"kind": "User", "name": "a"}],
    )
    assert binding["roleRef"] == ref


# -- quotas, limits, storage ---------------------------------------------------------------------------


async def test_a_resource_quota_refuses_negative_limits(rest_client: RestClient, namespace: str) -> None:
    _, causes = await refused(
        rest_client, "v1", "ResourceQuota", "resourcequotas", namespace, spec={"hard": {"pods": "-1"}}
    )
    assert causes == [
        ("FieldValueInvalid", "spec.hard[pods]", 'Invalid value: "-1": must be greater than or equal to 0')
    ]
    empty = await create(rest_client, "v1", "ResourceQuota", "resourcequotas", namespace)
    assert (empty["spec"], empty["status"]) == ({}, {})


async def test_a_limit_range_defaults_its_container_limits(rest_client: RestClient, namespace: str) -> None:
    from_max = await create(
        rest_client,
        "v1",
        "LimitRange",
        "limitranges",
        namespace,
        spec={"limits": [{"type": "Container", "max": {"cpu": "1"}}]},
    )
    assert from_max["spec"]["limits"] == [
        {"type": "Container", "max": {"cpu": "1"}, "default": {"cpu": "1"}, "defaultRequest": {"cpu": "1"}}
    ]
    from_default = await create(
        rest_client,
        "v1",
        "LimitRange",
        "limitranges",
        namespace,
        spec={"limits": [{"type": "Container", "default": {"cpu": "500m"}}]},
    )
    assert from_default["spec"]["limits"] == [
        {"type": "Container", "default": {"cpu": "500m"}, "defaultRequest": {"cpu": "500m"}}
    ]
    two = [{"type": "Container", "max": {"cpu": "1"}}, {"type": "Container", "max": {"cpu": "2"}}]
    _, causes = await refused(rest_client, "v1", "LimitRange", "limitranges", namespace, spec={"limits": two})
    assert causes == [("FieldValueDuplicate", "spec.limits[1].type", 'Duplicate value: "Container"')]
    empty = await create(rest_client, "v1", "LimitRange", "limitranges", namespace)
    assert empty["spec"] == {"limits": None}


async def test_a_claim_needs_access_modes_and_storage_and_is_protected(
    rest_client: RestClient, namespace: str
) -> None:
    message, _ = await refused(
        rest_client, "v1", "PersistentVolumeClaim", "persistentvolumeclaims", namespace, spec={}
    )
    assert message == (
        "PersistentVolumeClaim NAME is invalid: [spec.accessModes: Required value: at least 1 access mode is "
        "required, spec.resources[storage]: Required value]"
    )
    claim = await create(
        rest_client,
        "v1",
        "PersistentVolumeClaim",
        "persistentvolumeclaims",
        namespace,
        spec={"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    )
    assert claim["spec"]["volumeMode"] == "Filesystem"
    assert claim["status"] == {"phase": "Pending"}
    assert claim["metadata"]["finalizers"] == ["kubernetes.io/pvc-protection"]
    path = f"/api/v1/namespaces/{namespace}/persistentvolumeclaims/{claim['metadata']['name']}"
    deleting = await rest_client.request("DELETE", path)
    assert deleting["metadata"]["deletionTimestamp"]  # held by the protection finalizer
    await rest_client.request(
        "PATCH", path, body={"metadata": {"finalizers": None}}, content_type="application/merge-patch+json"
    )


# -- networking and policy -----------------------------------------------------------------------------


async def test_an_ingress_needs_a_backend_or_rules_with_path_types(
    rest_client: RestClient, namespace: str
) -> None:
    message, causes = await refused(
        rest_client, "networking.k8s.io/v1", "Ingress", "ingresses", namespace, spec={}
    )
    assert message == (
        "Ingress.extensions NAME is invalid: spec: Invalid value: []networking.IngressRule(nil): "
        "either `defaultBackend` or `rules` must be specified"
    )
    rules = [
        {"http": {"paths": [{"path": "/", "backend": {"service": {"name": "s", "port": {"number": 80}}}}]}}
    ]
    _, causes = await refused(
        rest_client, "networking.k8s.io/v1", "Ingress", "ingresses", namespace, spec={"rules": rules}
    )
    assert causes == [
        (
            "FieldValueRequired",
            "spec.rules[0].http.paths[0].pathType",
            "Required value: pathType must be specified",
        )
    ]
    rules[0]["http"]["paths"][0]["pathType"] = "Prefix"
    ingress = await create(
        rest_client, "networking.k8s.io/v1", "Ingress", "ingresses", namespace, spec={"rules": rules}
    )
    assert ingress["status"] == {"loadBalancer": {}}
    assert ingress["metadata"]["generation"] == 1


async def test_a_network_policy_gets_its_policy_types(rest_client: RestClient, namespace: str) -> None:
    ingress_only = await create(
        rest_client,
        "networking.k8s.io/v1",
        "NetworkPolicy",
        "networkpolicies",
        namespace,
        spec={"podSelector": {}},
    )
    assert ingress_only["spec"]["policyTypes"] == ["Ingress"]
    both = await create(
        rest_client,
        "networking.k8s.io/v1",
        "NetworkPolicy",
        "networkpolicies",
        namespace,
        spec={"podSelector": {}, "egress": [{}]},
    )
    assert both["spec"]["policyTypes"] == ["Ingress", "Egress"]


async def test_a_pod_disruption_budget_gets_its_status(rest_client: RestClient, namespace: str) -> None:
    pdb = await create(
        rest_client,
        "policy/v1beta1",
        "PodDisruptionBudget",
        "poddisruptionbudgets",
        namespace,
        spec={"minAvailable": 1, "selector": {"matchLabels": {"app": "x"}}},
    )
    assert pdb["status"] == {
        "disruptionsAllowed": 0,
        "currentHealthy": 0,
        "desiredHealthy": 0,
        "expectedPods": 0,
    }
    assert pdb["metadata"]["generation"] == 1
