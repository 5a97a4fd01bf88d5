{{/*
The nine reusable helpers the chart guide promises. Every object name and label
comes from here; templates never build names by hand.
*/}}

{{/*
inferno.name: the chart name, sanitized for use in names and labels.
*/}}
{{- define "inferno.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
inferno.fullname: the release-qualified name, e.g. "release-inferno".
A release whose name already contains the chart name is used as is ("inferno").
*/}}
{{- define "inferno.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
inferno.chart: the chart identifier, e.g. "inferno-0.8.0".
*/}}
{{- define "inferno.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
inferno.labels: the standard Kubernetes labels plus the environment.
*/}}
{{- define "inferno.labels" -}}
helm.sh/chart: {{ include "inferno.chart" . }}
{{ include "inferno.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: inferno
environment: {{ .Values.environment }}
{{- end }}

{{/*
inferno.selectorLabels: the stable subset used in selectors; never add to it,
because a Deployment's selector cannot change after creation.
*/}}
{{- define "inferno.selectorLabels" -}}
app.kubernetes.io/name: {{ include "inferno.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
inferno.serviceAccountName: the ServiceAccount the pods run as.
*/}}
{{- define "inferno.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "inferno.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
inferno.image: the full image reference, [registry/]repository:tag[@digest].
*/}}
{{- define "inferno.image" -}}
{{- $repository := .Values.image.repository }}
{{- if .Values.image.registry }}
{{- $repository = printf "%s/%s" (trimSuffix "/" .Values.image.registry) .Values.image.repository }}
{{- end }}
{{- $reference := printf "%s:%s" $repository (.Values.image.tag | default .Chart.AppVersion | toString) }}
{{- if .Values.image.digest }}
{{- $reference = printf "%s@%s" $reference .Values.image.digest }}
{{- end }}
{{- $reference }}
{{- end }}

{{/*
inferno.port: the API port. Inferno serves the API, /health and /metrics on this one port.
*/}}
{{- define "inferno.port" -}}
{{- .Values.service.port | int }}
{{- end }}

{{/*
inferno.namespace: where the objects go: namespaceOverride, else the release namespace (helm -n).
*/}}
{{- define "inferno.namespace" -}}
{{- default .Release.Namespace .Values.namespaceOverride | trunc 63 | trimSuffix "-" }}
{{- end }}
