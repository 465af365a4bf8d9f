package testenv

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// CreateAll creates the pods with workers concurrent clients (the perf
// programs' load); created[i] is when pod i was created. It stops at the
// first error.
func CreateAll(ctx context.Context, cs *kubernetes.Clientset, pods []*corev1.Pod, workers int) ([]time.Time, error) {
	created := make([]time.Time, len(pods))
	var next atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(pods) {
					return
				}
				if _, err := cs.CoreV1().Pods(pods[i].Namespace).Create(ctx, pods[i], metav1.CreateOptions{}); err != nil {
					once.Do(func() { firstErr = err })
					return
				}
				created[i] = time.Now()
			}
		}()
	}
	wg.Wait()
	return created, firstErr
}
