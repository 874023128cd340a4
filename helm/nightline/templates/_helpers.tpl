{{- define "nightline.fullname" -}}{{ .Release.Name }}-nightline{{- end -}}
{{- define "nightline.labels" -}}
app.kubernetes.io/name: nightline
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end -}}
