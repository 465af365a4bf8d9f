{{/*
Chart name, truncated to a DNS label.
*/}}
{{- define "apd.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name: the prefix of every resource. A release named
"airflow-pod-deadline" (the default install) gives "airflow-pod-deadline";
"apd" gives "apd-airflow-pod-deadline".
*/}}
{{- define "apd.fullname" -}}
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

{{- define "apd.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "apd.selectorLabels" -}}
app.kubernetes.io/name: {{ include "apd.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "apd.labels" -}}
helm.sh/chart: {{ include "apd.chart" . }}
{{ include "apd.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: airflow-pod-deadline
{{- end }}

{{- define "apd.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "apd.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Name of both webhook configurations (and of the Service): the binary keeps
their caBundle current by this name in self-managed mode.
*/}}
{{- define "apd.webhookConfigurationName" -}}
{{- include "apd.fullname" . }}
{{- end }}

{{- define "apd.serviceName" -}}
{{- include "apd.fullname" . }}
{{- end }}

{{/* DNS names of the Service, as the API server dials it. */}}
{{- define "apd.serviceDNSNames" -}}
{{- $svc := include "apd.serviceName" . -}}
{{ $svc }}.{{ .Release.Namespace }}.svc,{{ $svc }}.{{ .Release.Namespace }}.svc.cluster.local
{{- end }}

{{/* Self-managed mode: the Secret holding the CA and serving certificate. */}}
{{- define "apd.selfManagedSecretName" -}}
{{- printf "%s-tls" (include "apd.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* cert-manager mode names. */}}
{{- define "apd.certManager.selfSignedIssuer" -}}
{{- printf "%s-selfsigned" (include "apd.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- define "apd.certManager.caCertificate" -}}
{{- printf "%s-ca" (include "apd.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- define "apd.certManager.caIssuer" -}}
{{- printf "%s-ca" (include "apd.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- define "apd.certManager.servingCertificate" -}}
{{- printf "%s-serving" (include "apd.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- define "apd.certManager.servingSecret" -}}
{{- printf "%s-serving-cert" (include "apd.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "apd.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag }}
{{- if .Values.image.digest }}
{{- printf "%s:%s@%s" .Values.image.repository $tag .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{/*
Annotation keys the webhooks' matchConditions look for.
*/}}
{{- define "apd.deadlineKey" -}}
{{ .Values.annotationPrefix }}/execution-deadline
{{- end }}
{{- define "apd.admittedKey" -}}
{{ .Values.annotationPrefix }}/admitted-active-deadline-seconds
{{- end }}
{{- define "apd.timeoutKey" -}}
{{ .Values.annotationPrefix }}/execution-timeout
{{- end }}

{{/*
namespaceSelector of both webhooks: never kube-system, never our own
namespace (an outage of our pods must not block their own restart), never the
user's exclusions.
*/}}
{{- define "apd.namespaceSelector" -}}
namespaceSelector:
  matchExpressions:
    - key: kubernetes.io/metadata.name
      operator: NotIn
      values:
        {{- range (include "apd.excludedNamespaces" . | splitList ",") }}
        - {{ . | quote }}
        {{- end }}
{{- end }}

{{/*
Webhook configuration metadata.annotations: cert-manager's cainjector fills
caBundle from the serving Certificate's Secret.
*/}}
{{- define "apd.webhookAnnotations" -}}
{{- if eq .Values.certificates.mode "cert-manager" }}
annotations:
  cert-manager.io/inject-ca-from: {{ printf "%s/%s" .Release.Namespace (include "apd.certManager.servingCertificate" .) }}
{{- end }}
{{- end }}

{{/*
clientConfig.caBundle in self-managed mode. A helm upgrade must not reset it to
empty (admission would fail until the binary re-injects it), so it is copied
from the Secret the binary maintains when that exists. Nothing on first install
or with `helm template` (lookup returns nothing): the binary injects it before
the webhook serves.
*/}}
{{- define "apd.caBundle" -}}
{{- if eq .Values.certificates.mode "self-managed" }}
{{- $secret := lookup "v1" "Secret" .Release.Namespace (include "apd.selfManagedSecretName" .) }}
{{- if and $secret $secret.data (index $secret.data "ca.crt") }}
caBundle: {{ index $secret.data "ca.crt" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The leader election Lease: the binary's leaderElectionID
(cmd/airflow-pod-deadline/main.go). Named so the Role can restrict get/update
to it; create cannot be restricted by name.
*/}}
{{- define "apd.leaseName" -}}
airflow-pod-deadline-sweeper
{{- end }}

{{/*
CEL: the object (.obj: "object" or "oldObject") carries one of the annotation
keys (.keys) with a non-empty value. An empty value means "no deadline", so
such pods are not sent to the webhook. The binary's deadline.Keys.Carries
(test/static/chart_cel_test.go holds the two equal).
*/}}
{{- define "apd.carriesDeadline" -}}
{{- $o := .obj -}}
has({{ $o }}.metadata.annotations) && (
{{- range $i, $k := .keys }}{{ if $i }} || {{ end }}('{{ $k }}' in {{ $o }}.metadata.annotations && {{ $o }}.metadata.annotations['{{ $k }}'] != ''){{ end -}}
)
{{- end }}

{{/*
The annotation keys only a pod's creator may set, comma-separated: the
binary's deadline.Keys.Protected (test/static/chart_checks_test.go keeps them equal). An
UPDATE that carries one on either side is sent to the validating webhook,
which refuses adding, changing or removing any of them.
*/}}
{{- define "apd.protectedKeys" -}}
{{- $p := .Values.annotationPrefix -}}
{{- range $i, $n := list "execution-deadline" "execution-timeout" "clamped-from" "admitted-active-deadline-seconds" "airflow-instance" "dag-id" "run-id" "task-id" "map-index" "try-number" "try-start" "try-id" }}{{ if $i }},{{ end }}{{ $p }}/{{ $n }}{{ end -}}
{{- end }}

{{/*
CEL: the object (.obj) carries one of the annotation keys (.keys), whatever
its value (an empty value added or removed is still a change).
*/}}
{{- define "apd.carriesAnyKey" -}}
has({{ .obj }}.metadata.annotations) && [{{ range $i, $k := .keys }}{{ if $i }}, {{ end }}'{{ $k }}'{{ end }}].exists(k, k in {{ .obj }}.metadata.annotations)
{{- end }}

{{/*
CEL: one of the annotation keys (.keys) is added, removed or changed between
oldObject and object. When presence is equal and the key is in object it is
in oldObject too, so the second index is safe.
*/}}
{{- define "apd.changesAnyKey" -}}
[{{ range $i, $k := .keys }}{{ if $i }}, {{ end }}'{{ $k }}'{{ end }}].exists(k, (has(object.metadata.annotations) && k in object.metadata.annotations) != (has(oldObject.metadata.annotations) && k in oldObject.metadata.annotations) || (has(object.metadata.annotations) && k in object.metadata.annotations && object.metadata.annotations[k] != oldObject.metadata.annotations[k]))
{{- end }}

{{/*
Namespaces neither webhook nor sweeper touches: kube-system, the release
namespace and webhook.excludeNamespaces, comma-separated.
*/}}
{{- define "apd.excludedNamespaces" -}}
{{- concat (list "kube-system" .Release.Namespace) .Values.webhook.excludeNamespaces | uniq | join "," -}}
{{- end }}

{{/*
Fails on an Airflow instance listed twice in airflowCheck.instances (the
schema cannot say "unique by name"; the binary would refuse it too, later and
less visibly). Called with .Values.airflowCheck.
*/}}
{{- define "apd.airflowInstancesUnique" -}}
{{- $seen := dict -}}
{{- range .instances -}}
{{- if hasKey $seen .name -}}
{{- fail (printf "airflowCheck.instances: instance %q is listed twice: every instance name once" .name) -}}
{{- end -}}
{{- $_ := set $seen .name true -}}
{{- end -}}
{{- end }}
