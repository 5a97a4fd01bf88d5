{{/*
Cross-field checks that values.schema.json cannot express. Each failure names the
values to change and how, and stops the render before anything reaches the cluster.
Called once, from deployment.yaml.
*/}}
{{- define "inferno.validateValues" -}}
{{- $errors := list }}
{{- $replicas := int .Values.replicaCount }}

{{- if .Values.autoscaling.enabled }}
{{- $min := int .Values.autoscaling.minReplicas }}
{{- $max := int .Values.autoscaling.maxReplicas }}
{{- if gt $min $max }}
{{- $errors = append $errors (printf "autoscaling.minReplicas (%d) is greater than autoscaling.maxReplicas (%d): set minReplicas <= maxReplicas." $min $max) }}
{{- else if or (lt $replicas $min) (gt $replicas $max) }}
{{- $errors = append $errors (printf "replicaCount (%d) is outside autoscaling.minReplicas..maxReplicas (%d..%d): the autoscaler would undo it at once. Change the HPA bounds with it, or set autoscaling.enabled=false." $replicas $min $max) }}
{{- end }}
{{- end }}

{{- if ge (int .Values.preStopSleepSeconds) (int .Values.terminationGracePeriodSeconds) }}
{{- $errors = append $errors (printf "preStopSleepSeconds (%d) must be shorter than terminationGracePeriodSeconds (%d), or the pod is killed before Inferno is told to stop. Lower preStopSleepSeconds or raise terminationGracePeriodSeconds." (int .Values.preStopSleepSeconds) (int .Values.terminationGracePeriodSeconds)) }}
{{- end }}

{{- if .Values.podDisruptionBudget.enabled }}
{{- $minAvailable := .Values.podDisruptionBudget.minAvailable }}
{{- if kindIs "string" $minAvailable }}
{{- if not (regexMatch "^([0-9]|[1-9][0-9])%$" $minAvailable) }}
{{- $errors = append $errors (printf "podDisruptionBudget.minAvailable (%q) must be a whole number of pods or a percentage below 100%%." $minAvailable) }}
{{- end }}
{{- else }}
{{- $floor := $replicas }}
{{- if and .Values.autoscaling.enabled (lt (int .Values.autoscaling.minReplicas) $floor) }}
{{- $floor = int .Values.autoscaling.minReplicas }}
{{- end }}
{{- if ge (int $minAvailable) $floor }}
{{- $errors = append $errors (printf "podDisruptionBudget.minAvailable (%d) must be lower than the smallest replica count (%d), or no pod may ever be evicted and node drains hang. Lower minAvailable or raise replicaCount/autoscaling.minReplicas." (int $minAvailable) $floor) }}
{{- end }}
{{- end }}
{{- end }}

{{- if and .Values.vpa.enabled .Values.autoscaling.enabled (ne .Values.vpa.updateMode "Off") }}
{{- $errors = append $errors (printf "vpa.updateMode=%s would resize pods while the HPA scales on the same CPU and memory metrics. Use vpa.updateMode=Off (recommendations only) or set autoscaling.enabled=false." .Values.vpa.updateMode) }}
{{- end }}

{{- if and .Values.existingSecret (gt (len (compact (values (.Values.secrets | default dict)))) 0) }}
{{- $errors = append $errors (printf "existingSecret (%s) and values under secrets.* are both set; the chart loads only the existing Secret. Move the values into that Secret and leave secrets.* empty." .Values.existingSecret) }}
{{- end }}

{{- $context := int (.Values.config.model.INFERNO_CONTEXT_SIZE | default 2048) }}
{{- $batch := int (.Values.config.model.INFERNO_BATCH_SIZE | default 2048) }}
{{- if lt $batch $context }}
{{- $errors = append $errors (printf "config.model.INFERNO_BATCH_SIZE (%d) is below config.model.INFERNO_CONTEXT_SIZE (%d): Inferno 0.10.3 decodes a whole prompt in one batch, and a prompt longer than the batch aborts the server (llama.cpp's GGML_ASSERT), so one long request would restart the pod. Set INFERNO_BATCH_SIZE to INFERNO_CONTEXT_SIZE or more; a prompt longer than the context then gets an HTTP 500 and the server stays up." $batch $context) }}
{{- end }}

{{- $derived := include "inferno.derivedEnv" . | fromYaml }}
{{- range $group, $vars := .Values.config }}
{{- range $name, $_ := $vars }}
{{- if hasKey $derived $name }}
{{- $errors = append $errors (printf "config.%s.%s is computed by the chart (%s); remove it from config. Paths come from persistence.*.path, ports from service.port, INFERNO_ENV from environment, INFERNO_METRICS_ENABLED from monitoring.enabled." $group $name (index $derived $name | toString)) }}
{{- end }}
{{- end }}
{{- end }}

{{- range $resource := list "cpu" "memory" }}
{{- $request := index $.Values.resources.requests $resource | default "" | toString }}
{{- $limit := index $.Values.resources.limits $resource | default "" | toString }}
{{- if and $request $limit }}
{{- $requestValue := include "inferno.quantityToMilli" $request | float64 }}
{{- $limitValue := include "inferno.quantityToMilli" $limit | float64 }}
{{- if gt $requestValue $limitValue }}
{{- $errors = append $errors (printf "resources.requests.%s (%s) is greater than resources.limits.%s (%s); Kubernetes refuses such a pod. Raise the limit or lower the request." $resource $request $resource $limit) }}
{{- end }}
{{- end }}
{{- end }}

{{- if $errors }}
{{- fail (printf "\n\nInvalid values for the inferno chart:\n  - %s\n" (join "\n  - " $errors)) }}
{{- end }}
{{- end }}

{{/*
inferno.quantityToMilli: a Kubernetes quantity ("1500m", "2", "512Mi", "1.5Gi", "2G")
as a number of thousandths, so that requests and limits can be compared.
values.schema.json has already checked the syntax.
*/}}
{{- define "inferno.quantityToMilli" -}}
{{- $quantity := . | toString }}
{{- $number := regexFind "^[0-9]*\\.?[0-9]*" $quantity }}
{{- $suffix := trimPrefix $number $quantity }}
{{- $factors := dict "" 1000.0 "m" 1.0 "k" 1e6 "M" 1e9 "G" 1e12 "T" 1e15 "P" 1e18 "E" 1e21 "Ki" 1024000.0 "Mi" 1048576000.0 "Gi" 1073741824000.0 "Ti" 1099511627776000.0 "Pi" 1125899906842624000.0 "Ei" 1152921504606846976000.0 }}
{{- mulf (float64 $number) (index $factors $suffix | default 1000.0) }}
{{- end }}
