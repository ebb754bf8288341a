{{/* The release's prefix of every object name. */}}
{{- define "sebs.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Labels of every object; "component" says which part of the fleet it is. */}}
{{- define "sebs.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: sebs
{{- end -}}

{{/* Selector labels of one component: pass (dict "root" $ "component" "worker"). */}}
{{- define "sebs.selector" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "sebs.image" -}}
{{- $tag := .root.Values.image.tag | default .root.Chart.AppVersion -}}
{{- printf "%s%s:%s" .root.Values.image.registry .image $tag -}}
{{- end -}}

{{/* etcd's client URLs, comma-separated: the chart's StatefulSet or the external ones. */}}
{{- define "sebs.etcdEndpoints" -}}
{{- if .Values.etcd.enabled -}}
{{- $name := printf "%s-etcd" (include "sebs.fullname" .) -}}
{{- $urls := list -}}
{{- range $i := until (int .Values.etcd.replicas) -}}
{{- $urls = append $urls (printf "https://%s-%d.%s.%s.svc:%d" $name $i $name $.Release.Namespace (int $.Values.etcd.clientPort)) -}}
{{- end -}}
{{- join "," $urls -}}
{{- else -}}
{{- required "etcd.enabled is false: give etcd.external.endpoints" (join "," .Values.etcd.external.endpoints) -}}
{{- end -}}
{{- end -}}

{{- define "sebs.coordinatorUrl" -}}
{{- if .Values.workers.coordinatorUrl -}}
{{- .Values.workers.coordinatorUrl -}}
{{- else if .Values.coordinator.enabled -}}
{{- printf "https://%s-coordinator.%s.svc:%d" (include "sebs.fullname" .) .Release.Namespace (int .Values.coordinator.port) -}}
{{- else -}}
{{- fail "coordinator.enabled is false: give workers.coordinatorUrl" -}}
{{- end -}}
{{- end -}}

{{/* Pod annotations for Prometheus's conventional scrape configuration. */}}
{{- define "sebs.scrape" -}}
{{- if .root.Values.prometheus.annotations -}}
prometheus.io/scrape: "true"
prometheus.io/port: {{ .port | quote }}
prometheus.io/path: /metrics
{{- end -}}
{{- end -}}

{{/* The secret whose ca.crt etcd's certificates are checked against; empty: the system's roots. */}}
{{- define "sebs.etcdCaSecret" -}}
{{- if .Values.etcd.enabled -}}
{{- .Values.etcd.tlsSecret -}}
{{- else -}}
{{- .Values.etcd.external.caSecret -}}
{{- end -}}
{{- end -}}

{{/* etcd's CA as a volume and its mount, for the coordinator and the workers. */}}
{{- define "sebs.etcdCaVolume" -}}
{{- with include "sebs.etcdCaSecret" . }}
- name: etcd-ca
  secret:
    secretName: {{ . }}
    items:
      - {key: ca.crt, path: ca.crt}
{{- end }}
{{- end -}}

{{- define "sebs.etcdCaMount" -}}
{{- if include "sebs.etcdCaSecret" . }}
- {name: etcd-ca, mountPath: /etc/sebs/etcd, readOnly: true}
{{- end }}
{{- end -}}

{{/* What the coordinator and the workers share in their environment. */}}
{{- define "sebs.commonEnv" -}}
- name: SEBS_ETCD
  valueFrom:
    configMapKeyRef:
      name: {{ include "sebs.fullname" . }}
      key: SEBS_ETCD
- name: RUST_LOG
  valueFrom:
    configMapKeyRef:
      name: {{ include "sebs.fullname" . }}
      key: RUST_LOG
{{- if include "sebs.etcdCaSecret" . }}
- name: SEBS_ETCD_CA
  value: /etc/sebs/etcd/ca.crt
{{- end }}
{{- if .Values.otel.endpoint }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ .Values.otel.endpoint | quote }}
{{- end }}
{{- range $name, $value := .Values.otel.env }}
- name: {{ $name }}
  value: {{ $value | quote }}
{{- end }}
{{- end -}}

{{/* Liveness and readiness on the metrics listener (--metrics-listen). */}}
{{- define "sebs.probes" -}}
livenessProbe:
  httpGet: {path: /healthz, port: metrics}
  periodSeconds: 10
  failureThreshold: 3
readinessProbe:
  httpGet: {path: /readyz, port: metrics}
  periodSeconds: 5
  failureThreshold: 2
{{- end -}}
