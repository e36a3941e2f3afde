package k8s.security_test

import data.k8s.security

labels5 := {
	"app.kubernetes.io/name": "demo",
	"app.kubernetes.io/instance": "demo",
	"app.kubernetes.io/version": "0.1.0",
	"app.kubernetes.io/component": "service",
	"app.kubernetes.io/part-of": "eco-base",
}

container := {
	"name": "demo",
	"image": "ghcr.io/eco-base/demo:0.1.0",
	"ports": [{"name": "http", "containerPort": 8080}],
	"securityContext": {
		"runAsNonRoot": true,
		"runAsUser": 10001,
		"allowPrivilegeEscalation": false,
		"readOnlyRootFilesystem": true,
		"privileged": false,
		"capabilities": {"drop": ["ALL"]},
		"seccompProfile": {"type": "RuntimeDefault"},
	},
	"resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}},
	"livenessProbe": {"httpGet": {"path": "/health", "port": "http"}},
	"readinessProbe": {"httpGet": {"path": "/ready", "port": "http"}},
}

deployment := {
	"apiVersion": "apps/v1",
	"kind": "Deployment",
	"metadata": {"name": "demo", "namespace": "eco-base", "labels": labels5},
	"spec": {
		"replicas": 2,
		"selector": {"matchLabels": {"app.kubernetes.io/name": "demo", "app.kubernetes.io/instance": "demo"}},
		"template": {
			"metadata": {"labels": labels5},
			"spec": {
				"automountServiceAccountToken": false,
				"securityContext": {"runAsNonRoot": true, "runAsUser": 10001, "seccompProfile": {"type": "RuntimeDefault"}},
				"containers": [container],
				"volumes": [{"name": "tmp", "emptyDir": {}}],
			},
		},
	},
}

pdb := {
	"apiVersion": "policy/v1",
	"kind": "PodDisruptionBudget",
	"metadata": {"name": "demo", "namespace": "eco-base", "labels": labels5},
	"spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app.kubernetes.io/name": "demo", "app.kubernetes.io/instance": "demo"}}},
}

cpath := "/spec/template/spec/containers/0"

p(op, path, value) := {"op": op, "path": path, "value": value}

