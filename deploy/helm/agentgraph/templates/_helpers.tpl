{{/* Chart name, truncated to 63 characters. */}}
{{- define "agentgraph.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Release-scoped name: the release name when it already contains the chart name. */}}
{{- define "agentgraph.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "agentgraph.labels" -}}
app.kubernetes.io/name: {{ include "agentgraph.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: agentgraph
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "agentgraph.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* Environment shared by the API, workers and runner pods. */}}
{{- define "agentgraph.envFrom" -}}
- configMapRef:
    name: {{ include "agentgraph.fullname" . }}-config
{{- if .Values.existingSecret }}
- secretRef:
    name: {{ .Values.existingSecret }}
    optional: true
{{- end }}
{{- end -}}
