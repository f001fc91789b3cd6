{{- define "cache.volumes" -}}
- name: data
  emptyDir: {}
{{- end }}
