{{/* ------------------------------------------------------------------ names */}}
{{- define "eco-base.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* release name when it already contains the chart name, else <release>-eco-base */}}
{{- define "eco-base.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* name of one component's objects: (dict "ctx" $ "name" "root-gateway") */}}
{{- define "eco-base.resname" -}}
{{- printf "%s-%s" (include "eco-base.fullname" .ctx) .name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "eco-base.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* ------------------------------------------------------------------ labels
   (dict "ctx" $ "name" "root-gateway" "component" "gateway") */}}
{{- define "eco-base.selectorLabels" -}}
app.kubernetes.io/name: {{ .name }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
{{- end -}}

{{- define "eco-base.labels" -}}
{{ include "eco-base.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/component: {{ .component }}
app.kubernetes.io/part-of: eco-base
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
helm.sh/chart: {{ include "eco-base.chart" .ctx }}
{{- end -}}

{{/* ------------------------------------------------------------------ images
   (dict "ctx" $ "image" .Values.rootGateway.image) -> <registry>/<repository>:<tag> */}}
{{- define "eco-base.image" -}}
{{- $g := .ctx.Values.global -}}
{{- $tag := .image.tag | default $g.imageTag | default .ctx.Chart.AppVersion -}}
{{- printf "%s/%s:%s" $g.imageRegistry .image.repository $tag -}}
{{- end -}}

{{/* ------------------------------------------------------------------ secrets and endpoints */}}
{{- define "eco-base.secretName" -}}
{{- .Values.secrets.existingSecret | default (printf "%s-secrets" (include "eco-base.fullname" .)) -}}
{{- end -}}

{{/* evaluation default: deterministic (Argo CD renders with helm template: no randomness, no lookup) */}}
{{- define "eco-base.postgresPassword" -}}
{{- .Values.secrets.postgresPassword | default (printf "%s/%s/eco-base" .Release.Namespace .Release.Name | sha256sum | trunc 32) -}}
{{- end -}}

{{- define "eco-base.postgresHost" -}}
{{- include "eco-base.resname" (dict "ctx" . "name" "postgres") -}}
{{- end -}}

{{- define "eco-base.postgresUrl" -}}
{{- if .Values.secrets.postgresUrl -}}
{{- .Values.secrets.postgresUrl -}}
{{- else if .Values.postgresql.enabled -}}
{{- printf "postgresql://%s:%s@%s:5432/%s" .Values.postgresql.username (include "eco-base.postgresPassword" .) (include "eco-base.postgresHost" .) .Values.postgresql.database -}}
{{- else -}}
{{- required "set secrets.postgresUrl, secrets.existingSecret or externalPostgresql.url when postgresql.enabled is false" .Values.externalPostgresql.url -}}
{{- end -}}
{{- end -}}

{{- define "eco-base.redisUrl" -}}
{{- if .Values.redis.enabled -}}
{{- printf "redis://%s:6379" (include "eco-base.resname" (dict "ctx" . "name" "redis")) -}}
{{- else -}}
{{- required "externalRedis.url is required when redis.enabled is false" .Values.externalRedis.url -}}
{{- end -}}
{{- end -}}

{{- define "eco-base.kafkaBrokers" -}}
{{- if .Values.kafka.enabled -}}
{{- printf "%s:9092" (include "eco-base.resname" (dict "ctx" . "name" "kafka")) -}}
{{- else -}}
{{- required "externalKafka.brokers is required when kafka.enabled is false" .Values.externalKafka.brokers -}}
{{- end -}}
{{- end -}}

{{/* the chart's Secret data (also hashed into checksum/secret) */}}
{{- define "eco-base.secretData" -}}
postgres-url: {{ include "eco-base.postgresUrl" . | b64enc | quote }}
{{- if .Values.postgresql.enabled }}
postgres-password: {{ include "eco-base.postgresPassword" . | b64enc | quote }}
{{- end }}
{{- with .Values.secrets.bootstrapAdminEmail }}
bootstrap-admin-email: {{ . | b64enc | quote }}
{{- end }}
{{- with .Values.secrets.bootstrapAdminPassword }}
bootstrap-admin-password: {{ . | b64enc | quote }}
{{- end }}
{{- with .Values.secrets.jwtKeys }}
jwt-keys: {{ . | b64enc | quote }}
{{- end }}
{{- with .Values.secrets.internalSecret }}
internal-secret: {{ . | b64enc | quote }}
{{- end }}
{{- end -}}

{{/* the auth secrets a service reads (optional keys: absent = that feature off, see values.yaml) */}}
{{- define "eco-base.authSecretEnvs" -}}
{{- $jwt := dict "env" "ECO_JWT_KEYS" "key" "jwt-keys" -}}
{{- $internal := dict "env" "ECO_INTERNAL_SECRET" "key" "internal-secret" -}}
{{- if .jwt }}{{ list $jwt $internal | toJson }}{{ else }}{{ list $internal | toJson }}{{ end -}}
{{- end -}}

{{- define "eco-base.secretChecksum" -}}
{{- if .Values.secrets.existingSecret -}}
{{- .Values.secrets.existingSecret | sha256sum -}}
{{- else -}}
{{- include "eco-base.secretData" . | sha256sum -}}
{{- end -}}
{{- end -}}

{{- define "eco-base.secretEnv" -}}
- name: {{ .envName }}
  valueFrom:
    secretKeyRef:
      name: {{ include "eco-base.secretName" .ctx }}
      key: {{ .key }}
      {{- if .optional }}
      optional: true
      {{- end }}
{{- end -}}

{{/* settings every service reads (ARCHITECTURE.md §1) */}}
{{- define "eco-base.commonEnv" -}}
{{- $g := .Values.global -}}
{{- dict "ECO_BIND_ADDR" "0.0.0.0" "ECO_LOG_LEVEL" $g.logLevel "ECO_SHUTDOWN_GRACE_MS" (toString $g.shutdownGraceMs) | toYaml -}}
{{- end -}}

{{/* ------------------------------------------------------------------ pod pieces */}}
{{- define "eco-base.podSecurityContext" -}}
{{- toYaml .Values.podSecurityContext -}}
{{- end -}}

{{- define "eco-base.containerSecurityContext" -}}
{{- toYaml .Values.containerSecurityContext -}}
{{- end -}}

{{- define "eco-base.httpProbes" -}}
livenessProbe:
  httpGet: {path: /health, port: {{ .port }}}
  initialDelaySeconds: 5
  periodSeconds: 10
  timeoutSeconds: 2
  failureThreshold: 3
readinessProbe:
  httpGet: {path: /ready, port: {{ .port }}}
  periodSeconds: 5
  timeoutSeconds: 2
  failureThreshold: 3
{{- end -}}

{{/* kubelet gRPC probe (grpc.health.v1, no credentials); the port must be a number */}}
{{- define "eco-base.grpcStartupProbe" -}}
startupProbe:
  grpc: {port: {{ .port }}}
  periodSeconds: 2
  timeoutSeconds: 2
  failureThreshold: 60
{{- end -}}

{{- define "eco-base.scheduling" -}}
{{- with .v.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .v.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .v.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .ctx.Values.global.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* replicas a component runs with (HPA minimum when autoscaling) */}}
{{- define "eco-base.minReplicas" -}}
{{- $as := .autoscaling | default dict -}}
{{- if $as.enabled -}}{{ $as.minReplicas }}{{- else -}}{{ .replicas | default 1 }}{{- end -}}
{{- end -}}

{{/* ------------------------------------------------------------------ one service
   ServiceAccount, ConfigMap, Deployment, Service, HPA, PDB.
   (dict "ctx" $ "v" .Values.rootGateway "name" "root-gateway" "component" "gateway"
         "config" (dict ...) "ports" (list (dict "name" "http" "port" 8000)) "grpcPort" 0
         "postgres" true "volumes" (list) "mounts" (list) "initContainers" "" "strategy" (dict)) */}}
{{- define "eco-base.app" -}}
{{- $ctx := .ctx -}}
{{- $v := .v -}}
{{- $fullname := include "eco-base.resname" (dict "ctx" $ctx "name" .name) -}}
{{- $labelArgs := dict "ctx" $ctx "name" .name "component" .component -}}
{{- $config := merge (dict) ($v.env | default dict) .config (include "eco-base.commonEnv" $ctx | fromYaml) -}}
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ $fullname }}
  namespace: {{ $ctx.Release.Namespace }}
  labels:
    {{- include "eco-base.labels" $labelArgs | nindent 4 }}
automountServiceAccountToken: false
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ $fullname }}
  namespace: {{ $ctx.Release.Namespace }}
  labels:
    {{- include "eco-base.labels" $labelArgs | nindent 4 }}
data:
  {{- range $k, $val := $config }}
  {{ $k }}: {{ toString $val | quote }}
  {{- end }}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ $fullname }}
  namespace: {{ $ctx.Release.Namespace }}
  labels:
    {{- include "eco-base.labels" $labelArgs | nindent 4 }}
spec:
  {{- if not ($v.autoscaling | default dict).enabled }}
  replicas: {{ $v.replicas | default 1 }}
  {{- end }}
  revisionHistoryLimit: 5
  minReadySeconds: 5
  strategy:
    {{- toYaml (.strategy | default (dict "type" "RollingUpdate" "rollingUpdate" (dict "maxUnavailable" 0 "maxSurge" "25%"))) | nindent 4 }}
  selector:
    matchLabels:
      {{- include "eco-base.selectorLabels" $labelArgs | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "eco-base.labels" $labelArgs | nindent 8 }}
      annotations:
        checksum/config: {{ toJson $config | sha256sum }}
        checksum/secret: {{ include "eco-base.secretChecksum" $ctx }}
        {{- with .podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      serviceAccountName: {{ $fullname }}
      automountServiceAccountToken: false
      terminationGracePeriodSeconds: {{ $ctx.Values.global.terminationGracePeriodSeconds }}
      securityContext:
        {{- include "eco-base.podSecurityContext" $ctx | nindent 8 }}
      {{- include "eco-base.scheduling" (dict "ctx" $ctx "v" $v) | nindent 6 }}
      {{- with .initContainers }}
      initContainers:
        {{- . | nindent 8 }}
      {{- end }}
      containers:
        - name: {{ .name }}
          image: {{ include "eco-base.image" (dict "ctx" $ctx "image" $v.image) | quote }}
          imagePullPolicy: {{ $ctx.Values.global.imagePullPolicy }}
          ports:
            {{- range .ports }}
            - name: {{ .name }}
              containerPort: {{ .port }}
              protocol: TCP
            {{- end }}
          envFrom:
            - configMapRef:
                name: {{ $fullname }}
          {{- if or .postgres .secretEnvs }}
          env:
            {{- if .postgres }}
            {{- include "eco-base.secretEnv" (dict "ctx" $ctx "envName" "ECO_POSTGRES_URL" "key" "postgres-url") | nindent 12 }}
            {{- end }}
            {{- range .secretEnvs }}
            {{- include "eco-base.secretEnv" (dict "ctx" $ctx "envName" .env "key" .key "optional" true) | nindent 12 }}
            {{- end }}
          {{- end }}
          securityContext:
            {{- include "eco-base.containerSecurityContext" $ctx | nindent 12 }}
          resources:
            {{- toYaml $v.resources | nindent 12 }}
          {{- if .grpcPort }}
          {{- include "eco-base.grpcStartupProbe" (dict "port" .grpcPort) | nindent 10 }}
          {{- end }}
          {{- include "eco-base.httpProbes" (dict "port" "http") | nindent 10 }}
          lifecycle:
            preStop:
              sleep: {seconds: 5}
          volumeMounts:
            - {name: tmp, mountPath: /tmp}
            {{- with .mounts }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
      volumes:
        - name: tmp
          emptyDir: {sizeLimit: 64Mi}
        {{- with .volumes }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
---
apiVersion: v1
kind: Service
metadata:
  name: {{ $fullname }}
  namespace: {{ $ctx.Release.Namespace }}
  labels:
    {{- include "eco-base.labels" $labelArgs | nindent 4 }}
spec:
  type: ClusterIP
  selector:
    {{- include "eco-base.selectorLabels" $labelArgs | nindent 4 }}
  ports:
    {{- range .ports }}
    - name: {{ .name }}
      port: {{ .port }}
      targetPort: {{ .name }}
      protocol: TCP
      {{- if eq .name "grpc" }}
      appProtocol: kubernetes.io/h2c
      {{- end }}
    {{- end }}
{{- with $v.autoscaling }}
{{- if .enabled }}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ $fullname }}
  namespace: {{ $ctx.Release.Namespace }}
  labels:
    {{- include "eco-base.labels" $labelArgs | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ $fullname }}
  minReplicas: {{ .minReplicas }}
  maxReplicas: {{ .maxReplicas }}
  metrics:
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ .targetCPUUtilizationPercentage }}
  behavior:
    scaleDown:
      stabilizationWindowSeconds: 300
{{- end }}
{{- end }}
{{- if and ($v.pdb | default dict).enabled (ge (int (include "eco-base.minReplicas" $v)) 2) }}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ $fullname }}
  namespace: {{ $ctx.Release.Namespace }}
  labels:
    {{- include "eco-base.labels" $labelArgs | nindent 4 }}
