{{/*
inferno.derivedEnv: the variables the chart computes from other values, as a YAML map.
They live in the ConfigMap beside config.*, and config.* may not set them (see
inferno.validateValues), so every value has exactly one source.
- Paths follow persistence.*.path and homeDir, so mounts and variables cannot drift apart.
- INFERNO_SERVER, INFERNO_BACKEND_CONFIG and INFERNO_MODEL_SECURITY are Inferno's own
  config sections (figment reads INFERNO_<section> as an inline TOML table and merges it
  over the defaults). They put the bind address, request timeout, GPU switch, context
  and batch sizes and the model size limit into Inferno's config (`inferno config show`);
  the flat variables alone do not. `inferno serve` 0.10.3 still listens on its --bind
  argument (deployment.yaml), whatever INFERNO_SERVER holds; the model size limit is
  enforced. A wrongly typed field would make Inferno drop its whole config, so
  values.schema.json types every input that feeds them.
- RUST_LOG follows INFERNO_LOG_LEVEL. Inferno 0.10.3 adds `inferno=info` and `warn` after
  it, so a bare level here changes nothing (it always logs INFO and above); only directives
  for longer targets, e.g. `inferno::=warn`, take effect. See the README's Logging note.
- NO_COLOR: Inferno writes ANSI colour codes even when stdout is not a terminal; pod logs
  and log collectors get plain text.
*/}}
{{- define "inferno.derivedEnv" -}}
{{- $home := .Values.homeDir }}
{{- $state := .Values.persistence.queue.path }}
{{- $api := .Values.config.api | default dict }}
{{- $model := .Values.config.model | default dict }}
{{- $logging := .Values.config.logging | default dict }}
HOME: {{ $home | quote }}
XDG_CONFIG_HOME: {{ printf "%s/.config" $home | quote }}
XDG_DATA_HOME: {{ printf "%s/.local/share" $home | quote }}
XDG_CACHE_HOME: {{ printf "%s/.cache" $home | quote }}
INFERNO_MODELS_DIR: {{ .Values.persistence.models.path | quote }}
INFERNO_CACHE_DIR: {{ .Values.persistence.cache.path | quote }}
INFERNO_QUEUE_DIR: {{ $state | quote }}
INFERNO_CONFIG_DIR: {{ .Values.persistence.config.path | quote }}
INFERNO_DOWNLOAD_DIR: {{ printf "%s/downloads" $state | quote }}
INFERNO_BACKUP_DIR: {{ printf "%s/backups" $state | quote }}
INFERNO_BIND_PORT: {{ include "inferno.port" . | quote }}
INFERNO_SERVER: {{ printf "{bind_address=%q,port=%s,request_timeout_seconds=%d}" (get $api "INFERNO_BIND_ADDRESS" | default "0.0.0.0" | toString) (include "inferno.port" .) (get $api "INFERNO_REQUEST_TIMEOUT" | default 300 | int) | quote }}
INFERNO_BACKEND_CONFIG: {{ printf "{gpu_enabled=%t,context_size=%d,batch_size=%d}" (get $model "INFERNO_GPU_ENABLED" | default false | toString | eq "true") (get $model "INFERNO_CONTEXT_SIZE" | default 2048 | int) (get $model "INFERNO_BATCH_SIZE" | default 2048 | int) | quote }}
INFERNO_MODEL_SECURITY: {{ printf "{max_model_size_gb=%.1f}" (get $model "INFERNO_MAX_MODEL_SIZE_GB" | default 50 | float64) | quote }}
INFERNO_METRICS_ENABLED: {{ .Values.monitoring.enabled | toString | quote }}
INFERNO_METRICS_PORT: {{ include "inferno.port" . | quote }}
INFERNO_ENV: {{ .Values.environment | quote }}
ENVIRONMENT: {{ .Values.environment | quote }}
RUST_LOG: {{ get $logging "INFERNO_LOG_LEVEL" | default "info" | toString | quote }}
NO_COLOR: "1"
{{- end }}
