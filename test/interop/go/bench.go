package main

import (
	"context"
	"fmt"
	"os"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// target is one runtime under a side-by-side bench: its clients and the IDs its status calls name.
type target struct {
	rt        runtimeapi.RuntimeServiceClient
	img       runtimeapi.ImageServiceClient
	sandbox   string
	container string
}

// prepare finds a pod and a container to ask the status calls about (the newest of each, as a kubelet would).
func (t *target) prepare() error {
	ctx, cancel := call()
	defer cancel()
	pods, err := t.rt.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
	if err != nil {
		return err
	}
	if n := len(pods.Items); n > 0 {
		t.sandbox = pods.Items[n-1].Id
	}
	ctrs, err := t.rt.ListContainers(ctx, &runtimeapi.ListContainersRequest{})
	if err != nil {
		return err
	}
	if n := len(ctrs.Containers); n > 0 {
		t.container = ctrs.Containers[n-1].Id
	}
	return nil
}

// rpcCall returns one call of the named RPC against t; the response's item count is returned for the report.
func (t *target) rpcCall(rpc, image string) (func(ctx context.Context) (int, error), error) {
	switch rpc {
	case "Version":
		return func(ctx context.Context) (int, error) {
			_, err := t.rt.Version(ctx, &runtimeapi.VersionRequest{Version: "v1"})
			return 1, err
		}, nil
	case "Status":
		return func(ctx context.Context) (int, error) {
			_, err := t.rt.Status(ctx, &runtimeapi.StatusRequest{})
			return 1, err
		}, nil
	case "ListPodSandbox":
		return func(ctx context.Context) (int, error) {
			r, err := t.rt.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
			if err != nil {
				return 0, err
			}
			return len(r.Items), nil
		}, nil
	case "ListContainers":
		return func(ctx context.Context) (int, error) {
			r, err := t.rt.ListContainers(ctx, &runtimeapi.ListContainersRequest{})
			if err != nil {
				return 0, err
			}
			return len(r.Containers), nil
		}, nil
	case "ListContainerStats":
		return func(ctx context.Context) (int, error) {
			r, err := t.rt.ListContainerStats(ctx, &runtimeapi.ListContainerStatsRequest{})
			if err != nil {
				return 0, err
			}
			return len(r.Stats), nil
		}, nil
	case "PodSandboxStatus":
		if t.sandbox == "" {
			return nil, fmt.Errorf("PodSandboxStatus: no pod sandbox")
		}
		return func(ctx context.Context) (int, error) {
			_, err := t.rt.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: t.sandbox})
			return 1, err
		}, nil
	case "ContainerStatus":
		if t.container == "" {
			return nil, fmt.Errorf("ContainerStatus: no container")
		}
		return func(ctx context.Context) (int, error) {
			_, err := t.rt.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: t.container})
			return 1, err
		}, nil
	case "ListImages":
		return func(ctx context.Context) (int, error) {
			r, err := t.img.ListImages(ctx, &runtimeapi.ListImagesRequest{})
			if err != nil {
				return 0, err
			}
			return len(r.Images), nil
		}, nil
	case "ImageStatus":
		return func(ctx context.Context) (int, error) {
			_, err := t.img.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: &runtimeapi.ImageSpec{Image: image}})
			return 1, err
		}, nil
	}
	return nil, fmt.Errorf("unknown RPC %q", rpc)
}

// rpcCalls is rpc's call for each target; an unknown RPC ends the program.
func rpcCalls(targets []*target, rpc, image string) []func(context.Context) (int, error) {
	calls := make([]func(context.Context) (int, error), len(targets))
	for k, t := range targets {
		c, err := t.rpcCall(rpc, image)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(4)
		}
		calls[k] = c
	}
	return calls
}

// timeCall makes one call and returns its latency in microseconds and the item count of the reply; a failed
// call ends the program.
func timeCall(rpc string, c func(context.Context) (int, error)) (float64, int) {
	ctx, cancel := call()
	defer cancel()
	t := time.Now()
	count, err := c(ctx)
	d := time.Since(t)
	if err != nil {
		fmt.Fprintln(os.Stderr, rpc+":", err)
		os.Exit(4)
	}
	return float64(d.Nanoseconds()) / 1000, count
}

// benchRPC times n sequential calls of rpc per target after n/5 warm-up calls, alternating between the targets
// call by call so load on the machine hits them alike. Latencies in microseconds (float), one slice per target,
// and the item count each target's last reply held.
func benchRPC(targets []*target, rpc, image string, n int) ([][]float64, []int) {
	calls := rpcCalls(targets, rpc, image)
	out := make([][]float64, len(targets))
	items := make([]int, len(targets))
	for i := -n / 5; i < n; i++ {
		for k, c := range calls {
			us, count := timeCall(rpc, c)
			items[k] = count
			if i >= 0 {
				out[k] = append(out[k], us)
			}
		}
	}
	return out, items
}

// benchRPCBlocks times rpc the way the hot-path issue measured it: one runtime after the other in the same window,
// each with n/5 warm-up calls then n timed calls back to back, repeated for rounds rounds with the order rotating
// so neither always goes first. Latencies pooled over the rounds, as benchRPC returns them.
func benchRPCBlocks(targets []*target, rpc, image string, n, rounds int) ([][]float64, []int) {
	calls := rpcCalls(targets, rpc, image)
	out := make([][]float64, len(targets))
	items := make([]int, len(targets))
	per := n / rounds
	if per < 1 {
		per = 1
	}
	for r := 0; r < rounds; r++ {
		for j := range calls {
			k := (j + r) % len(calls)
			for i := -per / 5; i < per; i++ {
				us, count := timeCall(rpc, calls[k])
				items[k] = count
				if i >= 0 {
					out[k] = append(out[k], us)
				}
			}
		}
	}
	return out, items
}
