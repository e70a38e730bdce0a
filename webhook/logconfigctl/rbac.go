package logconfigctl

import (
	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/loglet/loglet/logconfig"
)

// ClusterRules are the least the controller needs cluster-wide (the
// chart's ClusterRole for the webhook adds them; TestLeastPrivilege runs
// the controller with only these and NamespaceRules): read the configs
// and write their status, read namespaces and pods, write the one
// ConfigMap name per namespace, Events on pods and, with evict, evictions.
// RBAC cannot limit create by name; the rest of the ConfigMap verbs are
// (list and watch too: the cache asks by metadata.name).
func ClusterRules(evict bool) []rbacv1.PolicyRule {
	rules := []rbacv1.PolicyRule{
		{APIGroups: []string{"loglet.io"}, Resources: []string{"logconfigs", "clusterlogconfigs"}, Verbs: []string{"get", "list", "watch"}},
		{APIGroups: []string{"loglet.io"}, Resources: []string{"logconfigs/status", "clusterlogconfigs/status"}, Verbs: []string{"patch"}},
		{APIGroups: []string{""}, Resources: []string{"namespaces", "pods"}, Verbs: []string{"get", "list", "watch"}},
		{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"create"}},
		{APIGroups: []string{""}, Resources: []string{"configmaps"}, ResourceNames: []string{logconfig.ConfigMapName}, Verbs: []string{"get", "list", "watch", "update", "delete"}},
		{APIGroups: []string{"events.k8s.io"}, Resources: []string{"events"}, Verbs: []string{"create", "patch"}},
	}
	if evict {
		rules = append(rules, rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"pods/eviction"}, Verbs: []string{"create"}})
	}
	return rules
}

// NamespaceRules are what the controller's leader election needs in the
// webhook's namespace: its one Lease, and the Events it records on it.
func NamespaceRules() []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{
		{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"create"}},
		{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, ResourceNames: []string{LeaseName}, Verbs: []string{"get", "update"}},
		{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: []string{"create", "patch"}},
	}
}
