{{/* single-replica data store StatefulSet + headless Service + ServiceAccount
   (dict "ctx" $ "v" .Values.redis "name" "redis" "component" "cache" "uid" 999
         "container" "<yaml>" "volumes" (list) "configChecksum" "") */}}
{{- define "eco-base.datastore" -}}
{{- $ctx := .ctx -}}
{{- $fullname := include "eco-base.resname" (dict "ctx" $ctx "name" .name) -}}
{{- $labelArgs := dict "ctx" $ctx "name" .name "component" .component -}}
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ $fullname }}
  namespace: {{ $ctx.Release.Namespace }}
  labels:
    {{- include "eco-base.labels" $labelArgs | nindent 4 }}
automountServiceAccountToken: false
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: {{ $fullname }}
  namespace: {{ $ctx.Release.Namespace }}
  labels:
    {{- include "eco-base.labels" $labelArgs | nindent 4 }}
spec:
  serviceName: {{ $fullname }}
  replicas: 1
  selector:
    matchLabels:
      {{- include "eco-base.selectorLabels" $labelArgs | nindent 6 }}
  persistentVolumeClaimRetentionPolicy: {whenDeleted: Retain, whenScaled: Retain}
  template:
    metadata:
      labels:
        {{- include "eco-base.labels" $labelArgs | nindent 8 }}
      {{- with .configChecksum }}
      annotations:
        checksum/config: {{ . }}
      {{- end }}
    spec:
      serviceAccountName: {{ $fullname }}
      automountServiceAccountToken: false
      terminationGracePeriodSeconds: {{ .grace | default 60 }}
      securityContext:
        {{- toYaml (merge (dict "runAsUser" .uid "runAsGroup" .uid "fsGroup" .uid) $ctx.Values.podSecurityContext) | nindent 8 }}
      {{- with $ctx.Values.global.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      containers:
        - name: {{ .name }}
          image: {{ .v.image | quote }}
          imagePullPolicy: {{ $ctx.Values.global.imagePullPolicy }}
          {{- .container | nindent 10 }}
          securityContext:
            {{- toYaml (merge (dict "runAsUser" .uid "runAsGroup" .uid) $ctx.Values.containerSecurityContext) | nindent 12 }}
          resources:
            {{- toYaml .v.resources | nindent 12 }}
      volumes:
        - name: tmp
          emptyDir: {sizeLimit: 256Mi}
        {{- with .volumes }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
  volumeClaimTemplates:
    - metadata:
        name: data
        labels:
          {{- include "eco-base.selectorLabels" $labelArgs | nindent 10 }}
          app.kubernetes.io/part-of: eco-base
      spec:
        accessModes: [ReadWriteOnce]
        {{- with .v.persistence.storageClass }}
        storageClassName: {{ . }}
        {{- end }}
        resources:
          requests:
            storage: {{ .v.persistence.size }}
---
apiVersion: v1
kind: Service
metadata:
  name: {{ $fullname }}
  namespace: {{ $ctx.Release.Namespace }}
  labels:
    {{- include "eco-base.labels" $labelArgs | nindent 4 }}
spec:
  clusterIP: None
  publishNotReadyAddresses: true
  selector:
    {{- include "eco-base.selectorLabels" $labelArgs | nindent 4 }}
  ports:
    {{- range .ports }}
    - {name: {{ .name }}, port: {{ .port }}, targetPort: {{ .name }}, protocol: TCP}
    {{- end }}
{{- end -}}
