//go:build !slim

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/loglet/loglet/api/v1alpha1"
	"github.com/loglet/loglet/logconfig"
	"github.com/loglet/loglet/webhook"
	"github.com/loglet/loglet/webhook/logconfigctl"
)

// statusReport is what `loglet status` prints (-o json as it is).
type statusReport struct {
	LogConfigs        []configStatus `json:"logConfigs"`
	ClusterLogConfigs []configStatus `json:"clusterLogConfigs"`
	// Uninjected are the pods that opted in and run without the sidecar.
	Uninjected []uninjectedPod `json:"uninjectedPods"`
}

type configStatus struct {
	Namespace          string `json:"namespace,omitempty"`
	Name               string `json:"name"`
	Accepted           string `json:"accepted"`
	Reason             string `json:"reason,omitempty"`
	Message            string `json:"message,omitempty"`
	MatchedPods        int32  `json:"matchedPods"`
	Generation         int64  `json:"generation"`
	ObservedGeneration int64  `json:"observedGeneration"`
}

type uninjectedPod struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Owner is kind/name of the pod's controller, empty for a bare pod.
	Owner string `json:"owner,omitempty"`
	Why   string `json:"why"`
}

func statusCommand() *cobra.Command {
	var (
		kubeconfig, kubeContext, namespace, output, webhookNamespace string
		all                                                          bool
		excluded                                                     []string
	)
	cmd := &cobra.Command{
		Use:   "status [-n NAMESPACE | -A] [-o table|json]",
		Short: "Show LogConfigs, ClusterLogConfigs and the pods that opted in but run without the loglet sidecar",
		Long: `Show the LogConfigs of a namespace (-n, default the kubeconfig context's; -A
every namespace) and the ClusterLogConfigs, each with its Accepted condition,
reason and the pods it matches, as the loglet webhook's controller wrote them
into their status; and the pods that opted in (loglet.io/inject: "true", a
namespace labelled loglet.io/inject=enabled, or a LogConfig selecting them)
but run without the loglet sidecar: created while the webhook was down, or
before a LogConfig selected them. Re-create those (kubectl rollout restart).

It reaches the cluster as kubectl does: --kubeconfig, else $KUBECONFIG, else
~/.kube/config. --webhook-namespace and --excluded-namespaces are the
webhook's (its pods are never injected there).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "table" && output != "json" {
				return fmt.Errorf("output %q: want table or json", output)
			}
			if all && cmd.Flags().Changed("namespace") {
				return errors.New("give either -n NAMESPACE or -A (all namespaces), not both")
			}
			rules := clientcmd.NewDefaultClientConfigLoadingRules()
			rules.ExplicitPath = kubeconfig
			cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: kubeContext})
			restCfg, err := cc.ClientConfig()
			if err != nil {
				return fmt.Errorf("kubeconfig: %w", err)
			}
			if namespace == "" && !all {
				if namespace, _, err = cc.Namespace(); err != nil {
					return fmt.Errorf("kubeconfig: %w", err)
				}
			}
			if all {
				namespace = ""
			}
			scheme := runtime.NewScheme()
			if err := clientgoscheme.AddToScheme(scheme); err != nil {
				return err
			}
			if err := v1alpha1.AddToScheme(scheme); err != nil {
				return err
			}
			cl, err := client.New(restCfg, client.Options{Scheme: scheme})
			if err != nil {
				return fmt.Errorf("connect to %s: %w", restCfg.Host, err)
			}
			cfg := webhook.DefaultConfig()
			cfg.Namespace, cfg.ExcludedNamespaces = webhookNamespace, excluded
			r, err := gatherStatus(cmd.Context(), cl, namespace, cfg)
			if err != nil {
				return err
			}
			if output == "json" {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(r)
			}
			return r.writeTable(cmd.OutOrStdout(), all)
		},
	}
	f := cmd.Flags()
	f.StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig file (default $KUBECONFIG, else ~/.kube/config)")
	f.StringVar(&kubeContext, "context", "", "kubeconfig context (default its current context)")
	f.StringVarP(&namespace, "namespace", "n", "", "namespace (default the context's, else default)")
	f.BoolVarP(&all, "all-namespaces", "A", false, "every namespace")
	f.StringVarP(&output, "output", "o", "table", "table or json")
	f.StringVar(&webhookNamespace, "webhook-namespace", "loglet-system", "the webhook's namespace (never injected)")
	f.StringSliceVar(&excluded, "excluded-namespaces", nil, "the webhook's --excluded-namespaces (never injected)")
	return cmd
}

// gatherStatus reads the configs and pods of namespace ("" every one)
// and finds the pods without their sidecar as the controller does.
func gatherStatus(ctx context.Context, cl client.Client, namespace string, cfg webhook.Config) (statusReport, error) {
	var r statusReport
	served := func(err error) error {
		if meta.IsNoMatchError(err) {
			return errors.New("the cluster does not serve loglet.io/v1alpha1 LogConfigs: install the loglet chart's CRDs (charts/loglet/crds)")
		}
		return err
	}
	var lcs v1alpha1.LogConfigList
	if err := cl.List(ctx, &lcs, client.InNamespace(namespace)); err != nil {
		return r, fmt.Errorf("list LogConfigs: %w", served(err))
	}
	var clcs v1alpha1.ClusterLogConfigList
	if err := cl.List(ctx, &clcs); err != nil {
		return r, fmt.Errorf("list ClusterLogConfigs: %w", served(err))
	}
	var nss []corev1.Namespace
	if namespace == "" {
		var list corev1.NamespaceList
		if err := cl.List(ctx, &list); err != nil {
			return r, fmt.Errorf("list namespaces: %w", err)
		}
		nss = list.Items
	} else {
		var ns corev1.Namespace
		if err := cl.Get(ctx, client.ObjectKey{Name: namespace}, &ns); err != nil {
			return r, fmt.Errorf("namespace %s: %w", namespace, err)
		}
		nss = []corev1.Namespace{ns}
	}
	var pods corev1.PodList
	if err := cl.List(ctx, &pods, client.InNamespace(namespace)); err != nil {
		return r, fmt.Errorf("list pods: %w", err)
	}
	for _, lc := range lcs.Items {
		r.LogConfigs = append(r.LogConfigs, statusRow(lc.Namespace, lc.Name, lc.Generation, lc.Status))
	}
	for _, c := range clcs.Items {
		r.ClusterLogConfigs = append(r.ClusterLogConfigs, statusRow("", c.Name, c.Generation, c.Status))
	}
	decide := func(pod *corev1.Pod, ns string, labels map[string]string) (bool, string) {
		d := webhook.Decide(pod, ns, labels, cfg)
		return d.Inject, d.Reason
	}
	configs := logconfigctl.NewConfigs(lcs.Items, clcs.Items)
	labels := map[string]map[string]string{}
	sels := map[string][]logconfigctl.Selector{}
	for _, ns := range nss {
		labels[ns.Name] = ns.Labels
		sels[ns.Name] = logconfigctl.NewSelectors(configs.Entries(decide, ns.Name, ns.Labels))
	}
	for i := range pods.Items {
		p := &pods.Items[i]
		why := logconfigctl.Uninjected(p, labels[p.Namespace], sels[p.Namespace], decide)
		if why == "" {
			continue
		}
		u := uninjectedPod{Namespace: p.Namespace, Name: p.Name, Why: why}
		if o := metav1.GetControllerOf(p); o != nil {
			u.Owner = o.Kind + "/" + o.Name
		}
		r.Uninjected = append(r.Uninjected, u)
	}
	order := func(a, b configStatus) int {
		return strings.Compare(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name)
	}
	slices.SortFunc(r.LogConfigs, order)
	slices.SortFunc(r.ClusterLogConfigs, order)
	slices.SortFunc(r.Uninjected, func(a, b uninjectedPod) int {
		return strings.Compare(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name)
	})
	return r, nil
}

// statusRow is a config's row: its Accepted condition, or Unknown while
// the controller has not written one.
func statusRow(ns, name string, gen int64, st v1alpha1.LogConfigStatus) configStatus {
	row := configStatus{Namespace: ns, Name: name, MatchedPods: st.MatchedPods, Generation: gen, ObservedGeneration: st.ObservedGeneration,
		Accepted: "Unknown", Message: "no status yet: is `loglet webhook` running (its controller writes it)?"}
	if c := meta.FindStatusCondition(st.Conditions, logconfig.ConditionAccepted); c != nil {
		row.Accepted, row.Reason, row.Message = string(c.Status), c.Reason, c.Message
	}
	if st.ObservedGeneration != 0 && st.ObservedGeneration < gen {
		row.Message = fmt.Sprintf("(of generation %d; generation %d not seen yet) %s", st.ObservedGeneration, gen, row.Message)
	}
	return row
}

func (r statusReport) writeTable(w io.Writer, all bool) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	row := func(cells ...string) { fmt.Fprintln(tw, strings.Join(cells, "\t")) }
	if len(r.LogConfigs) == 0 {
		row("No LogConfigs.")
	} else {
		head := []string{"LOGCONFIG", "ACCEPTED", "REASON", "PODS", "MESSAGE"}
		if all {
			head = append([]string{"NAMESPACE"}, head...)
		}
		row(head...)
		for _, c := range r.LogConfigs {
			cells := []string{c.Name, c.Accepted, dash(c.Reason), strconv.Itoa(int(c.MatchedPods)), c.Message}
			if all {
				cells = append([]string{c.Namespace}, cells...)
			}
			row(cells...)
		}
	}
	row()
	if len(r.ClusterLogConfigs) == 0 {
		row("No ClusterLogConfigs.")
	} else {
		row("CLUSTERLOGCONFIG", "ACCEPTED", "REASON", "PODS", "MESSAGE")
		for _, c := range r.ClusterLogConfigs {
			row(c.Name, c.Accepted, dash(c.Reason), strconv.Itoa(int(c.MatchedPods)), c.Message)
		}
	}
	row()
	if len(r.Uninjected) == 0 {
		row("No pods that opted in run without the loglet sidecar.")
		return tw.Flush()
	}
	row("POD WITHOUT SIDECAR", "NAMESPACE", "OWNER", "OPTED IN")
	for _, p := range r.Uninjected {
		row(p.Name, p.Namespace, dash(p.Owner), p.Why)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "\n%d pod(s) opted in but run without the loglet sidecar, so their logs are not collected: create them again "+
		"(kubectl rollout restart of their workload, or delete a pod its owner re-creates; a pod without an owner you re-create yourself), "+
		"or run the webhook with --reinject evict.\n", len(r.Uninjected))
	return err
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