# [patch, substring of the expected denial]
cases := {
	"runAsNonRoot": [[p("replace", concat("", [cpath, "/securityContext/runAsNonRoot"]), false)], `container "demo" must set runAsNonRoot: true`],
	"runAsNonRoot missing everywhere": [
		[{"op": "remove", "path": concat("", [cpath, "/securityContext/runAsNonRoot"])}, {"op": "remove", "path": "/spec/template/spec/securityContext/runAsNonRoot"}],
		`container "demo" must set runAsNonRoot: true`,
	],
	"uid 0": [[p("replace", concat("", [cpath, "/securityContext/runAsUser"]), 0)], `container "demo" must not run as UID 0`],
	"uid 0 from pod": [
		[{"op": "remove", "path": concat("", [cpath, "/securityContext/runAsUser"])}, p("replace", "/spec/template/spec/securityContext/runAsUser", 0)],
		`container "demo" must not run as UID 0`,
	],
	"readOnlyRootFilesystem": [[{"op": "remove", "path": concat("", [cpath, "/securityContext/readOnlyRootFilesystem"])}], "must set readOnlyRootFilesystem: true"],
	"drop ALL": [[p("replace", concat("", [cpath, "/securityContext/capabilities/drop"]), ["NET_RAW"])], "must drop ALL capabilities"],
	"add SYS_ADMIN": [[p("add", concat("", [cpath, "/securityContext/capabilities/add"]), ["SYS_ADMIN"])], "must not add capability SYS_ADMIN"],
	"privileged": [[p("replace", concat("", [cpath, "/securityContext/privileged"]), true)], `container "demo" must not be privileged`],
	"privilege escalation": [[{"op": "remove", "path": concat("", [cpath, "/securityContext/allowPrivilegeEscalation"])}], "must set allowPrivilegeEscalation: false"],
	"seccomp unconfined": [[p("replace", concat("", [cpath, "/securityContext/seccompProfile/type"]), "Unconfined")], "must use seccompProfile RuntimeDefault"],
	"seccomp missing": [
		[{"op": "remove", "path": concat("", [cpath, "/securityContext/seccompProfile"])}, {"op": "remove", "path": "/spec/template/spec/securityContext/seccompProfile"}],
		"must use seccompProfile RuntimeDefault",
	],
	"hostNetwork": [[p("add", "/spec/template/spec/hostNetwork", true)], "Deployment/demo: must not use hostNetwork"],
	"hostPID": [[p("add", "/spec/template/spec/hostPID", true)], "must not use hostPID"],
	"hostIPC": [[p("add", "/spec/template/spec/hostIPC", true)], "must not use hostIPC"],
	"hostPath": [[p("add", "/spec/template/spec/volumes/-", {"name": "root", "hostPath": {"path": "/"}})], `volume "root" must not be a hostPath`],
	"hostPort": [[p("add", concat("", [cpath, "/ports/0/hostPort"]), 8080)], "must not use hostPort"],
	"automount": [[{"op": "remove", "path": "/spec/template/spec/automountServiceAccountToken"}], "must set automountServiceAccountToken: false"],
	"no requests": [[{"op": "remove", "path": concat("", [cpath, "/resources/requests"])}], "must set resources.requests.cpu"],
	"no memory limit": [[{"op": "remove", "path": concat("", [cpath, "/resources/limits/memory"])}], "must set resources.limits.memory"],
	"init container without resources": [
		[p("add", "/spec/template/spec/initContainers", [object.remove(container, ["resources"])])],
		"must set resources.limits.cpu",
	],
	"no liveness": [[{"op": "remove", "path": concat("", [cpath, "/livenessProbe"])}], "must have a livenessProbe"],
	"no readiness": [[{"op": "remove", "path": concat("", [cpath, "/readinessProbe"])}], "must have a readinessProbe"],
	"latest": [[p("replace", concat("", [cpath, "/image"]), "ghcr.io/eco-base/demo:latest")], "must not use the latest tag"],
	"untagged": [[p("replace", concat("", [cpath, "/image"]), "ghcr.io/eco-base/demo")], "must be pinned to a tag or digest"],
	"untagged with port": [[p("replace", concat("", [cpath, "/image"]), "localhost:5000/demo")], "must be pinned to a tag or digest"],
	"other registry": [[p("replace", concat("", [cpath, "/image"]), "docker.io/library/nginx:1.27")], "is not from an approved registry"],
	"third party, other tag": [[p("replace", concat("", [cpath, "/image"]), "docker.io/library/postgres:16")], "is not from an approved registry"],
	"namespace": [[p("replace", "/metadata/namespace", "default")], `namespace "default" is not one of eco-base, eco-base-staging, argocd, monitoring`],
	"missing label": [[{"op": "remove", "path": "/metadata/labels/app.kubernetes.io~1version"}], "Deployment/demo: missing label app.kubernetes.io/version"],
	"template label": [[{"op": "remove", "path": "/spec/template/metadata/labels/app.kubernetes.io~1component"}], "pod template missing label app.kubernetes.io/component"],
	"part-of": [[p("replace", "/metadata/labels/app.kubernetes.io~1part-of", "other")], "label app.kubernetes.io/part-of must be eco-base"],
}

test_case_denied[name] if {
	some name, tc in cases
	bad := json.patch(deployment, tc[0])
	some msg in security.deny with input as bad
	contains(msg, tc[1])
}

test_good_deployment_passes if {
	count(security.deny) == 0 with input as deployment
}

ok_cases := {
	"pod-level settings only": json.patch(deployment, [
		{"op": "remove", "path": concat("", [cpath, "/securityContext/runAsNonRoot"])},
		{"op": "remove", "path": concat("", [cpath, "/securityContext/runAsUser"])},
		{"op": "remove", "path": concat("", [cpath, "/securityContext/seccompProfile"])},
	]),
	"digest-pinned third-party": json.patch(deployment, [p(
		"replace", concat("", [cpath, "/image"]),
		"docker.io/library/redis:7.4.1-bookworm@sha256:0000000000000000000000000000000000000000000000000000000000000000",
	)]),
	"NET_BIND_SERVICE and grpc probe": json.patch(deployment, [
		p("add", concat("", [cpath, "/securityContext/capabilities/add"]), ["NET_BIND_SERVICE"]),
		p("replace", concat("", [cpath, "/readinessProbe"]), {"grpc": {"port": 50051}}),
	]),
	"no namespace": json.patch(deployment, [{"op": "remove", "path": "/metadata/namespace"}]),
}

