# The baseline for `kir detect audit`: a jq filter with the logic of the main built-in rules
# (cluster-admin bindings, wildcard and escalation roles, exec/attach, privileged and
# host-namespace pods, sensitive host paths, secrets listed across namespaces, anonymous
# access, token requests, nodes/proxy, ephemeral containers, CSR approval, pods in system
# namespaces, webhook changes, event deletion, CronJobs). It prints the events any of them
# matches; kir also groups them into findings, applies thresholds and more rules.
def cp: (.user.username // "") as $u
  | ($u == "system:apiserver" or $u == "system:kube-controller-manager" or $u == "system:kube-scheduler"
     or ($u | startswith("system:serviceaccount:kube-system:")));
def write: (.verb == "create" or .verb == "update" or .verb == "patch");
def res($r): (.objectRef.resource // "") == $r;
def sub: (.objectRef.subresource // "");
def specs: [.requestObject.spec?, .requestObject.spec?.template?.spec?] | map(select(. != null));
select(
  (write and (res("clusterrolebindings") or res("rolebindings"))
     and (.requestObject.roleRef.name? == "cluster-admin" or ([.requestObject.subjects[]?.name] | index("system:masters"))) and (cp | not))
  or (write and (res("roles") or res("clusterroles"))
     and ([.requestObject.rules[]? | (.verbs[]?, .resources[]?)] | any(. == "*" or . == "escalate" or . == "bind" or . == "impersonate" or . == "pods/exec"))
     and (cp | not))
  or (res("pods") and (sub == "exec" or sub == "attach") and (.verb == "create" or .verb == "get"))
  or (write and sub == "" and (specs | any(.hostPID == true or .hostNetwork == true or .hostIPC == true
        or ([.containers[]?, .initContainers[]? | .securityContext?.privileged] | any(. == true))
        or ([.volumes[]?.hostPath?.path] | any(. == "/" or . == "/etc" or . == "/proc" or . == "/root" or . == "/var/run/docker.sock" or . == "/var/lib/kubelet" or . == "/etc/kubernetes")))))
  or ((.verb == "list" or .verb == "watch") and res("secrets") and .objectRef.namespace == null
     and .annotations["authorization.k8s.io/decision"] == "allow" and (cp | not))
  or (.user.username == "system:anonymous" and .annotations["authorization.k8s.io/decision"] == "allow"
     and ((.requestURI // "") | test("^/(healthz|livez|readyz|version)") | not))
  or (.verb == "create" and res("serviceaccounts") and sub == "token" and (cp | not)
     and ((.user.username // "") | startswith("system:node:") | not))
  or (res("nodes") and sub == "proxy" and (cp | not))
  or ((.verb == "update" or .verb == "patch") and res("pods") and sub == "ephemeralcontainers")
  or ((.verb == "update" or .verb == "patch") and res("certificatesigningrequests") and sub == "approval" and (cp | not))
  or (.verb == "create" and res("pods") and sub == "" and (.objectRef.namespace == "kube-system" or .objectRef.namespace == "kube-public")
     and ([.requestObject.spec.containers[]?.image | startswith("registry.k8s.io/")] | any | not)
     and ((.user.username // "") | startswith("system:node:") | not))
  or ((write or .verb == "delete") and .objectRef.apiGroup == "admissionregistration.k8s.io" and (cp | not))
  or ((.verb == "delete" or .verb == "deletecollection") and res("events") and (cp | not))
  or (write and res("cronjobs") and sub == "" and (cp | not))
)
