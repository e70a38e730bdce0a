{{/* The release's base name: the release name, or release-loglet when it does not say loglet. */}}
{{- define "loglet.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "loglet.webhookName" -}}{{ include "loglet.fullname" . }}-webhook{{- end -}}
{{- define "loglet.certSecret" -}}{{ include "loglet.fullname" . }}-webhook-certs{{- end -}}
{{- define "loglet.nodeName" -}}{{ include "loglet.fullname" . }}-node{{- end -}}

{{- define "loglet.tag" -}}{{ .Values.image.tag | default .Chart.AppVersion }}{{- end -}}

{{- define "loglet.labels" -}}
app.kubernetes.io/name: loglet
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "loglet.webhookSelector" -}}
app.kubernetes.io/name: loglet
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: webhook
{{- end -}}

{{- define "loglet.nodeSelector" -}}
app.kubernetes.io/name: loglet
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: node-agent
{{- end -}}

{{/* The hardened container security context the webhook also gives every sidecar. */}}
{{- define "loglet.securityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
readOnlyRootFilesystem: true
allowPrivilegeEscalation: false
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "loglet.imagePullSecrets" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
{{- range . }}
  - name: {{ if kindIs "string" . }}{{ . }}{{ else }}{{ .name }}{{ end }}
{{- end }}
{{- end }}
{{- end -}}

{{- define "loglet.hubName" -}}{{ include "loglet.fullname" . }}-hub{{- end -}}

{{- define "loglet.hubSelector" -}}
app.kubernetes.io/name: loglet
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: hub
{{- end -}}

{{/* Where agents ship: hub.sink, or the hub this chart installs. */}}
{{- define "loglet.sink" -}}
{{- if .Values.hub.sink -}}
{{ .Values.hub.sink }}
{{- else if .Values.hub.install -}}
nats://{{ include "loglet.hubName" . }}.{{ .Release.Namespace }}.svc:4222/{{ .Values.hub.stream }}
{{- else -}}
{{ fail "hub.sink: give the URL of your hub (nats://host:4222/LOGLET, kafka://broker:9092/topic, ...), or set hub.install=true to install one" }}
{{- end -}}
{{- end -}}

{{/* The Lease electing the webhook replica that runs the LogConfig controller: a fixed name in the webhook's code. */}}
{{- define "loglet.logconfigLease" -}}loglet-logconfig{{- end -}}

{{/* logConfig.reinject as the webhook's --reinject takes it: an unquoted off in a values file is false. */}}
{{- define "loglet.reinject" -}}
{{- if eq (toString .Values.logConfig.reinject) "evict" -}}evict{{- else -}}off{{- end -}}
{{- end -}}

{{/* The labels of the PodMonitors and the PrometheusRule: the chart's, and monitoring.labels (a Prometheus's podMonitorSelector and ruleSelector pick by them). */}}
{{- define "loglet.monitoringLabels" -}}
{{ include "loglet.labels" . }}
{{- with .Values.monitoring.labels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

