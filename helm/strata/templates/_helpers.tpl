{{/*
Helpers of the Strata chart. A "workload" is one Deployment with everything around it:
one per enabled service, one per ERP instance, and the orders worker when it is enabled.
"strata.workloads" is the single place that decides them; every template ranges over it.
*/}}

{{/* The chart's name, trimmed to a DNS label. */}}
{{- define "strata.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* <release>-strata, or the release name alone when it already says strata. */}}
{{- define "strata.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "strata.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels on every object of the release. */}}
{{- define "strata.labels" -}}
helm.sh/chart: {{ include "strata.chart" . }}
app.kubernetes.io/name: {{ include "strata.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: strata
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Selects every pod of the release. */}}
{{- define "strata.releaseSelector" -}}
app.kubernetes.io/name: {{ include "strata.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Selects the release's `helm test` pods. */}}
{{- define "strata.testSelector" -}}
{{ include "strata.releaseSelector" . }}
strata.io/role: helm-test
{{- end -}}

{{/* Selects the pods of one layer. Context: dict root, layer. */}}
{{- define "strata.layerSelector" -}}
{{ include "strata.releaseSelector" .root }}
strata.io/layer: {{ .layer }}
{{- end -}}

{{/* Name of one workload's objects. Context: dict root, w (w.id is enough). */}}
{{- define "strata.workloadName" -}}
{{- printf "%s-%s" (include "strata.fullname" .root) .w.id | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Selects the pods of one workload. Context: dict root, w. */}}
{{- define "strata.workloadSelector" -}}
{{ include "strata.releaseSelector" .root }}
app.kubernetes.io/component: {{ .w.id }}
{{- end -}}

{{/* Labels of one workload's objects. Context: dict root, w. */}}
{{- define "strata.workloadLabels" -}}
{{ include "strata.labels" .root }}
app.kubernetes.io/component: {{ .w.id }}
strata.io/service: {{ .w.service }}
strata.io/layer: {{ .w.layer }}
strata.io/role: {{ .w.role }}
{{- with .w.instance }}
strata.io/erp-instance: {{ . }}
{{- end }}
{{- end -}}

{{/* In-cluster URL of a workload's Service. Context: dict root, id. */}}
{{- define "strata.serviceUrl" -}}
{{- $name := include "strata.workloadName" (dict "root" .root "w" (dict "id" .id)) -}}
{{- printf "http://%s:%v" $name .root.Values.servicePort -}}
{{- end -}}

{{- define "strata.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}
{{- end -}}

{{/* The token issuer every service trusts: auth.issuer, else the in-cluster issuer. */}}
{{- define "strata.issuer" -}}
{{- if .Values.auth.issuer -}}
{{- .Values.auth.issuer -}}
{{- else if .Values.services.auth.enabled -}}
{{- include "strata.serviceUrl" (dict "root" . "id" "auth") -}}
{{- else -}}
{{- fail "auth.issuer is required (the URL of your identity provider) unless services.auth.enabled is true" -}}
{{- end -}}
{{- end -}}

{{/* Service -> layer, for every service the chart knows. */}}
{{- define "strata.catalogue" -}}
auth: auth
erp: system
inventory: process
orders: process
service-desk: experience
shopify: system
storefront: experience
{{- end -}}

{{/*
Service -> how it stands to Redis Cluster (redis.cluster): "runs" (it reads
<PREFIX>REDIS_CLUSTER and works on a cluster), "refuses" (it reads the setting but runs on one
Redis node only and refuses true), "single" (no such setting: one Redis node only). A service
that is not "runs" needs a single-node REDIS_URL of its own in its settings while
redis.cluster is true (strata.validate says so). The local issuer uses no Redis.
*/}}
{{- define "strata.redisCluster" -}}
erp: runs
inventory: runs
orders: runs
service-desk: runs
shopify: runs
storefront: runs
{{- end -}}

{{/*
Service -> the APIs it calls. It gets the URL setting of each one that is enabled, by the
name its settings read: STRATA_<SERVICE>_ERP_INSTANCES (JSON: instance -> URL) for erp,
STRATA_<SERVICE>_<API>_API_URL for any other.
*/}}
{{- define "strata.calls" -}}
inventory: [erp]
orders: [erp, shopify]
service-desk: [orders]
storefront: [orders, inventory]
{{- end -}}

{{/* Every workload to deploy, as YAML: {workloads: [...]}. */}}
{{- define "strata.workloads" -}}
{{- $root := . -}}
{{- $catalogue := include "strata.catalogue" . | fromYaml -}}
{{- $out := list -}}
{{- range $service, $layer := $catalogue -}}
{{- $svc := index $root.Values.services $service -}}
{{- if and $svc $svc.enabled -}}
{{- if eq $service "erp" -}}
{{- range $inst := $svc.instances -}}
{{- $ctx := dict "root" $root "service" $service "layer" $layer "svc" $svc "inst" $inst "role" "api" -}}
{{- $out = append $out (include "strata.workload" $ctx | fromYaml) -}}
{{- end -}}
{{- else -}}
{{- $ctx := dict "root" $root "service" $service "layer" $layer "svc" $svc "role" "api" -}}
{{- $out = append $out (include "strata.workload" $ctx | fromYaml) -}}
{{- if and $svc.worker $svc.worker.enabled -}}
{{- $ctx := dict "root" $root "service" $service "layer" $layer "svc" $svc "role" "worker" -}}
{{- $out = append $out (include "strata.workload" $ctx | fromYaml) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- toYaml (dict "workloads" $out) -}}
{{- end -}}

{{/*
One workload: its id, labels, args, non-secret settings (config) and secret references.
Context: dict root, service, layer, svc (the service's values), role (api|worker), inst (ERP).
*/}}
{{- define "strata.workload" -}}
{{- $root := .root -}}
{{- $svc := .svc -}}
{{- $service := .service -}}
{{- $layer := .layer -}}
{{- $role := .role -}}
{{- $inst := .inst -}}
{{- $prefix := printf "STRATA_%s_" (replace "-" "_" $service | upper) -}}
{{- if eq $service "auth" -}}
{{- $prefix = "STRATA_AUTH_ISSUER_" -}}
{{- end -}}
{{- $own := $svc -}}
{{- $id := $service -}}
{{- if $inst -}}
{{- $own = $inst -}}
{{- $id = printf "erp-%s" $inst.name -}}
{{- end -}}
{{- if eq $role "worker" -}}
{{- $own = $svc.worker -}}
{{- $id = printf "%s-worker" $service -}}
{{- end -}}
{{- $w := dict "id" $id "service" $service "layer" $layer "role" $role "prefix" $prefix -}}
{{- if $inst -}}
{{- $_ := set $w "instance" $inst.name -}}
{{- end -}}
{{- range $k := list "replicas" "resources" "autoscaling" "podDisruptionBudget" "podAnnotations" "nodeSelector" "tolerations" "affinity" -}}
{{- $_ := set $w $k (index $own $k | default (index $svc $k)) -}}
{{- end -}}
{{- /* KEDA owns the worker's replica count: no HPA, no replicas field. */ -}}
{{- if and (eq $role "worker") $svc.worker.keda $svc.worker.keda.enabled -}}
{{- $_ := set $w "keda" $svc.worker.keda -}}
{{- end -}}

{{- /* Command line. */ -}}
{{- $port := toString $root.Values.containerPort -}}
{{- $http := true -}}
{{- $args := list "serve" $service -}}
{{- if $inst -}}
{{- $args = concat $args (list "--instance" $inst.name) -}}
{{- end -}}
{{- if eq $role "worker" -}}
{{- $args = $svc.worker.args -}}
{{- $http = $svc.worker.serveHttp -}}
{{- end -}}
{{- if $http -}}
{{- $args = concat $args (list "--host" "0.0.0.0" "--port" $port) -}}
{{- end -}}
{{- $_ := set $w "args" $args -}}
{{- $_ := set $w "http" $http -}}

{{- /* Non-secret settings: the ConfigMap. */ -}}
{{- $config := dict -}}
{{- $issuer := include "strata.issuer" $root -}}
{{- $_ := set $config "STRATA_AUTH_ISSUER" $issuer -}}
{{- $_ := set $config "STRATA_AUTH_AUDIENCE" $root.Values.auth.audience -}}
{{- with $root.Values.auth.jwksUrl -}}
{{- $_ := set $config "STRATA_AUTH_JWKS_URL" . -}}
{{- end -}}
{{- $_ := set $config "STRATA_AUTH_ALGORITHMS" (toJson $root.Values.auth.algorithms) -}}
{{- $authenticators := $svc.authenticators | default (list "oauth2") -}}
{{- $_ := set $config "STRATA_AUTH_AUTHENTICATORS" (toJson $authenticators) -}}
{{- $redisCluster := index (include "strata.redisCluster" $root | fromYaml) $service -}}
{{- if $redisCluster -}}
{{- if not $root.Values.redis.existingSecret -}}
{{- $_ := set $config (printf "%sREDIS_URL" $prefix) $root.Values.redis.url -}}
{{- end -}}
{{- if $root.Values.redis.cluster -}}
{{- if ne $redisCluster "single" -}}
{{- $_ := set $config (printf "%sREDIS_CLUSTER" $prefix) "true" -}}
{{- end -}}
{{- $_ := set $config (printf "%sRATELIMIT_CLUSTER" $prefix) "true" -}}
{{- end -}}
{{- end -}}
{{- /* Traces and logs: the standard OpenTelemetry variables, read by shared.telemetry. */ -}}
{{- $tel := $root.Values.telemetry -}}
{{- $_ := set $config "OTEL_SERVICE_NAME" (printf "strata-%s" $id) -}}
{{- $attributes := list (printf "k8s.namespace.name=%s" $root.Release.Namespace) (printf "k8s.deployment.name=%s" (include "strata.workloadName" (dict "root" $root "w" (dict "id" $id)))) -}}
{{- range $k, $v := $tel.resourceAttributes -}}
{{- $attributes = append $attributes (printf "%s=%v" $k $v) -}}
{{- end -}}
{{- $_ := set $config "OTEL_RESOURCE_ATTRIBUTES" (join "," $attributes) -}}
{{- with $tel.otlpEndpoint -}}
{{- $_ := set $config "OTEL_EXPORTER_OTLP_ENDPOINT" . -}}
{{- end -}}
{{- $_ := set $config "OTEL_TRACES_SAMPLER" $tel.tracesSampler -}}
{{- $_ := set $config "OTEL_TRACES_SAMPLER_ARG" (toString $tel.tracesSamplerArg) -}}
{{- $_ := set $config "STRATA_TELEMETRY_LOG_LEVEL" $tel.logLevel -}}
{{- $_ := set $config "STRATA_TELEMETRY_LOG_FORMAT" $tel.logFormat -}}
{{- if has $layer (list "process" "experience") -}}
{{- $_ := set $config (printf "%sTOKEN_URL" $prefix) ($root.Values.auth.tokenUrl | default (printf "%s/oauth/token" $issuer)) -}}
{{- $_ := set $config (printf "%sCLIENT_ID" $prefix) $service -}}
{{- end -}}
{{- /* The APIs it calls, and no other: a variable it does not read stops its start-up. */ -}}
{{- $calls := index (include "strata.calls" $root | fromYaml) $service | default (list) -}}
{{- range $p := $calls -}}
{{- if eq $p "erp" -}}
{{- $erp := dict -}}
{{- if $root.Values.services.erp.enabled -}}
{{- range $i := $root.Values.services.erp.instances -}}
{{- $_ := set $erp $i.name (include "strata.serviceUrl" (dict "root" $root "id" (printf "erp-%s" $i.name))) -}}
{{- end -}}
{{- end -}}
{{- $_ := set $config (printf "%sERP_INSTANCES" $prefix) (toJson $erp) -}}
{{- else -}}
{{- $ps := index $root.Values.services $p -}}
{{- if and $ps $ps.enabled -}}
{{- $_ := set $config (printf "%s%s_API_URL" $prefix (upper $p)) (include "strata.serviceUrl" (dict "root" $root "id" $p)) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if eq $service "auth" -}}
{{- $_ := set $config "STRATA_AUTH_ISSUER_ISSUER" $issuer -}}
{{- $_ := set $config "STRATA_AUTH_ISSUER_DEFAULT_AUDIENCE" $root.Values.auth.audience -}}
{{- /* The root filesystem is read-only; keys made at start-up live on the /tmp volume. */ -}}
{{- $_ := set $config "STRATA_AUTH_ISSUER_KEYS_PATH" "/tmp/strata-auth/signing-keys.json" -}}
{{- end -}}
{{- if $inst -}}
{{- $_ := set $config (printf "%sINSTANCE" $prefix) $inst.name -}}
{{- end -}}
{{- if and (eq $service "shopify") $root.Values.redis.acceptVolatile -}}
{{- $_ := set $config "STRATA_SHOPIFY_REDIS_ACCEPT_VOLATILE" "true" -}}
{{- end -}}
{{- if $svc.worker -}}
{{- $_ := set $config (printf "%sRUN_WORKERS" $prefix) (toString (or (eq $role "worker") (not $svc.worker.enabled))) -}}
{{- end -}}
{{- range $k, $v := $svc.settings -}}
{{- $_ := set $config (printf "%s%s" $prefix $k) (toString $v) -}}
{{- end -}}
{{- if $inst -}}
{{- range $k, $v := $inst.settings -}}
{{- $_ := set $config (printf "%s%s" $prefix $k) (toString $v) -}}
{{- end -}}
{{- end -}}
{{- $_ := set $w "config" $config -}}

{{- /* Secrets: references to existing Secrets only, one env var each. */ -}}
{{- $refs := dict -}}
{{- $ownRedis := or (hasKey ($svc.settings | default dict) "REDIS_URL") (and $inst (hasKey ($inst.settings | default dict) "REDIS_URL")) -}}
{{- if and $root.Values.redis.existingSecret (ne $service "auth") (not $ownRedis) -}}
{{- $_ := set $refs (printf "%sREDIS_URL" $prefix) (dict "secretName" $root.Values.redis.existingSecret "key" $root.Values.redis.existingSecretKey) -}}
{{- end -}}
{{- if $inst -}}
{{- with $inst.trytonPasswordSecret -}}
{{- if .name -}}
{{- $_ := set $refs "STRATA_ERP_TRYTON_PASSWORD" (dict "secretName" .name "key" .key) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if eq $service "shopify" -}}
{{- with $svc.shopsSecret -}}
{{- if .name -}}
{{- $_ := set $refs "STRATA_SHOPIFY_SHOPS" (dict "secretName" .name "key" .key) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- with $svc.clientSecret -}}
{{- if .name -}}
{{- $_ := set $refs (printf "%sCLIENT_SECRET" $prefix) (dict "secretName" .name "key" .key) -}}
{{- end -}}
{{- end -}}
{{- if eq $service "auth" -}}
{{- with $svc.keysSecret -}}
{{- if .name -}}
{{- $_ := set $refs "STRATA_AUTH_ISSUER_KEYS" (dict "secretName" .name "key" .key) -}}
{{- end -}}
{{- end -}}
{{- with $svc.clientsSecret -}}
{{- if .name -}}
{{- $_ := set $refs "STRATA_AUTH_ISSUER_CLIENTS" (dict "secretName" .name "key" .key) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if and (has "shopify" $authenticators) $root.Values.auth.shopifyAppsSecret.name -}}
{{- $_ := set $refs "STRATA_AUTH_SHOPIFY_APPS" (dict "secretName" $root.Values.auth.shopifyAppsSecret.name "key" $root.Values.auth.shopifyAppsSecret.key) -}}
{{- end -}}
{{- if and (has "zendesk" $authenticators) $root.Values.auth.zendeskAccountsSecret.name -}}
{{- $_ := set $refs "STRATA_AUTH_ZENDESK_ACCOUNTS" (dict "secretName" $root.Values.auth.zendeskAccountsSecret.name "key" $root.Values.auth.zendeskAccountsSecret.key) -}}
{{- end -}}
{{- $extra := list -}}
{{- range $e := $svc.secretEnv -}}
{{- $extra = append $extra $e -}}
{{- end -}}
{{- if $inst -}}
{{- range $e := $inst.secretEnv -}}
{{- $extra = append $extra $e -}}
{{- end -}}
{{- end -}}
{{- range $e := $extra -}}
{{- $_ := set $refs $e.name (dict "secretName" $e.secretName "key" $e.key) -}}
{{- end -}}
{{- $secretEnv := list -}}
{{- range $name, $ref := $refs -}}
{{- $secretEnv = append $secretEnv (dict "name" $name "secretName" $ref.secretName "key" $ref.key) -}}
{{- end -}}
{{- $_ := set $w "secretEnv" $secretEnv -}}
{{- $envFrom := list -}}
{{- range $s := $svc.envFromSecrets -}}
{{- $envFrom = append $envFrom $s -}}
{{- end -}}
{{- if $inst -}}
{{- range $s := $inst.envFromSecrets -}}
{{- $envFrom = append $envFrom $s -}}
{{- end -}}
{{- end -}}
{{- $_ := set $w "envFromSecrets" $envFrom -}}
{{- toYaml $w -}}
{{- end -}}

{{/* One HTTP probe. Context: dict root, probe (a block of .Values.probes). */}}
{{- define "strata.probe" -}}
httpGet:
  path: {{ .probe.path }}
  port: http
periodSeconds: {{ .probe.periodSeconds }}
timeoutSeconds: {{ .probe.timeoutSeconds }}
failureThreshold: {{ .probe.failureThreshold }}
{{- end -}}

{{/* Refuse values that would install but not work; renders nothing. */}}
{{- define "strata.validate" -}}
{{- $redis := .Values.redis -}}
{{- if not $redis.existingSecret -}}
{{- if and $redis.tls (not (hasPrefix "rediss://" $redis.url)) -}}
{{- fail "redis.tls is true but redis.url does not start with rediss://" -}}
{{- end -}}
{{- if and (not $redis.tls) (hasPrefix "rediss://" $redis.url) -}}
{{- fail "redis.url starts with rediss:// but redis.tls is false" -}}
{{- end -}}
{{- end -}}
{{- $shutdown := .Values.shutdown -}}
{{- /* int: numbers from values files are float64, from --set int64. */ -}}
{{- if le (int $shutdown.terminationGracePeriodSeconds) (int $shutdown.preStopSleepSeconds) -}}
{{- fail "shutdown.terminationGracePeriodSeconds must be longer than shutdown.preStopSleepSeconds" -}}
{{- end -}}
{{- $names := dict -}}
{{- range $inst := .Values.services.erp.instances -}}
{{- if hasKey $names $inst.name -}}
{{- fail (printf "services.erp.instances: %s is listed twice" $inst.name) -}}
{{- end -}}
{{- $_ := set $names $inst.name true -}}
{{- end -}}
{{- $auth := .Values.services.auth -}}
{{- if and $auth.enabled (not $auth.keysSecret.name) -}}
{{- if or $auth.autoscaling.enabled (gt (int $auth.replicas) 1) -}}
{{- fail "services.auth: more than one issuer replica needs keysSecret (each pod would sign with its own keys)" -}}
{{- end -}}
{{- end -}}
{{- /* Redis Cluster: a service that runs on one Redis node must be given one of its own. */ -}}
{{- if $redis.cluster -}}
{{- $root := . -}}
{{- range $service, $stance := include "strata.redisCluster" . | fromYaml -}}
{{- $svc := index $root.Values.services $service -}}
{{- if and $svc.enabled (ne $stance "runs") -}}
{{- $settings := $svc.settings | default dict -}}
{{- $missing := not (hasKey $settings "REDIS_URL") -}}
{{- if and $missing (eq $service "erp") -}}
{{- $missing = false -}}
{{- range $inst := $svc.instances -}}
{{- if not (hasKey ($inst.settings | default dict) "REDIS_URL") -}}
{{- $missing = true -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- $refused := and (eq $stance "refuses") (ne (toString (index $settings "REDIS_CLUSTER")) "false") -}}
{{- if or $missing $refused -}}
{{- fail (printf "redis.cluster is true but %s runs on one Redis node only: give it one in services.%s.settings (REDIS_URL%s), or disable it" $service $service (ternary ", and REDIS_CLUSTER: false" "" (eq $stance "refuses"))) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- /* A service accepting Shopify or Zendesk tokens does not start without their apps. */ -}}
{{- $root := . -}}
{{- range $service := list "storefront" "service-desk" -}}
{{- $svc := index $root.Values.services $service -}}
{{- if $svc.enabled -}}
{{- if and (has "shopify" ($svc.authenticators | default list)) (not $root.Values.auth.shopifyAppsSecret.name) -}}
{{- fail (printf "services.%s.authenticators names shopify: set auth.shopifyAppsSecret.name (the Secret holding STRATA_AUTH_SHOPIFY_APPS), or drop shopify from it" $service) -}}
{{- end -}}
{{- if and (has "zendesk" ($svc.authenticators | default list)) (not $root.Values.auth.zendeskAccountsSecret.name) -}}
{{- fail (printf "services.%s.authenticators names zendesk: set auth.zendeskAccountsSecret.name (the Secret holding STRATA_AUTH_ZENDESK_ACCOUNTS), or drop zendesk from it" $service) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- /* KEDA scales the orders worker on its consumer group's lag. */ -}}
{{- $orders := .Values.services.orders -}}
{{- if and $orders.worker.keda $orders.worker.keda.enabled -}}
{{- if not (and $orders.enabled $orders.worker.enabled) -}}
{{- fail "services.orders.worker.keda scales the orders worker: enable services.orders and services.orders.worker too" -}}
{{- end -}}
{{- if and $redis.existingSecret (not $orders.worker.keda.address) -}}
{{- fail "services.orders.worker.keda.address (host:port) is required with redis.existingSecret: the chart cannot read the address from a Secret" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Egress rule to the cluster DNS. */}}
{{- define "strata.egressDns" -}}
- to:
    - {{- toYaml .Values.networkPolicy.egress.dns | nindent 6 }}
  ports:
    - port: 53
      protocol: UDP
    - port: 53
      protocol: TCP
{{- end -}}

{{/* Egress every layer needs: DNS, Redis and the token issuer (in-cluster or external). */}}
{{- define "strata.egressCommon" -}}
{{- $egress := .Values.networkPolicy.egress -}}
{{ include "strata.egressDns" . }}
- to:
    {{- toYaml $egress.redis.to | nindent 4 }}
  ports:
    {{- range $egress.redis.ports }}
    - port: {{ . }}
      protocol: TCP
    {{- end }}
{{- if .Values.services.auth.enabled }}
- to:
    - podSelector:
        matchLabels:
          {{- include "strata.layerSelector" (dict "root" . "layer" "auth") | nindent 10 }}
  ports:
    - port: http
      protocol: TCP
{{- end }}
{{- /* An issuer outside the cluster: its token and JWKS endpoints. */ -}}
{{- if or .Values.auth.issuer (not .Values.services.auth.enabled) }}
- to:
    {{- toYaml $egress.identityProvider.to | nindent 4 }}
  ports:
    {{- range $egress.identityProvider.ports }}
    - port: {{ . }}
      protocol: TCP
    {{- end }}
{{- end }}
{{- end -}}
