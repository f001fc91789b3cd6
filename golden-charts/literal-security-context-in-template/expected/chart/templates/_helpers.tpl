{{- define "literal.fullname" -}}
{{ .Release.Name }}-literal
{{- end }}

{{- define "literal.labels" -}}
app.kubernetes.io/name: literal
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}
