package e2e

import (
	"context"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/loglet/loglet/e2e/cluster"
	"github.com/loglet/loglet/internal/poll"
)

// TestControlPlane: the four components work together — a new namespace
// gets its default ServiceAccount (controller-manager), a Deployment its
// ReplicaSet and pods (controller-manager), and the scheduler looks at
// each pod (no node yet: unschedulable).
func TestControlPlane(t *testing.T) {
	c := cluster.Start(t)
	ctx := context.Background()
	c.Namespace(t, "shop")
	labels := map[string]string{"app": "web"}
	_, err := c.Client.AppsV1().Deployments("shop").Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "example.com/web:1", Command: []string{"/web"}}}},
			},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 60*time.Second, "the Deployment's 2 pods, each seen by the scheduler", func() bool {
		pods, err := c.Client.CoreV1().Pods("shop").List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
		if err != nil || len(pods.Items) != 2 {
			return false
		}
		for _, p := range pods.Items {
			seen := false
			for _, cond := range p.Status.Conditions {
				seen = seen || cond.Type == corev1.PodScheduled && cond.Reason == corev1.PodReasonUnschedulable
			}
			if !seen {
				return false
			}
		}
		return true
	})
}