spec:
  maxUnavailable: {{ $v.pdb.maxUnavailable }}
  unhealthyPodEvictionPolicy: AlwaysAllow
  selector:
    matchLabels:
      {{- include "eco-base.selectorLabels" $labelArgs | nindent 6 }}
{{- end }}
{{- end -}}

{{/* ------------------------------------------------------------------ NetworkPolicy peers */}}
{{- define "eco-base.peer" -}}
- podSelector:
    matchLabels:
      app.kubernetes.io/name: {{ .name }}
      app.kubernetes.io/instance: {{ .ctx.Release.Name }}
{{- end -}}
{{- define "eco-base.nsPeer" -}}
- namespaceSelector:
    matchLabels:
      kubernetes.io/metadata.name: {{ . }}
{{- end -}}
{{- define "eco-base.externalPeers" -}}
{{- range .Values.networkPolicy.externalCidrs }}
- ipBlock: {cidr: {{ . }}}
{{- end }}
{{- end -}}
{{- /* rule: egress to a data store, in-chart or external */ -}}
{{- define "eco-base.storeEgress" -}}
- to:
    {{- if .enabled }}
    {{- include "eco-base.peer" (dict "ctx" .ctx "name" .name) | nindent 4 }}
    {{- else }}
    {{- include "eco-base.externalPeers" .ctx | nindent 4 }}
    {{- end }}
  ports: [{protocol: TCP, port: {{ .port }}}]
{{- end -}}
