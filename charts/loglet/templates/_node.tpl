{{/*
The node agent's push inputs (nodeMode.push), as a JSON list: for each
enabled one, its input's name, the protocol block of the agent's document
(listening on the pod's network), its port and the Secrets it mounts.
Values the agent would refuse fail here, with the value to change.
*/}}
{{- define "loglet.nodePush" -}}
{{- $push := .Values.nodeMode.push | default dict -}}
{{- $out := list -}}
{{- $syslog := $push.syslog | default dict -}}
{{- if $syslog.enabled -}}
{{- $port := int ($syslog.port | default 5514) -}}
{{- $out = append $out (dict "name" "syslog" "value" "syslog" "kind" "syslog" "protocol" "TCP" "port" $port "hostPort" $syslog.hostPort "block" (dict "listen" (printf "tcp://0.0.0.0:%d" $port)) "secrets" list) -}}
{{- if $syslog.udp -}}
{{- $out = append $out (dict "name" "syslog-udp" "value" "syslog" "kind" "syslog" "protocol" "UDP" "port" $port "hostPort" $syslog.hostPort "block" (dict "listen" (printf "udp://0.0.0.0:%d" $port)) "secrets" list) -}}
{{- end -}}
{{- end -}}
{{- range $name := list "otlp" "lumberjack" -}}
{{- $v := get $push $name | default dict -}}
{{- if $v.enabled -}}
{{- $port := int ($v.port | default (ternary 4318 5044 (eq $name "otlp"))) -}}
{{- $block := dict "listen" (printf "0.0.0.0:%d" $port) -}}
{{- $secrets := list -}}
{{- $dir := printf "/etc/loglet/push/%s" $name -}}
{{- with $v.tokenSecret -}}
{{- $secret := required (printf "nodeMode.push.%s.tokenSecret.name: the Secret holding the bearer token" $name) .name -}}
{{- $secrets = append $secrets (dict "volume" (printf "push-%s-token" $name) "secret" $secret "dir" (printf "%s/token" $dir) "items" (list (dict "key" (.key | default "token") "path" "token"))) -}}
{{- $_ := set $block "token-file" (printf "%s/token/token" $dir) -}}
{{- end -}}
{{- with $v.tlsSecret -}}
{{- $secrets = append $secrets (dict "volume" (printf "push-%s-tls" $name) "secret" . "dir" (printf "%s/tls" $dir) "items" (list (dict "key" "tls.crt" "path" "tls.crt") (dict "key" "tls.key" "path" "tls.key"))) -}}
{{- $_ := set $block "tls-cert-file" (printf "%s/tls/tls.crt" $dir) -}}
{{- $_ := set $block "tls-key-file" (printf "%s/tls/tls.key" $dir) -}}
{{- end -}}
{{- with $v.clientCASecret -}}
{{- $secret := required (printf "nodeMode.push.%s.clientCASecret.name: the Secret holding the CA of the senders' certificates" $name) .name -}}
{{- if not $v.tlsSecret -}}
{{- fail (printf "nodeMode.push.%s.clientCASecret needs nodeMode.push.%s.tlsSecret: client certificates are asked for over TLS; give the kubernetes.io/tls Secret the agent serves" $name $name) -}}
{{- end -}}
{{- $secrets = append $secrets (dict "volume" (printf "push-%s-client-ca" $name) "secret" $secret "dir" (printf "%s/client-ca" $dir) "items" (list (dict "key" (.key | default "ca.crt") "path" "ca.crt"))) -}}
{{- $_ := set $block "client-ca-file" (printf "%s/client-ca/ca.crt" $dir) -}}
{{- end -}}
{{- if and (eq $name "otlp") (not (hasKey $block "token-file")) (not (hasKey $block "client-ca-file")) -}}
{{- fail "nodeMode.push.otlp: listening on the node, anyone who reaches the port could write records, and the agent refuses an HTTP input off the loopback without a check of the sender: set nodeMode.push.otlp.tokenSecret (a Secret with the bearer token senders give) or nodeMode.push.otlp.clientCASecret with tlsSecret (mTLS)" -}}
{{- end -}}
{{- $out = append $out (dict "name" $name "value" $name "kind" (ternary "http" "lumberjack" (eq $name "otlp")) "protocol" "TCP" "port" $port "hostPort" $v.hostPort "block" $block "secrets" $secrets) -}}
{{- end -}}
{{- end -}}
{{- $taken := dict -}}
{{- range $out -}}
{{- $path := printf "nodeMode.push.%s.port" .value -}}
{{- if and (eq .protocol "TCP") (eq (int .port) 9745) -}}
{{- fail (printf "%s: 9745 is the agent's metrics port; give the push input another" $path) -}}
{{- end -}}
{{- $port := int .port -}}
{{- $key := printf "%s/%d" .protocol $port -}}
{{- with get $taken $key -}}
{{- fail (printf "%s: %d is the port of nodeMode.push.%s too; give each push input its own port" $path $port .) -}}
{{- end -}}
{{- $_ := set $taken $key .value -}}
{{- end -}}
{{- if and ($push.service | default dict).enabled (not $out) -}}
{{- fail "nodeMode.push.service: no push input is enabled for it to reach; enable nodeMode.push.syslog, otlp or lumberjack, or leave the Service off" -}}
{{- end -}}
{{- toJson $out -}}
{{- end -}}