test_ok_case_passes[name] if {
	some name, doc in ok_cases
	count(security.deny) == 0 with input as doc
}

test_pod_and_cronjob if {
	pod := {
		"apiVersion": "v1", "kind": "Pod",
		"metadata": {"name": "t", "namespace": "eco-base", "labels": labels5},
		"spec": object.union(deployment.spec.template.spec, {"containers": [object.remove(container, ["livenessProbe", "readinessProbe"])]}),
	}
	count(security.deny) == 0 with input as pod
	cron := {
		"apiVersion": "batch/v1", "kind": "CronJob",
		"metadata": {"name": "c", "namespace": "eco-base", "labels": labels5},
		"spec": {"jobTemplate": {"spec": {"template": {"metadata": {"labels": labels5}, "spec": pod.spec}}}},
	}
	count(security.deny) == 0 with input as cron
	bad := json.patch(cron, [{"op": "remove", "path": "/spec/jobTemplate/spec/template/spec/containers/0/securityContext/privileged"}, p("add", "/spec/jobTemplate/spec/template/spec/containers/0/securityContext/privileged", true)])
	`CronJob/c: container "demo" must not be privileged` in security.deny with input as bad
}

test_namespace_objects if {
	good_ns := {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "eco-base", "labels": {"app.kubernetes.io/name": "eco-base", "app.kubernetes.io/part-of": "eco-base"}}}
	count(security.deny) == 0 with input as good_ns
	bad := json.patch(good_ns, [p("replace", "/metadata/name", "prod")])
	`Namespace/prod: namespace "prod" is not one of eco-base, eco-base-staging, argocd, monitoring` in security.deny with input as bad
}

test_non_workload_needs_two_labels if {
	cm := {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "labels": {"app.kubernetes.io/name": "c"}}}
	security.deny == {"ConfigMap/c: missing label app.kubernetes.io/part-of"} with input as cm
}

test_governance_and_other_documents_are_skipped if {
	count(security.deny) == 0 with input as {"document_metadata": {}, "governance_info": {}}
	count(security.deny) == 0 with input as null
	count(security.deny) == 0 with input as ["x"]
}

# ---------------------------------------------------------------- combine: PDB

entries(docs) := [{"path": "f.yaml", "contents": d} | some d in docs]

test_multi_replica_deployment_without_pdb if {
	"Deployment/demo: has 2 replicas but no PodDisruptionBudget selects its pods" in security.deny with input as entries([deployment])
}

test_multi_replica_deployment_with_pdb if {
	count(security.deny) == 0 with input as entries([deployment, pdb, {"document_metadata": {}}, null])
}

test_pdb_in_other_namespace_does_not_count if {
	other := json.patch(pdb, [p("replace", "/metadata/namespace", "eco-base-staging")])
	"Deployment/demo: has 2 replicas but no PodDisruptionBudget selects its pods" in security.deny with input as entries([deployment, other])
}

test_pdb_selecting_other_pods_does_not_count if {
	other := json.patch(pdb, [p("replace", "/spec/selector/matchLabels", {"app.kubernetes.io/name": "other"})])
	"Deployment/demo: has 2 replicas but no PodDisruptionBudget selects its pods" in security.deny with input as entries([deployment, other])
}

test_single_replica_needs_no_pdb if {
	one := json.patch(deployment, [p("replace", "/spec/replicas", 1)])
	count(security.deny) == 0 with input as entries([one])
}

hpa(min) := {
	"apiVersion": "autoscaling/v2",
	"kind": "HorizontalPodAutoscaler",
	"metadata": {"name": "demo", "namespace": "eco-base"},
	"spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "demo"}, "minReplicas": min, "maxReplicas": 5},
}

test_hpa_min_replicas_decides if {
	no_replicas := json.patch(deployment, [{"op": "remove", "path": "/spec/replicas"}])
	"Deployment/demo: has 3 replicas but no PodDisruptionBudget selects its pods" in security.deny with input as entries([no_replicas, hpa(3)])
	count(security.deny) == 0 with input as entries([deployment, hpa(1)])
}