{{/*
The node agent's configuration document (LOGLET_CONFIG), or nothing: the
processors, and with host files or push inputs the inputs. The node's pods
are read as the first input that reads files or nothing, so the input pods
(no files) comes first; it takes the input settings nodeMode.extraArgs
gives as --key=value, which the agent takes only outside a document with
inputs.
*/}}
{{- define "loglet.nodeConfig" -}}
{{- $n := .Values.nodeMode -}}
{{- $doc := dict "version" 1 -}}
{{- with $n.processors -}}
{{- $_ := set $doc "processors" . -}}
{{- end -}}
{{- $inputs := list -}}
{{- with $n.hostFiles -}}
{{- $files := list -}}
{{- range . -}}
{{- include "loglet.checkHostGlob" . -}}
{{- $files = append $files (printf "/host%s" .) -}}
{{- end -}}
{{- $inputs = append $inputs (dict "name" "host" "files" $files "format" ($n.hostFilesFormat | default "raw")) -}}
{{- end -}}
{{- range include "loglet.nodePush" . | fromJsonArray -}}
{{- $inputs = append $inputs (dict "name" .name .kind .block) -}}
{{- end -}}
{{- if $inputs -}}
{{- $pods := dict "name" "pods" -}}
{{- $perInput := include "loglet.inputSettings" . | fromJsonArray -}}
{{- range $n.extraArgs -}}
{{- $key := include "loglet.argName" . -}}
{{- if or (eq $key "path") (eq $key "exclude") -}}
{{- fail (printf "nodeMode.extraArgs: %s: with nodeMode.hostFiles or nodeMode.push the node agent's document lists inputs; give the node's files in nodeMode.hostFiles" .) -}}
{{- else if has $key $perInput -}}
{{- if not (contains "=" .) -}}
{{- fail (printf "nodeMode.extraArgs: %s: with nodeMode.hostFiles or nodeMode.push it becomes a setting of the input pods; write it --%s=VALUE, in one argument" . $key) -}}
{{- end -}}
{{- $_ := set $pods $key (regexReplaceAll "^--[a-z0-9-]+=" . "") -}}
{{- end -}}
{{- end -}}
{{- $_ := set $doc "inputs" (prepend $inputs $pods) -}}
{{- end -}}
{{- if or $n.processors $inputs -}}
{{- toJson $doc -}}
{{- end -}}
{{- end -}}

{{/*
A glob of nodeMode.hostFiles: under /var/log, which the DaemonSet mounts,
and not over the pods' logs, which the agent reads already (a file read
twice is shipped twice).
*/}}
{{- define "loglet.checkHostGlob" -}}
{{- $rest := trimPrefix "/var/log/" . -}}
{{- if or (not (hasPrefix "/var/log/" .)) (ne (clean .) .) -}}
{{- fail (printf "nodeMode.hostFiles: %q: want a clean glob under /var/log/, without . or .. elements, empty ones or a trailing slash, like /var/log/*.log" .) -}}
{{- end -}}
{{- $first := first (splitList "/" $rest) -}}
{{- if or (has $first (list "pods" "containers")) (and (contains "/" $rest) (regexMatch "[*?\\[]" $first)) -}}
{{- fail (printf "nodeMode.hostFiles: %q reaches /var/log/pods or /var/log/containers, the pods' logs the agent reads already: they would be shipped twice. Name the folder, like /var/log/nginx/*.log" .) -}}
{{- end -}}
{{- end -}}

{{/* The agent's settings of one input (config.InputSettings but path and exclude). */}}
{{- define "loglet.inputSettings" -}}
{{- list "format" "container-format" "multiline-start" "multiline-end" "multiline-continue" "multiline-preset" "multiline-max-lines" "multiline-max-bytes" "multiline-timeout" "csv-fields" "time-key" "time-format" "encoding" "invalid-utf8" "route" | toJson -}}
{{- end -}}

{{/* The setting an agent argument names: --format=json is format. */}}
{{- define "loglet.argName" -}}
{{- regexReplaceAll "^--([a-z0-9-]+).*$" . "${1}" -}}
{{- end -}}
